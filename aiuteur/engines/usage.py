"""Token usage of model calls, measured where the backend knows it.

Text engines call `record(prompt_tokens, completion_tokens)` after each completion (also one that
was cut off: its tokens were spent). Whoever wants the count opens `measure()` around the call;
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
    """Tokens read (prompt) and written (completion) by the completions measured."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.prompt += other.prompt
        self.completion += other.completion
        self.calls += other.calls


_OPEN: ContextVar[tuple[Usage, ...]] = ContextVar("aiuteur_usage", default=())


def record(prompt_tokens: int, completion_tokens: int) -> None:
    """Add one completion's tokens to every measurement open in this context."""
    for u in _OPEN.get():
        u.prompt += max(0, int(prompt_tokens))
        u.completion += max(0, int(completion_tokens))
        u.calls += 1


@contextlib.contextmanager
def measure() -> Iterator[Usage]:
    """Count the tokens of every completion recorded inside the block."""
    used = Usage()
    token = _OPEN.set((*_OPEN.get(), used))
    try:
        yield used
    finally:
        _OPEN.reset(token)
