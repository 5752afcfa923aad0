"""Saved prompt states: a call whose prompt begins like an earlier one reads only what differs.

llama.cpp keeps one context: the next call reuses the longest prefix it shares with the previous
one, and reads the rest. Every stage has its own system prompt (500-900 tokens for the treatment
and the scene writer), so moving between stages, scenes or stories reads it again: 8-20 s a time
on a 2-core CPU. `PrefixStates` keeps the context state (the KV cache of one sequence) after the
last call of each system prompt, and before a call the engine restores the state that shares the
longest prefix with the new prompt when that beats what the context already holds.

The store holds bytes and token lists only; `LlamaCppText` saves and restores through llama.cpp's
per-sequence state API (`llama_state_seq_get_data` / `_set_data`), so a restored state is exactly
the context that was saved. Entries are kept per key (the system message) up to a byte budget,
the least recently used going first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

#: A restore replaces the whole context; it is worth it when it saves at least this many tokens of
#: reading (~1 s on a 2-core CPU) over the prefix the context already shares with the prompt.
MIN_GAIN_TOKENS = 64
#: The default byte budget: Qwen2.5-1.5B's KV cache is ~28 KiB a token, so ~18k tokens of states.
DEFAULT_CAPACITY = 512 * 1024 * 1024


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class SavedState:
    """The context after `tokens`, as llama.cpp wrote it."""

    tokens: tuple[int, ...]
    data: bytes


class PrefixStates:
    """Saved states by key, least recently used first out beyond `capacity` bytes."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, min_gain: int = MIN_GAIN_TOKENS) -> None:
        if capacity < 0:
            raise ValueError("capacity must be 0 (off) or more bytes")
        self.capacity = capacity
        self.min_gain = min_gain
        self._states: OrderedDict[str, SavedState] = OrderedDict()
        self.restores = 0
        self.restored_tokens = 0

    def __len__(self) -> int:
        return len(self._states)

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self._states.values())

    def remember(self, key: str, tokens: Sequence[int], data: bytes) -> None:
        """Keep the state after `tokens` under `key` (replacing that key's last one)."""
        if self.capacity == 0 or not tokens or len(data) > self.capacity:
            return
        self._states.pop(key, None)
        self._states[key] = SavedState(tuple(tokens), data)
        while self.size > self.capacity:
            self._states.popitem(last=False)

    def best_for(self, prompt: Sequence[int], held: int) -> tuple[SavedState | None, int]:
        """The saved state sharing the longest prefix with `prompt`, and that prefix's length, when
        it beats `held` (the prefix the context already shares) by `min_gain` tokens; else (None, held)."""
        best, length, key = None, held, None
        for k, state in self._states.items():
            n = common_prefix(state.tokens, prompt)
            if n > length:
                best, length, key = state, n, k
        if best is None or length - held < self.min_gain:
            return None, held
        assert key is not None
        self._states.move_to_end(key)
        return best, length

    def counted(self, tokens: int) -> None:
        """Count one restore that spared reading `tokens` tokens."""
        self.restores += 1
        self.restored_tokens += tokens
