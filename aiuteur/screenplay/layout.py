"""Plain-text and PDF-text screenplays, read by layout.

A typed or printed screenplay marks its elements by position, not by syntax: cues are indented
far, dialogue less, action sits at the margin, transitions hug the right edge. When a file has
that indentation it decides; when everything is flush left, an upper-case line after a blank
line and directly followed by text is a cue. Page furniture is dropped: page numbers ("2."),
"(CONTINUED)", "CONTINUED:", scene numbers in both margins, and "(MORE)" with the repeated
"(CONT'D)" cue, whose speech is joined back into one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from aiuteur.domain.artifacts import ElementKind, Script
from aiuteur.screenplay.builder import ScriptBuilder
from aiuteur.screenplay.cues import CONTD, looks_like_caseless_cue, looks_like_cue, split_cue
from aiuteur.screenplay.headings import is_heading, strip_numbers
from aiuteur.screenplay.limits import MAX_SCENES

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[-–]?\s*\d{1,4}\s*[-–]?\.?\s*(?:of\s+\d+)?\s*$", re.IGNORECASE)
_CONTINUED = re.compile(
    r"^\s*(?:[A-Z]?\d{1,4}[A-Z]{0,3}\s+)?\(?\s*CONTINUED\s*(?::\s*(?:\(\d+\))?)?\s*\)?(?:\s+[A-Z]?\d{1,4}[A-Z]{0,3})?\s*$",
    re.IGNORECASE,
)
_MORE = re.compile(r"^\s*\(\s*MORE\s*\)\s*$", re.IGNORECASE)
_TRANSITION = re.compile(
    r"^(?:[A-Z0-9 .'’/&\-]+\s+TO:|FADE IN:?|FADE OUT\.?|FADE TO BLACK\.?|CUT TO BLACK\.?|SMASH CUT:?|"
    r"JUMP CUT:?|MATCH CUT:?|BACK TO:?|THE END\.?|END\.?|INTERCUT:?|DISSOLVE:?|IRIS OUT\.?)$"
)
_CREDIT = re.compile(r"^(?:written\s+by|screenplay\s+by|teleplay\s+by|story\s+by|by)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^(?P<n>[A-Z]?\d{1,4}[A-Z]{0,3}(?:[.\-][A-Z0-9]{1,3})?)\s{2,}(?P<h>[^a-z]+?)\s{2,}(?P=n)$")
_GAP = re.compile(r"\S+(?: \S+)*")
# A name without letter case (CJK, Hangul …) is a cue only where cues are printed (2.2 in from the
# action margin in standard layout; dialogue sits at 1 in): position is all that marks it.
_CASELESS_CUE_INDENT = 18


@dataclass(frozen=True)
class _Row:
    indent: int  # columns from the action margin
    text: str  # stripped
    raw: str


def _clean_lines(text: str) -> list[str]:
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.replace("\u00a0", " ").expandtabs(8).rstrip()
        if "\f" in line:
            lines += ["", "\f"]
            line = line.replace("\f", "")
        if _PAGE_NUMBER.match(line) or _CONTINUED.match(line):
            continue
        lines.append(line)
    return lines


_CONTACT = re.compile(
    r"@|\d|\bdraft\b|\bbased on\b|copyright|©|\(c\)|\brevis|\bagent\b|\bmanager\b|\bwga\b|\bregistered\b"
    r"|\bstreet\b|\bavenue\b|\bphone\b|\btel\b|\bemail\b|\bwww\.|https?://",
    re.IGNORECASE,
)


def _title_fields(head: list[str]) -> dict[str, str]:
    """Title, credit, author and notes from the lines of a title page."""
    lines = [x for x in head if x]
    if not lines:
        return {}
    credit = next((i for i, x in enumerate(lines) if _CREDIT.match(x) and len(x) < 40), None)
    if credit is None:
        return {"title": lines[0], **({"notes": "\n".join(lines[1:])} if len(lines) > 1 else {})}
    before = lines[:credit] or [""]
    page = {
        "title": " ".join(before[-2:])
        if len(before) > 1 and before[-1].isupper() and before[-2].isupper()
        else before[-1]
    }
    page["credit"] = lines[credit]
    after = lines[credit + 1 :]
    if after:
        page["author"] = after[0]
    if len(after) > 1:
        page["notes"] = "\n".join(after[1:])
    return page


def _split_title_page(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """The title page and the script after it.

    A first page (up to a form feed) with no scene heading, no speech and little text is the
    title page. Without page breaks, a title page is the block before the first heading that
    holds a "written by" line: its title above, the author below, then contact lines; what
    follows (a cold open) is script and is kept.
    """
    first = next((i for i, x in enumerate(lines) if is_heading(x.strip())), len(lines))
    feed = next((i for i, x in enumerate(lines[:first]) if x == "\f"), None)
    if feed is not None:
        head = [x.strip() for x in lines[:feed]]
        filled = [x for x in head if x]
        speech = any(  # a cue with its line right under it (title page lines stand apart)
            looks_like_cue(a) and b and not looks_like_cue(b) for a, b in pairwise(head)
        ) and not any(_CREDIT.match(x) for x in filled)
        if filled and len(filled) <= 25 and not speech and all(len(x) <= 70 for x in filled):
            return _title_fields(head), lines[feed + 1 :]
    head = [x.strip() for x in lines[:first]]
    credit = next((i for i, x in enumerate(head) if _CREDIT.match(x) and len(x) < 40), None)
    if credit is None or credit > 20 or not any(head[:credit]):
        return {}, lines
    end = credit + 1
    authors = 0
    while end < first:
        text = head[end]
        if text and (_TRANSITION.match(text) or len(text) > 60 or (authors and not _CONTACT.search(text))):
            break
        if text:
            authors += 1
        end += 1
    return _title_fields(head[:end]), lines[end:]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rows(lines: list[str]) -> list[_Row | None]:
    """Rows with indents measured from the action margin of their own page.

    PDF text extraction measures each page from its leftmost character, so a page of nothing
    but dialogue starts at column 0; such a page is placed at the dialogue column seen on the
    other pages.
    """
    pages: list[list[str]] = [[]]
    for line in lines:
        if line == "\f":
            pages.append([])
        else:
            pages[-1].append(line)
    margins: list[int | None] = []
    for page in pages:
        wide = [_indent(x) for x in page if len(x.strip()) > 38 and not x.strip()[0].isdigit()]
        margins.append(Counter(wide).most_common(1)[0][0] if wide else None)
    offsets = Counter(
        _indent(x) - m
        for page, m in zip(pages, margins, strict=True)
        if m is not None
        for x in page
        if x.strip() and 6 <= _indent(x) - m <= 14 and not looks_like_cue(x)
    )
    dialogue_offset = offsets.most_common(1)[0][0] if offsets else 10
    rows: list[_Row | None] = []
    for page, margin in zip(pages, margins, strict=True):
        filled = [x for x in page if x.strip()]
        if margin is None:
            least = min((_indent(x) for x in filled), default=0)
            has_cue = any(looks_like_cue(x) and _indent(x) - least >= 6 for x in filled)
            margin = least - dialogue_offset if has_cue else least
        rows.extend(
            _Row(indent=_indent(x) - margin, text=x.strip(), raw=x) if x.strip() else None for x in page
        )
    return rows


def parse_layout(text: str, filename: str = "script.txt", *, max_scenes: int = MAX_SCENES) -> Script:
    """Parse a plain-text (or PDF-extracted) screenplay by its layout."""
    lines = _clean_lines(text)
    title_page, lines = _split_title_page(lines)
    rows = _rows(lines)
    indented = any(r and ((r.indent >= 12 and looks_like_cue(r.text))
                          or (r.indent >= _CASELESS_CUE_INDENT and looks_like_caseless_cue(r.text))) for r in rows)
    builder = ScriptBuilder(filename, max_scenes=max_scenes)

    action: list[str] = []
    speech: list[str] = []  # lines of the current dialogue or parenthetical
    speech_kind = ElementKind.DIALOGUE
    in_speech = False
    more = False
    last_cue: tuple[str, str | None] | None = None
    dual: tuple[int, list[tuple[str, list[str]]]] | None = None  # split column, [(cue, lines)]

    def flush_action() -> None:
        if action:
            builder.add(ElementKind.ACTION, " ".join(action))
            action.clear()

    def flush_speech() -> None:
        nonlocal speech_kind
        if speech:
            builder.speech(speech_kind, " ".join(speech), joiner=" ")
            speech.clear()
        speech_kind = ElementKind.DIALOGUE

    def flush_dual() -> None:
        nonlocal dual
        if dual is None:
            return
        for side, (cue, side_lines) in enumerate(dual[1]):
            builder.cue(cue, side == 1)
            for line in side_lines:
                speech_line(line)
            flush_speech()
        dual = None

    def speech_line(line: str) -> None:
        nonlocal speech_kind
        if line.startswith("(") and speech_kind == ElementKind.DIALOGUE:
            flush_speech()
            speech_kind = ElementKind.PARENTHETICAL
            speech.append(line)
        elif speech_kind == ElementKind.PARENTHETICAL:
            if speech and speech[-1].endswith(")"):
                flush_speech()
            speech.append(line)
        else:
            speech.append(line)

    for i, row in enumerate(rows):
        if row is None:
            flush_action()
            flush_speech()
            flush_dual()
            in_speech = False
            continue
        line = row.text
        if _MORE.match(line):
            more = True
            flush_speech()
            continue
        if dual is not None:
            column = dual[0]
            for start, chunk in ((m.start(), m.group()) for m in _GAP.finditer(row.raw)):
                side = 1 if start >= column else 0
                dual[1][side][1].append(chunk.strip())
            continue
        next_row = rows[i + 1] if i + 1 < len(rows) else None
        prev_blank = i == 0 or rows[i - 1] is None
        numbered, _ = strip_numbers(line)
        both_sides = _NUMBERED.match(line)
        if both_sides or (is_heading(numbered) and (not indented or row.indent < 12)):
            flush_action()
            flush_speech()
            if both_sides:
                builder.heading(both_sides.group("h"), both_sides.group("n"))
            else:
                builder.heading(line, None)
            in_speech = False
            continue
        if _TRANSITION.match(line) or (
            indented and row.indent >= 40 and line.isupper() and line.endswith((":", "."))
        ):
            flush_action()
            flush_speech()
            builder.add(ElementKind.TRANSITION, line)
            in_speech = False
            continue
        pair = [m for m in re.finditer(r"\S+(?: \S+)*", row.raw)] if indented else []
        if (
            len(pair) == 2
            and next_row is not None
            and all(looks_like_cue(m.group()) for m in pair)
            and pair[1].start() - pair[0].end() >= 4
        ):
            flush_action()
            flush_speech()
            column = pair[1].start() - max(4, (pair[1].start() - pair[0].end()) // 2)
            column = min(column, pair[1].start() - 8)
            dual = (max(column, pair[0].end() + 2), [(pair[0].group(), []), (pair[1].group(), [])])
            continue
        is_cue = (looks_like_cue(line) or (indented and row.indent >= _CASELESS_CUE_INDENT
                                            and looks_like_caseless_cue(line))) and next_row is not None
        if is_cue and indented and next_row is not None:
            is_cue = row.indent >= 12 and next_row.indent < row.indent
        elif is_cue:
            is_cue = prev_blank and not in_speech
        if is_cue:
            flush_action()
            flush_speech()
            name, extension = split_cue(line)
            if more and last_cue is not None and name == last_cue[0] and extension and CONTD in extension:
                builder.cue(f"{name} ({last_cue[1]})" if last_cue[1] else name, False)
                builder.continue_speech()
            else:
                builder.cue(line, False)
                last_cue = (name, extension)
            more = False
            in_speech = True
            continue
        if in_speech and (not indented or row.indent >= 5):
            speech_line(line)
            continue
        flush_speech()
        in_speech = False
        action.append(line)
    flush_action()
    flush_speech()
    flush_dual()
    script = builder.script(title_page)
    return script
