"""Keep a model from copying its source word for word while it writes.

Asked to retell a story, a small model copies it: the offline 1.5B model's treatments of
the-salt-crown repeated 2, 18 and 15 of the story's sentences verbatim, and a re-ask with the
complaint as a note copied again (docs/evals.md). Telling it not to does not work; making the
copy impossible while it decodes does. `CopyGuard` reads the source's tokens once and, at each
step, bans the token that would carry on a run of `n` tokens the answer has just copied from it,
so the model must leave the source's wording within a few words and say it its own way.

Only tokens that begin a new lowercase word are ever banned: a name ("Maestra Solveig Brandt")
is never cut inside or changed (a banned piece inside a word would misspell it), and the copy is
broken at the next ordinary word after it. Structure tokens (quotes, commas, braces) are never
banned, so a JSON grammar is never left without a way on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

#: How many tokens the answer may copy in a row before the source's next word is banned: about
#: four or five words, so no sentence of six words or more comes out whole (`evals.metrics.copied`).
COPY_TOKENS = 5


class CopyGuard:
    """The tokens banned at each step so the answer does not carry on copying `sources`.

    `tokenize` turns a text into token ids as the model would write it in running prose;
    `starts_lower_word(id)` says whether a token begins a new lowercase word (" the", " salt").
    """

    def __init__(self, sources: Iterable[str], tokenize: Callable[[str], Sequence[int]],
                 starts_lower_word: Callable[[int], bool], *, n: int = COPY_TOKENS) -> None:
        self.n = n
        self.following: dict[tuple[int, ...], set[int]] = {}
        for source in sources:
            ids = [int(t) for t in tokenize(" " + " ".join(source.split()))]
            for i in range(len(ids) - n):
                nxt = ids[i + n]
                if starts_lower_word(nxt):
                    self.following.setdefault(tuple(ids[i:i + n]), set()).add(nxt)
        self.prompt_tokens: int | None = None
        self.bans = 0

    def banned(self, ids: Sequence[int]) -> set[int]:
        """The tokens not to write next, given every token so far (the prompt first: the first
        call sees only the prompt and bans nothing)."""
        if self.prompt_tokens is None:
            self.prompt_tokens = len(ids)
            return set()
        made = len(ids) - self.prompt_tokens
        if made < self.n or not self.following:
            return set()
        return self.following.get(tuple(int(t) for t in ids[-self.n:]), set())

    def to_ban(self, ids: Sequence[int], open_: object) -> list[int]:
        """The tokens to mask at this step: the banned ones, or none when banning them would leave
        no token of `open_` (a boolean numpy row: what the grammar and the logits still allow)."""
        import numpy as np

        row = np.asarray(open_, dtype=bool)
        ban = [t for t in sorted(self.banned(ids)) if t < row.shape[0]]
        if not ban:
            return []
        keep = row.copy()
        keep[ban] = False
        if not keep.any():
            return []
        self.bans += 1
        return ban

    def apply(self, ids: Sequence[int], scores: object, allowed: object | None = None) -> object:
        """`scores` (a numpy row of logits) with the banned tokens at -inf, unless that would
        leave no token `allowed` (a boolean mask, e.g. a grammar's) open."""
        import numpy as np

        row = np.asarray(scores)
        open_ = np.isfinite(row) if allowed is None else np.asarray(allowed) & np.isfinite(row[: len(allowed)])  # type: ignore[arg-type]
        ban = self.to_ban(ids, open_)
        if not ban:
            return scores
        out = np.array(row, copy=True)
        out[ban] = -np.inf
        return out
