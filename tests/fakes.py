"""Test doubles: a scripted text engine (enqueue outputs, it records calls) and an engine set."""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from aiuteur.engines.schema_bounds import InvalidOutputError


class Several(list[Any]):
    """The outputs of several consecutive calls, enqueued as one (see `ScriptedText.enqueue`)."""


class ScriptedText:
    """A text engine whose outputs you enqueue; it records every call."""

    model_id = "scripted"
    backend = "scripted"

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self.calls: list[dict[str, Any]] = []

    def enqueue(self, *outputs: Any) -> None:
        """Queue outputs in order; a `Several` stands for several calls' outputs (e.g. one per treatment)."""
        for out in outputs:
            self.queue.extend(out if isinstance(out, Several) else [out])

    def generate(self, messages: list[dict[str, str]], schema: type[BaseModel], *, seed: int,
                 max_tokens: int | None = None, temperature: float = 0.7, progress: Any = None,
                 avoid_copying: Any = ()) -> BaseModel:
        self.calls.append({"messages": messages, "schema": schema, "seed": seed, "avoid_copying": list(avoid_copying)})
        if not self.queue:
            raise AssertionError(f"ScriptedText has no output queued for {schema.__name__}")
        out = self.queue.popleft()
        if isinstance(out, BaseException):
            raise out
        if isinstance(out, schema):
            return out
        try:
            return schema.model_validate(out)
        except ValidationError as e:  # as a real engine reports an answer that does not fit the schema
            raise InvalidOutputError(f"{schema.__name__}: {e}", json.dumps(out, default=str)) from e

    def stream(self, messages: list[dict[str, str]], *, seed: int, max_tokens: int = 512,
               temperature: float = 0.7) -> Iterator[str]:
        self.calls.append({"messages": messages, "stream": True, "seed": seed})
        out = self.queue.popleft()
        yield from str(out).split(" ")


class _Counted:
    def __init__(self, inner: Any, counter: Counter[str], purpose: str) -> None:
        self._inner, self._counter, self._purpose = inner, counter, purpose

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in ("generate", "stream", "render", "describe", "cutout", "speak"):
            def counted(*a: Any, **k: Any) -> Any:
                self._counter[self._purpose] += 1
                return attr(*a, **k)
            return counted
        return attr


class FakeEngines:
    """An engine set over test doubles, counting calls per purpose like the real one."""

    def __init__(self, text: Any = None, image: Any = None, matting: Any = None, vision: Any = None,
                 video: Any = None, embedding: Any = None, voice: Any = None) -> None:
        self._text = text or ScriptedText()
        self._voice = voice
        self._image, self._matting, self._vision = image, matting, vision
        self._video, self._embedding = video, embedding
        self.calls: Counter[str] = Counter()

    @property
    def scripted(self) -> ScriptedText:
        return self._text

    def text(self, purpose: str) -> Any:
        return _Counted(self._text, self.calls, purpose)

    def image(self, purpose: str) -> Any:
        return _Counted(self._image, self.calls, purpose)

    def matting(self) -> Any:
        return _Counted(self._matting, self.calls, "matting")

    def vision(self) -> Any:
        return _Counted(self._vision, self.calls, "vision")

    def video(self, purpose: str) -> Any:
        return _Counted(self._video, self.calls, purpose)

    def embedding(self) -> Any:
        return self._embedding

    def voice(self, purpose: str = "voice") -> Any:
        """The given voice engine, else the tiny profile's deterministic tone voice."""
        if self._voice is None:
            from aiuteur.engines.voice import ToneVoice

            self._voice = ToneVoice()
        return _Counted(self._voice, self.calls, purpose)
