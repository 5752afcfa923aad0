"""Text a user typed, pasted or uploaded, made safe to store and to put in a prompt.

Terminal escape sequences and control characters (NUL, bell, backspace…) are stripped; tabs and
line breaks stay. Invalid Unicode (a lone surrogate, which cannot be written as UTF-8) and text
longer than the limit are refused with one sentence naming the field, so nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from aiuteur.domain import InputError

MAX_FIELD_CHARS = 2_000_000  # one field: the same cap as a source text (about a 1,000-page book)
MAX_TOTAL_CHARS = 8_000_000  # all the text of one artifact together

# CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), and two-character ESC sequences.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def clean_text(value: str, where: str, *, max_chars: int = MAX_FIELD_CHARS, single_line: bool = False) -> str:
    """`value` without escape sequences and control characters.

    Raises:
        InputError: the text holds invalid Unicode, or is longer than `max_chars`.
    """
    if len(value) > max_chars:
        raise InputError(f"{where} is {len(value):,} characters long; keep it under {max_chars:,}.")
    bad = SURROGATE.search(value)
    if bad:
        raise InputError(f"{where} contains invalid Unicode (U+{ord(bad.group()):04X} at character "
                         f"{bad.start() + 1:,}); paste it again or save the file as UTF-8.")
    if "\x1b" in value:
        value = ANSI.sub("", value)
    value = CONTROLS.sub("", value)
    if single_line:
        value = LINE_BREAKS.sub(" ", value)
    return value


def clean_data(data: Any, where: str) -> Any:
    """A copy of JSON-like `data` with every string cleaned by `clean_text`; also caps the total length.

    Raises:
        InputError: a string holds invalid Unicode or is too long, or all the text together is too long.
    """
    total = 0

    def walk(value: Any, path: str) -> Any:
        nonlocal total
        if isinstance(value, str):
            total += len(value)
            if total > MAX_TOTAL_CHARS:
                raise InputError(f"{where} holds more than {MAX_TOTAL_CHARS:,} characters of text; "
                                 "split it or shorten the sources.")
            return clean_text(value, f"{where}: {path or 'the text'}")
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = clean_text(k, f"{where}: a field name", max_chars=200) if isinstance(k, str) else k
                out[key] = walk(v, f"{path}.{key}" if path else str(key))
            return out
        if isinstance(value, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    return walk(data, "")
