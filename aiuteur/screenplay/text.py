"""Bytes a user uploads as text, decoded one way for every reader (screenplay import, story uploads).

UTF-8 (with or without a BOM), UTF-16 (with a BOM, or plainly so without one), else Windows-1252,
else Latin-1. Anything that is not text (NUL bytes outside UTF-16, too many control characters) is
refused in one sentence that names the file and ends with the caller's advice.
"""

from __future__ import annotations

from aiuteur.screenplay.errors import ScreenplayError

_SAMPLE = 65536


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when `data` looks like UTF-16 text saved without a byte-order mark."""
    sample = data[:_SAMPLE]
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def decode_text(data: bytes, name: str, *, advice: str, other_formats: str) -> str:
    """Text from the bytes of the file `name`, or a `ScreenplayError` (an `InputError`) in one sentence.

    `advice` ends the refusal of a file that is not text at all ("upload a .txt, .md … file");
    `other_formats` the refusal of one that does not read as text ("save it as UTF-8 plain text,
    or <other_formats>").
    """
    utf16 = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else utf16_without_bom(data)
    if utf16:
        # bytes that merely have many zeros in one column (binary) decode too: the control test below applies
        text = data.decode(utf16, errors="replace")
    elif b"\x00" in data[:_SAMPLE]:
        raise ScreenplayError(f"{name} holds NUL bytes, so it is not a text file (an image, a Word .docx, a zip?); "
                              f"{advice}.")
    else:
        text = _legacy(data)
    head = text[:_SAMPLE]
    controls = sum(1 for c in head if (ord(c) < 32 and c not in "\n\r\t\f\v") or c == "\ufffd")
    if controls > max(8, len(head) // 100):
        raise ScreenplayError(f"{name} does not read as text in UTF-8 or Windows-1252 (too many control characters); "
                              f"save it as UTF-8 plain text, or {other_formats}.")
    return text


def _legacy(data: bytes) -> str:
    """UTF-8 (a BOM dropped), else Windows-1252, else Latin-1 (which decodes any byte)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")
