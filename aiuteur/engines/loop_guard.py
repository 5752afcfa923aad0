"""Stop a structured answer when the model starts to say the same thing again.

A small model that begins to repeat itself keeps going until its schema's length bound: a
treatment that tells its paragraph three times, an action line copied into every scene. Cutting
the repeats after generation (`pipeline.writing.cut_loops`) keeps the answer, but every repeated
token has already cost its time on a CPU. `LoopGuard` watches the answer while it is generated
(the text so far is a JSON prefix) and says where the first loop begins; the engine then ends the
answer there, closes the JSON (`close_json`) and keeps what was written before the loop.

Two kinds of loop, both counted in words so punctuation and case do not hide them:
- inside one string value, a finished sentence of `SENTENCE_WORDS` words or more said again;
- anywhere in the answer, a run of `RUN_WORDS` words said for the third time (the same action
  line in scene after scene). Two is allowed: a line may be quoted once more on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

#: A finished sentence this long said twice in one value is a loop, not style.
SENTENCE_WORDS = 6
#: A run of this many words said three times anywhere in one answer is a loop.
RUN_WORDS = 12
RUN_TIMES = 3

_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]+")


def json_strings(text: str) -> list[tuple[int, int]]:
    """(start, end) of every string's contents in a JSON prefix, keys included; the last string
    may be unfinished (its end is then the end of `text`)."""
    spans: list[tuple[int, int]] = []
    start, escaped = -1, False
    for i, ch in enumerate(text):
        if start < 0:
            if ch == '"':
                start = i + 1
            continue
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            spans.append((start, i))
            start = -1
    if start >= 0:
        spans.append((start, len(text)))
    return spans


def _key(sentence: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(sentence.replace("\\n", " "))]


def loop_start(text: str, *, sentence_words: int = SENTENCE_WORDS, run_words: int = RUN_WORDS,
               run_times: int = RUN_TIMES) -> int | None:
    """Where in `text` (a JSON prefix) the model began to repeat itself, or None.

    The position is inside a string value: at the start of the repeated sentence, or of the run's
    last occurrence, so everything before it is the answer as first said.
    """
    spans = json_strings(text)
    first: int | None = None
    for s, e in spans:
        seen: set[tuple[str, ...]] = set()
        for m in _SENTENCE.finditer(text, s, e):
            key = tuple(_key(m.group(0)))
            if len(key) >= sentence_words and key in seen:
                at = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
                first = at if first is None else min(first, at)
                break
            seen.add(key)
        if first is not None:
            break
    words: list[tuple[str, int]] = []
    for s, e in spans:
        words.extend((m.group(0).lower(), m.start()) for m in _WORD.finditer(text, s, e))
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - run_words + 1):
        run = tuple(w for w, _ in words[i:i + run_words])
        counts[run] = counts.get(run, 0) + 1
        if counts[run] >= run_times:
            at = words[i][1]
            first = at if first is None else min(first, at)
            break
    return first


def close_json(prefix: str) -> str:
    """`prefix` (JSON cut off inside a string value) made whole: the value's trailing space
    dropped, the string closed, and every open array and object closed in order."""
    stack: list[str] = []
    in_string, escaped = False, False
    for ch in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    out = prefix
    if in_string:
        if escaped:
            out = out[:-1]
        out = re.sub(r"(?:\s|\\[nrt])+$", "", out) + '"'
    out = out.rstrip()
    while out.endswith((",", ":")):
        if out.endswith(","):
            out = out[:-1].rstrip()
        else:  # a key with no value: drop the key
            out = re.sub(r',?\s*"(?:[^"\\]|\\.)*"\s*:$', "", out).rstrip()
    return out + "".join("}" if c == "{" else "]" for c in reversed(stack))


class LoopGuard:
    """Watches one completion's tokens; `looped_at` is set (a character offset into the decoded
    answer) once the answer starts to repeat itself and the answer before the loop is `usable`.
    Checked every `every` tokens."""

    def __init__(self, detokenize: Callable[[Sequence[int]], bytes], *, every: int = 16,
                 usable: Callable[[str], bool] | None = None) -> None:
        self.detokenize = detokenize
        self.every = every
        #: Whether the answer cut at a loop (closed JSON) is still a whole answer; when it is not
        #: (the loop came before a required part), the model writes on: cutting would leave nothing.
        self.usable = usable
        self.refused: set[int] = set()
        self.prompt_tokens: int | None = None
        self.checked = 0
        self.looped_at: int | None = None
        self.text = ""

    def __call__(self, ids: Sequence[int]) -> bool:
        """True when the answer so far (`ids` after the prompt) has begun to loop."""
        if self.looped_at is not None:
            return True
        if self.prompt_tokens is None:
            self.prompt_tokens = len(ids)
            return False
        made = len(ids) - self.prompt_tokens
        if made - self.checked < self.every:
            return False
        self.checked = made
        self.text = self.detokenize([int(t) for t in ids[self.prompt_tokens:]]).decode("utf-8", errors="ignore")
        at = loop_start(self.text)
        if at is None or at in self.refused:
            return False
        if self.usable is not None and not self.usable(close_json(self.text[:at])):
            self.refused.add(at)
            return False
        self.looped_at = at
        return True
