"""Text engine: any OpenAI-compatible chat server (vLLM, TGI, llama.cpp server, Ollama, OpenAI).

For self-hosted boxes and for scaling text generation beyond one machine. Structured output
asks the server for `response_format={"type": "json_schema", "json_schema": {..., "strict":
true}}` with the same bounded schema the in-process engines use, so the server's own
constrained decoder keeps the output valid; `finish_reason == "length"` raises `TruncatedError`.
llama-cpp-python's server speaks another dialect (`{"type": "json_object", "schema": ...}`): set
`response_format = "json_object"`, or let the engine switch by itself when a server refuses
`json_schema` (measured against the real server in `tests/engines/test_text_openai_real_server.py`).
Network failures and timeouts become `EngineError` with the address in the message.

Profile table:
    [text]
    backend = "openai"
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen/Qwen2.5-7B-Instruct"
    api_key_env = "AIUTEUR_OPENAI_API_KEY"   # optional; the key itself never sits in a file
    timeout_s = 600                          # optional; AIUTEUR_CALL_TIMEOUT_S overrides it
    response_format = "json_schema"          # or "json_object"; AIUTEUR_OPENAI_RESPONSE_FORMAT overrides
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from aiuteur.engines import usage
from aiuteur.engines.base import EngineError, Message, ProgressFn, TruncatedError, call_timeout_s
from aiuteur.engines.schema_bounds import json_schema_of, parse_structured, schema_name, token_budget

M = TypeVar("M", bound=BaseModel)


class OpenAIText:
    """A chat-completions client behind the `TextEngine` Protocol (one `httpx.Client`)."""

    backend = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout_s: float = 600.0,
        transport: httpx.BaseTransport | None = None,
        response_format: str = "json_schema",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_id = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            transport=transport,
        )
        self.memory_bytes = 0
        self.response_format = response_format

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> OpenAIText:
        """Build from a profile's [text] table (`base_url`, `model`, optional `api_key_env`, `timeout_s`)."""
        missing = [k for k in ("base_url", "model") if not spec.get(k)]
        if missing:
            raise EngineError(f"The [text] table for the openai backend needs {' and '.join(missing)}.")
        key_env = str(spec.get("api_key_env", ""))
        return cls(
            str(spec["base_url"]),
            str(spec["model"]),
            api_key=os.environ.get(key_env, "") if key_env else "",
            timeout_s=call_timeout_s(float(spec.get("timeout_s", 600.0))) or 600.0,
            response_format=_format_of(spec),
        )

    def close(self) -> None:
        self.client.close()

    def generate(
        self,
        messages: list[Message],
        schema: type[M],
        *,
        seed: int,
        max_tokens: int | None = None,
        temperature: float = 0.7,
        progress: ProgressFn | None = None,
        avoid_copying: Sequence[str] = (),
    ) -> M:
        """Return an instance of `schema`; the server's constrained decoding keeps it valid.
        `avoid_copying` cannot be enforced through the API (no per-token control); it is ignored
        and the stage's own copy check still applies."""
        budget = token_budget(schema)
        if max_tokens is not None:
            budget = min(budget, max_tokens)
        body = {
            "model": self.model_id,
            "messages": list(messages),
            "max_tokens": budget,
            "temperature": temperature,
            "seed": seed,
            "response_format": self._response_format(schema),
        }
        if progress:
            progress(0.0, f"asking {self.model_id} at {self.base_url} for {schema.__name__}")
        try:
            data = self._post(body)
        except EngineError as e:
            if self.response_format != "json_schema" or not _refuses_json_schema(str(e)):
                raise
            # llama-cpp-python's server takes the schema as {"type": "json_object", "schema": ...}
            self.response_format = "json_object"
            data = self._post({**body, "response_format": self._response_format(schema)})
        counts = data.get("usage")
        if isinstance(counts, dict):
            usage.record(int(counts.get("prompt_tokens") or 0), int(counts.get("completion_tokens") or 0),
                         **_cache_and_timings(counts, data.get("timings")))
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            finish = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError) as e:
            raise EngineError(
                f"The server at {self.base_url} sent an unexpected reply: {str(data)[:300]}"
            ) from e
        if progress:
            progress(1.0, "done")
        if finish == "length":
            raise TruncatedError(
                f"{schema.__name__} was cut off by the server after max_tokens={budget}; "
                "raise max_tokens or tighten the schema's bounds."
            )
        return parse_structured(text, schema)

    def stream(
        self, messages: list[Message], *, seed: int, max_tokens: int = 512, temperature: float = 0.7
    ) -> Iterator[str]:
        """Yield text pieces as the server streams them (server-sent events)."""
        body = {
            "model": self.model_id,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "stream": True,
        }
        try:
            with self.client.stream("POST", "/chat/completions", json=body) as response:
                self._check(response, streamed=True)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        delta = json.loads(payload)["choices"][0].get("delta", {})
                    except (ValueError, KeyError, IndexError) as e:
                        raise EngineError(
                            f"The server at {self.base_url} streamed a bad event: {payload[:200]}"
                        ) from e
                    if delta.get("content"):
                        yield delta["content"]
        except httpx.TimeoutException as e:
            raise EngineError(f"The text server at {self.base_url} timed out ({type(e).__name__}).") from e
        except httpx.HTTPError as e:
            raise EngineError(f"Could not talk to the text server at {self.base_url}: {e}") from e

    def _response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        """The schema the server constrains decoding to, in the dialect it speaks."""
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": json_schema_of(schema)}
        return {"type": "json_schema",
                "json_schema": {"name": schema_name(schema), "schema": json_schema_of(schema), "strict": True}}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.post("/chat/completions", json=body)
        except httpx.TimeoutException as e:
            raise EngineError(
                f"The text server at {self.base_url} did not answer in time ({type(e).__name__}); "
                "it may be overloaded, or raise timeout_s in the profile."
            ) from e
        except httpx.HTTPError as e:
            raise EngineError(f"Could not reach the text server at {self.base_url}: {e}") from e
        self._check(response)
        try:
            data = response.json()
        except ValueError as e:
            raise EngineError(
                f"The server at {self.base_url} did not answer with JSON: {response.text[:300]}"
            ) from e
        if not isinstance(data, dict):
            raise EngineError(f"The server at {self.base_url} sent an unexpected reply: {str(data)[:300]}")
        return data

    def _check(self, response: httpx.Response, *, streamed: bool = False) -> None:
        if response.status_code < 400:
            return
        detail = response.read().decode("utf-8", "replace")[:300] if streamed else response.text[:300]
        hint = " (check api_key_env)" if response.status_code in (401, 403) else ""
        raise EngineError(
            f"The text server at {self.base_url} refused the request: HTTP {response.status_code}{hint}: {detail}"
        )


def _format_of(spec: dict[str, Any]) -> str:
    value = str(os.environ.get("AIUTEUR_OPENAI_RESPONSE_FORMAT", "") or spec.get("response_format", "json_schema"))
    if value not in ("json_schema", "json_object"):
        raise EngineError(f"response_format is {value!r}; use 'json_schema' (OpenAI, vLLM, SGLang, TGI, Ollama) or "
                          "'json_object' (llama-cpp-python's server).")
    return value


def _refuses_json_schema(message: str) -> bool:
    """The server's refusal says it does not know the json_schema response format."""
    lowered = message.lower()
    return "response_format" in lowered and "json_schema" in lowered and ("json_object" in lowered or "type" in lowered)


def _cache_and_timings(counts: dict[str, Any], timings: Any) -> dict[str, Any]:
    """What a server says beyond the token counts: cached prompt tokens (OpenAI's
    `usage.prompt_tokens_details.cached_tokens`, llama.cpp's `timings.cache_n`) and seconds reading
    the prompt and writing the answer (llama.cpp's `timings.prompt_ms` / `predicted_ms`)."""
    out: dict[str, Any] = {}
    details = counts.get("prompt_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int | float):
        out["cached"] = int(details["cached_tokens"])
    if isinstance(timings, dict):
        if "cached" not in out and isinstance(timings.get("cache_n"), int | float):
            out["cached"] = int(timings["cache_n"])
        for key, name in (("prompt_ms", "reading_s"), ("predicted_ms", "writing_s")):
            if isinstance(timings.get(key), int | float):
                out[name] = float(timings[key]) / 1000
    return out
