"""Screenplay PDF: import through pypdf's layout text, export in industry layout with fpdf2.

Export layout (US Letter, Courier 12 pt = 10 characters per inch, 6 lines per inch): action at
1.5 in, cues at 3.7 in, parentheticals at 3.1 in, dialogue at 2.5 in (3.5 in wide), transitions
right-aligned at 7.5 in, scene numbers in both margins, page numbers "2." top right from page
two, "(MORE)" / "(CONT'D)" when a speech breaks across pages, and a title page when the script
has one. Dual dialogue is set side by side.
"""

from __future__ import annotations

import io
import logging
import textwrap
from dataclasses import dataclass, field

from aiuteur.domain.artifacts import ElementKind, Script, ScriptElement
from aiuteur.screenplay import fonts
from aiuteur.screenplay.builder import opening_elements
from aiuteur.screenplay.cues import CONTD, join_cue
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.fountain import implied_heading
from aiuteur.screenplay.limits import MAX_PDF_PAGES

log = logging.getLogger(__name__)

# --- export ----------------------------------------------------------------------------------

_PT_PER_IN = 72.0
_LINE = 12.0  # points: 6 lines per inch
_PAGE_W, _PAGE_H = 8.5 * _PT_PER_IN, 11.0 * _PT_PER_IN
_TOP, _BOTTOM = 1.0 * _PT_PER_IN, 10.0 * _PT_PER_IN
_LINES_PER_PAGE = int((_BOTTOM - _TOP) / _LINE)  # 54

_ACTION_X, _ACTION_W = 1.5, 60
_CUE_X = 3.7
_PAREN_X, _PAREN_W = 3.1, 26
_DIALOGUE_X, _DIALOGUE_W = 2.5, 35
_RIGHT_EDGE = 7.5
_CHAR_IN = 0.1  # Courier 12 pt: 0.1 in per character

@dataclass
class _Line:
    x: float  # inches from the left edge; negative means right-aligned at -x
    text: str


@dataclass
class _Block:
    """Lines kept together on a page unless the block is speech, which may break with (MORE)."""

    rows: list[list[_Line]] = field(default_factory=list)
    space_before: int = 1
    cue: str | None = None  # speech blocks: the cue to repeat with (CONT'D) after a break
    scene_number: str | None = None


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        if fonts.width(paragraph) == len(paragraph):
            lines.extend(textwrap.wrap(paragraph, width, break_long_words=True) or [""])
        else:
            lines.extend(_wrap_wide(paragraph, width) or [""])
    return lines


def _wrap_wide(paragraph: str, width: int) -> list[str]:
    """Wrap by grid columns when full-width (CJK) characters take two: a line may break between
    any two of them, as CJK text has no spaces, and at spaces as usual."""
    tokens: list[str] = []
    word = ""
    for ch in paragraph:
        if ch == " " or fonts.columns(ch) == 2:
            if word:
                tokens.append(word)
            tokens.append(ch)
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    lines: list[str] = []
    line = ""
    for token in tokens:
        if token == " " and not line:
            continue
        if fonts.width(line + token) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = "" if token == " " else token
        while fonts.width(line) > width:  # a word longer than the line
            cut = 0
            while fonts.width(line[: cut + 1]) <= width:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _speech_rows(
    elements: list[ScriptElement], cue_x: float, dlg_x: float, dlg_w: int, par_x: float, par_w: int
) -> list[list[_Line]]:
    first = elements[0]
    rows = [[_Line(cue_x, join_cue(first.character or "", first.extension))]]
    for e in elements:
        if e.kind == ElementKind.PARENTHETICAL:
            rows += [[_Line(par_x, line)] for line in _wrap(e.text, par_w)]
        else:
            rows += [[_Line(dlg_x, line)] for line in _wrap(e.text, dlg_w)]
    return rows


def _blocks(script: Script) -> list[_Block]:
    blocks: list[_Block] = []
    openers = opening_elements(script)
    for index, scene in enumerate(script.scenes):
        elements = scene.elements
        i = 0
        if index == 0:  # "FADE IN:" and sections stand before the first heading, as written
            blocks.extend(_plain_blocks(elements[:openers]))
            i = openers
        if scene.heading and not implied_heading(script, index):
            blocks.append(
                _Block(
                    rows=[[_Line(_ACTION_X, line)] for line in _wrap(scene.heading.upper(), _ACTION_W)],
                    space_before=2,
                    scene_number=scene.number,
                )
            )
        while i < len(elements):
            e = elements[i]
            if e.kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
                j = i + 1
                while (
                    j < len(elements)
                    and elements[j].kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL)
                    and (elements[j].character, elements[j].dual) == (e.character, e.dual)
                    and not (
                        elements[j].kind == ElementKind.DIALOGUE
                        and elements[j - 1].kind == ElementKind.DIALOGUE
                    )
                ):
                    j += 1
                speech = elements[i:j]
                k = j
                while (
                    k < len(elements)
                    and elements[k].kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL)
                    and elements[k].dual
                ):
                    k += 1
                if k > j and not e.dual:  # side-by-side dual dialogue
                    left = _speech_rows(speech, 2.4, 1.5, 28, 1.9, 22)
                    right = _speech_rows(elements[j:k], 5.4, 4.5, 28, 4.9, 22)
                    rows = [
                        (left[n] if n < len(left) else []) + (right[n] if n < len(right) else [])
                        for n in range(max(len(left), len(right)))
                    ]
                    blocks.append(_Block(rows=rows))
                    i = k
                    continue
                rows = _speech_rows(speech, _CUE_X, _DIALOGUE_X, _DIALOGUE_W, _PAREN_X, _PAREN_W)
                blocks.append(_Block(rows=rows, cue=join_cue(e.character or "", CONTD)))
                i = j
                continue
            blocks.extend(_plain_blocks([e]))
            i += 1
    return blocks


def _plain_blocks(elements: list[ScriptElement]) -> list[_Block]:
    """Blocks for elements other than speech; sections and synopses are not printed."""
    blocks = []
    for e in elements:
        if e.kind == ElementKind.PAGE_BREAK:
            blocks.append(_Block(rows=[], space_before=-1))
        elif e.kind == ElementKind.TRANSITION:
            x = _ACTION_X if e.text.strip().upper().startswith("FADE IN") else -_RIGHT_EDGE
            blocks.append(_Block(rows=[[_Line(x, e.text.upper())]]))
        elif e.kind == ElementKind.CENTERED:
            blocks.append(_Block(rows=[[_Line(0, line)] for line in _wrap(e.text, _ACTION_W)]))
        elif e.kind == ElementKind.LYRIC or e.kind == ElementKind.ACTION:
            blocks.append(_Block(rows=[[_Line(_ACTION_X, line)] for line in _wrap(e.text, _ACTION_W)]))
    return blocks


def printed_text(script: Script) -> str:
    """Every character the screenplay PDF prints (title page and script pages), to check its fonts
    without rendering it."""
    rows = "\n".join(cell.text for block in _blocks(script) for row in block.rows for cell in row)
    return "\n".join([script.title or "", *script.title_page.values(), rows])


def to_pdf(script: Script) -> bytes:
    """Render the script as a screenplay PDF in industry layout; returns the PDF bytes."""
    return render_pdf(script)[0]


def render_pdf(script: Script) -> tuple[bytes, list[str]]:
    """The screenplay PDF and the characters its fonts could not draw (see `fonts`), in order
    of first use; `fonts.missing_sentence` words them for the user."""
    from fpdf import FPDF

    found = fonts.faces()
    pdf = FPDF(orientation="portrait", unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_title(script.title or "Screenplay" if found else fonts.latin1(script.title or "Screenplay"))
    pdf.set_creator("Aiuteur")
    added: set[str] = set()
    missed: dict[str, None] = {}
    col = _CHAR_IN * _PT_PER_IN

    def use(face: fonts.Face | None) -> None:
        if face is None:  # no embedded fonts on this machine
            pdf.set_font("Courier", size=12)
            return
        if face.name not in added:
            pdf.add_font(face.name, "", str(face.path), collection_font_number=0)
            added.add(face.name)
        pdf.set_font(face.name, size=12)

    def draw(left: float, baseline: float, text: str) -> None:
        """Each run of characters in the first font that has them, on the 10-per-inch grid."""
        for ch in fonts.missing(text, found):
            missed.setdefault(ch, None)
        if not found:
            use(None)
            pdf.text(left, baseline, fonts.latin1(text))
            return
        start, run, run_face = 0, "", None
        for ch in text + "\0":
            face = None if ch == "\0" else fonts.face_for(ch, found) or found[0]
            if run and (face is not run_face or ch == "\0"):
                use(run_face)
                wide = fonts.width(run) == 2 * len(run)
                pdf.set_char_spacing(2 * col - pdf.get_string_width(run[0]) if wide else 0)
                pdf.text(left + start * col, baseline, run)
                start += fonts.width(run)
                run = ""
            run_face = face
            run += ch
        pdf.set_char_spacing(0)

    def put(x: float, y_line: int, text: str) -> None:
        size = fonts.width(text) * col
        if x < 0:
            left = -x * _PT_PER_IN - size
        elif x == 0:
            left = (_PAGE_W - size) / 2
        else:
            left = x * _PT_PER_IN
        draw(left, _TOP + y_line * _LINE + 9, text)

    # 1. Title page.
    page = dict(script.title_page)
    if script.title and "title" not in page:
        page["title"] = script.title
    if page:
        pdf.add_page()
        y = 22
        for key in ("title", "credit", "author", "authors", "source"):
            for text in page.get(key, "").split("\n"):
                if text.strip():
                    put(0, y, text.upper() if key == "title" else text)
                    y += 1
            if page.get(key):
                y += 1
        y = 46
        for key in ("draft date", "contact", "notes", "copyright"):
            for text in page.get(key, "").split("\n"):
                if text.strip() and y < _LINES_PER_PAGE:
                    put(_ACTION_X, y, text)
                    y += 1

    # 2. Script pages.
    number = 0
    y = 0

    def new_page() -> None:
        nonlocal number, y
        pdf.add_page()
        number += 1
        y = 0
        if number > 1:
            text = f"{number}."
            draw(_RIGHT_EDGE * _PT_PER_IN - len(text) * col, 0.5 * _PT_PER_IN + 9, text)

    new_page()
    for block in _blocks(script):
        if block.space_before < 0:  # forced page break
            if y:
                new_page()
            continue
        gap = block.space_before if y else 0
        rows = block.rows
        if y + gap + len(rows) > _LINES_PER_PAGE and not (block.cue and y + gap + 3 <= _LINES_PER_PAGE):
            new_page()  # keep the block together; a speech may instead break below
            gap = 0
        y += gap
        if block.scene_number:
            put(0.75, y, block.scene_number)
            put(-8.0, y, block.scene_number)
        while rows:
            room = _LINES_PER_PAGE - y
            if len(rows) <= room:
                chunk, rows = rows, []
            elif block.cue:  # speech: as much as fits, "(MORE)", and "NAME (CONT'D)" overleaf
                chunk, rest = rows[: room - 1], rows[room - 1 :]
                rows = [[_Line(_CUE_X, block.cue)], *rest]
            else:  # a block longer than a page runs on
                chunk, rows = rows[:room], rows[room:]
            for row in chunk:
                for cell in row:
                    put(cell.x, y, cell.text)
                y += 1
            if rows:
                if block.cue:
                    put(_CUE_X, y, "(MORE)")
                new_page()
    return bytes(pdf.output()), list(missed)


# --- import ----------------------------------------------------------------------------------


def pdf_text(data: bytes, filename: str = "script.pdf", *, max_pages: int = MAX_PDF_PAGES) -> str:
    """The text of every page in layout mode (indentation kept), pages separated by form feeds.

    Raises:
        ScreenplayError: for a broken, encrypted or image-only PDF.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ScreenplayError(
                f"{filename} is password-protected; save an unprotected copy of the PDF and import that."
            )
        count = len(reader.pages)
        if count > max_pages:
            raise ScreenplayError(
                f"{filename} has {count:,} pages, over the {max_pages:,}-page limit for a screenplay PDF; "
                "split it into parts and import each as its own project."
            )
        pages: list[str] = []
        for page in reader.pages:
            if len(pages) >= max_pages:  # the page count in the file can lie
                raise ScreenplayError(
                    f"{filename} has more than {max_pages:,} pages, the limit for a screenplay PDF; "
                    "split it into parts and import each as its own project."
                )
            pages.append(page.extract_text(extraction_mode="layout") or "")
    except ScreenplayError:
        raise
    except (PyPdfError, Exception) as exc:  # pypdf raises many types on damaged files
        message = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        if "decrypt" in message.lower() or "encrypt" in message.lower():
            raise ScreenplayError(
                f"{filename} is encrypted; save an unprotected copy of the PDF and import that."
            ) from exc
        raise ScreenplayError(
            f"{filename} is not a readable PDF ({message}); export the screenplay to PDF again or import it as Fountain or FDX."
        ) from exc
    text = "\n\f".join(pages)
    if sum(1 for c in text if c.isalpha()) < 20:
        raise ScreenplayError(
            f"{filename} has no text layer (it looks like scanned images); run OCR on it first or import a Fountain, FDX or text version."
        )
    log.debug("extracted %d characters from %d PDF pages", len(text), len(pages))
    return text
