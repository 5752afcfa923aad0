"""The screenplay PDF's fonts: Courier Prime, with Unicode fallbacks, found on the machine.

The PDF's built-in Courier draws Latin-1 only, so a script with Cyrillic, Greek or CJK printed
"?" in its place. The screenplay is instead set in fonts embedded in the PDF (subset to the
glyphs used):

1. **Courier Prime** (OFL-1.1): Courier metrics (0.6 em, so 10 characters an inch at 12 pt),
   Latin with accents. Debian package `fonts-courier-prime`.
2. **Liberation Mono** (OFL-1.1): the same 0.6 em advance, adds Greek and Cyrillic. Debian
   package `fonts-liberation2`.
3. **WenQuanYi Micro Hei** (Apache-2.0): Chinese, Japanese kana, Korean Hangul. Debian
   package `fonts-wqy-microhei`. Its glyphs are full width: each takes two columns of the grid.

Each character is drawn in the first of these that has it. A character none of them has is
drawn as the first font's empty box and reported (`missing`), so the caller can tell the user
which characters will not print. `scripts/install-fonts.sh` (run by `scripts/run.sh` and
`scripts/test.sh`) installs the three Debian packages at pinned versions; `packages.txt` names
them for Hugging Face Spaces; other folders can be given in `AIUTEUR_FONTS` (os.pathsep-separated). With none of the fonts present
the PDF falls back to the built-in Courier, and everything beyond Latin-1 is reported missing.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# (name used in the PDF, file names searched for, in order of preference)
FACES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CourierPrime", ("Courier Prime.otf", "CourierPrime-Regular.ttf", "Courier Prime.ttf")),
    ("LiberationMono", ("LiberationMono-Regular.ttf",)),
    ("WenQuanYiMicroHei", ("wqy-microhei.ttc",)),
)
SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")

_LATIN1_FIX = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "--", "…": "...", "\u00a0": " "}
)


@dataclass(frozen=True)
class Face:
    name: str
    path: Path
    chars: frozenset[int]


def _dirs() -> list[Path]:
    extra = [p for p in os.environ.get("AIUTEUR_FONTS", "").split(os.pathsep) if p]
    return [Path(p) for p in (*extra, *SYSTEM_DIRS)]


def _find(names: tuple[str, ...], dirs: tuple[Path, ...]) -> Path | None:
    for folder in dirs:
        if not folder.is_dir():
            continue
        for name in names:
            direct = folder / name
            if direct.is_file():
                return direct
            found = sorted(folder.rglob(name))
            if found:
                return found[0]
    return None


@lru_cache(maxsize=4)
def _faces(dirs: tuple[Path, ...]) -> tuple[Face, ...]:
    from fontTools.ttLib import TTFont

    faces = []
    for name, files in FACES:
        path = _find(files, dirs)
        if path is None:
            continue
        try:
            with TTFont(str(path), lazy=True, fontNumber=0) as font:  # the first face of a .ttc
                chars = frozenset(font.getBestCmap() or {})
        except Exception:  # a damaged font file is skipped like a missing one
            continue
        faces.append(Face(name, path, chars))
    return tuple(faces)


def faces() -> tuple[Face, ...]:
    """The embedded fonts found on this machine, in order of preference (may be empty)."""
    return _faces(tuple(_dirs()))


def columns(ch: str) -> int:
    """Columns of the 10-per-inch grid a character takes: 2 for full-width (CJK), else 1."""
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    """The text's width in grid columns."""
    return sum(columns(c) for c in text)


def face_for(ch: str, found: tuple[Face, ...]) -> Face | None:
    code = ord(ch)
    return next((f for f in found if code in f.chars), None)


def latin1(text: str) -> str:
    """Text the built-in Courier can draw: curly quotes and dashes made plain, the rest '?'."""
    return text.translate(_LATIN1_FIX).encode("latin-1", "replace").decode("latin-1")


def missing(text: str, found: tuple[Face, ...] | None = None) -> list[str]:
    """The characters of `text` that no available font can draw, in order of first use."""
    found = faces() if found is None else found
    seen: dict[str, None] = {}
    for ch in text:
        if ch in seen or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        if found:
            if face_for(ch, found) is None:
                seen[ch] = None
        elif latin1(ch) != ch and latin1(ch) == "?":
            seen[ch] = None
    return list(seen)


def missing_sentence(chars: list[str], what: str = "The screenplay PDF") -> str:
    """One sentence telling the user which characters will not print, or '' when all will."""
    if not chars:
        return ""
    shown = " ".join(chars[:12]) + (f" and {len(chars) - 12} more" if len(chars) > 12 else "")
    if faces():
        return (f"{what} has no glyph for {len(chars)} character{'s' if len(chars) != 1 else ''} "
                f"of the script ({shown}); they print as empty boxes.")
    return (f"{what} uses the built-in Courier because the screenplay fonts are not installed "
            f"(Debian: fonts-courier-prime fonts-liberation2 fonts-wqy-microhei), so {len(chars)} "
            f"character{'s' if len(chars) != 1 else ''} ({shown}) print as '?'.")


SANS_STYLES = (("", "LiberationSans-Regular.ttf"), ("B", "LiberationSans-Bold.ttf"), ("I", "LiberationSans-Italic.ttf"))


def sans_font(pdf: Any, text: str = "") -> tuple[str, Callable[[str], str]]:
    """Set up an fpdf2 document for the proportional text of the shot list and storyboard: Liberation
    Sans (regular, bold, italic; Latin, Greek, Cyrillic) with the CJK face as fallback, when installed
    (the 5 MB CJK face only when `text`, all the document will print, has a character that needs it).
    Returns the family name to pass to `set_font` and the function that makes text drawable: the
    identity with these fonts, `latin1` with the built-in Helvetica they fall back to."""
    dirs = tuple(_dirs())
    files = [(style, _find((name,), dirs)) for style, name in SANS_STYLES]
    if any(path is None for _, path in files):
        return "Helvetica", latin1
    for style, path in files:
        pdf.add_font("AiuteurSans", style, str(path))
    found = faces()
    cjk = next((f for f in found if f.name == "WenQuanYiMicroHei"), None)
    latin = next((f for f in found if f.name == "LiberationMono"), None)  # Liberation Sans's coverage
    needed = {ord(c) for c in text} - (latin.chars if latin else frozenset())
    if cjk is not None and needed & cjk.chars:
        pdf.add_font("AiuteurCJK", "", str(cjk.path), collection_font_number=0)
        pdf.set_fallback_fonts(["AiuteurCJK"], exact_match=False)
    return "AiuteurSans", str
