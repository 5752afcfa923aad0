"""Fountain import (through fountain-py, normalised into our Script) and a Fountain writer.

fountain-py does the tokenising; this module fixes what it leaves to us: line endings and odd
whitespace before parsing, "DR. McCOY" style cues (a Mc/Mac prefix is forced with @),
cue extensions (split and normalised by `cues`), scene heading parts (`headings`), dialogue
lines merged per speech, notes and boneyard dropped, and scene numbering.

Content before the first scene heading is placed by `builder.ScriptBuilder` (title page lines,
a `COLD OPEN` scene numbered "0", or `FADE IN:` and sections that open the first scene); the
writer puts it back where it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import takewhile

from fountain import ElementType, FountainElement, FountainParser

from aiuteur.domain.artifacts import ElementKind, IntExt, Script, ScriptElement
from aiuteur.screenplay.builder import (
    OPENING_KINDS,
    PROLOGUE_NUMBER,
    ScriptBuilder,
    is_prologue,
    opening_elements,
)
from aiuteur.screenplay.cues import join_cue, looks_like_cue
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.headings import is_heading
from aiuteur.screenplay.limits import MAX_SCENES

_BONEYARD = re.compile(r"/\*.*?\*/", re.DOTALL)
_ODD_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\u0085|\v")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_EMPHASIS = re.compile(r"(\*{1,3}|_)(?=\S)(.+?)(?<=\S)\1")


def normalise_text(text: str) -> str:
    """LF line endings, tabs as four spaces, no zero-width characters, non-breaking spaces as
    spaces, and a form feed as a Fountain page break."""
    text = _INVISIBLE.sub("", text)
    text = _ODD_NEWLINES.sub("\n", text)
    text = text.replace("\f", "\n\n===\n\n").replace("\t", "    ").replace("\u00a0", " ")
    return "".join(c for c in text if c == "\n" or c >= " " or c == "\t")


# Headings fountain-py recognises by itself; others that `is_heading` accepts (INTERIOR,
# INNEN., AUSSEN., ИНТ. …) are forced with "." so non-English scripts get their scenes.
# fountain-py takes a forced heading only when an ASCII letter or digit follows the dot
# (`^\.(?!\.)(?=[A-Za-z0-9])`), so ".ÉCOLE" or ".ИНТ." would be action: such lines are given this
# prefix, which `_walk` takes off again.
_FORCED = "AiuteurForced:"
_FOUNTAIN_PY_HEADING = re.compile(r"^\s*(?:INT|EXT|EST|INT\.?/EXT|I/E)[. ]", re.IGNORECASE)


def _force_mc_cues(text: str) -> str:
    """Force "DR. McCOY" and "RENÉE" as cues with @ (fountain-py only knows ASCII upper-case cues),
    and headings fountain-py does not know ("INNEN. KÜCHE - TAG") with "."."""
    lines = text.split("\n")
    for i in range(0, len(lines)):
        line = lines[i]
        blank_before = i == 0 or lines[i - 1].strip() == ""
        stripped = line.strip()
        if (
            blank_before
            and is_heading(stripped)
            and not _FOUNTAIN_PY_HEADING.match(line)
            and not stripped.startswith(("@", "!", ".", ">", "~", "=", "#", "[[", "/*"))
        ):
            lines[i] = f".{_FORCED}{stripped}"
            continue
        if blank_before and len(stripped) > 1 and stripped[0] == "." and not stripped[1].isascii() and stripped[1].isalnum():
            lines[i] = f".{_FORCED}{stripped[1:]}"  # ".ÉCOLE - JOUR": see _FORCED
            continue
        if i == 0 or i == len(lines) - 1:
            continue
        if (
            lines[i - 1].strip() == ""
            and lines[i + 1].strip() != ""
            and looks_like_cue(line)
            and (not looks_like_cue(line, allow_mc=False) or not line.isascii())
            and not is_heading(line.strip())
            and not line.lstrip().startswith(("@", "!", ".", ">", "~", "=", "#", "[[", "/*"))
        ):
            lines[i] = "@" + line.strip()
    return "\n".join(lines)


class _LinearFountainParser(FountainParser):  # type: ignore[misc]
    """fountain-py, with its dual-dialogue pass made linear.

    fountain-py 0.3.0 pairs each `^` cue by slicing the rest of the element list and splicing
    the pair back in (`self.elements[a:b] = [pair]`), both proportional to the whole script, so
    a long script with dual dialogue took time growing with the square of its length (a 2 MB
    script: 50 s in that one pass). This pass builds the list once, with the same pairing rules;
    the look-back for the left-hand cue stops after 64 elements (a real pair is adjacent).
    """

    def _process_dual_dialogue(self) -> None:
        source: list[FountainElement] = self.elements
        out: list[FountainElement] = []
        i = 0
        while i < len(source):
            element = source[i]
            if element.type == ElementType.CHARACTER and element.metadata.get("dual_dialogue"):
                prev: int | None = None
                for k in range(len(out) - 1, max(-1, len(out) - 65), -1):
                    kind = out[k].type
                    if kind == ElementType.CHARACTER:
                        prev = k
                        break
                    if kind in (ElementType.SCENE_HEADING, ElementType.ACTION):
                        break
                if prev is not None:
                    left_lines = list(takewhile(self._is_dialogue_block, out[prev + 1 :]))
                    end = i + 1
                    while end < len(source) and self._is_dialogue_block(source[end]):
                        end += 1
                    right_lines = source[i + 1 : end]
                    if left_lines and right_lines:
                        left = out[prev]
                        left.metadata.pop("dual_dialogue", None)
                        pair = FountainElement(
                            type=ElementType.DUAL_DIALOGUE,
                            text="",
                            formatting=[],
                            line_number=element.line_number,
                            metadata={
                                "left_character": left,
                                "left_dialogue": left_lines,
                                "right_character": element,
                                "right_dialogue": right_lines,
                            },
                        )
                        del out[prev:]
                        out.append(pair)
                        i += len(right_lines) + 1
                        continue
                element.metadata.pop("dual_dialogue", None)
            out.append(element)
            i += 1
        self.elements = out


def _strip_emphasis(text: str) -> str:
    return _EMPHASIS.sub(r"\2", text).strip()


def _cue_text(element: FountainElement) -> str:
    extension = element.metadata.get("extension")
    return f"{element.text} ({extension})" if extension else element.text


def _walk(builder: ScriptBuilder, elements: Iterable[FountainElement], *, dual: bool = False) -> None:
    for element in elements:
        kind, text, meta = element.type, element.text, element.metadata
        if kind == ElementType.SCENE_HEADING:
            number = meta.get("scene_number")
            builder.heading(text.removeprefix(_FORCED), str(number) if number else None)
        elif kind == ElementType.CHARACTER:
            builder.cue(_cue_text(element), dual)
        elif kind == ElementType.DIALOGUE:
            builder.speech(ElementKind.DIALOGUE, text)
        elif kind == ElementType.PARENTHETICAL:
            builder.speech(ElementKind.PARENTHETICAL, text.strip())
        elif kind == ElementType.DUAL_DIALOGUE:
            for side, is_right in (("left", False), ("right", True)):
                character = meta.get(f"{side}_character")
                lines = meta.get(f"{side}_dialogue")
                if isinstance(character, FountainElement):
                    builder.cue(_cue_text(character), is_right)
                if isinstance(lines, list):
                    _walk(builder, lines, dual=is_right)
        elif kind == ElementType.ACTION:
            kept = [" ".join(line.split()) for line in text.split("\n")]
            if any(kept):
                builder.add(ElementKind.ACTION, "\n".join(kept).strip("\n"))
        elif kind == ElementType.TRANSITION:
            builder.add(ElementKind.TRANSITION, text.strip())
        elif kind == ElementType.CENTERED:
            builder.add(ElementKind.CENTERED, text.strip())
        elif kind == ElementType.LYRICS:
            builder.lyric(text.strip(), element.line_number)
        elif kind == ElementType.SECTION:
            builder.add(ElementKind.SECTION, text.strip())
        elif kind == ElementType.SYNOPSIS:
            builder.add(ElementKind.SYNOPSIS, text.strip())
        elif kind == ElementType.PAGE_BREAK:
            builder.add(ElementKind.PAGE_BREAK, "")
        # NOTE, BONEYARD and TITLE_PAGE are not part of the film.


_HEADING_LINE = re.compile(
    r"^[ \t]*(?:\.(?=[^.\s])|(?:\d{1,4}[A-Z]{0,3}\s+)?(?:INT|EXT|EST|I/E|INT\./EXT|EXT\./INT)[ ./])",
    re.MULTILINE | re.IGNORECASE,
)


def count_headings(text: str, stop_after: int) -> int:
    """Lines that start like a scene heading, counted up to `stop_after` + 1 (a cheap pre-check)."""
    n = 0
    for _ in _HEADING_LINE.finditer(text):
        n += 1
        if n > stop_after:
            break
    return n


def parse_fountain(text: str, filename: str = "script.fountain", *, max_scenes: int = MAX_SCENES) -> Script:
    """Parse Fountain text into a Script, in time linear in its length.

    Raises:
        ScreenplayError: if the text has more than `max_scenes` scenes or the parser fails on it.
    """
    if count_headings(text, max_scenes) > max_scenes:  # refuse before the slow work
        raise ScreenplayError(
            f"{filename} has more than {max_scenes:,} scenes, the limit for one screenplay; "
            "split it into parts and import each as its own project."
        )
    # The boneyard (/* */) is taken out before our pre-pass, so that nothing inside it is forced
    # as a heading or a cue; fountain-py would drop it anyway.
    source = _force_mc_cues(_BONEYARD.sub("", normalise_text(text)))
    try:
        document = _LinearFountainParser().parse(source)
    except (RecursionError, MemoryError) as exc:  # pragma: no cover - defensive
        raise ScreenplayError(
            f"{filename} is too deeply nested to read as Fountain ({type(exc).__name__}); simplify it and try again."
        ) from exc
    except Exception as exc:  # fountain-py is third-party code: never let its errors escape raw
        raise ScreenplayError(
            f"{filename} could not be read as Fountain ({type(exc).__name__}: {exc}); check the file's syntax."
        ) from exc
    title_page = {str(k).strip().lower(): _strip_emphasis(str(v)) for k, v in document.metadata.items() if v}
    builder = ScriptBuilder(filename, max_scenes=max_scenes)
    _walk(builder, document.elements)
    return builder.script(title_page)


# --- writer ----------------------------------------------------------------------------------

_STANDARD_HEADING = re.compile(r"^(?:INT\.?/EXT|EXT\.?/INT|INT|EXT|EST|I/E)[. ]", re.IGNORECASE)
_TRANSITION = re.compile(r"^[A-Z\s.'/-]+TO:$|^FADE IN:$|^FADE OUT\.$")
_SPECIAL_START = ("!", "@", ".", ">", "~", "=", "#", "[[", "/*", "*/", "===")
_CUE_OK = re.compile(r"^[A-Z][A-Z0-9 .'&\-]*$")


def _escape(text: str) -> str:
    return re.sub(r"([*_\\])", r"\\\1", text)


def _needs_forced_action(text: str) -> bool:
    first = text.split("\n")[0].strip()
    return (
        not first
        or first.startswith(_SPECIAL_START)
        or first.endswith("<")
        or _STANDARD_HEADING.match(first) is not None
        or _TRANSITION.match(first) is not None
        or looks_like_cue(first)
        or first.upper() == first
    )


def _title_key(key: str) -> str:
    return key[:1].upper() + key[1:]


def _element_lines(element: ScriptElement) -> str:
    kind, text = element.kind, element.text
    if kind == ElementKind.ACTION:
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        out = []
        for p in paragraphs:
            body = "\n".join(_escape(line) for line in p.split("\n"))
            out.append(("!" + body) if _needs_forced_action(p) else body)
        return "\n\n".join(out)
    if kind == ElementKind.TRANSITION:
        return text if _TRANSITION.match(text) else f"> {_escape(text)}"
    if kind == ElementKind.CENTERED:
        return f"> {_escape(text)} <"
    if kind == ElementKind.LYRIC:
        return "\n".join(f"~{_escape(line)}" for line in text.split("\n"))
    if kind == ElementKind.SECTION:
        return f"# {text}"
    if kind == ElementKind.SYNOPSIS:
        return f"= {text}"
    if kind == ElementKind.PAGE_BREAK:
        return "==="
    raise ValueError(kind)  # pragma: no cover - speech is written by _speech


def _cue_line(element: ScriptElement) -> str:
    name = element.character or "UNKNOWN"
    cue = join_cue(name, element.extension)
    shouted = element.kind == ElementKind.DIALOGUE and element.text.split("\n")[0].isupper()
    forced = not _CUE_OK.match(name) or not looks_like_cue(cue, allow_mc=False) or shouted  # "ADA\nOPENS" is action
    return ("@" if forced else "") + cue + (" ^" if element.dual else "")


def _speech_lines(element: ScriptElement) -> list[str]:
    if element.kind == ElementKind.PARENTHETICAL:
        text = " ".join(element.text.split())
        return [text if text.startswith("(") else f"({text})"]
    return [_escape(line) if line.strip() else "  " for line in element.text.split("\n")]


def implied_heading(script: Script, index: int) -> bool:
    """True when scene `index` is the text before the first heading, written without a heading."""
    if index != 0 or not script.scenes:
        return False
    scene = script.scenes[0]
    legacy = not scene.heading and scene.number == PROLOGUE_NUMBER
    filmable = any(e.kind not in OPENING_KINDS for e in scene.elements)
    return (is_prologue(scene) or legacy) and filmable


def to_fountain(script: Script) -> str:
    """Write a Script as Fountain text that imports back to the same script (ids aside)."""
    blocks: list[str] = []
    if script.title_page or script.title:
        page = dict(script.title_page)
        if script.title and "title" not in page:
            page = {"title": script.title, **page}
        lines = []
        for key, value in page.items():
            values = value.split("\n")
            if len(values) == 1:
                lines.append(f"{_title_key(key)}: {value}")
            else:
                lines.append(f"{_title_key(key)}:")
                lines.extend(f"    {v}" for v in values)
        blocks.append("\n".join(lines))
    numbered = 0
    openers = opening_elements(script)
    for index, scene in enumerate(script.scenes):
        elements = scene.elements
        if index == 0:  # "FADE IN:", sections … stand before the first heading, as written
            blocks.extend(_element_lines(e) for e in elements[:openers])
            elements = elements[openers:]
        if not implied_heading(script, index):
            numbered += 1
            heading = scene.heading or f"{scene.int_ext.value} {scene.location}".strip() or "SCENE"
            if not _STANDARD_HEADING.match(heading) or scene.int_ext == IntExt.NONE:
                heading = "." + heading
            if scene.number != str(numbered):
                heading += f" #{scene.number}#"
            blocks.append(heading)
            if scene.synopsis and not any(e.kind == ElementKind.SYNOPSIS for e in elements[:1]):
                blocks.append(f"= {scene.synopsis}")
        block: list[str] = []
        speaker: tuple[str | None, str | None, bool] | None = None
        for element in elements:
            if element.kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
                if speaker != (element.character, element.extension, element.dual) or (
                    block
                    and element.kind == ElementKind.DIALOGUE
                    and block[-1] != ""
                    and not block[-1].startswith("(")
                ):
                    if block:
                        blocks.append("\n".join(block))
                    block = [_cue_line(element)]
                    speaker = (element.character, element.extension, element.dual)
                block.extend(_speech_lines(element))
                continue
            if block:
                blocks.append("\n".join(block))
                block, speaker = [], None
            blocks.append(_element_lines(element))
        if block:
            blocks.append("\n".join(block))
    return "\n\n".join(b for b in blocks if b) + "\n"
