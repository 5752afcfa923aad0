"""Shared by the writing stages (2 treatment, 3 beats, 4 script): story rules, the input as
prompt text, template rendering that records what was used, and the bounded re-ask loop.

Three stages use these, so they live here instead of being copied three times. No store, no
Gradio, no globals: plain functions over domain models and a `TextEngine`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from aiuteur.domain import InputError, SourceRole, Stage, StoryInput, Take, content_hash
from aiuteur.engines.base import EngineError, Message, TextEngine, TruncatedError
from aiuteur.engines.schema_bounds import InvalidOutputError
from aiuteur.pipeline.prompts import Template, load_template
from aiuteur.pipeline.screen_words import words_key

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

TemplateSource = Callable[[str], Template]
"""template("treatment/system") -> Template; `StageContext.template` (it applies overrides)."""

NO_RULES = "(none)"


# --- story rules ------------------------------------------------------------------------------


def story_rules(story: StoryInput | None) -> list[str]:
    """The project's story rules: the rules list plus the brief's rules field, one per line."""
    if story is None:
        return []
    rules = [r.strip() for r in story.story_rules if r.strip()]
    rules += [line.strip(" -*\t") for line in story.brief.story_rules.splitlines() if line.strip(" -*\t")]
    return list(dict.fromkeys(rules))


def format_rules(rules: list[str]) -> str:
    """Story rules as a bulleted block for a prompt ('(none)' when there are none)."""
    return "\n".join(f"- {r}" for r in rules) if rules else NO_RULES


def require_story(story: StoryInput | None, what: str) -> StoryInput:
    """The saved input (`ctx.inputs.story`), or InputError in one plain sentence when there is
    nothing to write from."""
    if story is None or not has_material(story):
        raise InputError(f"Add a story, an idea or a brief plot before writing {what}.")
    return story


def has_material(story: StoryInput) -> bool:
    return any(s.text.strip() for s in story.sources) or bool(story.brief.plot.strip())


# --- the input as prompt text -------------------------------------------------------------------

_ROLE_LABELS = {
    SourceRole.PRIMARY: "PRIMARY SOURCE",
    SourceRole.CHARACTER_NOTES: "CHARACTER NOTES",
    SourceRole.WORLD: "WORLD NOTES",
    SourceRole.PARODY_SOURCE: "SOURCE BEING PARODIED",
    SourceRole.CONTEXT: "CONTEXT",
}


def sources_text(story: StoryInput, limit: int = 24_000) -> str:
    """Every source, primary first, each under a label naming its role (clipped to `limit` chars)."""
    ordered = sorted(story.sources, key=lambda s: s.role != SourceRole.PRIMARY)
    parts = []
    for s in ordered:
        if not s.text.strip():
            continue
        label = _ROLE_LABELS.get(s.role, s.role.value.upper())
        name = f" ({s.name})" if s.name else ""
        parts.append(f"[{label}{name}]\n{s.text.strip()}")
    text = "\n\n".join(parts) or "(no source text)"
    return text if len(text) <= limit else text[:limit] + "\n[… clipped]"


def brief_text(story: StoryInput) -> str:
    """The filled-in fields of the brief, one labelled paragraph each."""
    b = story.brief
    fields = [
        ("Plot", b.plot), ("Character descriptions", b.character_descriptions), ("Vibe", b.vibe),
        ("Dialogue rules", b.dialogue_rules), ("Dialogue examples", b.dialogue_examples),
        ("Shot styles", b.shot_styles),
    ]
    lines = [f"{name}: {value.strip()}" for name, value in fields if value.strip()]
    return "\n".join(lines) or "(no brief)"


def params_text(story: StoryInput) -> str:
    """Length, kind, rating, genres and tone in one short block."""
    p = story.params
    genres = ", ".join(p.genres) or "any"
    return (
        f"Length: {p.min_minutes:g} to {p.max_minutes:g} minutes of screen time\n"
        f"Kind: {p.project_type.value.replace('_', ' ')}\n"
        f"Content rating: {p.content_rating}\n"
        f"Genres: {genres}\n"
        f"Tone: {p.tone.strip() or 'the story’s own'}"
    )


# --- templates --------------------------------------------------------------------------------


@dataclass
class Rendered:
    """The messages of one call and the templates that made them."""

    messages: list[Message]
    templates: list[Template] = field(default_factory=list)

    @property
    def template_id(self) -> str:
        return "+".join(t.id for t in self.templates)

    @property
    def template_hash(self) -> str:
        if len(self.templates) == 1:
            return self.templates[0].hash
        joined = "+".join(t.hash for t in self.templates)
        return "sha256:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()


def render(template: Template, values: Mapping[str, object], declared: Mapping[str, frozenset[str]]) -> str:
    """Render a template with exactly the variables its stage declares for it.

    A template may use only declared variables; the newest version of each file uses every one
    (a test checks the files), while an older version (compared by the evals) or a project
    override may use a subset.
    """
    role = template.id.rsplit(".v", 1)[0]
    expected = declared[role]
    if set(values) != expected:
        raise AssertionError(f"code passes {sorted(values)} to {role}, which declares {sorted(expected)}")
    if not template.id.endswith(".override") and not template.variables <= expected:
        raise InputError(
            f"Template {template.id} uses {sorted(template.variables)} but the code supplies {sorted(expected)}."
        )
    return template.render(**values)


def messages_for(
    templates: TemplateSource, stage: str, system_values: Mapping[str, object], user_values: Mapping[str, object],
    declared: Mapping[str, frozenset[str]], *, system: str = "system", user: str = "user",
    extra: list[Template] | None = None,
) -> Rendered:
    """System and user messages from `<stage>/<system>` and `<stage>/<user>`."""
    sys_t = templates(f"{stage}/{system}")
    user_t = templates(f"{stage}/{user}")
    messages: list[Message] = [
        {"role": "system", "content": render(sys_t, system_values, declared)},
        {"role": "user", "content": render(user_t, user_values, declared)},
    ]
    return Rendered(messages, [sys_t, user_t, *(extra or [])])


def default_templates(stage_role: str) -> Template:
    """The newest template on disk (no project overrides); the default `TemplateSource`."""
    return load_template(stage_role)


# --- asking with re-asks ---------------------------------------------------------------------


@dataclass
class Asked(Generic[M]):
    """The result of a bounded generate-check-reask loop."""

    value: M | None  # the last output (valid in shape; `error` says if it failed the checks)
    error: str  # the last check's message, '' when the output passed
    attempts: int
    seconds: float
    messages: list[Message]  # the messages of the last call (with the re-ask turns)

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.error


def read_leniently(e: InvalidOutputError, schema: type[M], messages: list[Message]) -> Asked[M] | None:
    """What an engine that does not constrain its output said, read as the looser `schema` (code
    sorts out the rest: states numbered wrong, a shot grouping that is not a clean cut); None when
    it is not even that."""
    try:
        value = schema.model_validate(json.loads(e.text, strict=False))
    except (ValueError, ValidationError):
        return None
    return Asked(value, str(e), 1, 0.0, list(messages))


def ask_bounded(text: TextEngine, messages: list[Message], schema: type[M], wide: type[M], **options: Any) -> Asked[M]:
    """`ask` with a schema bounded for this call (`shot_list_schema(n)`, `states_schema(n)`,
    `chunk_schema(labels)`), which a constraining engine cannot leave; the answer of an engine that
    does not constrain, when it misses the bounds, is read as the `wide` schema it narrows
    (`read_leniently`) and the caller's code repairs it. Its InvalidOutputError propagates when the
    answer is not even that."""
    try:
        return ask(text, messages, schema, **options)
    except InvalidOutputError as e:
        lenient = read_leniently(e, wide, messages)
        if lenient is None:
            raise
        return lenient


def check_message(e: ValidationError | ValueError) -> str:
    """A validator's complaint as a sentence the model can act on."""
    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors()[:4]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        return "; ".join(parts)
    return str(e)


def attempts_for(text: TextEngine, wanted: int) -> int:
    """How many times to ask `text`: what the stage wants, capped by the engine's profile
    (`[text] max_attempts`, e.g. 2 on the offline CPU profile, where one answer costs minutes)."""
    cap = getattr(text, "max_attempts", None)
    return max(1, min(wanted, cap)) if isinstance(cap, int) and cap > 0 else wanted


def ask(
    text: TextEngine, messages: list[Message], schema: type[M], *, seed: int, context: dict[str, Any] | None = None,
    check: Callable[[M], None] | None = None, max_attempts: int = 3, temperature: float = 0.7,
    max_tokens: int | None = None, keep: Callable[[M], float] | None = None, avoid_copying: Sequence[str] = (),
) -> Asked[M]:
    """Generate `schema`, validate it again with `context` (and `check`), re-ask with the message.

    The schema's validators read `info.context` (instructor style) and stay silent without it,
    so engines parse freely and the meaning checks run here. Each re-ask is a fresh request with
    the complaint added (`with_note`) and a new seed: shown its own answer, the offline model
    copied it back token for token (docs/evals.md). When every try fails, the last answer is returned,
    or with `keep` the one it scores highest; with `keep`, a passing answer that scores lower than
    a failing one before it loses to it (a re-asked small model often passes by answering with
    less), and the failing one comes back with its complaint for the caller to repair.
    `avoid_copying`: texts the answer may not copy word for word (the engine turns it aside).
    EngineError (and TruncatedError) propagate.
    """
    max_attempts = attempts_for(text, max_attempts)
    extra: dict[str, Any] = {"avoid_copying": list(avoid_copying)} if avoid_copying else {}  # old engines lack it
    convo = list(messages)
    value: M | None = None
    error = ""
    best: tuple[float, M, str] | None = None
    t0 = time.perf_counter()
    for attempt in range(1, max_attempts + 1):
        out = text.generate(convo, schema, seed=seed + attempt - 1, max_tokens=max_tokens, temperature=temperature,
                            **extra)
        value = out
        try:
            value = schema.model_validate(out.model_dump(mode="json"), context=context or {})
            if check is not None:
                check(value)
        except (ValidationError, ValueError) as e:
            error = check_message(e)
            log.info("%s rejected (try %d of %d): %s", schema.__name__, attempt, max_attempts, error[:300])
            if keep is not None and (best is None or keep(out) > best[0]):
                best = (keep(out), out, error)
            if attempt < max_attempts:
                convo = with_note(messages, error)
            continue
        if best is not None and keep is not None and best[0] > keep(value):
            # the re-asked model passed by answering with less: the fuller answer comes back with
            # its complaint, for the caller to repair
            return Asked(best[1], best[2], attempt, time.perf_counter() - t0, convo)
        return Asked(value, "", attempt, time.perf_counter() - t0, convo)
    if best is not None:  # the failing answer with the most in it, not merely the last
        value, error = best[1], best[2]
    return Asked(value, error, max_attempts, time.perf_counter() - t0, convo)


def with_note(messages: list[Message], complaint: str,
              instead: str = "Write a new answer that avoids exactly this.") -> list[Message]:
    """The messages with an earlier answer's complaint added to the request (unchanged without one).

    The earlier answer itself is not shown: a small model shown its answer writes it again."""
    if not complaint:
        return list(messages)
    last = messages[-1]
    note = f"\n\nAn earlier answer was turned down because {complaint.rstrip('.')}. {instead}"
    return [*messages[:-1], {"role": last["role"], "content": last["content"] + note}]


def retryable(e: EngineError) -> bool:
    """A failure of the model's output (cut off at its budget, unparsable), which another seed may
    avoid; out of memory, timeouts and a server that is down are not retried."""
    return isinstance(e, TruncatedError | InvalidOutputError)


def ask_retrying(
    text: TextEngine, messages: list[Message], schema: type[M], *, seed: int, max_attempts: int = 3,
    **options: Any,
) -> Asked[M]:
    """`ask`, where a call whose output was cut off or unparsable is tried again with another
    seed, within the same `max_attempts`. The last such error propagates when none is left."""
    max_attempts = attempts_for(text, max_attempts)
    tries = 0
    while True:
        try:
            got = ask(text, messages, schema, seed=seed + 7 * tries, max_attempts=max_attempts - tries, **options)
        except EngineError as e:
            tries += 1
            if not retryable(e) or tries >= max_attempts:
                raise
            continue
        got.attempts += tries
        return got


# --- takes ------------------------------------------------------------------------------------


def make_take(
    stage: Stage, *, purpose: str, inputs: Any, rendered: Rendered | None, text: TextEngine | None, seed: int | None,
    attempts: int = 1, seconds: float = 0.0, output: BaseModel | dict[str, Any] | None = None, target: str = "",
    error: str = "", engine: str | None = None, scene_id: str | None = None, messages: list[Message] | None = None,
) -> Take:
    """A Take recording everything about one call (ok unless `error` says why it failed)."""
    if isinstance(output, BaseModel):
        output = output.model_dump(mode="json")
    msgs = messages if messages is not None else (rendered.messages if rendered else [])
    return Take(
        stage=stage, scene_id=scene_id, target=target, purpose=purpose, inputs_hash=content_hash(inputs),
        template=rendered.template_id if rendered else "", template_hash=rendered.template_hash if rendered else "",
        engine=engine if engine is not None else str(getattr(text, "backend", "")),
        model_id=str(getattr(text, "model_id", "")), seed=seed, attempts=attempts, seconds=round(seconds, 3),
        ok=not error, error=error, prompt=[{"role": m["role"], "content": m["content"]} for m in msgs],
        output=output,
    )


def engine_failure(e: EngineError, what: str) -> str:
    """One sentence for a failed model call while making `what`."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"The model failed while writing {what}: {msg}"


# --- loops ------------------------------------------------------------------------------------

_SENTENCE_SPAN = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|$)")
#: A sentence this long (in words) said twice is the model going round in circles, not style.
LOOP_MIN_WORDS = 5


def cut_loops(text: str, *, drop_unfinished: bool = True) -> str:
    """`text` without the model's loops: a sentence (of LOOP_MIN_WORDS words or more) said again
    word for word is dropped each time after the first (with the short repeats that follow it),
    and an unfinished last sentence (the
    output reached its length bound mid-sentence) goes when a finished one comes before it
    (unless `drop_unfinished` is False: an action line may end on a parenthesis).

    A small model that starts to repeat itself fills every character its schema allows; what it
    wrote before the loop is its answer.
    """
    seen: set[str] = set()
    looping = False  # the sentence before was a repeat: a short one after it repeats too
    kept: list[tuple[str, str]] = []  # (the space before it, the sentence)
    end = 0
    for m in _SENTENCE_SPAN.finditer(text):
        gap, end = text[end:m.start()], m.end()
        body = m.group(0)
        if not body.strip():
            continue
        gap += body[: len(body) - len(body.lstrip())]
        key = words_key(body)
        if key in seen and (len(key.split()) >= LOOP_MIN_WORDS or looping):
            looping = True
            continue
        seen.add(key)
        looping = False
        kept.append(("\n\n" if gap.count("\n") > 1 else "\n" if "\n" in gap else " ", body.strip()))
    if not kept:
        return text.strip()
    finished = [bool(re.search(r"[.!?][\"'”’)]*$", b)) for _, b in kept]
    if drop_unfinished and len(kept) > 1 and not finished[-1] and any(finished[:-1]):
        kept.pop()
    return "".join(gap + body for gap, body in kept).strip()
