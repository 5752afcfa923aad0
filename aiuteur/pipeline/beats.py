"""Stage 3, beat sheet: the chosen treatment variant broken into ordered beats.

Beats cover the whole treatment by construction: code splits the prose into as many
consecutive parts as there are beats (whole sentences, about the same length each), the
model writes one beat (a title and a summary) for each numbered part, and each beat's source
passage is its part, word for word. A weak model can no longer put every beat in the opening
paragraph, and it spends no tokens copying passages. The generation schema has exactly one
beat per part, so constrained decoding returns the right count. One beat can be rewritten with
guidance, keeping its id and every other beat; that rewrite quotes its passage itself, checked
in code (instructor's exact-citations idea) and re-asked a bounded number of times; when the
model still misquotes, the beat keeps the treatment sentence that best matches what it said.
Code then mends the model's sheet, never re-asking: a beat that retells an earlier one is dropped
(`without_retold_beats`), and a beat set where the story does not put what it tells is set at the
story's own place (`placed_by_story`); the take's note says what changed.

Example:
    take = make_beats(story, variant, engines.text("beats"), seed=7)
    sheet = BeatSheet.model_validate(take.output)
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from aiuteur.domain import Beat, BeatSheet, InputError, Stage, StoryInput, Take, TreatmentVariant
from aiuteur.engines.base import EngineError, TextEngine
from aiuteur.pipeline.actions import RewriteBeat, WriteBeats
from aiuteur.pipeline.places import story_places
from aiuteur.pipeline.roster import story_people
from aiuteur.pipeline.screen_words import (
    align,
    content_words,
    place_at,
    retold,
    same_place,
    settings,
    story_paragraphs,
)
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.writing import (
    TemplateSource,
    ask,
    ask_retrying,
    default_templates,
    engine_failure,
    format_rules,
    make_take,
    messages_for,
    params_text,
    story_rules,
)

NO_GUIDANCE = "(none)"

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "beats/system": frozenset({"story_rules"}),
    "beats/user": frozenset({"params", "title", "parts", "guidance", "beat_count"}),
    "beats/beat_user": frozenset({"params", "title", "prose", "beats", "number", "current", "guidance"}),
}


# --- finding a passage in the treatment -----------------------------------------------------------


def locate(passage: str, prose: str) -> str | None:
    """The exact span of `prose` that `passage` quotes (ignoring differences in whitespace), or None."""
    passage = passage.strip()
    if not passage:
        return None
    if passage in prose:
        return passage
    words = passage.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, prose)
    return m.group(0) if m else None


def sentences(prose: str) -> list[str]:
    """The sentences of the prose, each an exact substring of it."""
    return [m.group(0).strip() for m in re.finditer(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|$)", prose) if m.group(0).strip()]


def best_sentence(prose: str, *hints: str) -> str:
    """The sentence of `prose` sharing the most words with the hints (the first on a tie)."""
    wanted = set(re.findall(r"\w+", " ".join(hints).lower()))
    candidates = sentences(prose) or [prose.strip()]
    scored = [(len(wanted & set(re.findall(r"\w+", s.lower()))), -i, s) for i, s in enumerate(candidates)]
    return max(scored)[2]


# --- generation schemas (bounded) ---------------------------------------------------------------


class BeatDraft(BaseModel):
    """One story event in order, with the treatment sentences it comes from copied exactly."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80, description="A short name for the beat.")
    summary: str = Field(min_length=1, max_length=400, description="What happens, in one or two sentences.")
    source_passage: str = Field(
        min_length=1, max_length=600, description="The treatment sentences this beat comes from, copied exactly."
    )

    @field_validator("source_passage")
    @classmethod
    def _quoted_from_treatment(cls, v: str, info: ValidationInfo) -> str:
        prose = (info.context or {}).get("prose")
        if prose is not None and locate(v, prose) is None:
            raise ValueError(
                "the source passage is not copied exactly from the treatment; copy one or two of its "
                "sentences character for character"
            )
        return v


class BeatsDraft(BaseModel):
    """The beats of the treatment, in story order, covering it from start to end."""

    model_config = ConfigDict(extra="forbid")
    beats: list[BeatDraft] = Field(min_length=2, max_length=16, description="The beats in order.")


class PartBeat(BaseModel):
    """The beat of one numbered part of the treatment: what happens in it."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80, description="A short name for the beat.")
    summary: str = Field(min_length=1, max_length=400, description="What happens in this part, in one or two sentences.")
    place: str = Field(min_length=1, max_length=60, description="Where this part happens: a short place name.")


class PartBeatsDraft(BaseModel):
    """One beat per part of the treatment, in order."""

    model_config = ConfigDict(extra="forbid")
    beats: list[PartBeat] = Field(min_length=1, max_length=16)


def beats_schema(parts: int) -> type[PartBeatsDraft]:
    """The beat sheet schema for `parts` parts: exactly one beat each (1 to 16)."""
    n = max(1, min(16, parts))
    model: type[PartBeatsDraft] = create_model(
        f"PartBeatsDraft_{n}", __base__=PartBeatsDraft, __module__=__name__,
        beats=(list[PartBeat], Field(min_length=n, max_length=n, description=f"Exactly {n} beats, one per part.")),
    )
    return model


def split_parts(prose: str, n: int) -> list[str]:
    """The prose as `n` consecutive parts of whole sentences, each about as long as the others,
    each an exact span of the prose (fewer parts when there are fewer sentences)."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|$)", prose)
             if m.group(0).strip()]
    if not spans:
        return [prose.strip()] if prose.strip() else []
    n = max(1, min(n, len(spans)))
    lengths = [len(prose[a:b].split()) for a, b in spans]
    total = sum(lengths)
    parts: list[str] = []
    start, done, i = 0, 0, 0
    for k in range(1, n + 1):
        if k == n:
            end = len(spans)
        else:
            target = total * k / n
            end = i + 1
            # take sentences while this part is short of its share, leaving one per remaining part
            while end < len(spans) - (n - k) and done + sum(lengths[i:end]) + lengths[end] / 2 < target:
                end += 1
        parts.append(prose[spans[start][0]:spans[end - 1][1]].strip())
        done += sum(lengths[i:end])
        start = i = end
    return parts


def _numbered_parts(parts: list[str]) -> str:
    return "\n\n".join(f"PART {i}\n{p}" for i, p in enumerate(parts, start=1))


def beat_count(story: StoryInput | None) -> int:
    """How many beats to ask for: about 2.5 a minute plus a frame, between 4 and 14."""
    if story is None:
        return 6
    minutes = (story.params.min_minutes + story.params.max_minutes) / 2
    return max(4, min(14, round(minutes * 2.5 + 2)))


def _to_beat(d: BeatDraft, prose: str, beat_id: str | None = None) -> Beat:
    passage = locate(d.source_passage, prose) or best_sentence(prose, d.source_passage, d.summary)
    extra = {"id": beat_id} if beat_id else {}
    return Beat(title=d.title.strip(), summary=d.summary.strip(), source_passage=passage, **extra)


def _format_beats(beats: list[Beat]) -> str:
    return "\n".join(f"{i}. {b.title}: {b.summary}" for i, b in enumerate(beats, start=1))


# --- mending the model's beat sheet in code ----------------------------------------------------------


def without_retold_beats(beats: list[Beat], prose: str = "", *, fewest: int = 2) -> tuple[list[Beat], list[str]]:
    """The beats with each one that tells again what an earlier beat tells (`screen_words.retold`,
    the rule stage 4 drops retold scenes by) dropped, never leaving fewer than `fewest`. The small
    model copies a beat: three-tier's beat 6 was beat 3 word for word, the mapmaker's beats 5-7
    near copies (7cba731); each would become a scene written again. The beat before a dropped one
    takes its passage too (the span of `prose` from one to the other: the parts run in order), so
    the sheet still covers the whole treatment. Returns the beats and what was dropped, for the
    take's note."""
    kept: list[Beat] = []
    words: list[set[str]] = []
    numbers: list[int] = []
    notes: list[str] = []
    for i, b in enumerate(beats, start=1):
        own = content_words(b.summary)
        twin = retold(own, words)
        if twin is None:
            kept.append(b)
            words.append(own)
            numbers.append(i)
            continue
        notes.append(f"beat {i} ({b.title}, which retells beat {numbers[twin]})")
        a, z = locate(kept[-1].source_passage, prose), locate(b.source_passage, prose)
        start, end = (prose.find(a), prose.find(z)) if a is not None and z is not None else (-1, -1)
        if 0 <= start < end:
            kept[-1] = kept[-1].model_copy(update={"source_passage": prose[start:end + len(z or "")]})
    if len(kept) < fewest:  # never fewer than `fewest`: the sheet stays as the model wrote it
        return beats, []
    return kept, notes


def placed_by_story(beats: list[Beat], story: str) -> tuple[list[Beat], list[str]]:
    """Each beat set where the story itself puts what it tells. The beats' texts are aligned with
    the story's paragraphs (`screen_words.align`, in order); where those paragraphs happen at
    places of the story (`places.story_places` among the story's people, `screen_words.settings`) and the model's place is
    none of them, the beat takes the one its own words name, else the one named first there. The
    model's place stays where the story names no place. The small model set every mapmaker beat in
    "Quillfirth" and the salt crown's crowning in a "town square" (7cba731). Returns the beats and
    what changed, for the take's note."""
    paragraphs = story_paragraphs(story)
    people = [n for p in story_people(story) for n in (p.name, *p.forms)] if paragraphs else []
    names = [p.name for p in story_places(story, people)] if paragraphs else []
    if not names or not beats:
        return beats, []
    where = settings(paragraphs, names)
    owner = align(paragraphs, [f"{b.title} {b.summary} {b.source_passage}" for b in beats])
    out: list[Beat] = []
    notes: list[str] = []
    for j, b in enumerate(beats):
        own = [i for i, o in enumerate(owner) if o == j]
        here = [k for i in own for k, first in where[i].items() if first]
        here += [k for i in own for k in where[i] if k not in here]
        named = [k for k in here if any(place_at(paragraphs[i], names[k]) >= 0 for i in own)]
        known = any(same_place(n, b.place) for n in names) if b.place else False
        # the model's place stays where the story names none, where it is one of the places there
        # (those the beat's own paragraphs name, when they name any: the beat goes there), and where
        # it is a place of the story that these paragraphs only inherit from earlier ones (the map
        # shop of a story set "in the town of Quillfirth" is still the map shop)
        choice = named or here
        if not here or any(same_place(names[k], b.place) for k in choice if b.place) or (known and not named):
            out.append(b)
            continue
        said = [k for k in choice if place_at(f"{b.title} {b.summary}", names[k]) >= 0]
        place = names[(said or choice)[0]]
        out.append(b.model_copy(update={"place": place}))
        notes.append(f"beat {j + 1} at {place} (not {b.place or 'unplaced'})")
    return out, notes


# --- the stage ------------------------------------------------------------------------------------


def make_beats(
    story: StoryInput | None, variant: TreatmentVariant, text: TextEngine, *, seed: int, guidance: str = "",
    templates: TemplateSource = default_templates, max_attempts: int = 3,
) -> Take:
    """Break the chosen treatment into beats, one per part of it; the Take's output is a `BeatSheet`."""
    # 1. Check inputs; split the prose into one part per beat.
    if not variant.prose.strip():
        raise InputError("The chosen treatment has no prose; write or choose one before making beats.")
    parts = split_parts(variant.prose, beat_count(story))
    # 2. Render the prompts.
    rules = format_rules(story_rules(story))
    values = {
        "params": params_text(story) if story else "(not given)", "title": variant.title,
        "parts": _numbered_parts(parts), "guidance": guidance.strip() or NO_GUIDANCE, "beat_count": len(parts),
    }
    rendered = messages_for(templates, "beats", {"story_rules": rules}, values, VARIABLES)
    inputs = {"variant": variant.model_dump(), "rules": rules, "guidance": guidance, "template": rendered.template_hash}
    # 3. Generate exactly one beat per part (the schema fixes the count).
    try:
        got = ask_retrying(text, rendered.messages, beats_schema(len(parts)), seed=seed, max_attempts=max_attempts)
    except EngineError as e:
        return make_take(Stage.BEATS, purpose="beats", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         error=engine_failure(e, "the beats"))
    if got.value is None:  # pragma: no cover - ask always returns the last output
        return make_take(Stage.BEATS, purpose="beats", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         error="The model returned no beats.")
    # 4. Each beat's passage is its part; a retold beat is dropped, each beat set where the story puts it.
    beats = [Beat(title=d.title.strip(), summary=d.summary.strip(), source_passage=part, place=" ".join(d.place.split()))
             for d, part in zip(got.value.beats, parts, strict=False)]
    beats, dropped = without_retold_beats(beats, variant.prose)
    primary = story.primary if story is not None else None
    beats, moved = placed_by_story(beats, primary.text if primary is not None else "")
    notes = [f"The model told the same event twice, so code dropped {', '.join(dropped)}."] if dropped else []
    if moved:
        notes.append(f"The model set beats where the story does not put them, so code set {'; '.join(moved)}.")
    take = make_take(Stage.BEATS, purpose="beats", inputs=inputs, rendered=rendered, text=text, seed=seed,
                     attempts=got.attempts, seconds=got.seconds, messages=got.messages, output=BeatSheet(beats=beats))
    return take.model_copy(update={"note": " ".join(notes)}) if notes else take


def regenerate_beat(
    story: StoryInput | None, variant: TreatmentVariant, sheet: BeatSheet, beat_id: str, text: TextEngine, *,
    seed: int, guidance: str = "", templates: TemplateSource = default_templates, max_attempts: int = 3,
) -> Take:
    """Rewrite one beat with guidance, keeping its id and every other beat; output is the BeatSheet."""
    index = next((i for i, b in enumerate(sheet.beats) if b.id == beat_id), None)
    if index is None:
        raise InputError(f"There is no beat {beat_id!r} in the beat sheet; reload the page and pick a beat again.")
    rules = format_rules(story_rules(story))
    current = sheet.beats[index]
    values = {
        "params": params_text(story) if story else "(not given)", "title": variant.title, "prose": variant.prose,
        "beats": _format_beats(sheet.beats), "number": index + 1,
        "current": f"{current.title}: {current.summary}\nSource passage: {current.source_passage}",
        "guidance": guidance.strip() or NO_GUIDANCE,
    }
    rendered = messages_for(templates, "beats", {"story_rules": rules}, values, VARIABLES, user="beat_user")
    target = f"beat:{beat_id}"
    inputs = {"variant": variant.model_dump(), "beats": sheet.model_dump(mode="json"), "beat": beat_id,
              "rules": rules, "guidance": guidance, "template": rendered.template_hash}
    try:
        got = ask(text, rendered.messages, BeatDraft, seed=seed, max_attempts=max_attempts,
                  context={"prose": variant.prose})
    except EngineError as e:
        return make_take(Stage.BEATS, purpose="beat", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         target=target, error=engine_failure(e, f"beat {index + 1}"))
    if got.value is None:  # pragma: no cover
        return make_take(Stage.BEATS, purpose="beat", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         target=target, error="The model returned no beat.")
    beats = list(sheet.beats)
    beats[index] = _to_beat(got.value, variant.prose, beat_id=beat_id)
    return make_take(Stage.BEATS, purpose="beat", inputs=inputs, rendered=rendered, text=text, seed=seed,
                     target=target, attempts=got.attempts, seconds=got.seconds, messages=got.messages,
                     output=BeatSheet(beats=beats))


def chosen_variant(ctx: StageContext) -> TreatmentVariant:
    """The chosen treatment variant, or InputError saying to choose one."""
    treatment = ctx.inputs.treatment
    if treatment is None:
        raise InputError("Write a treatment and choose one of its three versions before making beats.")
    variant = treatment.chosen_variant
    if variant is None:
        raise InputError("Choose one of the three treatments before making beats.")
    return variant


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: the whole beat sheet (WriteBeats), or one beat (RewriteBeat)."""
    if ctx.state.skips_writing:
        raise InputError("This project goes straight to the script, so it has no beat sheet; change the input mode to make one.")
    variant = chosen_variant(ctx)
    story = ctx.inputs.story
    text = ctx.engines.text("beats")
    action = ctx.action
    assert isinstance(action, WriteBeats | RewriteBeat)
    attempts = action.max_attempts
    if isinstance(action, RewriteBeat):
        sheet = ctx.inputs.beats
        if sheet is None:
            raise InputError("Make the beat sheet before rewriting one beat.")
        take = regenerate_beat(story, variant, sheet, action.beat_id, text,
                               seed=ctx.seed, guidance=ctx.guidance, templates=ctx.template, max_attempts=attempts)
    else:
        take = make_beats(story, variant, text, seed=ctx.seed, guidance=ctx.guidance, templates=ctx.template,
                          max_attempts=attempts)
    if not take.ok or take.output is None:
        return StageOutcome(takes=[take])
    return StageOutcome(takes=[take], artifact=BeatSheet.model_validate(take.output), take_id=take.id)
