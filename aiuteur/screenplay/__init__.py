"""Stage 1 "skip to script" and stage 4 exports: screenplay files into the Script model and back.

Import: Fountain (.fountain, .spmd, and .txt/.md written in Fountain), Final Draft (.fdx), plain
text laid out like a screenplay, and PDF (through its text layer). Export: Fountain
(`to_fountain`) and Final Draft (`to_fdx`), both round-tripping through import, and a screenplay
PDF in industry layout (`to_pdf`).

`parse_heading` is the one scene-heading reader (location, time of day, notes, INT/EXT, number)
for any code that needs the place of a scene. `import_screenplay` and `script_summary` are all
an importing caller needs; every failure is a
`ScreenplayError` whose message names the file, the problem and the fix.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from aiuteur.domain.artifacts import Script
from aiuteur.screenplay.builder import paused_gc
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.fdx import parse_fdx, to_fdx
from aiuteur.screenplay.fountain import parse_fountain, to_fountain
from aiuteur.screenplay.headings import Heading, is_heading, parse_heading
from aiuteur.screenplay.layout import parse_layout
from aiuteur.screenplay.limits import MAX_BYTES, MAX_PDF_PAGES, MAX_SCENES
from aiuteur.screenplay.pdf import pdf_text, to_pdf
from aiuteur.screenplay.text import decode_text, utf16_without_bom

__all__ = [
    "MAX_BYTES",
    "MAX_PDF_PAGES",
    "MAX_SCENES",
    "Heading",
    "ScreenplayError",
    "decode_text",
    "import_screenplay",
    "is_heading",
    "parse_fdx",
    "parse_fountain",
    "parse_heading",
    "parse_layout",
    "script_summary",
    "to_fdx",
    "to_fountain",
    "to_pdf",
    "utf16_without_bom",
]

FOUNTAIN_EXTENSIONS = {".fountain", ".spmd"}
TEXT_EXTENSIONS = {".txt", ".md", ".text", ".markdown", ""}
SUPPORTED = ".fountain, .spmd, .fdx, .txt, .md or .pdf"

_INDENTED_CUE = re.compile(r"^[ \t]{10,}[A-Z][A-Z0-9 .'’\-]{1,30}(?:\s*\([^)]*\))*\s*$", re.MULTILINE)
_FURNITURE = re.compile(r"^\s*(?:\(MORE\)|\(?CONTINUED\)?:?)\s*$", re.MULTILINE | re.IGNORECASE)


def _looks_like_layout(text: str) -> bool:
    """True when a .txt reads as a printed screenplay (indented cues, page furniture)."""
    return len(_INDENTED_CUE.findall(text)) >= 2 or "\f" in text or bool(_FURNITURE.search(text))


def _parse(data: bytes, filename: str, max_scenes: int, max_pdf_pages: int) -> Script:
    suffix = PurePath(filename).suffix.lower()
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[:1024].lstrip().startswith(b"%PDF") or suffix == ".pdf":
        if not data[:1024].lstrip().startswith(b"%PDF"):
            raise ScreenplayError(
                f"{filename} is named .pdf but is not a PDF file; export the screenplay to PDF again or import it as Fountain or FDX."
            )
        return parse_layout(pdf_text(data, filename, max_pages=max_pdf_pages), filename, max_scenes=max_scenes)
    if suffix == ".fdx" or head.startswith((b"<?xml", b"<FinalDraft", b"<!DOCTYPE")):
        return parse_fdx(data, filename, max_scenes=max_scenes)
    if suffix not in FOUNTAIN_EXTENSIONS | TEXT_EXTENSIONS:
        raise ScreenplayError(
            f"{filename} has an unsupported file type {suffix!r}; import a {SUPPORTED} file."
        )
    text = decode_text(data, filename, advice="import a Fountain, FDX, plain-text or PDF screenplay",
                       other_formats="import a Fountain, FDX or PDF screenplay")
    if suffix in TEXT_EXTENSIONS and _looks_like_layout(text):
        return parse_layout(text, filename, max_scenes=max_scenes)
    return parse_fountain(text, filename, max_scenes=max_scenes)


def import_screenplay(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_scenes: int = MAX_SCENES,
    max_pdf_pages: int = MAX_PDF_PAGES,
) -> Script:
    """Read a screenplay file into a Script, choosing the reader by extension and content.

    Args:
        data: the file's bytes.
        filename: the name shown in messages; its extension picks the format.
        max_bytes: larger files are refused (default 20 MB).
        max_scenes: a screenplay with more scene headings is refused (default 2,000).
        max_pdf_pages: a PDF with more pages is refused before its text is read (default 1,000).

    Time and memory grow linearly with the file's size.

    Raises:
        ScreenplayError: for an empty, oversized, binary, malformed or unsupported file.
    """
    name = PurePath(filename).name or "the file"
    if len(data) > max_bytes:
        raise ScreenplayError(
            f"{name} is {len(data) / 1_048_576:.1f} MB, over the {max_bytes / 1_048_576:.0f} MB limit for a screenplay; "
            "import the script without embedded images or split it."
        )
    if not data.strip():
        raise ScreenplayError(f"{name} is empty; choose a file that contains the screenplay.")
    try:
        with paused_gc():
            script = _parse(data, name, max_scenes, max_pdf_pages)
    except ScreenplayError:
        raise
    except RecursionError as exc:
        raise ScreenplayError(
            f"{name} is nested too deeply to read; simplify the file and try again."
        ) from exc
    except Exception as exc:  # a bug or a library surprise must still reach the user as one clear line
        raise ScreenplayError(
            f"{name} could not be read ({type(exc).__name__}: {str(exc)[:100]}); check the file, or import it as Fountain."
        ) from exc
    if not any(scene.heading or scene.elements for scene in script.scenes):
        raise ScreenplayError(
            f"{name} contains no screenplay text (no scene headings, action or dialogue); check that it is the right file."
        )
    return script


def script_summary(script: Script) -> dict[str, Any]:
    """The `import-script --json` shape: title, scenes with their speakers, characters, locations."""
    characters: dict[str, None] = {}
    locations: dict[str, str] = {}
    scenes = []
    for scene in script.scenes:
        speakers = scene.characters
        for name in speakers:
            characters.setdefault(name, None)
        if scene.location:
            locations.setdefault(" ".join(scene.location.upper().split()), scene.location)
        scenes.append(
            {
                "number": scene.number,
                "heading": scene.heading,
                "location": scene.location,
                "int_ext": scene.int_ext.value,
                "time_of_day": scene.time_of_day,
                "characters": speakers,
            }
        )
    return {
        "title": script.title,
        "scenes": scenes,
        "characters": list(characters),
        "locations": list(locations.values()),
    }
