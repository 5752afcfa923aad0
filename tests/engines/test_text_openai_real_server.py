"""The OpenAI-compatible text engine against a real server: llama-cpp-python's own server with the
offline GGUF, started on 127.0.0.1 by the test (through `aiuteur.engines.llama_server`, which keeps
llama.cpp's weight repacking off on AMX CPUs, where it crashes).

Schema-bound generation through `response_format`, streaming, and a server that goes away in the
middle of a call. Skipped with a reason where llama-cpp-python's server extra or the offline
model is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import EngineError, Message
from aiuteur.engines.text_openai import OpenAIText
from tests.engines.test_text_llamacpp import SCENE, Cast, _offline_models_dir

pytestmark = [pytest.mark.real, pytest.mark.slow]
ALIAS = "qwen2.5-coder-1.5b"
START_S = 600  # loading the model on a loaded 2-core machine


def _server_missing() -> str:
    for module in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -r requirements-offline.txt for llama-cpp-python[server])"
    return ""


def _gguf() -> Path:
    missing = _server_missing()
    if missing:
        pytest.skip(missing)
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines.offline_llm import PartsSpec, assemble_gguf
    from aiuteur.engines.profiles import load_profile

    text = load_profile("offline").spec("text")
    return assemble_gguf(where / text["gguf"], PartsSpec.from_table(text["assemble"]))


def _start(gguf: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiuteur.engines.llama_server", "--model", str(gguf), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the llama.cpp server exited with {proc.returncode} while starting")
        try:
            if httpx.get(f"{base}/models", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    pytest.fail(f"the llama.cpp server did not answer within {START_S} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, base = _start(_gguf())
    try:
        yield proc, base
    finally:
        _stop(proc)


MESSAGES: list[Message] = [
    {"role": "system", "content": "You extract the characters of a screenplay scene as JSON."},
    {"role": "user", "content": f"Scene: {SCENE}\nList every character with a short visual description."},
]


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200)


def test_schema_bound_generation_through_response_format(server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, base = server
    engine = OpenAIText(base, ALIAS, timeout_s=900)
    cast = engine.generate(MESSAGES, Cast, seed=0, temperature=0.2)
    names = " | ".join(c.name.lower() for c in cast.characters)
    assert "martha" in names and "leo" in names, cast
    assert all(len(c.description) <= 80 for c in cast.characters)


def test_streaming_yields_pieces_as_they_are_made(server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, base = server
    engine = OpenAIText(base, ALIAS, timeout_s=900)
    pieces = list(engine.stream([{"role": "user", "content": "Say hello to Martha in one short sentence."}],
                                seed=0, max_tokens=40, temperature=0.0))
    assert len(pieces) > 3 and "martha" in "".join(pieces).lower()


def test_a_server_that_goes_away_mid_call_is_one_readable_error() -> None:
    proc, base = _start(_gguf())
    try:
        engine = OpenAIText(base, ALIAS, timeout_s=900)
        stream = engine.stream([{"role": "user", "content": "Count from one to two hundred in words."}],
                               seed=0, max_tokens=600, temperature=0.0)
        first = next(stream)
        assert first
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(EngineError, match=r"text server at http://127\.0\.0\.1"):
            for _ in stream:
                pass
        with pytest.raises(EngineError, match=r"Could not reach the text server at http://127\.0\.0\.1"):
            engine.generate(MESSAGES, Line, seed=0)
    finally:
        _stop(proc)
