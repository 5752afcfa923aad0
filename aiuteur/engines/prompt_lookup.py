"""Prompt lookup: guess the next tokens of an answer from the text it was given.

A structured answer often repeats its prompt word for word: a shot list repeats the scene's
lines, a scene repeats what its people say in the story, a state repeats an asset's last known
look. Where the last few tokens written also stand somewhere earlier in the prompt or the
answer, the tokens that followed them there are a cheap guess of what comes next. The model
checks the guess in one batch (`text_llamacpp.LlamaCppText._forwarded_chat`) and keeps only
what it would have sampled itself, so the answer is the model's own; a guess costs a little
time when it is wrong and saves steps when it is right.
"""

from __future__ import annotations

from collections.abc import Sequence


class PromptLookup:
    """Where each run of `n` tokens of the text so far last stood, and the guess that follows.

    `tokens` starts as the prompt and grows as the answer is written (`extend`)."""

    def __init__(self, prompt: Sequence[int], *, n: int = 3, most: int = 10) -> None:
        if n < 1 or most < 1:
            raise ValueError("n and most must be at least 1")
        self.n = n
        self.most = most
        self.tokens: list[int] = []
        self._at: dict[tuple[int, ...], int] = {}  # n tokens -> the index just after their latest run
        self.extend(prompt)

    def extend(self, tokens: Sequence[int]) -> None:
        """Add the tokens written since the last call."""
        n = self.n
        for token in tokens:
            self.tokens.append(int(token))
            end = len(self.tokens)
            if end > n:  # the run ending just before this token is followed by it: remember where
                self._at[tuple(self.tokens[end - 1 - n: end - 1])] = end - 1

    def guess(self, most: int | None = None) -> list[int]:
        """Up to `most` tokens that followed the latest earlier run of the last `n` tokens; [] when
        the last `n` tokens stand nowhere earlier."""
        n = self.n
        if len(self.tokens) < n:
            return []
        start = self._at.get(tuple(self.tokens[-n:]))
        if start is None:
            return []
        limit = min(self.most if most is None else most, len(self.tokens) - start)
        return self.tokens[start: start + limit]


def next_length(current: int, kept: int, guessed: int, *, least: int = 2, most: int = 10) -> int:
    """How many tokens to guess next time: more after a guess kept whole, fewer after one cut short."""
    if guessed and kept >= guessed:
        return min(most, current + 2)
    return max(least, min(current, kept + 1))
