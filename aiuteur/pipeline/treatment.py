"""Stage 2, treatment: three different prose tellings of the film, from the stage-1 input.

Variety by construction: code picks three angles a story editor would ask for (the story's own
structure; one character's point of view; its mood and atmosphere; a late start when the story
names nobody), and each treatment is its own model call with its angle in the prompt, so they
differ because they were asked to. Each answer is checked in code: too close to a treatment
already written, or copying more than one sentence of the story word for word, and that one
treatment is re-asked alone with the complaint (which names every copied sentence). When its
tries run out the stage keeps the best answer, marks it weak (`TreatmentVariant.weak`, shown in
the app) and says so in the take's note: a usable draft is never thrown away. When copying is
all that is wrong with it, code cuts the copied sentences after the first instead (`cut_copies`:
whole sentences only, never below `min_prose_words`) and the note quotes what it cut. One
variant can be rewritten with the filmmaker's guidance while the other two stay. Written style capsules do not apply here (they
shape script and dialogue writing only); story rules do, in every prompt.

Example:
    take = make_treatment(story, engines.text("treatment"), seed=7)
    treatment = Treatment.model_validate(take.output)
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from aiuteur.domain import InputError, InputMode, Stage, StoryInput, Take, Treatment, TreatmentVariant
from aiuteur.engines.base import EngineError, Message, TextEngine
from aiuteur.pipeline.actions import RewritePassage, RewriteVariant, WriteTreatments
from aiuteur.pipeline.passage import run_passage
from aiuteur.pipeline.prompts import Template
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.writing import (
    Asked,
    Rendered,
    TemplateSource,
    ask,
    attempts_for,
    brief_text,
    cut_loops,
    default_templates,
    engine_failure,
    format_rules,
    has_material,
    make_take,
    messages_for,
    params_text,
    render,
    require_story,
    retryable,
    sources_text,
    story_rules,
    with_note,
)

#: llama.cpp's grammar caps a repetition at 2000 characters (text_llamacpp.LLAMA_MAX_REPETITION).
MAX_PROSE = 2000
NO_GUIDANCE = "(none)"
NO_OTHERS = "(none yet: this is the first treatment)"
#: Word-trigram overlap above which two tellings are "the same story in the same words".
TOO_CLOSE = 0.5
#: A copied sentence is at least this many words long (short ones repeat by chance).
COPY_MIN_WORDS = 6
#: How many sentences may be copied word for word from the story.
MAX_COPIED = 1
#: How much of each copied sentence a complaint quotes (the model is told every one, each shortened).
QUOTED_CHARS = 70
#: How much of each sentence code cut the take's note quotes.
NOTED_CHARS = 50
#: A treatment shorter than this (in words) is a note or a fragment, not a telling of the film.
MIN_PROSE_WORDS = 60
#: What a re-asked treatment is told after the complaint.
NEW_TREATMENT = "Write a new treatment that avoids this: the film itself, never a note about it."

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "treatment/system": frozenset({"story_rules"}),
    "treatment/user": frozenset({"mode_instruction", "params", "sources", "brief", "guidance", "angle", "number",
                                 "others"}),
    "treatment/variant_user": frozenset(
        {"mode_instruction", "params", "sources", "brief", "number", "current", "others", "guidance", "angle"}
    ),
    "treatment/mode_expand": frozenset(),
    "treatment/mode_condense": frozenset(),
    "treatment/mode_transform": frozenset({"target"}),
    "treatment/mode_brief": frozenset(),
    "treatment/angle_structure": frozenset(),
    "treatment/angle_viewpoint": frozenset({"character"}),
    "treatment/angle_tone": frozenset(),
    "treatment/angle_late_start": frozenset(),
}

#: The angle names a person reads (in the app and in the saved treatment).
ANGLE_LABELS = {"structure": "structure", "viewpoint": "point of view", "tone": "tone and atmosphere",
                "late_start": "a late start"}


# --- generation schemas (bounded) ---------------------------------------------------------------


class VariantDraft(BaseModel):
    """One treatment: a title, a one-sentence logline and the film told in present-tense prose."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80, description="A short title for this telling.")
    logline: str = Field(min_length=1, max_length=300, description="The film in one sentence.")
    prose: str = Field(min_length=20, max_length=MAX_PROSE, description="The film as present-tense prose.")

    @field_validator("logline")
    @classmethod
    def _own_logline(cls, v: str, info: ValidationInfo) -> str:
        ctx = info.context or {}
        mine = " ".join(_words(v))
        for n, other in enumerate(ctx.get("loglines") or [], start=1):
            if mine and mine == " ".join(_words(other)):
                raise ValueError(f"this logline is word for word the logline of treatment "
                                 f"{ctx.get('numbers', {}).get(n, n)}; give this telling a logline of its own")
        return v

    @field_validator("prose")
    @classmethod
    def _differs_and_retells(cls, v: str, info: ValidationInfo) -> str:
        ctx = info.context or {}
        if not ctx:
            return v
        n_words, floor = len(_words(v)), min_prose_words(str(ctx.get("story") or ""))
        if n_words < floor:
            raise ValueError(f"this treatment is {n_words} words long; tell the whole film, its people and places, "
                             f"from its start to its ending, in at least {floor + 40} words")
        if len(cut_loops(v)) < 0.8 * len(v.strip()):
            raise ValueError("this treatment says the same sentences again and again; tell the story once, from "
                             "its start to its ending, and stop")
        for n, other in enumerate(ctx.get("others") or [], start=1):
            if too_close(v, other):
                raise ValueError(
                    f"this treatment is too close to treatment {ctx.get('numbers', {}).get(n, n)}: they tell the "
                    "same story in nearly the same words; tell it from your own angle, in new words"
                )
        copied = copied_sentences(v, str(ctx.get("story") or ""))
        if len(copied) > MAX_COPIED:
            listed = "; ".join(f"\"{_start(c, QUOTED_CHARS)}\"" for c in copied)
            raise ValueError(f"this treatment copies {len(copied)} sentences word for word from the story: {listed}; "
                             "retell each of them in your own words")
        return v


# --- the checks -----------------------------------------------------------------------------------


def min_prose_words(story: str) -> int:
    """The fewest words a treatment of `story` may have: a quarter of the story, at most
    MIN_PROSE_WORDS (an idea of a few lines may be told briefly; a note is never a treatment)."""
    return min(MIN_PROSE_WORDS, max(10, len(_words(story)) // 4))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _trigrams(text: str) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)} or {tuple(w)}


def overlap(a: str, b: str) -> float:
    """Share of the shorter text's word trigrams that the other has too (1.0: one contains the other)."""
    ta, tb = _trigrams(a), _trigrams(b)
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def too_close(a: str, b: str) -> bool:
    """Two tellings are too close when most of the shorter one's word runs are in the other."""
    return overlap(a, b) >= TOO_CLOSE


def copied_sentences(prose: str, story: str) -> list[str]:
    """The sentences of `prose` (of at least COPY_MIN_WORDS words) found word for word in `story`."""
    return [prose[a:b].strip() for a, b in _copied_spans(prose, story)]


def _start(sentence: str, limit: int) -> str:
    """The start of `sentence`, cut at a word and marked with an ellipsis when longer than `limit`."""
    sentence = " ".join(sentence.split())
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_QUOTES = "\"'‘’“”"
_ENDS = re.compile(r"[.!?][\"'’”)]*$")
_BEGINS = re.compile(r"[\"'‘“(]?[A-Z0-9]")


def _quote_marks(text: str) -> int:
    """How many quotation marks `text` has: apostrophes inside a word (Oriel's, don't) are not."""
    return sum(1 for i, c in enumerate(text) if c in _QUOTES and not (
        0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()))


def _copied_spans(prose: str, story: str) -> list[tuple[int, int]]:
    """Where in `prose` its sentences copied from `story` are (as `copied_sentences` finds them)."""
    if not story.strip():
        return []
    haystack = " " + " ".join(_words(story)) + " "
    out = []
    for m in _SENTENCE.finditer(prose):
        words = _words(m.group())
        if len(words) >= COPY_MIN_WORDS and f" {' '.join(words)} " in haystack:
            out.append(m.span())
    return out


def _cut_sentence(prose: str, start: int, end: int) -> tuple[str, str] | None:
    """`prose` without the sentence at `start:end` (a `_SENTENCE` match), and the sentence cut; None
    when what is left would not read as whole sentences: the cut piece is not a sentence of its own
    (it starts small, has no end mark, or splits a quotation), or the text either side of it is not."""
    # Quotation marks that start the match but stand before a space close the sentence before.
    if closes := re.match(r"[\"'’”)]+(?=\s|$)", prose[start:end]):
        start += closes.end()
    while start < end and prose[start].isspace():
        start += 1
    before, cut, after = prose[:start], prose[start:end], prose[end:]
    closing = re.match(r"[\"'’”)]+", after)
    if closing and _quote_marks(cut) % 2:  # the sentence's own quotation ends after its end mark
        cut, after = cut + closing.group(), after[closing.end():]
    elif closing:  # a quotation opened before it ends here: keep the mark with the sentence before
        before, after = before.rstrip() + closing.group(), after[closing.end():]
    reopen = ""
    if _quote_marks(cut) % 2 and cut[:1] in _QUOTES:  # a quotation it opens goes on after it: keep the mark
        reopen, cut = cut[0], cut[1:].lstrip()
    if _quote_marks(cut) % 2 or not _BEGINS.match(cut) or not _ENDS.search(cut):
        return None
    head, tail = before.rstrip(), reopen + after.lstrip()
    if (head and not _ENDS.search(head)) or (tail and not _BEGINS.match(tail)):
        return None
    space = before[len(head):] + after[:len(after) - len(after.lstrip())]
    gap = "\n\n" if "\n\n" in space else "\n" if "\n" in space else " "
    return (head + gap + tail if head and tail else head or tail), cut


@dataclass(frozen=True)
class CopiesCut:
    """A treatment with the sentences it copied from the story after the first cut out.

    `prose` is the treatment without them, `removed` the sentences cut (in the order they stood),
    and `whole` False when one could not be cut without breaking a sentence or a quotation (then
    `prose` is the text as far as code could cut, still with too many copies)."""

    prose: str
    removed: list[str]
    whole: bool

    @property
    def words(self) -> int:
        return len(_words(self.prose))


def cut_copies(prose: str, story: str) -> CopiesCut:
    """`prose` with every sentence copied word for word from `story` after the first MAX_COPIED
    cut out, last first, each only when what is left reads as whole sentences."""
    removed: list[str] = []
    while len(spans := _copied_spans(prose, story)) > MAX_COPIED:
        start, end = spans[-1]
        cut = _cut_sentence(prose, start, end)
        if cut is None:
            return CopiesCut(prose, removed[::-1], False)
        prose = cut[0]
        removed.append(cut[1])
    return CopiesCut(prose, removed[::-1], True)


# --- angles, chosen by code -----------------------------------------------------------------------

_NOT_NAMES = frozenset(
    ["The", "A", "An", "And", "But", "Or", "So", "Then", "When", "While", "As", "At", "In", "On", "Of", "To", "For", "From", "With", "By", "It", "Its", "He", "She", "They", "We", "You", "I", "His", "Her", "Their", "Our", "My", "Your", "This", "That", "These", "Those", "There", "Here", "What", "Who", "Why", "How", "Where", "Yes", "No", "Not", "Now", "Mr", "Mrs", "Ms", "Dr", "Sir", "Madam", "Miss", "Lord", "Lady", "God", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "INT", "EXT", "Int", "Ext", "Day", "Night", "Morning", "Evening", "Dusk", "Dawn", "Later"]
)


def named_characters(text: str) -> list[str]:
    """Names the text uses for people, most mentioned first: capitalised words seen mid-sentence
    at least twice (a heuristic; it only steers which point of view a treatment takes)."""
    mid: Counter[str] = Counter()
    every: Counter[str] = Counter()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        words = re.findall(r"[A-Za-z][A-Za-z'’-]*", sentence)
        for i, w in enumerate(words):
            w = re.sub(r"['’]s$", "", w)
            if w[:1].isupper() and not w.isupper() and w not in _NOT_NAMES and len(w) > 1:
                every[w] += 1
                if i > 0:
                    mid[w] += 1
    return [w for w, n in sorted(every.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2 and mid[w]]


@dataclass(frozen=True)
class Angle:
    """One of the three angles: its template and its values."""

    name: str
    values: dict[str, str]

    @property
    def label(self) -> str:
        who = self.values.get("character")
        return f"{ANGLE_LABELS[self.name]}: {who}" if who else ANGLE_LABELS[self.name]


def pick_angles(story: StoryInput) -> list[Angle]:
    """Three angles a story editor would ask for: the story's own structure, the point of view of
    its second most named character (the first when only one is named; a late start when none
    is), and its tone and atmosphere."""
    text = "\n".join(s.text for s in story.sources) + "\n" + story.brief.plot + "\n" + story.brief.character_descriptions
    names = named_characters(text)
    if names:
        second = Angle("viewpoint", {"character": names[1] if len(names) > 1 else names[0]})
    else:
        second = Angle("late_start", {})
    return [Angle("structure", {}), second, Angle("tone", {})]


def angle_of(variant: TreatmentVariant, index: int, story: StoryInput) -> Angle:
    """The angle a saved variant was written from (its recorded label), else the one code picks."""
    picked = pick_angles(story)[index]
    if variant.angle:
        for a in (picked, *pick_angles(story)):
            if a.label == variant.angle:
                return a
    return picked


def _variant(d: VariantDraft, angle: str = "", weak: str = "") -> TreatmentVariant:
    """The saved variant: the model's loops cut from its prose (`cut_loops`)."""
    return TreatmentVariant(title=d.title.strip(), logline=d.logline.strip(), prose=cut_loops(d.prose) or d.prose.strip(),
                            angle=angle, weak=weak)


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


def _angle_text(angle: Angle, templates: TemplateSource) -> tuple[str, Template]:
    t = templates(f"treatment/angle_{angle.name}")
    return render(t, angle.values, VARIABLES), t


def _format_variant(v: TreatmentVariant, n: int) -> str:
    return f"Treatment {n}: {v.title}\nLogline: {v.logline}\n{v.prose}"


def _brief_variant(v: TreatmentVariant, n: int) -> str:
    """Title and logline only: enough to steer away from, and short on a small context."""
    return f"Treatment {n}: {v.title}. {v.logline}"


def _story_text(story: StoryInput) -> str:
    return "\n".join(s.text for s in story.sources if s.text.strip())


# --- asking one variant -----------------------------------------------------------------------------


@dataclass
class _One:
    """One variant's result: the draft (None only when every call failed), its check, its calls."""

    draft: VariantDraft | None
    weak: str
    attempts: int
    seconds: float
    messages: list[Message]
    error: str = ""
    #: What code did about copied sentences when the tries ran out ("" when nothing): what it cut,
    #: or why it left them in.
    mend: str = ""


def _ask_one(text: TextEngine, messages: list[Message], *, seed: int, max_attempts: int, others: list[str],
             story: str, numbers: dict[int, int], what: str, loglines: list[str] | None = None) -> _One:
    """Ask for one variant with its checks; a call whose output was cut off or unparsable is tried
    again with another seed while tries remain. The last usable answer is kept even when it fails a check."""
    context = {"others": others, "story": story, "numbers": numbers, "loglines": loglines or []}
    max_attempts = attempts_for(text, max_attempts)
    t0 = time.perf_counter()
    tries, error, complaint = 0, "", ""
    best: VariantDraft | None = None
    best_messages, best_error = messages, ""
    while tries < max_attempts:
        # A try is a fresh answer with the complaint as a note, never the rejected answer shown
        # back: a small model shown its answer copies it again (or writes about being rejected).
        sent = with_note(messages, complaint, NEW_TREATMENT)
        try:
            got: Asked[VariantDraft] = ask(text, sent, VariantDraft, seed=seed + 7 * tries, max_attempts=1,
                                           context=context, avoid_copying=[story])
        except EngineError as e:
            tries += 1
            error = engine_failure(e, what)
            if not retryable(e):
                break
            continue
        tries += 1
        if got.value is not None and not got.error:
            return _One(got.value, "", tries, time.perf_counter() - t0, got.messages)
        if got.value is not None and (best is None or _better(got.value, best)):
            best, best_messages, best_error = got.value, got.messages, got.error
        complaint = error = got.error
    if best is not None:
        kept, weak, mend = _mend_copies(best, best_error, context, story)
        return _One(kept, weak, tries, time.perf_counter() - t0, best_messages, mend=mend)
    return _One(None, "", tries, time.perf_counter() - t0, messages, error=error)


def _mend_copies(draft: VariantDraft, weak: str, context: dict[str, Any], story: str
                 ) -> tuple[VariantDraft, str, str]:
    """The kept answer with the sentences it copied from the story after the first cut out, when
    copying is all that is wrong with it: `(draft, weak, what code did)`. The draft stays as it is
    (weak) when cutting would break a sentence, leave it under `min_prose_words`, or still leave
    another check failing."""
    copies = copied_sentences(draft.prose, story)
    if len(copies) <= MAX_COPIED:
        return draft, weak, ""
    cut, floor = cut_copies(draft.prose, story), min_prose_words(story)
    if not cut.whole:
        return draft, weak, "code left the copied sentences in: cutting one would break a sentence or a quotation"
    if cut.words < floor:
        return draft, weak, (f"code left the copied sentences in: without them it would be {cut.words} words, "
                             f"under the {floor} a treatment needs")
    try:
        mended = VariantDraft.model_validate({**draft.model_dump(), "prose": cut.prose}, context=context)
    except ValidationError:
        return draft, weak, ""  # something besides copying is wrong with it: kept, marked, as it is
    quoted = "; ".join(f"\"{_start(r, NOTED_CHARS)}\"" for r in cut.removed)
    return mended, "", (f"copied {len(copies)} sentences of the story word for word after every try; code removed "
                        f"{len(cut.removed)} of them: {quoted}")


def _better(a: VariantDraft, b: VariantDraft) -> bool:
    """Which of two answers that failed a check to keep: the one with more of its own words."""
    return len(set(_words(cut_loops(a.prose)))) > len(set(_words(cut_loops(b.prose))))


# --- the stage ------------------------------------------------------------------------------------


def make_treatment(
    story: StoryInput, text: TextEngine, *, seed: int, guidance: str = "", templates: TemplateSource = default_templates,
    max_attempts: int = 3,
) -> Take:
    """Write three treatments, one call per angle; the Take's output is a `Treatment` (nothing chosen yet).

    Raises:
        InputError: there is no story, idea or brief plot to write from.
    """
    # 1. Check inputs.
    if not has_material(story):
        raise InputError("Add a story, an idea or a brief plot before writing a treatment.")
    values, used = _common(story, templates, guidance)
    rules = format_rules(story_rules(story))
    source = _story_text(story)
    angles = pick_angles(story)
    inputs = {"story": story.model_dump(mode="json"), "guidance": guidance,
              "angles": [a.label for a in angles]}
    variants: list[TreatmentVariant] = []
    sent: list[Message] = []
    used_all: list[Template] = []
    attempts, seconds, notes = 1, 0.0, []
    # 2. One call per angle, each checked against the treatments before it and the story.
    for i, angle in enumerate(angles):
        angle_text, angle_t = _angle_text(angle, templates)
        others = "\n".join(_brief_variant(v, n) for n, v in enumerate(variants, start=1)) or NO_OTHERS
        rendered = messages_for(templates, "treatment", {"story_rules": rules},
                                {**values, "angle": angle_text, "number": i + 1, "others": others}, VARIABLES,
                                extra=[*used, angle_t])
        used_all += [t for t in rendered.templates if t not in used_all]
        one = _ask_one(text, rendered.messages, seed=seed + 1000 * i, max_attempts=max_attempts,
                       others=[v.prose for v in variants], story=source, loglines=[v.logline for v in variants],
                       numbers={n: n for n in range(1, len(variants) + 1)}, what=f"treatment {i + 1}")
        sent += one.messages
        attempts, seconds = max(attempts, one.attempts), seconds + one.seconds
        if one.draft is None:
            return make_take(Stage.TREATMENT, purpose="treatment", inputs=inputs, rendered=Rendered(sent, used_all),
                             text=text, seed=seed, attempts=attempts, seconds=seconds,
                             error=f"{one.error} (after {one.attempts} tries; treatments before it were not kept "
                                   "because a treatment needs all three)")
        notes += _notes(i, one)
        variants.append(_variant(one.draft, angle.label, one.weak))
    # 3. Return the take; weak variants are kept, marked, and named in the note.
    note = " ".join(notes)
    return make_take(Stage.TREATMENT, purpose="treatment", inputs=inputs, rendered=Rendered(sent, used_all), text=text,
                     seed=seed, attempts=attempts, seconds=seconds, output=Treatment(variants=variants),
                     messages=sent).model_copy(update={"note": note})


def _notes(index: int, one: _One) -> list[str]:
    """What the take's note says of treatment `index`: kept weak, or mended by code (and how)."""
    if one.weak:
        return [f"Treatment {index + 1} is weak, kept after every try: {one.weak}."
                + (f" ({one.mend}.)" if one.mend else "")]
    return [f"Treatment {index + 1} {one.mend}."] if one.mend else []


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
    angle = angle_of(current.variants[index], index, story)
    angle_text, angle_t = _angle_text(angle, templates)
    others = [v for i, v in enumerate(current.variants) if i != index]
    numbers = [i + 1 for i in range(3) if i != index]
    values |= {
        "number": index + 1, "angle": angle_text,
        "current": _format_variant(current.variants[index], index + 1),
        "others": "\n\n".join(_format_variant(v, i + 1) for i, v in enumerate(current.variants) if i != index),
    }
    rendered = messages_for(templates, "treatment", {"story_rules": format_rules(story_rules(story))}, values,
                            VARIABLES, user="variant_user", extra=[*used, angle_t])
    target = f"variant:{index}"
    inputs = {"story": story.model_dump(mode="json"), "others": [o.model_dump() for o in others],
              "guidance": guidance, "index": index, "template": rendered.template_hash}
    one = _ask_one(text, rendered.messages, seed=seed, max_attempts=max_attempts, others=[o.prose for o in others],
                   story=_story_text(story), numbers=dict(enumerate(numbers, start=1)), what=f"treatment {index + 1}",
                   loglines=[o.logline for o in others])
    if one.draft is None:
        return make_take(Stage.TREATMENT, purpose="treatment_variant", inputs=inputs, rendered=rendered, text=text,
                         seed=seed, target=target, attempts=one.attempts, seconds=one.seconds,
                         error=one.error or f"Treatment {index + 1} could not be written.")
    variants = list(current.variants)
    variants[index] = _variant(one.draft, angle.label, one.weak)
    take = make_take(Stage.TREATMENT, purpose="treatment_variant", inputs=inputs, rendered=rendered, text=text,
                     seed=seed, target=target, attempts=one.attempts, seconds=one.seconds, messages=one.messages,
                     output=None)
    if note := " ".join(_notes(index, one)):
        take = take.model_copy(update={"note": note})
    takes = list(current.variant_takes) + [None] * (3 - len(current.variant_takes))
    takes[index] = take.id
    updated = current.model_copy(update={"variants": variants, "variant_takes": takes[:3]})
    return take.model_copy(update={"output": updated.model_dump(mode="json")})


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: all three variants (WriteTreatments), or one (RewriteVariant), or a
    highlighted passage of the prose rewritten (RewritePassage)."""
    if isinstance(ctx.action, RewritePassage):
        return run_passage(ctx, Stage.TREATMENT, ctx.action)
    # 1. Check inputs.
    if ctx.state.skips_writing:
        raise InputError("This project goes straight to the script, so it has no treatment; change the input mode to write one.")
    story = require_story(ctx.inputs.story, "a treatment")
    action = ctx.action
    assert isinstance(action, WriteTreatments | RewriteVariant)
    attempts = action.max_attempts
    text = ctx.engines.text("treatment")
    # 2. Regenerate one variant, keeping the other two.
    if isinstance(action, RewriteVariant):
        current = ctx.inputs.treatment
        if current is None:
            raise InputError("Write the three treatments before rewriting one of them.")
        take = regenerate_variant(story, current, action.index, text, seed=ctx.seed, guidance=ctx.guidance,
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


__all__ = ["VariantDraft", "make_treatment", "regenerate_variant", "run"]
