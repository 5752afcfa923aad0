"""Fountain import (through fountain-py, normalised into our Script) and a Fountain writer.

fountain-py does the tokenising; this module fixes what it leaves to us: line endings and odd
whitespace before parsing, "DR. McCOY" style cues (a Mc/Mac prefix is forced with @),
cue extensions (split and normalised by `cues`), scene heading parts (`headings`), dialogue
lines merged per speech, notes and boneyard dropped, and scene numbering.

Content before the first scene heading: sections, synopses, transitions and page breaks join
the first scene; anything filmable (action, dialogue …) becomes a prologue scene with an empty
heading and number "0", so a cold open is never lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fountain import ElementType, FountainElement, FountainParser

from aiuteur.domain.artifacts import ElementKind, IntExt, Scene, Script, ScriptElement
from aiuteur.screenplay.cues import join_cue, looks_like_cue, split_cue
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.headings import is_heading, parse_heading

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


def _force_mc_cues(text: str) -> str:
    """Force "DR. McCOY" and "RENÉE" as cues with @: fountain-py only knows ASCII upper-case cues."""
    lines = text.split("\n")
    for i in range(1, len(lines) - 1):
        line = lines[i]
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


def _strip_emphasis(text: str) -> str:
    return _EMPHASIS.sub(r"\2", text).strip()


class ScriptBuilder:
    """Collects elements into scenes in reading order; shared by every importer."""

    def __init__(self) -> None:
        self.scenes: list[tuple[Scene, list[ScriptElement]]] = []
        self.pending: list[ScriptElement] = []  # before the first heading
        self.speaker: tuple[str, str | None, bool] | None = None
        self.fresh_cue = False  # no dialogue yet under the current cue
        self.lyric_line = -2  # source line of the last lyric, to join consecutive lyric lines

    @property
    def elements(self) -> list[ScriptElement]:
        return self.scenes[-1][1] if self.scenes else self.pending

    def heading(self, text: str, forced_number: str | None) -> None:
        parts = parse_heading(text)
        index = len([s for s, _ in self.scenes if s.heading or s.number != "0"]) + 1
        scene = Scene(
            number=forced_number or parts.number or str(index),
            heading=parts.text,
            int_ext=parts.int_ext,
            location=parts.location,
            time_of_day=parts.time_of_day,
        )
        elements: list[ScriptElement] = []
        if not self.scenes and self.pending:
            filmable = {
                ElementKind.SECTION,
                ElementKind.SYNOPSIS,
                ElementKind.TRANSITION,
                ElementKind.PAGE_BREAK,
            }
            if any(e.kind not in filmable for e in self.pending):
                self.scenes.append((Scene(number="0", heading=""), self.pending))
            else:
                elements = self.pending
            self.pending = []
        self.scenes.append((scene, elements))
        self.speaker = None

    def add(self, kind: ElementKind, text: str, **speaker: object) -> None:
        if kind not in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
            self.speaker = None
        self.elements.append(ScriptElement(kind=kind, text=text, **speaker))  # type: ignore[arg-type]

    def cue(self, raw: str, dual: bool) -> None:
        name, extension = split_cue(raw)
        self.speaker = (name, extension, dual)
        self.fresh_cue = True

    def continue_speech(self) -> None:
        """The next dialogue continues the last speech (a "(MORE)" / "(CONT'D)" page break)."""
        self.fresh_cue = False

    def speech(self, kind: ElementKind, text: str, joiner: str = "\n") -> None:
        if self.speaker is None:  # dialogue without a cue: keep the words as action
            self.add(ElementKind.ACTION, text)
            return
        name, extension, dual = self.speaker
        last = self.elements[-1] if self.elements else None
        merge = not self.fresh_cue
        self.fresh_cue = False
        if (
            merge
            and kind == ElementKind.DIALOGUE
            and last is not None
            and last.kind == ElementKind.DIALOGUE
            and last.character == name
            and last.dual == dual
        ):
            self.elements[-1] = last.model_copy(update={"text": f"{last.text}{joiner}{text}"})
            return
        self.elements.append(
            ScriptElement(kind=kind, text=text, character=name, extension=extension, dual=dual)
        )

    def script(self, title_page: dict[str, str]) -> Script:
        if not self.scenes and self.pending:
            self.scenes.append((Scene(number="0", heading=""), self.pending))
        scenes = []
        for scene, elements in self.scenes:
            cleaned = [e.model_copy(update={"text": e.text.strip("\n")}) for e in elements]
            synopsis = next((e.text for e in cleaned[:1] if e.kind == ElementKind.SYNOPSIS), "")
            scenes.append(scene.model_copy(update={"elements": cleaned, "synopsis": synopsis}))
        return Script(
            title=title_page.get("title", "").split("\n")[0].strip(), title_page=title_page, scenes=scenes
        )


def _cue_text(element: FountainElement) -> str:
    extension = element.metadata.get("extension")
    return f"{element.text} ({extension})" if extension else element.text


def _walk(builder: ScriptBuilder, elements: Iterable[FountainElement], *, dual: bool = False) -> None:
    for element in elements:
        kind, text, meta = element.type, element.text, element.metadata
        if kind == ElementType.SCENE_HEADING:
            number = meta.get("scene_number")
            builder.heading(text, str(number) if number else None)
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
            last = builder.elements[-1] if builder.elements else None
            if (
                last is not None
                and last.kind == ElementKind.LYRIC
                and element.line_number == builder.lyric_line + 1
            ):
                builder.elements[-1] = last.model_copy(update={"text": f"{last.text}\n{text.strip()}"})
            else:
                builder.add(ElementKind.LYRIC, text.strip())
            builder.lyric_line = element.line_number
        elif kind == ElementType.SECTION:
            builder.add(ElementKind.SECTION, text.strip())
        elif kind == ElementType.SYNOPSIS:
            builder.add(ElementKind.SYNOPSIS, text.strip())
        elif kind == ElementType.PAGE_BREAK:
            builder.add(ElementKind.PAGE_BREAK, "")
        # NOTE, BONEYARD and TITLE_PAGE are not part of the film.


def parse_fountain(text: str, filename: str = "script.fountain") -> Script:
    """Parse Fountain text into a Script.

    Raises:
        ScreenplayError: if the parser fails on the text.
    """
    source = _force_mc_cues(normalise_text(text))
    try:
        document = FountainParser().parse(source)
    except (RecursionError, MemoryError) as exc:  # pragma: no cover - defensive
        raise ScreenplayError(
            f"{filename} is too deeply nested to read as Fountain ({type(exc).__name__}); simplify it and try again."
        ) from exc
    except Exception as exc:  # fountain-py is third-party code: never let its errors escape raw
        raise ScreenplayError(
            f"{filename} could not be read as Fountain ({type(exc).__name__}: {exc}); check the file's syntax."
        ) from exc
    title_page = {str(k).strip().lower(): _strip_emphasis(str(v)) for k, v in document.metadata.items() if v}
    builder = ScriptBuilder()
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
    forced = not _CUE_OK.match(name) or not looks_like_cue(cue, allow_mc=False)
    return ("@" if forced else "") + cue + (" ^" if element.dual else "")


def _speech_lines(element: ScriptElement) -> list[str]:
    if element.kind == ElementKind.PARENTHETICAL:
        text = " ".join(element.text.split())
        return [text if text.startswith("(") else f"({text})"]
    return [_escape(line) if line.strip() else "  " for line in element.text.split("\n")]


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
    for index, scene in enumerate(
        script.scenes, start=1 if not script.scenes or script.scenes[0].heading else 0
    ):
        if scene.heading or scene.number != "0":
            heading = scene.heading or f"{scene.int_ext.value} {scene.location}".strip() or "SCENE"
            if not _STANDARD_HEADING.match(heading) or scene.int_ext == IntExt.NONE:
                heading = "." + heading
            if scene.number != str(index):
                heading += f" #{scene.number}#"
            blocks.append(heading)
            if scene.synopsis and not any(e.kind == ElementKind.SYNOPSIS for e in scene.elements[:1]):
                blocks.append(f"= {scene.synopsis}")
        block: list[str] = []
        speaker: tuple[str | None, str | None, bool] | None = None
        for element in scene.elements:
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
