"""The OpenAI-compatible text backend against a small local fake server that checks each request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aiuteur.engines.base import EngineError, Message, TruncatedError
from aiuteur.engines.text_openai import OpenAIText
from tests.engines import schemas as s

PROMPT: list[Message] = [{"role": "user", "content": "Three variants, please."}]
ANSWER = {"variants": [{"title": f"T{i}", "logline": f"L{i}"} for i in range(3)]}


class FakeServer:
    """Answers POST /v1/chat/completions with whatever `reply` says; keeps every request body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: dict[str, Any] = {"content": json.dumps(ANSWER), "finish_reason": "stop"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                if fake.reply.get("json_object_only") and body.get("response_format", {}).get("type") == "json_schema":
                    self.send_response(500)  # what llama-cpp-python's server answers
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "(\'body\', \'response_format\', \'type\') '
                                     b'Input should be \'text\' or \'json_object\', input: json_schema"}}')
                    return
                if fake.reply.get("status"):
                    self.send_response(fake.reply["status"])
                    self.end_headers()
                    self.wfile.write(b'{"error": "nope"}')
                    return
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for piece in ["Once", " upon", " a time"]:
                        event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                out = {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": fake.reply["content"]},
                            "finish_reason": fake.reply["finish_reason"],
                        }
                    ],
                }
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the timeout test hangs up on purpose; don't print the broken pipe

        self.httpd = Server(("127.0.0.1", 0), Handler)  # port 0: a free port
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def engine(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIText:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    spec = {"backend": "openai", "base_url": server.url, "model": "qwen-7b", "api_key_env": "TEST_OPENAI_KEY"}
    return OpenAIText.from_spec(spec, Path("."))


def test_structured_request_carries_model_messages_and_json_schema(
    server: FakeServer, engine: OpenAIText
) -> None:
    out = engine.generate(PROMPT, s.Treatment, seed=5, temperature=0.2)
    assert out == s.Treatment.model_validate(ANSWER)
    body = server.requests[-1]
    assert body["model"] == "qwen-7b"
    assert body["messages"] == PROMPT
    assert body["seed"] == 5 and body["temperature"] == 0.2
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Treatment"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == s.Treatment.model_json_schema()
    assert body["max_tokens"] > 0
    assert server.headers[-1]["Authorization"] == "Bearer sk-test"


def test_a_server_that_speaks_json_object_gets_the_schema_its_way(server: FakeServer, engine: OpenAIText) -> None:
    server.reply = {**server.reply, "json_object_only": True}
    assert engine.generate(PROMPT, s.Treatment, seed=1) == s.Treatment.model_validate(ANSWER)
    assert [b["response_format"]["type"] for b in server.requests] == ["json_schema", "json_object"]
    assert server.requests[-1]["response_format"]["schema"] == s.Treatment.model_json_schema()
    engine.generate(PROMPT, s.Treatment, seed=2)  # remembered: no second refusal
    assert server.requests[-1]["response_format"]["type"] == "json_object" and len(server.requests) == 3


def test_length_finish_is_truncation(server: FakeServer, engine: OpenAIText) -> None:
    server.reply = {"content": '{"variants": [', "finish_reason": "length"}
    with pytest.raises(TruncatedError):
        engine.generate(PROMPT, s.Treatment, seed=0)


def test_unbounded_schema_is_refused_without_a_request(server: FakeServer, engine: OpenAIText) -> None:
    with pytest.raises(EngineError, match=r"FreeString\.title"):
        engine.generate(PROMPT, s.FreeString, seed=0)
    assert server.requests == []


def test_http_errors_and_unreachable_servers_are_engine_errors(
    server: FakeServer, engine: OpenAIText
) -> None:
    server.reply = {"status": 500}
    with pytest.raises(EngineError, match="HTTP 500"):
        engine.generate(PROMPT, s.Treatment, seed=0)
    dead = OpenAIText("http://127.0.0.1:9/v1", "m", timeout_s=2)
    with pytest.raises(EngineError, match="Could not reach"):
        dead.generate(PROMPT, s.Treatment, seed=0)


def test_timeouts_are_engine_errors(server: FakeServer) -> None:
    slow = threading.Event()
    original = server.httpd.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def stall(handler: Any) -> None:
        slow.wait(3)
        original(handler)

    server.httpd.RequestHandlerClass.do_POST = stall  # type: ignore[attr-defined]
    engine = OpenAIText(server.url, "m", timeout_s=0.3)
    try:
        with pytest.raises(EngineError, match="did not answer in time"):
            engine.generate(PROMPT, s.Treatment, seed=0)
    finally:
        slow.set()


def test_stream_reads_server_sent_events(server: FakeServer, engine: OpenAIText) -> None:
    assert "".join(engine.stream(PROMPT, seed=1, max_tokens=8)) == "Once upon a time"
    assert server.requests[-1]["stream"] is True
