"""CLIP token counts, for prompts that must fit what an SD-family text encoder reads (77 tokens).

The count is the real CLIP BPE (OpenAI's vocabulary, through the `instant-clip-tokenizer` wheel)
when it is installed; where it is not (a Python it has no wheel for), a bound that is never lower
than the real count: every BPE token covers at least one byte of a character other than an
ASCII space, tab or line break (lower-cased, as CLIP reads it), so the number of those bytes (plus the start and end tokens) is at least the number of tokens. The bound
is loose (about four times the real count on English), so prompts there come out shorter, never cut.

Both counts include the start-of-text and end-of-text tokens, as the 77 does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_SPACES = frozenset(" \t\n\r\f\v")  # only what every CLIP tokenizer treats as a space
CLIP_CONTEXT = 77  # tokens an SD-family CLIP text encoder reads, start and end tokens included


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    try:
        from instant_clip_tokenizer import Tokenizer
    except ImportError:
        return None
    return Tokenizer()


def exact_available() -> bool:
    """True when counts come from the real CLIP tokenizer (else from the upper bound)."""
    return _tokenizer() is not None


def bound_clip_tokens(text: str) -> int:
    """An upper bound of the CLIP token count of `text` that needs no vocabulary."""
    return sum(max(len(ch.encode("utf-8")), len(ch.lower().encode("utf-8"))) for ch in text if ch not in _SPACES) + 2


def clip_tokens(text: str) -> int:
    """CLIP tokens of `text` with start and end tokens: exact when the tokenizer is installed, else the bound."""
    tok = _tokenizer()
    if tok is None:
        return bound_clip_tokens(text)
    return len(tok.encode(text)) + 2


__all__ = ["CLIP_CONTEXT", "bound_clip_tokens", "clip_tokens", "exact_available"]
