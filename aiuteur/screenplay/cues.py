"""Character cues: split "JOHN (CONT'D) (O.S.)" into the name JOHN and its extensions.

Names are kept as written (upper-cased, spaces collapsed): "BOB'S VOICE" stays "BOB'S VOICE";
merging aliases is stage 5's job, not the importer's.
"""

from __future__ import annotations

import re

_PAREN = re.compile(r"\(([^()]*)\)?\s*$")
_CONTD = re.compile(r"^\s*CONT(?:['’`´]?D|INUED|INUING|\.|\b)\.?\s*$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

CONTD = "CONT'D"


def normalise_extension(text: str) -> str:
    """One extension in canonical spelling: CONT’D, CONTD, CONT. and CONTINUED all become CONT'D."""
    text = _SPACES.sub(" ", text).strip()
    if _CONTD.match(text):
        return CONTD
    return text.upper() if text.isascii() else text


def split_cue(cue: str) -> tuple[str, str | None]:
    """Return (NAME, extension) for a cue line; several extensions are joined with ", ".

    >>> split_cue("JOHN (CONT'D) (O.S.)")
    ('JOHN', "CONT'D, O.S.")
    >>> split_cue("ADA")
    ('ADA', None)
    """
    text = _SPACES.sub(" ", cue.replace("\u00a0", " ")).strip()
    text = text.rstrip("^").rstrip()  # dual-dialogue marker
    if text.startswith("@"):
        text = text[1:].lstrip()
    if text.endswith(":"):  # "ADA:" in home-made plain-text scripts
        text = text[:-1].rstrip()
    extensions: list[str] = []
    while True:
        match = _PAREN.search(text)
        if match is None or match.start() == 0:
            break
        inner = match.group(1).strip()
        text = text[: match.start()].rstrip()
        if inner:
            extensions.insert(0, normalise_extension(inner))
    name = text.upper()
    return name, (", ".join(extensions) if extensions else None)


def join_cue(name: str, extension: str | None) -> str:
    """The cue line for a name and its extension, the inverse of split_cue."""
    return f"{name} ({extension})" if extension else name


# A cue-shaped line: mostly upper case letters, short, no sentence punctuation at the end.
_CUE_NAME = re.compile(r"^[^\W\d_][\w .'’&\-/#]*$")


def looks_like_cue(line: str, *, allow_mc: bool = True) -> bool:
    """True if `line` could be a character cue: an upper-case name, optionally with extensions.

    "DR. McCOY" counts when `allow_mc` is set: a Mc/Mac prefix is the one lower-case
    spelling common in real cues.
    """
    text = line.strip().rstrip("^").rstrip()
    if not text or len(text) > 60:
        return False
    if text.endswith(":"):
        return False
    name, _ = split_cue(text)
    bare = _PAREN.sub("", text).strip()
    while _PAREN.search(bare) and not bare.startswith("("):
        bare = _PAREN.sub("", bare).strip()
    if not bare or len(bare) > 40 or not _CUE_NAME.match(bare):
        return False
    if allow_mc:
        bare = re.sub(r"\bMa?c(?=[A-Z])", "MC", bare)
    letters = [c for c in bare if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and bool(name)


_SENTENCE_END = tuple(".,;:!?…。、，！？：；")


def looks_like_caseless_cue(line: str) -> bool:
    """True if `line` could be a cue in a script with no letter case (Chinese, Japanese, Korean,
    Arabic, Hebrew, Thai …): a short name, optionally with extensions, of letters that are neither
    upper nor lower case. Only position can confirm it (a line at cue indentation in a printed
    script, or Fountain's "@"), since case cannot."""
    text = line.strip().rstrip("^").rstrip()
    bare = _PAREN.sub("", text).strip()
    while _PAREN.search(bare) and not bare.startswith("("):
        bare = _PAREN.sub("", bare).strip()
    if not bare or len(bare) > 20 or bare.endswith(_SENTENCE_END):
        return False
    letters = [c for c in bare if c.isalpha()]
    return bool(letters) and not any(c.isupper() or c.islower() for c in letters) and all(
        c.isalpha() or c in " ·・'’-" for c in bare)
