"""Stage 1 inputs from files and text, shared by the CLI and the client API.

A screenplay file becomes a skip-to-script StoryInput (its Fountain rendering as the primary
source); a story becomes an "expand" input, or "condense" when it is long.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiuteur.domain import Brief, InputError, InputMode, SourceRole, SourceText, StoryInput
from aiuteur.pipeline.text_in import clean_text

CONDENSE_WORDS = 1500  # longer stories are condensed rather than expanded


def screenplay_input(data: bytes, name: str) -> tuple[StoryInput, str, dict[str, Any]]:
    """A skip-to-script StoryInput from a screenplay file, its title and the import summary."""
    from aiuteur.screenplay import import_screenplay, script_summary, to_fountain

    script = import_screenplay(data, name)
    ext = Path(name).suffix.lower().lstrip(".")
    fmt = ext if ext in ("fountain", "fdx", "pdf", "txt", "md") else "fountain"
    src = SourceText(name=name, role=SourceRole.PRIMARY, format=fmt, text=to_fountain(script))  # type: ignore[arg-type]
    title = script.title or Path(name).stem
    story = StoryInput(mode=InputMode.SKIP_TO_SCRIPT, sources=[src], brief=Brief(has_script=True))
    return story, title, script_summary(script)


def story_input(text: str, mode: str = "", *, name: str = "story.md") -> StoryInput:
    """A StoryInput from typed text; `mode` '' picks expand or condense by length, as the CLI does."""
    text = clean_text(text, "The story")  # one sentence for a lone surrogate or an over-long text
    if not text.strip():
        raise InputError("The story is empty; type an idea, a story or a screenplay.")
    if not mode:
        mode = InputMode.CONDENSE.value if len(text.split()) > CONDENSE_WORDS else InputMode.EXPAND.value
    try:
        chosen = InputMode(mode.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in InputMode)
        shown = mode if len(mode) <= 40 else mode[:40] + "…"
        raise InputError(f"Unknown mode {shown!r}; use one of: {allowed} (or '' to choose by length).") from None
    if chosen == InputMode.SKIP_TO_SCRIPT:
        story, _, _ = screenplay_input(text.encode("utf-8"), "story.fountain")
        return story
    fmt = "txt" if Path(name).suffix.lower() in (".txt", ".text") else "md"
    src = SourceText(name=name, role=SourceRole.PRIMARY, format=fmt, text=text)  # type: ignore[arg-type]
    return StoryInput(mode=chosen, sources=[src], brief=Brief(has_script=chosen == InputMode.SKIP_TO_STAGE4))
