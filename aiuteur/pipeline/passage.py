"""Rewrite one highlighted passage of a text by instruction, leaving the rest byte-identical.

Used by the master script (stage 4, its Fountain) and the treatment prose (stage 2). The model
sees the passage with some text before and after it for context and answers with the new
passage only (schema `RewrittenPassage`); code splices it back between the untouched prefix
and suffix, so nothing outside the selection can change. The passage keeps its own leading and
trailing whitespace (line breaks around a selected paragraph stay where they were).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from aiuteur.domain import InputError, Stage, Take
from aiuteur.engines.base import EngineError, TextEngine
from aiuteur.pipeline.actions import RewritePassage
from aiuteur.pipeline.stage import StageContext, StageOutcome, failed_take
from aiuteur.pipeline.writing import (
    TemplateSource,
    default_templates,
    engine_failure,
    format_rules,
    make_take,
    messages_for,
    story_rules,
)

CONTEXT_CHARS = 3000  # of the text before and after the passage, shown to the model
MAX_PASSAGE_CHARS = 8000

VARIABLES: dict[str, frozenset[str]] = {
    "passage/system": frozenset({"kind", "story_rules"}),
    "passage/user": frozenset({"before", "passage", "after", "instruction"}),
}

KINDS = {Stage.SCRIPT: "screenplay (Fountain)", Stage.TREATMENT: "prose treatment"}


class RewrittenPassage(BaseModel):
    """The new passage that replaces the highlighted one."""

    model_config = ConfigDict(extra="forbid")
    # Bounded like every generation schema (schema_bounds), within llama.cpp's repetition limit.
    text: str = Field(min_length=1, max_length=2000,
                      description="The rewritten passage only: nothing from before or after it.")


@dataclass(frozen=True)
class PassageResult:
    """The whole text with the passage replaced, where the new passage sits, and the take."""

    text: str
    start: int
    end: int
    take: Take


def check_span(text: str, start: int, end: int) -> None:
    """Refuse a selection that is empty, out of the text or too long, in one sentence."""
    if not 0 <= start < end <= len(text):
        raise InputError("Highlight a passage of the text first (select it with the mouse), then give the instruction.")
    if not text[start:end].strip():
        raise InputError("The highlighted passage is only blank space; select some words.")
    if end - start > MAX_PASSAGE_CHARS:
        raise InputError(f"The highlighted passage is {end - start} characters; select at most {MAX_PASSAGE_CHARS}.")


def splice(text: str, start: int, end: int, new: str) -> tuple[str, int, int]:
    """`text` with [start:end] replaced by `new`, keeping the passage's own outer whitespace."""
    old = text[start:end]
    lead = old[: len(old) - len(old.lstrip())]
    trail = old[len(old.rstrip()):]
    body = f"{lead}{new.strip()}{trail}"
    return text[:start] + body + text[end:], start, start + len(body)


def rewrite_passage(text: str, start: int, end: int, instruction: str, engine: TextEngine, *, stage: Stage,
                    seed: int, rules: list[str] | None = None,
                    templates: TemplateSource = default_templates) -> PassageResult:
    """Rewrite text[start:end] by `instruction` with the text engine; everything else is kept as is.

    Raises:
        InputError: no instruction, an empty or out-of-range selection, or the model failed.
    """
    # 1. Check inputs.
    if not instruction.strip():
        raise InputError("Say how to change the highlighted passage (e.g. 'make her angrier').")
    check_span(text, start, end)
    # 2. Render the prompts: the passage with bounded context either side.
    passage = text[start:end]
    rendered = messages_for(
        templates, "passage",
        {"kind": KINDS.get(stage, "text"), "story_rules": format_rules(rules or [])},
        {"before": text[max(0, start - CONTEXT_CHARS):start] or "(the passage is at the start)",
         "passage": passage,
         "after": text[end:end + CONTEXT_CHARS] or "(the passage is at the end)",
         "instruction": instruction.strip()},
        VARIABLES)
    inputs = {"passage": passage, "instruction": instruction, "start": start, "end": end}
    # 3. Generate the new passage only.
    t0 = time.perf_counter()
    try:
        out = engine.generate(rendered.messages, RewrittenPassage, seed=seed)
    except EngineError as e:
        raise InputError(engine_failure(e, "the passage")) from None
    new = out.text.strip()
    if not new:
        raise InputError("The model answered with an empty passage; try again or reword the instruction.")
    # 4. Splice it back; record the call as a take.
    spliced, new_start, new_end = splice(text, start, end, new)
    take = make_take(stage, purpose="passage", inputs=inputs, rendered=rendered, text=engine, seed=seed,
                     seconds=time.perf_counter() - t0, output={"passage": passage, "text": new}, target="passage")
    return PassageResult(spliced, new_start, new_end, take)


def run_passage(ctx: StageContext, stage: Stage, action: RewritePassage) -> StageOutcome:
    """The action RewritePassage of stage 2 or 4: rewrite `action.text[start:end]` by the guidance.

    The take (its prompt, model, seed, the old and the new passage) is kept in the stage's history
    like any other; the artifact is not changed: the editor shows the result and the filmmaker
    saves it. A failed model call is a failed take that says why.
    """
    text, start, end = action.text, action.start, action.end
    if not ctx.guidance.strip():
        raise InputError("Say how to change the highlighted passage (e.g. 'make her angrier').")
    check_span(text, start, end)
    try:
        out = rewrite_passage(text, start, end, ctx.guidance, ctx.engines.text("passage"), stage=stage,
                              seed=ctx.seed, rules=story_rules(ctx.inputs.story), templates=ctx.template)
    except InputError as e:  # the inputs were checked above: the model failed
        return StageOutcome(takes=[failed_take(stage, None, "passage", {"passage": text[start:end]}, str(e),
                                               target=action.target, seed=ctx.seed)])
    return StageOutcome(takes=[out.take])
