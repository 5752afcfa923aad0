"""ScriptBuilder: the elements every importer finds, gathered into scenes in reading order.

Linear in the size of the screenplay: elements are collected as mutable drafts (a speech that
runs over many lines grows a list, it is not copied line by line) and become pydantic models
once, at the end; scene numbers come from a running count.

What comes before the first scene heading keeps its place:
- a title page written as plain lines ("THE LAST LIGHTHOUSE / written by / Mara Quill",
  contact lines) becomes the title page, not a scene;
- filmable text (a cold open: action, dialogue …) becomes a scene of its own headed
  `COLD OPEN`, numbered "0", so the people who speak there are in the cast;
- the rest (`FADE IN:`, sections, a synopsis, page breaks) opens the first scene, and the
  writers put it back before that scene's heading (`opening_elements`).
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiuteur.domain.artifacts import ElementKind, Scene, Script, ScriptElement
from aiuteur.screenplay.cues import split_cue
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.headings import parse_heading
from aiuteur.screenplay.limits import MAX_SCENES

PROLOGUE_HEADING = "COLD OPEN"
PROLOGUE_NUMBER = "0"
# Kinds that open a script without being filmed: they stay before the first heading.
OPENING_KINDS = frozenset({ElementKind.SECTION, ElementKind.SYNOPSIS, ElementKind.TRANSITION, ElementKind.PAGE_BREAK})

_CREDIT = re.compile(
    r"^(?:(?:original\s+)?(?:written|screenplay|teleplay|story|script)\s+by|by|écrit\s+par|scénario\s+de|"
    r"guion\s+de|escrito\s+por|geschrieben\s+von|drehbuch)\b[:\s]*",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"@|\d|\bdraft\b|\bbased on\b|copyright|©|\(c\)|\brevis|\bagent\b|\bmanager\b|\bwga\b|\bregistered\b"
    r"|\bstreet\b|\bavenue\b|\bphone\b|\btel\b|\bemail\b|\bwww\.|https?://",
    re.IGNORECASE,
)


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a screenplay is parsed.

    A parse allocates hundreds of thousands of small objects that all stay alive; every full
    collection walks all of them again, which made import time grow with the square of the
    scene count (32k scenes: 17 s with collection, 6 s without). Reference counting still frees
    memory; collection resumes when the last parse running in the process ends.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
        _gc_holders += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def is_prologue(scene: Scene) -> bool:
    """True for the scene the importer made from text before the first heading."""
    return scene.number == PROLOGUE_NUMBER and scene.heading == PROLOGUE_HEADING and scene.int_ext.value == ""


def opening_count(kinds: list[ElementKind]) -> int:
    """How many of a first scene's leading elements stood before its heading.

    The run of non-filmed kinds at the start; when it holds a transition ("FADE IN:") or a page
    break, everything up to the last of them; otherwise the sections, each with the synopsis
    right after it. A synopsis after "FADE IN:" is the scene's own, written under its heading.
    """
    run: list[ElementKind] = []
    for kind in kinds:
        if kind not in OPENING_KINDS:
            break
        run.append(kind)
    marks = [i for i, kind in enumerate(run) if kind in (ElementKind.TRANSITION, ElementKind.PAGE_BREAK)]
    if marks:
        return marks[-1] + 1
    n = 0
    while n < len(run) and run[n] == ElementKind.SECTION:
        n += 1
        if n < len(run) and run[n] == ElementKind.SYNOPSIS:
            n += 1
    return n


def opening_elements(script: Script) -> int:
    """How many of the first scene's elements stand before its heading (`FADE IN:`, sections …)."""
    if not script.scenes:
        return 0
    return opening_count([e.kind for e in script.scenes[0].elements])


@dataclass
class _Draft:
    kind: ElementKind
    parts: list[str]
    joiner: str = "\n"
    character: str | None = None
    extension: str | None = None
    dual: bool = False
    line: int = -2  # source line of the last lyric line, to join consecutive lyrics

    @property
    def text(self) -> str:
        return self.joiner.join(self.parts)

    def element(self) -> ScriptElement:
        return ScriptElement(
            kind=self.kind,
            text=self.text.strip("\n"),
            character=self.character,
            extension=self.extension,
            dual=self.dual,
        )


@dataclass
class _SceneDraft:
    scene: Scene
    elements: list[_Draft] = field(default_factory=list)


class ScriptBuilder:
    """Collects elements into scenes in reading order; shared by every importer."""

    def __init__(self, filename: str = "the screenplay", *, max_scenes: int = MAX_SCENES) -> None:
        self.filename = filename
        self.max_scenes = max_scenes
        self.scenes: list[_SceneDraft] = []
        self.pending: list[_Draft] = []  # before the first heading
        self.numbered = 0  # scenes so far that take an automatic number
        self.speaker: tuple[str, str | None, bool] | None = None
        self.fresh_cue = False  # no dialogue yet under the current cue

    @property
    def elements(self) -> list[_Draft]:
        return self.scenes[-1].elements if self.scenes else self.pending

    # --- before the first heading ---------------------------------------------------------

    def _take_title_lines(self) -> dict[str, str]:
        """A title page written as plain lines at the very top, when it has a "written by" line."""
        lead: list[_Draft] = []
        for draft in self.pending:
            if draft.kind not in (ElementKind.ACTION, ElementKind.CENTERED):
                break
            lead.append(draft)
        lines = [line.strip() for d in lead for line in d.text.split("\n")]
        lines = [line for line in lines if line]
        credit = next((i for i, line in enumerate(lines[:8]) if _CREDIT.match(line) and len(line) <= 40), None)
        if credit is None or credit == 0 or any(len(line) > 60 for line in lines[:credit]):
            return {}
        page = {"title": " ".join(lines[:credit])}
        inline = _CREDIT.sub("", lines[credit]).strip()
        page["credit"] = lines[credit][: len(lines[credit]) - len(inline)].strip() if inline else lines[credit]
        rest = lines[credit + 1 :]
        authors = [inline] if inline else rest[:1]
        rest = rest if inline else rest[1:]
        extra: list[str] = []
        for line in rest:
            if len(line) > 60 or not _CONTACT.search(line):
                break
            extra.append(line)
        if authors:
            page["author"] = authors[0]
        if extra:
            page["notes"] = "\n".join(extra)
        # Drop exactly the lines used, keep whatever follows (a cold open) as script.
        used = credit + 1 + (0 if inline else len(authors)) + len(extra)
        kept: list[_Draft] = []
        seen = 0
        for draft in lead:
            lines_here = [x for x in draft.text.split("\n") if x.strip()]
            if seen + len(lines_here) <= used:
                seen += len(lines_here)
                continue
            skip = max(0, used - seen)
            seen += len(lines_here)
            kept.append(_Draft(draft.kind, ["\n".join(lines_here[skip:])]))
        self.pending = kept + self.pending[len(lead) :]
        return page

    def _settle_pending(self) -> None:
        """Place what came before the first heading (see the module docstring)."""
        if any(d.kind not in OPENING_KINDS for d in self.pending):
            prologue = Scene(number=PROLOGUE_NUMBER, heading=PROLOGUE_HEADING)
            self.scenes.insert(0, _SceneDraft(prologue, self.pending))
        elif self.scenes:
            self.scenes[0].elements[:0] = self.pending
        elif self.pending:
            self.scenes.append(_SceneDraft(Scene(number=PROLOGUE_NUMBER, heading=PROLOGUE_HEADING), self.pending))
        self.pending = []

    # --- scene by scene ---------------------------------------------------------------------

    def heading(self, text: str, forced_number: str | None) -> None:
        if len(self.scenes) >= self.max_scenes:
            raise ScreenplayError(
                f"{self.filename} has more than {self.max_scenes:,} scenes, the limit for one screenplay; "
                "split it into parts and import each as its own project."
            )
        parts = parse_heading(text)
        self.numbered += 1
        scene = Scene(
            number=forced_number or parts.number or str(self.numbered),
            heading=parts.text,
            int_ext=parts.int_ext,
            location=parts.location,
            time_of_day=parts.time_of_day,
        )
        self.scenes.append(_SceneDraft(scene))
        self.speaker = None

    def add(self, kind: ElementKind, text: str) -> None:
        if kind not in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
            self.speaker = None
        self.elements.append(_Draft(kind, [text]))

    def lyric(self, text: str, line_number: int) -> None:
        """A lyric line; consecutive source lines make one lyric element."""
        elements = self.elements
        last = elements[-1] if elements else None
        if last is not None and last.kind == ElementKind.LYRIC and line_number == last.line + 1:
            last.parts.append(text)
        else:
            self.add(ElementKind.LYRIC, text)
            elements[-1].line = line_number
            return
        last.line = line_number

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
        elements = self.elements
        last = elements[-1] if elements else None
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
            if last.joiner != joiner:
                last.parts, last.joiner = [last.text], joiner
            last.parts.append(text)
            return
        elements.append(_Draft(kind, [text], character=name, extension=extension, dual=dual))

    def script(self, title_page: dict[str, str]) -> Script:
        page = dict(title_page)
        for key, value in self._take_title_lines().items():
            page.setdefault(key, value)
        self._settle_pending()
        scenes = []
        for draft in self.scenes:
            elements = [d.element() for d in draft.elements]
            first = opening_count([e.kind for e in elements]) if draft is self.scenes[0] else 0
            synopsis = next((e.text for e in elements[first : first + 1] if e.kind == ElementKind.SYNOPSIS), "")
            scenes.append(draft.scene.model_copy(update={"elements": elements, "synopsis": synopsis}))
        return Script(title=page.get("title", "").split("\n")[0].strip(), title_page=page, scenes=scenes)
