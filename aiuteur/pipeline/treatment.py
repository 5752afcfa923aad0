"""Stage 2, treatment: three different prose tellings of the film, from the stage-1 input.

Always exactly three valid variants: the generation schema is bounded (every string has a
maximum length, the list has exactly three items, no extra keys), so even a weak model under
constrained decoding returns three; a code check that they differ re-asks. One variant can be
rewritten with the filmmaker's guidance while the other two stay. Written style capsules do not
apply here (they shape script and dialogue writing only); story rules do, in every prompt.

Example:
    take = make_treatment(story, engines.text("treatment"), seed=7)
    treatment = Treatment.model_validate(take.output)
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aiuteur.domain import InputError, InputMode, Stage, StoryInput, Take, Treatment, TreatmentVariant
from aiuteur.engines.base import EngineError, TextEngine
from aiuteur.pipeline.prompts import Template
from aiuteur.pipeline.runner import StageContext, StageOutcome
from aiuteur.pipeline.writing import (
    TemplateSource,
    ask,
    brief_text,
    default_templates,
    engine_failure,
    format_rules,
    has_material,
    load_story,
    make_take,
    max_attempts_option,
    messages_for,
    params_text,
    render,
    require_story,
    sources_text,
    story_rules,
)

MAX_PROSE = 2400
NO_GUIDANCE = "(none)"

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "treatment/system": frozenset({"story_rules"}),
    "treatment/user": frozenset({"mode_instruction", "params", "sources", "brief", "guidance"}),
    "treatment/variant_user": frozenset(
        {"mode_instruction", "params", "sources", "brief", "number", "current", "others", "guidance"}
    ),
    "treatment/mode_expand": frozenset(),
    "treatment/mode_condense": frozenset(),
    "treatment/mode_transform": frozenset({"target"}),
    "treatment/mode_brief": frozenset(),
}


# --- generation schemas (bounded) ---------------------------------------------------------------


class VariantDraft(BaseModel):
    """One treatment: a title, a one-sentence logline and the film told in present-tense prose."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80, description="A short title for this telling.")
    logline: str = Field(min_length=1, max_length=300, description="The film in one sentence.")
    prose: str = Field(min_length=20, max_length=MAX_PROSE, description="The film as present-tense prose.")

    @field_validator("prose")
    @classmethod
    def _differs_from_others(cls, v: str, info: ValidationInfo) -> str:
        others = (info.context or {}).get("others") or []
        if any(_same(v, o) for o in others):
            raise ValueError("this treatment repeats one of the other two; tell the story differently")
        return v


class TreatmentDraft(BaseModel):
    """Exactly three treatments that tell the film in three clearly different ways."""

    model_config = ConfigDict(extra="forbid")
    variants: list[VariantDraft] = Field(min_length=3, max_length=3, description="Exactly three treatments.")

    @field_validator("variants")
    @classmethod
    def _three_different(cls, v: list[VariantDraft], info: ValidationInfo) -> list[VariantDraft]:
        if not (info.context or {}).get("checks"):
            return v  # engines parse without context; the meaning checks run in `ask`
        for i in range(len(v)):
            for j in range(i):
                if _same(v[i].prose, v[j].prose):
                    raise ValueError(f"treatments {j + 1} and {i + 1} tell the same story; make each one different")
        return v


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _same(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _variant(d: VariantDraft) -> TreatmentVariant:
    return TreatmentVariant(title=d.title.strip(), logline=d.logline.strip(), prose=d.prose.strip())


# --- prompts --------------------------------------------------------------------------------------


def _mode_instruction(story: StoryInput, templates: TemplateSource) -> tuple[str, list[Template]]:
    """The mode paragraph (expand / condense / transform / from the brief) and its template."""
    has_text = any(s.text.strip() for s in story.sources)
    if not has_text:
        values: dict[str, object] = {}
        t = templates("treatment/mode_brief")
    elif story.mode == InputMode.CONDENSE:
        t, values = templates("treatment/mode_condense"), {}
    elif story.mode == InputMode.TRANSFORM:
        if not story.transform_target.strip():
            raise InputError("Say what to transform the story into (a genre, tone or medium) before writing a treatment.")
        t, values = templates("treatment/mode_transform"), {"target": story.transform_target.strip()}
    else:
        t, values = templates("treatment/mode_expand"), {}
    return render(t, values, VARIABLES), [t]


def _common(story: StoryInput, templates: TemplateSource, guidance: str) -> tuple[dict[str, object], list[Template]]:
    mode, used = _mode_instruction(story, templates)
    values: dict[str, object] = {
        "mode_instruction": mode, "params": params_text(story), "sources": sources_text(story),
        "brief": brief_text(story), "guidance": guidance.strip() or NO_GUIDANCE,
    }
    return values, used


def _format_variant(v: TreatmentVariant, n: int) -> str:
    return f"Treatment {n}: {v.title}\nLogline: {v.logline}\n{v.prose}"


# --- the stage ------------------------------------------------------------------------------------


def make_treatment(
    story: StoryInput, text: TextEngine, *, seed: int, guidance: str = "", templates: TemplateSource = default_templates,
    max_attempts: int = 3,
) -> Take:
    """Write three treatments; the Take's output is a `Treatment` (nothing chosen yet).

    Raises:
        InputError: there is no story, idea or brief plot to write from.
    """
    # 1. Check inputs.
    if not has_material(story):
        raise InputError("Add a story, an idea or a brief plot before writing a treatment.")
    # 2. Render the prompts.
    values, used = _common(story, templates, guidance)
    rendered = messages_for(templates, "treatment", {"story_rules": format_rules(story_rules(story))}, values,
                            VARIABLES, extra=used)
    inputs = {"story": story.model_dump(mode="json"), "guidance": guidance, "template": rendered.template_hash}
    # 3. Generate with the bounded schema; re-ask when the three are not different.
    try:
        got = ask(text, rendered.messages, TreatmentDraft, seed=seed, max_attempts=max_attempts,
                  context={"checks": True})
    except EngineError as e:
        return make_take(Stage.TREATMENT, purpose="treatment", inputs=inputs, rendered=rendered, text=text,
                         seed=seed, error=engine_failure(e, "the treatments"))
    # 4. Return the take (failed when the checks never passed).
    if not got.ok or got.value is None:
        return make_take(Stage.TREATMENT, purpose="treatment", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         attempts=got.attempts, seconds=got.seconds, messages=got.messages,
                         error=f"The three treatments were not usable after {got.attempts} tries: {got.error}")
    treatment = Treatment(variants=[_variant(d) for d in got.value.variants])
    return make_take(Stage.TREATMENT, purpose="treatment", inputs=inputs, rendered=rendered, text=text, seed=seed,
                     attempts=got.attempts, seconds=got.seconds, messages=got.messages, output=treatment)


def regenerate_variant(
    story: StoryInput, current: Treatment, index: int, text: TextEngine, *, seed: int, guidance: str = "",
    templates: TemplateSource = default_templates, max_attempts: int = 3,
) -> Take:
    """Rewrite variant `index` (0-2) with guidance, keeping the other two; output is the whole Treatment."""
    if not 0 <= index <= 2:
        raise InputError(f"There is no treatment {index + 1}; choose treatment 1, 2 or 3.")
    if not has_material(story):
        raise InputError("Add a story, an idea or a brief plot before writing a treatment.")
    values, used = _common(story, templates, guidance)
    others = [v for i, v in enumerate(current.variants) if i != index]
    values |= {
        "number": index + 1,
        "current": _format_variant(current.variants[index], index + 1),
        "others": "\n\n".join(_format_variant(v, i + 1) for i, v in enumerate(current.variants) if i != index),
    }
    rendered = messages_for(templates, "treatment", {"story_rules": format_rules(story_rules(story))}, values,
                            VARIABLES, user="variant_user", extra=used)
    target = f"variant:{index}"
    inputs = {"story": story.model_dump(mode="json"), "others": [o.model_dump() for o in others],
              "guidance": guidance, "index": index, "template": rendered.template_hash}
    try:
        got = ask(text, rendered.messages, VariantDraft, seed=seed, max_attempts=max_attempts,
                  context={"others": [o.prose for o in others]})
    except EngineError as e:
        return make_take(Stage.TREATMENT, purpose="treatment_variant", inputs=inputs, rendered=rendered, text=text,
                         seed=seed, target=target, error=engine_failure(e, f"treatment {index + 1}"))
    if not got.ok or got.value is None:
        return make_take(Stage.TREATMENT, purpose="treatment_variant", inputs=inputs, rendered=rendered, text=text,
                         seed=seed, target=target, attempts=got.attempts, seconds=got.seconds, messages=got.messages,
                         error=f"Treatment {index + 1} was not usable after {got.attempts} tries: {got.error}")
    variants = list(current.variants)
    variants[index] = _variant(got.value)
    take = make_take(Stage.TREATMENT, purpose="treatment_variant", inputs=inputs, rendered=rendered, text=text,
                     seed=seed, target=target, attempts=got.attempts, seconds=got.seconds, messages=got.messages,
                     output=None)
    takes = list(current.variant_takes) + [None] * (3 - len(current.variant_takes))
    takes[index] = take.id
    updated = current.model_copy(update={"variants": variants, "variant_takes": takes[:3]})
    return take.model_copy(update={"output": updated.model_dump(mode="json")})


def parse_variant_target(target: str) -> int | None:
    """'variant:1' -> 1; '' -> None (regenerate all)."""
    if not target:
        return None
    m = re.fullmatch(r"variant:(\d)", target.strip())
    if not m:
        raise InputError(f"Unknown treatment target {target!r}; use 'variant:0', 'variant:1' or 'variant:2'.")
    return int(m.group(1))


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: all three variants, or one (`ctx.target == "variant:<i>"`)."""
    # 1. Check inputs.
    if ctx.state.skips_writing:
        raise InputError("This project goes straight to the script, so it has no treatment; change the input mode to write one.")
    story = require_story(ctx.state, "a treatment")
    index = parse_variant_target(ctx.target)
    attempts = max_attempts_option(ctx.options)
    text = ctx.engines.text("treatment")
    # 2. Regenerate one variant, keeping the other two.
    if index is not None:
        data = ctx.state.data(Stage.TREATMENT)
        if not data:
            raise InputError("Write the three treatments before rewriting one of them.")
        current = Treatment.model_validate(data)
        take = regenerate_variant(story, current, index, text, seed=ctx.seed, guidance=ctx.guidance,
                                  templates=ctx.template, max_attempts=attempts)
        if not take.ok or take.output is None:
            return StageOutcome(takes=[take])
        return StageOutcome(takes=[take], artifact=Treatment.model_validate(take.output), take_id=take.id)
    # 3. Regenerate all three; the choice is the filmmaker's.
    take = make_treatment(story, text, seed=ctx.seed, guidance=ctx.guidance, templates=ctx.template,
                          max_attempts=attempts)
    if not take.ok or take.output is None:
        return StageOutcome(takes=[take])
    return StageOutcome(takes=[take], artifact=Treatment.model_validate(take.output), take_id=take.id)


__all__ = ["TreatmentDraft", "VariantDraft", "load_story", "make_treatment", "regenerate_variant", "run"]
