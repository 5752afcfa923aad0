"""Token usage of model calls, measured where the backend knows it.

Text engines call `record(prompt_tokens, completion_tokens)` after each completion (also one that
was cut off: its tokens were spent); an engine that knows them adds the prompt tokens it reused
from its cache (`cached`) and the seconds spent reading the prompt and writing the answer. Whoever wants the count opens `measure()` around the call;
measurements nest and are per context (thread / asyncio task), so concurrent users never mix.

    with measure() as used:
        engine.generate(messages, Schema, seed=0)
    used.prompt, used.completion, used.calls
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Usage:
    """Tokens read (prompt) and written (completion) by the completions measured; of the prompt
    tokens, those the engine reused from its cache; seconds reading prompts and writing answers
    (0 where the engine does not say)."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0
    cached: int = 0
    reading_s: float = 0.0
    writing_s: float = 0.0

    def add(self, other: Usage) -> None:
        self.prompt += other.prompt
        self.completion += other.completion
        self.calls += other.calls
        self.cached += other.cached
        self.reading_s += other.reading_s
        self.writing_s += other.writing_s


_OPEN: ContextVar[tuple[Usage, ...]] = ContextVar("aiuteur_usage", default=())


def record(prompt_tokens: int, completion_tokens: int, *, cached: int = 0, reading_s: float = 0.0,
           writing_s: float = 0.0) -> None:
    """Add one completion's tokens (and, where known, cached prompt tokens and seconds reading and
    writing) to every measurement open in this context."""
    for u in _OPEN.get():
        u.prompt += max(0, int(prompt_tokens))
        u.completion += max(0, int(completion_tokens))
        u.calls += 1
        u.cached += max(0, int(cached))
        u.reading_s += max(0.0, float(reading_s))
        u.writing_s += max(0.0, float(writing_s))


@contextlib.contextmanager
def measure() -> Iterator[Usage]:
    """Count the tokens of every completion recorded inside the block."""
    used = Usage()
    token = _OPEN.set((*_OPEN.get(), used))
    try:
        yield used
    finally:
        _OPEN.reset(token)
