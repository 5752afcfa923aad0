"""Stage 4, master script: the screenplay every later stage reads, from the beats or the inputs.

Three ways in:
  (a) skip to script: the primary source is a screenplay, so it is imported (no model call);
  (b) skip to stage 4: no treatment or beats; the script is written straight from the inputs;
  (c) normal: the script is written from the beat sheet.

Writing is by structure, never free-form Fountain (a 1.5B model cannot write it): first a scene
plan (headings, a summary and a cast per scene, the characters with their looks), then one call
per scene for typed elements (action; dialogue whose speaker must be in the scene's cast;
transition). Code checks what the model misses (everyone named in a summary is in its cast,
every speaker is in the cast, someone speaks where the story's people speak, the scene opens on
action) and re-asks with the complaint; a planned cast member the scene leaves out is noted. Code renders the scenes to Fountain with the screenplay writer and
reads them back with the same parser, so a written script is exactly what an import gives.
Action lines are visually verbose (prompts/script/scene_system); `enrich_script` rewrites the
action of an existing ordinary script the same way without touching a word of dialogue.

Example:
    plan_take, scene_takes, script = write_script(material, story, engines.text("script"), seed=7)
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from aiuteur.domain import (
    ElementKind,
    InputError,
    InputMode,
    IntExt,
    NotFoundError,
    Scene,
    Script,
    ScriptElement,
    Stage,
    StoryInput,
    Take,
    content_hash,
)
from aiuteur.domain.names import is_called, name_forms, name_words, named_in, spans
from aiuteur.engines.base import EngineError, ProgressFn, TextEngine
from aiuteur.pipeline.actions import EnrichScript, RewritePassage, RewriteScene, WriteScript
from aiuteur.pipeline.passage import run_passage
from aiuteur.pipeline.places import Place, at_place, story_places
from aiuteur.pipeline.roster import (
    PERSON_NOUNS,
    SPEECH_VERBS,
    Person,
    is_person_noun,
    letter_voices,
    narrator,
    story_people,
)
from aiuteur.pipeline.screen_words import (
    align,
    content_words,
    is_formula_copy,
    names_place,
    quotations,
    retold,
    same_place,
    sentences_whole,
    settings,
    story_paragraphs,
    told_share,
    unquoted,
    words_key,
)
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.writing import (
    LOOP_MIN_WORDS,
    Rendered,
    TemplateSource,
    ask,
    ask_retrying,
    brief_text,
    cut_loops,
    default_templates,
    engine_failure,
    format_rules,
    make_take,
    messages_for,
    params_text,
    render,
    require_story,
    sources_text,
    story_rules,
)
from aiuteur.screenplay.headings import place_of
from aiuteur.store.capsules import CapsuleLibrary

NO_GUIDANCE = "(none)"
TIMES_OF_DAY = ("DAY", "NIGHT", "MORNING", "AFTERNOON", "EVENING", "DAWN", "DUSK", "CONTINUOUS", "LATER")
TRANSITIONS = ("CUT TO:", "DISSOLVE TO:", "SMASH CUT TO:", "MATCH CUT TO:", "FADE OUT.")

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "script/plan_system": frozenset({"story_rules"}),
    "script/plan_user": frozenset({"params", "material_label", "material", "guidance", "scene_count"}),
    "script/scene_system": frozenset({"story_rules", "style_capsule"}),
    "script/scene_user": frozenset(
        {"title", "outline", "characters", "previous", "guidance", "number", "heading", "summary", "passage",
         "seconds", "elements"}
    ),
    "script/enrich_system": frozenset({"story_rules", "style_capsule"}),
    "script/enrich_user": frozenset({"characters", "heading", "scene", "guidance", "count"}),
    "script/capsule": frozenset({"name", "example_prose", "example_dialogue"}),
    "script/no_capsule": frozenset(),
}

Name = Annotated[str, StringConstraints(min_length=1, max_length=40)]
PartialFn = Callable[[str], None]
"""on_partial(fountain so far): lets a UI show the script growing scene by scene."""

log = logging.getLogger(__name__)


# --- names ----------------------------------------------------------------------------------------


def cue(name: str) -> str:
    """A character's cue: upper case, single spaces."""
    return " ".join(name.upper().split())


def _same_name(a: str, b: str) -> bool:
    return cue(a) == cue(b)


_VOICE = re.compile(r"^(?P<name>.+?)\s*\((?P<ext>V\.O\.|O\.S\.|O\.C\.)\)$")


def voice_of(speaker: str) -> tuple[str, str | None]:
    """(cue, extension) of a line's speaker: "ALDER (V.O.)" is ALDER speaking over; any other
    bracket is part of the name (a cast can be called "MAN (OLDER)")."""
    m = _VOICE.match(cue(speaker))
    return (m.group("name"), m.group("ext")) if m else (cue(speaker), None)


def speaker_of(speaker: str) -> str:
    """The cue of a line's speaker without its voice-over or off-screen extension."""
    return voice_of(speaker)[0]


# --- generation schemas: the scene plan (bounded) -------------------------------------------------


class CharacterDraft(BaseModel):
    """A person in the film and how they look on screen."""

    model_config = ConfigDict(extra="forbid")
    name: Name = Field(description="The character's name exactly as the story writes it.")
    look: str = Field(max_length=300, description="Age, build, face, hair and what they wear.")


class ScenePlanDraft(BaseModel):
    """One scene: one place, one time, what happens, and who is there."""

    model_config = ConfigDict(extra="forbid")
    int_ext: Literal["INT", "EXT", "INT/EXT"] = Field(description="Inside (INT) or outside (EXT).")
    location: str = Field(min_length=1, max_length=60, description="The place of this scene, as a short name from the story.")
    time_of_day: Literal[TIMES_OF_DAY] = Field(description="The time of day.")  # type: ignore[valid-type]
    summary: str = Field(min_length=1, max_length=400, description="What happens, in one to three sentences.")
    cast: list[Name] = Field(max_length=8, description="Everyone in the scene, by character name.")


class ScriptPlanDraft(BaseModel):
    """The film planned scene by scene, with its characters."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80)
    # Required (no default), so the grammar asks for the characters before the scenes.
    characters: list[CharacterDraft] = Field(max_length=12)
    scenes: list[ScenePlanDraft] = Field(min_length=1, max_length=12)


def plan_problems(plan: ScriptPlanDraft) -> list[str]:
    """Cast checks of a plan, as sentences for the model: unknown cast, names missing from a cast."""
    known = [c.name for c in plan.characters]
    problems = []
    for i, s in enumerate(plan.scenes, start=1):
        for member in s.cast:
            if not any(_same_name(member, k) for k in known):
                problems.append(f"scene {i} lists {member!r} in its cast, but {member!r} is not in the character list")
        for named in named_in(s.summary, known):
            if not any(_same_name(named, m) for m in s.cast):
                problems.append(f"the summary of scene {i} names {named}, who is missing from its cast; add {named}")
    return problems


_POSSESSIVE = re.compile(r"\w['’]s\s+\w", re.IGNORECASE)


_OWNED = re.compile(r"^(?:my|his|her|their|our|your|its)\s+(?:own\s+)?(?P<rest>.+)$", re.IGNORECASE)


def is_thing_name(name: str) -> bool:
    """True for a 'character' that is somebody's thing: a possessive phrase ("DOV'S SUIT",
    "Martha's kitchen"), or a possessive word before anything but a relation or a person
    ("MY OWN GREY FLEECE" is a thing; "MY MOTHER", "HER BOSS", "HIS OLD FRIEND" are people)."""
    if _POSSESSIVE.search(name):
        return True
    owned = _OWNED.match(" ".join(name.split()))
    return owned is not None and not is_person_noun(owned.group("rest").split()[-1])


def place_name(location: str) -> str:
    """The name in a planned location, without the description a small model writes after it
    ('CORWEN MUSIC HALL, FOGGY CORWEN MUSIC HALL, SURROUNDED BY A:' -> 'CORWEN MUSIC HALL')."""
    first = re.split(r"[,;:(]|\s[-–—]\s", location, maxsplit=1)[0]
    name = " ".join(first.split()).strip(" .-–—")
    return name or " ".join(location.split()).strip(" .,:;-") or location


def repair_plan(plan: ScriptPlanDraft, *, names: bool = True) -> ScriptPlanDraft:
    """Make a plan consistent without the model: locations are names (`names`: the model's are cut
    to their name; code's own, as "CORWEN MUSIC HALL - GENTS", are kept whole), things listed as
    characters go, unknown cast joins the characters, named people join casts."""
    if names:
        plan = plan.model_copy(update={"scenes": [s.model_copy(update={"location": place_name(s.location)})
                                                  for s in plan.scenes]})
    things = {cue(c.name) for c in plan.characters if is_thing_name(c.name)}
    things |= {cue(m) for s in plan.scenes for m in s.cast if is_thing_name(m)}
    if things:
        plan = plan.model_copy(update={
            "characters": [c for c in plan.characters if cue(c.name) not in things],
            "scenes": [s.model_copy(update={"cast": [m for m in s.cast if cue(m) not in things]}) for s in plan.scenes],
        })
    characters = list(plan.characters)
    for s in plan.scenes:
        for member in s.cast:
            if not any(_same_name(member, c.name) for c in characters):
                characters.append(CharacterDraft(name=member, look=""))
    known = [c.name for c in characters]
    scenes = []
    for s in plan.scenes:
        cast = list(s.cast)
        for named in named_in(s.summary, known):
            if not any(_same_name(named, m) for m in cast):
                cast.append(named)
        scenes.append(s.model_copy(update={"cast": cast[:8]}))
    return plan.model_copy(update={"characters": characters[:12], "scenes": scenes})


def without_repeated_scenes(plan: ScriptPlanDraft) -> tuple[ScriptPlanDraft, list[str]]:
    """The plan with each scene it gives twice (the same heading and the same summary word for
    word) kept once, where it first comes, with the casts of both: the real model's letters plan
    ended on two identical `INT. SKERRIN ISLAND - DUSK` scenes (efd8620), and their scenes were
    written twice. Returns the plan and the repeats dropped ("scene 7 (INT. SKERRIN ISLAND - DUSK)")."""
    kept: list[ScenePlanDraft] = []
    dropped: list[str] = []
    for i, s in enumerate(plan.scenes, start=1):
        twin = next((k for k, x in enumerate(kept) if heading_of(x) == heading_of(s)
                     and words_key(x.summary) == words_key(s.summary)), None)
        if twin is None:
            kept.append(s)
            continue
        cast = list(kept[twin].cast) + [m for m in s.cast if not any(_same_name(m, c) for c in kept[twin].cast)]
        kept[twin] = kept[twin].model_copy(update={"cast": cast[:8]})
        dropped.append(f"scene {i} ({heading_of(s)})")
    return (plan.model_copy(update={"scenes": kept}), dropped) if dropped else (plan, [])


def without_retold_scenes(plan: ScriptPlanDraft, *, share: float = 0.7, least: int = 3) -> tuple[ScriptPlanDraft, list[str]]:
    """The plan with each scene that tells again what an earlier scene tells (most of the shorter
    summary's content words, at least `least` of them, are in the other) kept once, where it first
    comes, with the casts of both and the fuller of the two summaries. The small model retells a
    story passage under other headings: the salt crown's plan (7cba731) walked into the mine in
    scenes 1, 4 and 5, word for word but for the heading, and each was written, shot and prompted;
    at 6e0f7f9 it gave "The Salt Queen is sitting on it." as a scene before the scene saying that
    and more. Returns the plan and what it dropped."""
    kept: list[ScenePlanDraft] = []
    words: list[set[str]] = []
    dropped: list[str] = []
    for i, s in enumerate(plan.scenes, start=1):
        own = content_words(s.summary)
        twin = retold(own, words, share=share, least=least)
        if twin is None:
            kept.append(s)
            words.append(own)
            continue
        cast = list(kept[twin].cast) + [m for m in s.cast if not any(_same_name(m, c) for c in kept[twin].cast)]
        fuller = {"summary": s.summary} if len(own) > len(words[twin]) else {}
        kept[twin] = kept[twin].model_copy(update={"cast": cast[:8], **fuller})
        words[twin] |= own
        dropped.append(f"scene {i} ({heading_of(s)}, which retells scene {twin + 1})")
    return (plan.model_copy(update={"scenes": kept}), dropped) if dropped else (plan, [])


def in_material_order(plan: ScriptPlanDraft, marks: list[str], *, least: int = 4,
                      margin: int = 2) -> tuple[ScriptPlanDraft, list[str]]:
    """The plan's scenes in the order of the material they tell (`marks`: the beats' summaries in
    order, or the story's paragraphs when the script is written straight from it). A scene moves
    only when it clearly tells one mark: it shares at least `least` content words with it and
    `margin` more than with any other; a scene that tells no mark clearly stays right after the
    scene before it. The salt crown's plan (7cba731) put the crowning, beat 4, in scene 2, before
    the goat's plea, beat 1, so the heroine's new look showed before she went down the mine.
    Returns the plan and, when it moved any, the planned scenes' numbers in their new order."""
    if len(marks) < 2 or len(plan.scenes) < 2:
        return plan, []
    told = [content_words(m) for m in marks]
    keys: list[int] = []
    last = 0
    for s in plan.scenes:
        found = story_position(s.summary, told, set(), least=least, margin=margin)
        if found is not None:
            last = found
        keys.append(last)
    order = sorted(range(len(plan.scenes)), key=lambda i: (keys[i], i))
    if order == list(range(len(plan.scenes))):
        return plan, []
    return plan.model_copy(update={"scenes": [plan.scenes[i] for i in order]}), [str(i + 1) for i in order]


# Guidance that asks for the story told out of its order: the plan's order stands then.
_OWN_ORDER = re.compile(
    r"\b(?:flash[- ]?backs?|flash[- ]?forwards?|non-?linear|out of order|in medias res|backwards|reverse order|"
    r"(?:open|opens|begin|begins|start|starts|end|ends)\s+(?:on|with|at|in)\b)", re.IGNORECASE)


def _plan_and_story_people(plan: ScriptPlanDraft, story_text: str) -> list[str]:
    """The plan's characters, then every name and form of the people the story names."""
    return [c.name for c in plan.characters] + [n for p in story_people(story_text) for n in (p.name, *p.forms)]


def story_position(text: str, own: list[set[str]], names: set[str], *, least: int = 4, margin: int = 2) -> int | None:
    """The story paragraph (index into `own`, each paragraph's content words) that `text` clearly
    tells: the one sharing the most content words with it, names aside (they are in every scene),
    at least `least` and `margin` more than any other paragraph; None when no paragraph stands out."""
    words = content_words(text) - names
    scores = [len(words & o) for o in own]
    if not scores:
        return None
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    second = max((sc for i, sc in enumerate(scores) if i != best), default=0)
    return best if scores[best] >= least and scores[best] - second >= margin else None


def follows_the_story(positions: list[int | None], *, slack: int = 2) -> bool:
    """Whether marks at these story positions (None: not placed) tell the story in its order: none
    goes back more than `slack` paragraphs before the furthest point already told (a small model's
    beats wobble by a paragraph; a treatment that opens on the ending jumps back to the start)."""
    furthest = -1
    for p in positions:
        if p is None:
            continue
        if p < furthest - slack:
            return False
        furthest = max(furthest, p)
    return True


def in_story_order(plan: ScriptPlanDraft, story_text: str, marks: list[str], guidance: str = "") -> tuple[ScriptPlanDraft, list[str]]:
    """The plan's scenes in the order the story tells them, after code has added its own scenes:
    each scene that clearly tells one story paragraph (`story_position`, from its summary) goes
    where that paragraph is; a scene telling none clearly, set at a place the story has left by the
    scene before it, goes to the paragraph at that place it tells (two words, one more than any
    other there: the salt crown at 1f049c7 ended on the far shore's two lines of talk, after the
    crowning and the ending); any other stays right after the scene before it (an invented
    epilogue back at the wash bay stays at the end).
    The planned scenes were put in the beats' order first (`in_material_order`), but the scenes
    code adds for places and untold parts go where the plan's alignment puts them, and the real
    model's plans at 618ebe5 ended on the lantern's roof before the jacket scene and opened the salt
    crown in the white tunnels before the goat's plea, so the new looks showed out of turn.
    Left as planned when the material (`marks`: the beats, or the story's paragraphs) does not
    follow the story (a treatment that opens on the ending) or the filmmaker's guidance asks for
    another order (a flashback).
    Returns the plan and, when it moved any, the scenes' numbers in their new order."""
    paragraphs = story_paragraphs(story_text)
    if len(paragraphs) < 2 or len(plan.scenes) < 2 or _OWN_ORDER.search(guidance or ""):
        return plan, []
    people = _plan_and_story_people(plan, story_text)
    names = {w for n in people for w in content_words(n)}
    own = [content_words(p) - names for p in paragraphs]
    if not follows_the_story([story_position(m, own, names) for m in marks]):
        return plan, []
    places = story_places(story_text, people)
    where = settings(paragraphs, [p.head for p in places])

    def there(location: str) -> set[int]:  # the paragraphs the story sets at this place
        ks = {k for k, p in enumerate(places) if at_place(p, location)}
        return {i for i, w in enumerate(where) if ks & set(w)}

    keys: list[int] = []
    last = -1
    for s in plan.scenes:
        found = story_position(s.summary, own, names)
        at = there(s.location) if found is None else set()
        if at and last > max(at):  # no paragraph stands out ("A child," says Vessaly) and the story
            # has left its place by the scene before it: the paragraph there it tells, if one does
            aside = names | content_words(s.location)
            found = story_position(s.summary, [o - aside if i in at else set() for i, o in enumerate(own)], aside,
                                   least=2, margin=1)
        if found is not None:
            last = found
        keys.append(last)
    order = sorted(range(len(plan.scenes)), key=lambda i: (keys[i], i))
    if order == list(range(len(plan.scenes))):
        return plan, []
    return plan.model_copy(update={"scenes": [plan.scenes[i] for i in order]}), [str(i + 1) for i in order]


def add_story_people(plan: ScriptPlanDraft, story_text: str) -> tuple[ScriptPlanDraft, list[str]]:
    """Put everyone the story names (`roster.story_people`) whom the plan left out into the scene
    that tells each paragraph naming them (the scene sharing most words with it, as the scene
    writer's passage is chosen): the writer then sees them in the cast and in the passage. A
    person whose paragraphs no scene tells is left out (code does not guess a scene).
    Returns the plan and what was added ("Fenwick Hoyle (scene 2)")."""
    if not story_text.strip():
        return plan, []
    known = [c.name for c in plan.characters]
    missing = [p for p in story_people(story_text) if not p.named_by(known)]
    if not missing:
        return plan, []
    scenes = list(plan.scenes)
    characters = list(plan.characters)
    paragraphs = story_paragraphs(story_text)
    added: list[str] = []
    for person in missing:
        forms = [person.name, *person.forms]
        at: list[int] = []
        for paragraph in (p for p in paragraphs if any(named_in(p, [f]) for f in forms)):
            words = content_words(paragraph)
            scores = [len(words & content_words(" ".join([s.summary, heading_of(s), *s.cast]))) for s in scenes]
            best = max(range(len(scenes)), key=lambda i: (scores[i], -i))
            if scores[best] >= 2 and len(scenes[best].cast) < 8 and best not in at:
                at.append(best)
        at.sort()
        if not at or len(characters) >= 12:
            continue
        characters.append(CharacterDraft(name=person.name, look=""))
        for i in at:
            scenes[i] = scenes[i].model_copy(update={"cast": [*scenes[i].cast, person.name]})
        added.append(f"{person.name} (scene {', '.join(str(i + 1) for i in at)})")
    return plan.model_copy(update={"characters": characters, "scenes": scenes}), added


@dataclass(frozen=True)
class BeatPlace:
    """A beat the plan must place in a scene: its number, where it happens, what happens."""

    number: int
    place: str
    summary: str


def missing_places(plan: ScriptPlanDraft, beats: list[BeatPlace]) -> list[BeatPlace]:
    """The first beat at each place of the beat sheet that no planned scene is set in."""
    missing: list[BeatPlace] = []
    for b in beats:
        if not b.place.strip() or any(same_place(b.place, s.location) for s in plan.scenes):
            continue
        if not any(same_place(b.place, m.place) for m in missing):
            missing.append(b)
    return missing


def add_missing_places(plan: ScriptPlanDraft, beats: list[BeatPlace]) -> tuple[ScriptPlanDraft, list[str]]:
    """Add a scene for every beat place the plan left out, where its beat falls in the story
    (after the scene of the beat before it), written from the beat; returns what was added."""
    missing = missing_places(plan, beats)
    if not missing:
        return plan, []
    scenes = list(plan.scenes)
    known = [c.name for c in plan.characters]
    added: list[str] = []
    for b in missing:
        before = [x for x in beats if x.number < b.number and x.place.strip()]
        at = 0
        for prev in reversed(before):
            hits = [i for i, sc in enumerate(scenes) if same_place(prev.place, sc.location)]
            if hits:
                at = hits[0] + 1
                break
        if len(scenes) >= 12:
            break
        location = " ".join(re.sub(r"^(?:the|a|an)\s+", "", b.place.strip(), flags=re.I).upper().split())[:60]
        time = scenes[at - 1].time_of_day if at > 0 else scenes[0].time_of_day
        scenes.insert(at, ScenePlanDraft(int_ext="INT" if _looks_inside(b.place) else "EXT", location=location,
                                         time_of_day=time, summary=b.summary[:400], cast=named_in(b.summary, known)[:8]))
        added.append(f"scene {at + 1} at {location} (beat {b.number})")
    return plan.model_copy(update={"scenes": scenes}), added


def told_by(plan: ScriptPlanDraft, paragraphs: list[str]) -> list[int]:
    """The planned scene that tells each story paragraph (`screen_words.align`)."""
    return align(paragraphs, [" ".join([s.summary, s.location, *s.cast]) for s in plan.scenes])


def add_untold_story(plan: ScriptPlanDraft, story_text: str, *, least: int = 2, share: float = 0.2,
                     enough: int = 25, most: int = 3) -> tuple[ScriptPlanDraft, list[str]]:
    """Give the parts of the story no planned scene tells scenes of their own, from the story's own
    paragraphs, where they fall. A paragraph is untold when the scene it aligns to (`told_by`)
    shares fewer than `least` of its content words, or under `share` of them, names left aside
    (names are in every scene).
    One paragraph between two runs of untold story that a scene tells within one word of that bar
    joins them, when each holds half of `enough` and one is too short alone: the salt crown at
    aadab80 told Oriel's thought (2 of its 10 words) and so split the queen's bargain (21 words) and
    the crowning (19) into two runs, each too short for a scene, and the crowning was lost.
    A run of untold paragraphs holding at least `enough` content words becomes scenes, one for
    each place the story sets them at (`places.story_places`, carried from paragraph to paragraph
    as `screen_words.settings` does; else the place of the scene before), at most `most` in all.
    The small model's treatment and beats often stop before the end: the salt crown's (6e0f7f9)
    ended on the goat's "The goat may leave", and the crowning and the well filling, the film's
    ending and its one change of look, were in no scene. Returns the plan and what was added."""
    paragraphs = story_paragraphs(story_text)
    if len(paragraphs) < 2 or not plan.scenes:
        return plan, []
    names = {w for c in plan.characters for w in content_words(c.name)}
    people = _plan_and_story_people(plan, story_text)
    names |= {w for n in people for w in content_words(n)}
    tells = told_by(plan, paragraphs)
    own = [content_words(p) - names for p in paragraphs]
    shared = [len(own[i] & (content_words(" ".join([plan.scenes[j].summary, plan.scenes[j].location])) - names))
              for i, j in enumerate(tells)]
    bar = [max(least, share * len(own[i])) for i in range(len(paragraphs))]
    untold = [shared[i] < bar[i] for i in range(len(paragraphs))]
    places = story_places(story_text, people)
    where = settings(paragraphs, [p.head for p in places])
    runs: list[list[int]] = []
    for i, gap in enumerate(untold):
        if gap and runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        elif gap:
            runs.append([i])
    def size(run: list[int]) -> int:
        return sum(len(own[i]) for i in run)

    for k in range(len(runs) - 1, 0, -1):  # one paragraph barely told between two runs is theirs
        first, then = runs[k - 1], runs[k]
        middle = first[-1] + 1
        if (then[0] == middle + 1 and shared[middle] < bar[middle] + 1
                and enough // 2 <= min(size(first), size(then)) < enough):
            runs[k - 1:k + 1] = [[*first, middle, *then]]
    runs = [r for r in runs if size(r) >= enough]
    if not runs:
        return plan, []
    scenes = list(plan.scenes)
    known = [c.name for c in plan.characters]
    added: list[str] = []
    shift = 0
    for run in runs:
        at = tells[run[0]] + 1 + shift  # after the scene the run's paragraphs were aligned to
        groups: list[tuple[int | None, list[int]]] = []
        for i in run:
            here = min(where[i], key=lambda k: (not where[i][k], k)) if where[i] else None
            if groups and groups[-1][0] == here:
                groups[-1][1].append(i)
            else:
                groups.append((here, [i]))
        for here, group in groups:
            if len(added) >= most or len(scenes) >= 12:
                break
            passage = " ".join(paragraphs[i] for i in group)
            if sum(len(own[i]) for i in group) < enough // 2:
                continue  # a line or two of talk: the scene before or after tells it
            before = scenes[at - 1] if at > 0 else scenes[0]
            place = places[here] if here is not None else None
            location = _place_location(place, "") if place is not None else before.location
            inside = place.inside if place is not None else before.int_ext == "INT"
            scenes.insert(at, ScenePlanDraft(
                int_ext="INT" if inside else "EXT", location=location, time_of_day=before.time_of_day,
                summary=passage_summary([paragraphs[i] for i in group]), cast=_untold_cast(passage, known, before.cast)))
            added.append(f"scene {at + 1} at {location} (story paragraph{'s' if len(group) > 1 else ''} "
                         f"{', '.join(str(i + 1) for i in group)})")
            at += 1
            shift += 1
    return (plan.model_copy(update={"scenes": scenes}), added) if added else (plan, [])


def passage_summary(paragraphs: list[str], *, most: int = 400) -> str:
    """A scene summary from the story's own paragraphs, in their order, within `most` characters:
    the first sentence of each paragraph, then the second of each, and so on while they fit. The
    first three sentences of the whole passage told only its first paragraph: the queen's bargain
    and not the crowning after it."""
    sentences = [sentences_whole(p) for p in paragraphs]
    chosen: set[tuple[int, int]] = set()
    used = 0
    for rank in range(max((len(s) for s in sentences), default=0)):
        for p, said in enumerate(sentences):
            if rank < len(said) and used + len(said[rank]) + 1 <= most:
                chosen.add((p, rank))
                used += len(said[rank]) + 1
    if not chosen:
        return " ".join(s for said in sentences for s in said)[:most]
    return " ".join(sentences[p][r] for p, r in sorted(chosen))


def without_paragraphs_told_twice(plan: ScriptPlanDraft, story_text: str, *, share: float = 0.7,
                                  least: int = 4) -> tuple[ScriptPlanDraft, list[str]]:
    """The plan with each scene that retells the story paragraphs another scene tells, at a place
    the story does not put them, merged into the scene set where the story puts them (the casts of
    both, the fuller summary). A scene tells a paragraph when most of the shorter of the two (as
    content words, names aside: `share`, at least `least` of them) is in the other; a scene is
    where the story puts a paragraph when its location is the place the paragraph happens at first
    (`places.story_places`, carried as `screen_words.settings` does). A scene telling anything the
    other does not stays. A scene that is the only one at one of the story's places stays too, and
    tells what the story has there instead (its paragraphs, from the story's own words).
    `without_retold_scenes` runs on the model's plan; code's own scenes come after it: three-tier
    at 72acc67 told the piping bag at BAKERY KITCHEN and, added for the story's place, at FLAT, and
    the van on the ring road again at the car park, where the cake lands on the bridesmaid. Two
    scenes sharing words but telling different paragraphs (the wash bay's police yard, the salt
    crown's plea) are not merged. Returns the plan and what it merged."""
    paragraphs = story_paragraphs(story_text)
    if len(paragraphs) < 2 or len(plan.scenes) < 2:
        return plan, []
    people = _plan_and_story_people(plan, story_text)
    names = {w for n in people for w in content_words(n)}
    places = story_places(story_text, people)
    where = settings(paragraphs, [p.head for p in places])
    own = [content_words(p) - names for p in paragraphs]
    scenes = list(plan.scenes)
    numbers = list(range(1, len(scenes) + 1))  # each kept scene's number in the plan as it came

    def tells(s: ScenePlanDraft) -> set[int]:
        words = content_words(s.summary) - names
        return {i for i, w in enumerate(own) if len(words & w) >= least and told_share(words, w) >= share}

    def at(s: ScenePlanDraft, i: int) -> bool:  # set where the story puts paragraph i (first named)
        return any(first and same_place(places[k].head, s.location) for k, first in where[i].items())

    def only_at(j: int) -> int | None:  # the story's place where scene j is the only scene
        return next((k for k, p in enumerate(places) if same_place(p.head, scenes[j].location)
                     and not any(same_place(p.head, x.location) for i, x in enumerate(scenes) if i != j)), None)

    known = [c.name for c in plan.characters]
    merged: list[str] = []
    aimed: set[int] = set()  # scenes given their own place's paragraphs (by their number)
    changed = True
    while changed:
        changed = False
        told = [tells(s) for s in scenes]
        for b, a in ((b, a) for b in range(len(scenes)) for a in range(len(scenes)) if a != b):
            common = told[a] & told[b]
            if not common or not told[b] <= told[a]:
                continue
            if not any(at(scenes[a], i) for i in common) or any(at(scenes[b], i) for i in common):
                continue
            keep, gone = scenes[a], scenes[b]
            alone = only_at(b)
            own_part = [i for i, w in enumerate(where) if alone is not None and w.get(alone)]
            if alone is not None and (not own_part or numbers[b] in aimed):
                continue
            cast = list(keep.cast) + [m for m in gone.cast if not any(_same_name(m, c) for c in keep.cast)]
            fuller = {"summary": gone.summary} if len(content_words(gone.summary)) > len(content_words(keep.summary)) else {}
            scenes[a] = keep = keep.model_copy(update={"cast": cast[:8], **fuller})
            if alone is not None:  # it stays, and tells what the story has at its place instead
                passage = " ".join(paragraphs[i] for i in own_part).replace("*", "")
                scenes[b] = gone.model_copy(update={"summary": _first_sentences(passage, 400),
                                                    "cast": _untold_cast(passage, known, keep.cast)})
                aimed.add(numbers[b])
                said = ", ".join(str(i + 1) for i in sorted(own_part))
                merged.append(f"what scene {numbers[b]} ({heading_of(gone)}) retold into scene {numbers[a]} "
                              f"({heading_of(keep)}), and gave scene {numbers[b]} story paragraph"
                              f"{'s' if len(own_part) > 1 else ''} {said}, which the story sets there")
                changed = True
                break
            said = ", ".join(str(i + 1) for i in sorted(common))
            merged.append(f"scene {numbers[b]} ({heading_of(gone)}) into scene {numbers[a]} ({heading_of(keep)}, "
                          f"where the story puts paragraph{'s' if len(common) > 1 else ''} {said})")
            del scenes[b], numbers[b]
            changed = True
            break
    return (plan.model_copy(update={"scenes": scenes}), merged) if merged else (plan, [])


def _first_sentences(passage: str, most: int) -> str:
    """The whole sentences that open `passage`, as many as fit in `most` characters (at least one, cut)."""
    out: list[str] = []
    for sentence in sentences_whole(passage):
        if out and len(" ".join([*out, sentence])) > most:
            break
        out.append(sentence)
    return " ".join(out)[:most]


_PRONOUN = re.compile(r"\b(?:he|she|they|him|her|them|his|hers|their)\b", re.IGNORECASE)


def _untold_cast(passage: str, known: list[str], before: list[str]) -> list[str]:
    """Who is in a scene made from the story's own passage: those it names, and, where it speaks
    of someone as he, she or they, the people of the scene before it (the story has not left them)."""
    named = named_in(passage, known)
    if not named or _PRONOUN.search(passage):
        named += [c for c in before if not any(_same_name(c, n) for n in named)]
    return named[:8]


def _place_location(place: Place, planned: str, inside: bool = False) -> str:
    """The heading location for `place` in a scene the plan had set at `planned` (`inside`: an INT
    scene, a building): a room of the planned building keeps the building ("CORWEN MUSIC HALL -
    GENTS"); a place with a name of its own, or one outside, stands alone ("PLATFORM AT TRELOSS")."""
    name = " ".join(re.sub(r"^(?:the|a|an|his|her|their|its|our|my|your)\s+", "", place.name, flags=re.I).split())
    own_name = any(w[:1].isupper() for w in name.split()[1:]) or (name[:1].isupper() and " " not in name)
    if planned and place.inside and not own_name and not same_place(place.name, planned) and inside:
        return f"{planned} - {name.upper()}"[:60]
    return name.upper()[:60]


def add_story_places(plan: ScriptPlanDraft, story_text: str) -> tuple[ScriptPlanDraft, list[str]]:
    """Give every place where the story puts somebody (`places.story_places`) a scene, when no
    planned scene is set there. Places first named in one paragraph share a scene: the one the
    paragraph leaves its people at (`Place.ends`), else the one a sentence opens with, else the
    last. A planned scene set where none of the paragraphs it tells happen (`screen_words.settings`:
    the salt crown's plea at the mine's mouth, told on the far shore) takes the place where the
    paragraph that best matches its summary happens; one set at none of the story's places and
    telling no place takes the place of the paragraphs it tells that best match its summary; the
    other places it tells get scenes of their own before or after it, in story order, written
    from the story's own paragraphs. Returns the plan and what changed, for the take's note."""
    if not story_text.strip() or not plan.scenes:
        return plan, []
    paragraphs = story_paragraphs(story_text)
    people = [n for p in story_people(story_text) for n in (p.name, *p.forms)] + [c.name for c in plan.characters]
    places = story_places(story_text, people)
    groups: dict[int, list[Place]] = {}
    for place in places:
        groups.setdefault(place.paragraphs[0], []).append(place)
    chosen = {first: next((p for p in g if p.ends), next((p for p in g if p.opens), g[-1])) for first, g in groups.items()}
    tells = told_by(plan, paragraphs)
    where = settings(paragraphs, [p.head for p in places])
    moved: dict[int, tuple[int, Place]] = {}  # a scene set where its paragraphs do not happen: (paragraph, place)
    for j, scene in enumerate(plan.scenes):
        told = [i for i, t in enumerate(tells) if t == j]
        words = content_words(scene.summary)
        best = max(told, key=lambda i: (len(words & content_words(paragraphs[i])), -i), default=-1)
        if best < 0 or not where[best] or names_place(paragraphs[best], scene.location) or any(
                at_place(places[k], scene.location) for i in told for k in where[i]):
            continue  # where what it tells happens, or a place its own paragraph names ("the well fills")
        moved[j] = (best, places[min(where[best], key=lambda k: (not where[best][k], k))])

    def located(j: int) -> str:
        return moved[j][1].head if j in moved else plan.scenes[j].location

    placed = {j for j in range(len(plan.scenes)) if any(at_place(p, located(j)) for p in places)}
    covered = {first for first, g in groups.items()
               if any(at_place(p, located(j)) for p in g for j in range(len(plan.scenes)))}
    by_scene: dict[int, list[tuple[int, Place]]] = {}
    for first in groups:
        if first not in covered:
            by_scene.setdefault(tells[first], []).append((first, chosen[first]))
    known = [c.name for c in plan.characters]
    scenes: list[ScenePlanDraft] = []
    changed: list[str] = []

    def added(j: int, place: Place) -> None:
        scene = plan.scenes[j]
        if len(plan.scenes) + sum(1 for c in changed if c.startswith("added")) >= 12:
            return
        passage = " ".join(paragraphs[i] for i in place.paragraphs if tells[i] == j)
        location = _place_location(place, "")  # from the story alone: the plan had not seen it
        scenes.append(ScenePlanDraft(int_ext="INT" if place.inside else "EXT", location=location,
                                     time_of_day=scene.time_of_day, summary=" ".join(sentences_whole(passage)[:3])[:400],
                                     cast=named_in(passage, known)[:8] or list(scene.cast)))
        changed.append(f"added scene {len(scenes)} at {location}")

    for j, scene in enumerate(plan.scenes):
        todo = by_scene.get(j, [])
        own: Place | None = None
        if j in moved:  # set where what it tells happens; the other places it tells go around it
            at, own = moved[j]
            before = [t for t in todo if t[0] < at]
            after = [t for t in todo if t[0] >= at]
        elif j in placed:  # its own place is one of the story's: the others it tells go around it
            own_first = min((f for f, g in groups.items() if any(at_place(p, scene.location) for p in g)), default=-1)
            before = [t for t in todo if t[0] < own_first]
            after = [t for t in todo if t[0] >= own_first]
        elif todo:
            words = content_words(scene.summary)
            k = max(range(len(todo)), key=lambda i: (len(words & content_words(paragraphs[todo[i][0]])), -i))
            before, own, after = todo[:k], todo[k][1], todo[k + 1:]
        else:
            before, after = [], []
        for _, place in before:
            added(j, place)
        if own is None:
            scenes.append(scene)
        else:  # a room of the planned building keeps it, unless that was a place of the story too
            elsewhere = j in moved and any(at_place(p, scene.location) for p in places)
            location = _place_location(own, "" if elsewhere else scene.location, scene.int_ext == "INT")
            scenes.append(scene.model_copy(update={"location": location, "int_ext": "INT" if own.inside else "EXT"}))
            changed.append(f"set scene {len(scenes)} at {location}")
        for _, place in after:
            added(j, place)
    return plan.model_copy(update={"scenes": scenes}), changed


_INSIDE = ("ROOM", "KITCHEN", "OFFICE", "HALL", "BEDROOM", "SHOP", "STORE", "BAR", "CAFE", "HOUSE", "FLAT",
           "APARTMENT", "CAR", "CABIN", "CHURCH", "STATION", "LIBRARY", "CLASSROOM", "LOBBY", "CORRIDOR", "ATTIC")


def _looks_inside(place: str) -> bool:
    return any(w in _INSIDE for w in re.findall(r"[A-Z]+", place.upper()))


# --- who speaks in the story ---------------------------------------------------------------------


def _in_text_order(text: str, names: list[str]) -> list[str]:
    """`named_in`, ordered by where the text first names each one."""
    found = named_in(text, names)
    first = {n: min(a for a, _ in spans(text, name_forms(n, person=True, others=names), proper=True)) for n in found}
    return sorted(found, key=first.__getitem__)


_POSSESSED = re.compile(r"(?:[^\W\d_][\w.-]*\s+)*[^\W\d_][\w-]*['’]s\b")
_SOMEONE = re.compile(rf"\b(?:a|an|another)\s+(?:[\w-]+\s+){{0,2}}{PERSON_NOUNS}\b", re.IGNORECASE)
#: "I said", "I asked her", "said I": the one who tells the story speaks.
_FIRST_PERSON = rf"\bI\s+(?:\w+ly\s+)?{SPEECH_VERBS}\b|\b{SPEECH_VERBS}\s+I\b"
_FIRST_PERSON_SPEECH = re.compile(_FIRST_PERSON, re.IGNORECASE)
_UNNAMED_SPEAKER = re.compile(
    rf"\b{SPEECH_VERBS}\s+(?:a|an|someone|somebody|one of)\b|{_FIRST_PERSON}|"
    rf"\b(?:a|an|someone's|somebody's)\s+(?:\w+['’]s\s+|\w+\s+)?voice\b", re.IGNORECASE)


def narrator_of(text: str, names: list[str]) -> str | None:
    """The one of `names` who tells the story as "I" (`roster.narrator`: the one who names themself
    outside quotes, "My name is Teodora Ruiz." closing the-wash-bay, whose "That's right," I said.
    is hers). None when the story is not told in the first person by one of them."""
    teller = narrator(text)
    return next((n for n in names if teller.named_by([n])), None) if teller is not None else None


def attribute_quotes(paragraphs: list[str], names: list[str],
                     narrator: str | None = None) -> list[tuple[str | None, str]]:
    """(speaker or None, words) for each quoted line of the paragraphs (`quotes_by_paragraph`)."""
    return [(who, q) for _, who, q in quotes_by_paragraph(paragraphs, names, narrator)]


def quotes_by_paragraph(paragraphs: list[str], names: list[str],
                        narrator: str | None = None) -> list[tuple[int, str | None, str]]:
    """(paragraph index, speaker or None, words) for each quoted line of the paragraphs, as a reader attributes it:

    - the person named outside the quotes of its paragraph (one named beside a speech verb when
      several are: 'Martha shouts, "Hold it, Leo!" Leo nods.' is Martha's; "said to Leo" is
      spoken to Leo, not by him);
    - an unattributed line answering a line ("…," said Ines. / "I play the tuba.") is the other
      side of the exchange: the person named most recently who is not the one answered;
    - any other unattributed line ("Whenever you are ready." after "Maestra Brandt looked up")
      is the person named most recently;
    - a line the narrator says ("I said") is `narrator`'s (`narrator_of`: the "I" of the story);
    - a line said by someone outside the names ("said a man", "I said" with no narrator known,
      "a woman's voice"), or with nobody named before it: None. A name inside the quotes is the
      one spoken to.
    """
    out: list[tuple[int, str | None, str]] = []
    recent: list[str] = []
    speech_before = False  # the paragraph before was speech …
    answered: str | None = None  # … by this speaker (None: by nobody of the names)
    for i, p in enumerate(paragraphs):
        p = " ".join(p.split())
        quotes = [q for q in quotations(p) if not _is_title(q)]
        outside = unquoted(p)
        here = _in_text_order(outside, names)
        actors = _in_text_order(_POSSESSED.sub(" ", outside), names)  # "Lenny Okafor's cap" is not Lenny
        if not quotes:
            recent += actors or ([""] if _SOMEONE.search(outside) else [])  # "": someone unnamed came in
            speech_before = False
            continue
        verb = [n for n in here if re.search(
            rf"(?:{SPEECH_VERBS}\s+(?:(?!to\b)\w+\s+){{0,2}}?{re.escape(n.split()[0])}|{re.escape(n.split()[-1])}\s+{SPEECH_VERBS})",
            outside)]
        speaker: str | None
        if verb:
            speaker = verb[0]
        elif narrator is not None and _FIRST_PERSON_SPEECH.search(outside):
            speaker = narrator
        elif _UNNAMED_SPEAKER.search(outside):
            speaker = None  # "said a man I didn't know", "I said", "a woman's voice": nobody of the cast
        elif actors:
            speaker = actors[0]
        elif speech_before:
            speaker = None if answered is None else next((n for n in reversed(recent) if n != answered), None) or None
        else:
            speaker = (recent[-1] or None) if recent else None
        out += [(i, speaker, q) for q in quotes]
        recent += actors
        if speaker is not None:
            recent.append(speaker)
        speech_before, answered = True, speaker
    return out


def _is_title(quote: str) -> bool:
    """A quoted title ("Jolene", "The Last Waltz"), not speech: a few capitalised words, no stop."""
    words = quote.split()
    return len(words) <= 4 and quote[-1:] not in ".,!?…" and all(w[:1].isupper() or (w.islower() and len(w) <= 3)
                                                                  for w in words) and words[0][:1].isupper()


def story_speakers(text: str, names: list[str]) -> list[str]:
    """The characters the story gives spoken lines (`attribute_quotes`), in order of first line."""
    lines = attribute_quotes(story_paragraphs(text), names, narrator_of(text, names))
    return list(dict.fromkeys(who for who, _ in lines if who is not None))


#: A letter's body paragraph has at least this many words (its salutation, "Dear Tamsin,", and its
#: signature, "Your dad, Alder", have fewer).
_LETTER_BODY_WORDS = 4


def letter_paragraphs(text: str, names: list[str]) -> dict[str, str]:
    """Each body paragraph of a letter in the story (`roster.letter_voices`) → the name of the one
    of `names` who signed it; empty for a story not told in letters."""
    paragraphs = story_paragraphs(text)
    voices = letter_voices(paragraphs, [Person(name=n) for n in names])
    return {p: writer.name for p, (writer, _) in zip(paragraphs, voices, strict=True)
            if writer is not None and len(p.split()) >= _LETTER_BODY_WORDS}


def letter_lines(passage: str, letters: dict[str, str], who: str, most: int = 2) -> list[str]:
    """The first `most` sentences `who` writes in the letters of `passage` (none with quoted speech
    in it: that is someone else talking), to be read over the scene: a letter is its writer's voice."""
    out: list[str] = []
    for p in passage.split("\n"):
        if not _same_name(letters.get(p, ""), who):
            continue
        out += [x for x in sentences_whole(p) if not quotations(x) and len(x.split()) >= _LETTER_BODY_WORDS]
    return out[:most]


def story_lines(passage: str, cast: list[str], people: list[str] | None = None,
                narrator: str | None = None) -> list[tuple[str, str]]:
    """(speaker, words) for each quoted line of `passage` (one paragraph a line, as `story_passage`
    gives it) that a cast member says, attributed as a reader would (`attribute_quotes`) among
    `people` (everyone the story names; the cast when not given): a line "he said" after Pell is
    named is Pell's, never the cast member named before him."""
    lines = attribute_quotes([p for p in passage.split("\n") if p.strip()], list(dict.fromkeys([*cast, *(people or [])])),
                             narrator)
    return [(who, q[:-1] + "." if q.endswith(",") else q) for who, q in lines
            if who is not None and any(_same_name(who, c) for c in cast)]


def story_speech(text: str, names: list[str]) -> list[tuple[str, str]]:
    """(speaker, words lower-cased) for each line the story gives one of `names`, three words or
    more (shorter ones, "Yes.", belong to nobody in particular)."""
    out = []
    for who, words in attribute_quotes(story_paragraphs(text), names, narrator_of(text, names)):
        key = words_key(words)
        if who is not None and len(key.split()) >= DIALOGUE_AGAIN_WORDS:
            out.append((who, key))
    return out


_LABEL = re.compile(r"^\s*(?P<label>[A-Z][A-Z'’ -]{2,48}[A-Z])\s*:\s+(?=\S)")


def without_prompt_labels(draft: SceneDraft, prompt: str) -> tuple[SceneDraft, list[str]]:
    """The scene with a leading label in capitals taken off each action line when the label is the
    instructions' own wording ("VISUALLY VERBOSE: Ines is standing …": the real model's tuba-audition
    at bcc86e3 began three action lines with the system prompt's emphasis). A label of the film's
    own ("CLOSE ON:", a name) is not in the prompt and stays. Returns the scene and the labels cut."""
    out: list[Any] = []
    cut: list[str] = []
    for e in draft.elements:
        m = _LABEL.match(e.text) if isinstance(e, ActionLine) else None
        if m and len(m.group("label").split()) >= 2 and m.group("label") in prompt:
            e = e.model_copy(update={"text": e.text[m.end():]})
            cut.append(m.group("label"))
        out.append(e)
    return (SceneDraft.model_construct(elements=out), list(dict.fromkeys(cut))) if cut else (draft, [])


def _spoken(text: str) -> tuple[str, str] | None:
    """(who, words) of speech written as a whole action line: `BRANDT says, "Buy a suit."`, or the
    form of a script page, `BRANDT: Buy a suit.`; None for anything else."""
    m = _SPEECH_IN_ACTION.match(text) or _CUE_IN_ACTION.match(text)
    if m is None:
        return None
    words = (m.group("words") or m.groupdict().get("single") or "").strip().strip('"“”').strip()
    return (m.group("who"), words) if words else None


def cues_as_dialogue(draft: SceneDraft, cast: list[str],
                     people: list[str]) -> tuple[SceneDraft, list[str], list[str]]:
    """The scene with speech written as action (a line of an action element that is a name, a
    colon and words, or a name that says something in quotes) made that speaker's dialogue, in its
    place: the real model wrote `INES: You left it on the bus.` as action in tuba-audition
    (bcc86e3), and put three cues into one action element in mapmakers-apprentice (fdf86bd).

    The speaker is a cast member, or one of the film's `people` whom the scene's other action
    shows; the line of someone of the film the scene does not have goes (the scene's schema lets
    only its cast speak: a line in another mouth is the model getting round it). A name nobody in
    the film has ("CLOSE ON:", "LATER:") is no speaker and the line stays action. The rules for
    lines said again (`to_elements`, `not_said_before`, `with_true_speakers`) then apply to these
    lines as to any other. Returns the scene, the lines made dialogue and the speakers whose lines
    went ("INES: You left it on the bus.", "PELL")."""
    everyone = list(dict.fromkeys([*cast, *people]))
    parsed: list[list[tuple[str, tuple[str, str] | None]]] = []
    for e in draft.elements:
        rows: list[tuple[str, tuple[str, str] | None]] = []
        if isinstance(e, ActionLine):
            for line in (x.strip() for x in e.text.split("\n")):
                said = _spoken(line) if line else None
                found = named_in(said[0], cast) if said else []
                if said and len(found) != 1:
                    found = named_in(said[0], everyone)
                if said and len(found) > 1:  # "INES" among "Ines" and "Ines Abernathy": the one it spells
                    found = list({cue(n): n for n in found if _same_name(n, said[0])}.values())
                rows.append((line, (found[0], said[1]) if said and len(found) == 1 else None))
        parsed.append(rows)
    if not any(s for rows in parsed for _, s in rows):
        return draft, [], []
    shown = " ".join(line for rows in parsed for line, s in rows if s is None)
    out: list[Any] = []
    made: list[str] = []
    gone: list[str] = []
    for e, rows in zip(draft.elements, parsed, strict=True):
        if not isinstance(e, ActionLine) or not any(s for _, s in rows):
            out.append(e)
            continue
        narration: list[str] = []
        for line, said in rows:
            if said is None:
                if line:  # a blank line between cues is no action (an empty ActionLine failed the whole script)
                    narration.append(line)
                continue
            if narration:
                out.append(ActionLine(kind="action", text=" ".join(narration)[:700]))
                narration = []
            who, words = said
            if any(_same_name(who, c) for c in cast) or named_in(shown, [who]):
                out.append(DialogueLine.model_construct(kind="dialogue", speaker=cue(who), parenthetical="",
                                                        text=words[:400]))
                made.append(f"{cue(who)}: {words[:40]}")
            else:
                gone.append(cue(who))
        if narration:
            out.append(ActionLine(kind="action", text=" ".join(narration)[:700]))
    return SceneDraft.model_construct(elements=out), made, list(dict.fromkeys(gone))


def without_formula_copies(draft: SceneDraft, names: list[str]) -> tuple[SceneDraft, list[str]]:
    """The scene without action sentences that repeat an earlier sentence of the scene with other
    people in it (`screen_words.is_formula_copy`): the real model's tuba-audition described three
    people as "X is standing …, dressed in a tuxedo with … hair tied in a bun, and … hands on …
    hips", and the eval's loop metric flagged it. The first of each pattern stays, so a scene keeps
    its first action; a line whose every sentence is a copy goes. Returns the scene and the
    sentences taken out."""
    kept: list[str] = []
    dropped: list[str] = []
    out: list[Any] = []
    for e in draft.elements:
        if not isinstance(e, ActionLine):
            out.append(e)
            continue
        mine: list[str] = []
        for sentence in sentences_whole(e.text):
            if any(is_formula_copy(sentence, before, names) for before in kept):
                dropped.append(sentence)
            else:
                mine.append(sentence)
                kept.append(sentence)
        if len(mine) == len(sentences_whole(e.text)):
            out.append(e)
        elif mine:
            out.append(e.model_copy(update={"text": " ".join(mine)}))
    return (SceneDraft.model_construct(elements=out), dropped) if dropped else (draft, [])


def mend_scene(draft: SceneDraft, *, number: str, summary: str, cast: list[str],
               people: list[str]) -> tuple[SceneDraft, list[str]]:
    """What code puts right in a written scene's action lines before anything reads them: speech
    written as action (`cues_as_dialogue`) and formula sentences (`without_formula_copies`). A scene
    that had action keeps some: when none is left, it opens on its summary. Returns the scene and a
    note per change, for the take. (A copy of the summary goes later, `without_synopsis_copy`, once
    the lines an earlier scene has are gone.)"""
    notes: list[str] = []
    had_action = any(isinstance(e, ActionLine) for e in draft.elements)
    draft, made, gone = cues_as_dialogue(draft, cast, people)
    if made:
        notes.append(f"Scene {number} wrote speech as action ({'; '.join(made[:3])}); it is dialogue now.")
    if gone:
        notes.append(f"Scene {number} wrote lines as action for {', '.join(gone)}, who {'is' if len(gone) == 1 else 'are'} "
                     "not in it; they were taken out.")
    draft, formulas = without_formula_copies(draft, list(dict.fromkeys([*cast, *people])))
    if formulas:
        notes.append(f"Scene {number} said {len(formulas)} sentence{'s' if len(formulas) > 1 else ''} again with "
                     f"other people in {'them' if len(formulas) > 1 else 'it'} (\"{formulas[0][:60]}\"); code kept the first "
                     "of each pattern.")
    if had_action and not any(isinstance(e, ActionLine) for e in draft.elements) and summary.strip():
        draft = SceneDraft.model_construct(elements=[ActionLine(kind="action", text=summary.strip()[:700]),
                                                     *draft.elements])
        notes.append(f"Scene {number} had no action left, so it opens on its summary.")
    return draft, notes


_SELF_WORDS = re.compile(r"\b(?:i|me|my|mine|we|us|our|ours|you|your|yours)\b")


def story_narration(text: str, names: list[str]) -> list[str]:
    """The story's sentences of third-person narration, as `words_key`s: outside its quotes and
    its letters (`letter_paragraphs`, signed by one of `names`), in nobody's first person and to
    no "you" (a narrator's "I" or a letter may be heard as voice-over: the letters story's "You
    stood in the door of the hut" is Alder's letter)."""
    letters = letter_paragraphs(text, names)
    out = []
    for paragraph in story_paragraphs(text):
        if paragraph in letters:
            continue
        for sentence in sentences_whole(unquoted(paragraph, " | ")):
            for part in sentence.split("|"):
                key = words_key(part)
                if len(key.split()) >= 2 and not _SELF_WORDS.search(key):
                    out.append(key)
    return out


def narration_not_speech(draft: SceneDraft, narration: list[str],
                         speech: list[tuple[str, str]]) -> tuple[SceneDraft, list[str]]:
    """The scene with each line of dialogue that is the story's third-person narration (a whole
    narration sentence, or four or more of its words in a row; and none of anybody's speech) made
    action again: the real model wrote "Four minutes into the flight a warning light came on over
    Hal's knee" as the flight surgeon's line, and "He froze." as Priya's, in an unseen story
    (3fe0c29). Returns the scene and the lines made action."""
    out: list[Any] = []
    moved: list[str] = []
    for e in draft.elements:
        if isinstance(e, DialogueLine):
            line = words_key(e.text)
            told = any(line == key or (len(line.split()) >= 4 and f" {line} " in f" {key} ") for key in narration)
            said = any(f" {line} " in f" {key} " or f" {key} " in f" {line} " for _, key in speech)
            if told and not said:
                words = e.text.strip().strip('"“”').strip().rstrip(",;:")
                out.append(ActionLine(kind="action", text=words if words[-1:] in ".!?" else f"{words}."))
                moved.append(f"{speaker_of(e.speaker)}: {e.text[:40]}")
                continue
        out.append(e)
    return (SceneDraft.model_construct(elements=out), moved) if moved else (draft, [])


def with_true_speakers(draft: SceneDraft, speech: list[tuple[str, str]],
                       cast: list[str]) -> tuple[SceneDraft, list[str]]:
    """The scene with each line the story gives to someone else put back in its speaker's mouth:
    the story's speaker says it when they are in the scene, and otherwise the line goes. Returns
    the scene and what was changed.

    The real model's letters script gave Pell's "Tell your daughter, that her father keeps a
    filthy kitchen" to Tamsin in three scenes, one of them a scene Pell is not in (9607753).
    """
    out: list[Any] = []
    changed: list[str] = []
    for e in draft.elements:
        owner = None
        if isinstance(e, DialogueLine):
            line = words_key(e.text)
            owner = next((who for who, key in speech if line and (f" {key} " in f" {line} " or f" {line} " in f" {key} ")
                          and len(min(key, line, key=len).split()) >= DIALOGUE_AGAIN_WORDS), None)
        if not isinstance(e, DialogueLine) or owner is None or _same_name(owner, speaker_of(e.speaker)):
            out.append(e)
        elif any(_same_name(owner, c) for c in cast):
            out.append(e.model_copy(update={"speaker": cue(owner)}))
            changed.append(f"{speaker_of(e.speaker)}'s line \"{e.text[:40]}\" is {cue(owner)}'s")
        else:
            changed.append(f"{speaker_of(e.speaker)}'s line \"{e.text[:40]}\" is {cue(owner)}'s, who is not in the scene")
    if not out:
        return draft, []  # a scene keeps something
    return SceneDraft.model_construct(elements=out), changed


def _with_story_lines(draft: SceneDraft, lines: list[tuple[str, str]]) -> SceneDraft:
    """The scene with the story's own lines added as dialogue, before a closing transition."""
    elements = list(draft.elements)
    at = len(elements) - 1 if elements and isinstance(elements[-1], TransitionLine) else len(elements)
    added = [DialogueLine(kind="dialogue", speaker=cue(who), text=words[:400]) for who, words in lines]
    return SceneDraft.model_construct(elements=[*elements[:at], *added, *elements[at:]][:24])


def cast_passage(story_text: str, cast: list[str], *about: str, max_words: int = 160) -> str:
    """`story_passage` for a scene, plus the first paragraph naming each cast member it does not
    name (in story order): the plan cast them here, so the writer sees them in the story's words
    (tuba-audition: the attendant was cast in scenes whose passages never named him, and the
    scenes left him out)."""
    passage = story_passage(story_text, *about, " ".join(cast), max_words=max_words)
    if passage == "(none)":
        return passage
    paragraphs = story_paragraphs(story_text)
    chosen = {paragraphs.index(p) for p in passage.split("\n") if p in paragraphs}
    for who in cast:
        if named_in(passage, [who]) or any(named_in(paragraphs[i], [who]) for i in chosen):
            continue
        first = next((i for i, p in enumerate(paragraphs) if named_in(unquoted(p), [who])), None)
        if first is not None:
            chosen.add(first)
    return "\n".join(paragraphs[i] for i in sorted(chosen))


def with_the_storys_own(draft: SceneDraft, passage: str, cast: list[str], talk_in_story: list[str],
                        letters: dict[str, str] | None = None, people: list[str] | None = None,
                        narrator: str | None = None) -> tuple[SceneDraft, str]:
    """The scene with what its writer left out put back in the story's own words, before a closing
    transition: each cast member who speaks in the story but not in the scene gets their lines of
    the passage (`story_lines`, two at most; a letter's writer with no spoken line there, the first
    sentences of their letter, voiced over: `letter_lines`), and each cast member the scene never shows gets the
    first sentence of the passage naming them as action. Returns the scene and what was added
    ("DOV ABERNATHY's lines, FENWICK HOYLE"), '' when nothing was.

    A 1.5B model writing a scene keeps two people talking and drops the rest (tuba-audition: Dov
    never spoke, the cloakroom attendant never appeared, and re-asks fixed 1 in 5; docs/evals.md).
    """
    said = {speaker_of(e.speaker) for e in draft.elements if isinstance(e, DialogueLine)}
    silent = [c for c in cast if cue(c) not in said and any(_same_name(c, t) for t in talk_in_story)]
    theirs = story_lines(passage, cast, people, narrator) if silent else []
    lines: list[tuple[str, str]] = []
    for who in silent:
        mine = [(w, t) for w, t in theirs if _same_name(w, who)][:2]
        if not mine and letters:  # a letter writer with no spoken line here: the letter, voiced over
            mine = [(f"{cue(who)} (V.O.)", t) for t in letter_lines(passage, letters, who)]
        lines += mine
    if lines:
        draft = _with_story_lines(draft, lines)
    absent = [c for c in cast if cue(c) in absent_cast(draft, cast)]
    sentences: list[str] = []
    shown: list[str] = []
    for who in absent:
        naming = [x for p in passage.split("\n") for x in sentences_whole(p) if named_in(unquoted(x), [who])]
        if naming and naming[0] not in sentences:
            sentences.append(naming[0])
        if naming:
            shown.append(cue(who))
    if sentences:
        elements = list(draft.elements)
        at = len(elements) - 1 if elements and isinstance(elements[-1], TransitionLine) else len(elements)
        action = [ActionLine(kind="action", text=x[:700]) for x in sentences]
        draft = SceneDraft.model_construct(elements=[*elements[:at], *action, *elements[at:]][:24])
    added = [f"{speaker_of(w)}'s {'letter' if w.endswith('(V.O.)') else 'lines'}"
             for w in dict.fromkeys(w for w, _ in lines)] + shown
    return draft, ", ".join(added)


_TAG = re.compile(r"^(?:he|she|they|i|we)\s+(?:said|says|asked|asks|replied|replies|whispered|whispers|shouted|"
                  r"shouts|muttered|mutters)(?:[,;:]\s*(?P<how>[^.!?]{1,58}))?[.!?]?$")


def speech_tags_in_their_line(draft: SceneDraft) -> tuple[SceneDraft, list[str]]:
    """The scene with a speech tag left alone as action right after a line of dialogue ("he said,
    without looking at her." once "You're the understudy," became dialogue: the unseen astronaut
    at 489065b) made that line's parenthetical ("without looking at her"), or taken out when it
    says only who spoke. A tag starts with a small letter and a pronoun: "They said you were in
    the river." is a line of its own and stays. Returns the scene and the tags."""
    out: list[Any] = []
    tags: list[str] = []
    for e in draft.elements:
        m = _TAG.match(e.text.strip()) if isinstance(e, ActionLine) and e.text.strip()[:1].islower() else None
        if m and out and isinstance(out[-1], DialogueLine):
            how = (m.group("how") or "").strip()
            if how and not out[-1].parenthetical:
                out[-1] = out[-1].model_copy(update={"parenthetical": how})
            tags.append(e.text.strip()[:40])
            continue
        out.append(e)
    return (SceneDraft.model_construct(elements=out), tags) if tags else (draft, [])


def speech_in_its_place(draft: SceneDraft) -> tuple[SceneDraft, list[str]]:
    """The scene without action lines that are only the words of one of its dialogue lines (what a
    quote says, its punctuation aside): the line is spoken where the action line stood, once. The
    real model's unseen astronaut story (923ef3b) wrote "You're the understudy," and "I'm the
    astronaut," as action with their quotes gone, and the same lines came again as dialogue (the
    model's, or the story's own added by `with_the_storys_own`), so the page said each twice. An
    action line saying more than the dialogue ("I'm the astronaut, she said") stays. Returns the
    scene and the lines taken out of the action."""
    elements = list(draft.elements)
    spoken = [(i, words_key(e.text)) for i, e in enumerate(elements) if isinstance(e, DialogueLine)]
    moved: dict[int, int] = {}  # action index -> the dialogue index spoken there instead
    taken: list[str] = []
    for i, e in enumerate(elements):
        if not isinstance(e, ActionLine):
            continue
        key = words_key(e.text)
        j = next((j for j, k in spoken if k == key and len(key.split()) >= 2 and j not in moved.values()), None)
        if j is not None:
            moved[i] = j
            taken.append(e.text.strip()[:40])
    if not moved:
        return draft, []
    earlier = {j for i, j in moved.items() if j > i}  # said later: said instead where the action line stood
    out: list[Any] = []
    for i, e in enumerate(elements):
        if i in moved:
            if moved[i] > i:
                out.append(elements[moved[i]])
        elif i not in earlier:
            out.append(e)
    return SceneDraft.model_construct(elements=out), taken


def story_passage(story_text: str, *about: str, max_words: int = 160) -> str:
    """The paragraphs of the story a scene comes from: those sharing the most content words with
    `about` (the scene's summary, place and cast), in story order, up to `max_words` words.

    The scene writer sees the story's own lines and looks there (its beats are a summary of a
    retelling), so the people who speak in the story speak in the scene, in their own words.
    """
    paragraphs = story_paragraphs(story_text)
    wanted = content_words(" ".join(about))
    if not paragraphs or not wanted:
        return "(none)"
    scored = sorted(((len(wanted & content_words(p)), -i) for i, p in enumerate(paragraphs)), reverse=True)
    chosen: list[int] = []
    words = 0
    for score, neg in scored:
        n = len(paragraphs[-neg].split())
        if score < 2 or (chosen and words + n > max_words):
            break
        chosen.append(-neg)
        words += n
        # a line of speech is usually answered in the next paragraph: keep the exchange together
        nxt = -neg + 1
        if nxt < len(paragraphs) and nxt not in chosen and '"' in paragraphs[nxt] + paragraphs[-neg] \
                and words + len(paragraphs[nxt].split()) <= max_words:
            chosen.append(nxt)
            words += len(paragraphs[nxt].split())
    return "\n".join(paragraphs[i] for i in sorted(set(chosen))) or "(none)"


# --- generation schemas: one scene as typed elements (bounded) -------------------------------------


class ActionLine(BaseModel):
    """What we see and hear, visually verbose."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["action"]
    text: str = Field(min_length=1, max_length=700)


class DialogueLine(BaseModel):
    """One speech by one character of the cast, with an optional parenthetical."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dialogue"]
    speaker: Name = Field(description="A name from the scene's cast, in capitals.")
    parenthetical: str = Field(default="", max_length=60, description="How it is said; may be empty.")
    text: str = Field(min_length=1, max_length=400)


class TransitionLine(BaseModel):
    """A transition to the next scene, only when the cut matters."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["transition"]
    text: Literal[TRANSITIONS]  # type: ignore[valid-type]


class SceneDraft(BaseModel):
    """One scene as typed screenplay elements, opening on action."""

    model_config = ConfigDict(extra="forbid")
    elements: list[ActionLine | DialogueLine | TransitionLine] = Field(min_length=1, max_length=24)

    @model_validator(mode="after")
    def _fits_the_cast(self, info: ValidationInfo) -> SceneDraft:
        cast = (info.context or {}).get("cast")
        if cast is None:
            return self
        problems = scene_problems(self, list(cast), list((info.context or {}).get("speakers") or []))
        if problems:
            raise ValueError("; ".join(problems[:4]))
        return self


def absent_cast(draft: SceneDraft, cast: list[str]) -> list[str]:
    """Cast members the scene never shows: no line, and not named in any action line.

    Noted on the take, not re-asked: on the offline model one re-ask in five fixed it (tuba-audition,
    docs/evals.md), at a minute or two each; the scene as written is the scene, and stage 5 reads
    who is in it from its text.
    """
    action = "\n".join(e.text for e in draft.elements if isinstance(e, ActionLine))
    speakers = {speaker_of(e.speaker) for e in draft.elements if isinstance(e, DialogueLine)}
    seen = named_in(action, cast)
    return [cue(n) for n in cast if cue(n) not in speakers and n not in seen]


def scene_problems(draft: SceneDraft, cast: list[str], talk_in_story: list[str] | None = None) -> list[str]:
    """Code checks of a written scene that a re-ask fixes, as sentences for the model (`talk_in_story`:
    the cast members who speak in the story; the scene gives at least one of them a line)."""
    problems = []
    if not draft.elements or not isinstance(draft.elements[0], ActionLine):
        problems.append("the scene must open with an action line that shows the place, the light and who is there")
    cues = [cue(c) for c in cast]
    for e in draft.elements:
        if isinstance(e, DialogueLine) and speaker_of(e.speaker) not in cues:
            who = ", ".join(cues) or "nobody"
            problems.append(f"{e.speaker} speaks but is not in this scene's cast ({who}); give the line to someone in the cast")
        if not e.text.strip():
            problems.append("an element is empty; every element needs text")
    speakers = {cue(e.speaker) for e in draft.elements if isinstance(e, DialogueLine)}
    talkers = [cue(n) for n in talk_in_story or [] if cue(n) in cues]
    if talkers and not speakers:
        problems.append(f"nobody speaks, but {', '.join(talkers)} speak in the story; give them dialogue lines in "
                        "this scene, in their own voices")
    return problems


#: The most elements any scene has (the scene schema's own bound).
MAX_ELEMENTS = 24
#: Seconds of film an element makes, measured on the corpus at 6b7605f: 109-298 s of shots from
#: 22-41 action lines and speeches (5.4-7.3 s each).
SECONDS_PER_ELEMENT = 6.0
#: The fewest elements a scene is held to: a place, an exchange, and where it ends up.
MIN_ELEMENTS = 5


def scene_schema(cast: list[str], most: int = MAX_ELEMENTS) -> type[SceneDraft]:
    """The scene schema for one cast: the speaker is one of the cast's cues (constrained decoding
    then cannot invent a speaker), and at most `most` elements (`scene_length`). Named by the
    cast's hash, so engines may cache its grammar."""
    most = max(1, min(MAX_ELEMENTS, most))
    cues = list(dict.fromkeys(cue(c) for c in cast if c.strip()))
    key = hashlib.sha256("|".join(cues).encode("utf-8")).hexdigest()[:10]
    if most != MAX_ELEMENTS:
        key = f"{key}_{most}"
    if not cues:
        element: Any = ActionLine | TransitionLine
    else:
        speaker_type: Any = Literal[tuple(cues)]  # type: ignore[valid-type]
        line = create_model(f"DialogueLine_{key}", __base__=DialogueLine, __module__=__name__,
                            speaker=(speaker_type, Field(description="A name from the scene's cast.")))
        element = Union[ActionLine, line, TransitionLine]  # noqa: UP007 - built at runtime
    model: type[SceneDraft] = create_model(
        f"SceneDraft_{key}", __base__=SceneDraft, __module__=__name__,
        elements=(list[element], Field(min_length=1, max_length=most)),
    )
    return model


def scene_length(story: StoryInput | None, scenes: int) -> tuple[int, int]:
    """(seconds, elements) for one of `scenes` scenes: its share of the film's longest target length,
    and the elements that fill it. The film keeps to the length the filmmaker set (a 1-3 minute
    target came back as 5 minutes of shots at 6b7605f), and a scene's answer is short by construction."""
    minutes = story.params.max_minutes if story is not None else 3.0
    seconds = minutes * 60 / max(1, scenes)
    elements = max(MIN_ELEMENTS, min(MAX_ELEMENTS, math.ceil(seconds / SECONDS_PER_ELEMENT)))
    return round(seconds), elements


# --- generation schema: enrich (bounded) ----------------------------------------------------------


class EnrichedActions(BaseModel):
    """The scene's action lines rewritten one for one, in order, visually verbose."""

    model_config = ConfigDict(extra="forbid")
    actions: list[Annotated[str, StringConstraints(min_length=1, max_length=1200)]] = Field(
        min_length=1, max_length=24
    )

    @field_validator("actions")
    @classmethod
    def _one_for_one(cls, v: list[str], info: ValidationInfo) -> list[str]:
        originals = (info.context or {}).get("originals")
        if originals is None:
            return v
        if len(v) != len(originals):
            raise ValueError(f"return exactly {len(originals)} action lines, one for each [ACTION n], not {len(v)}")
        short = [i + 1 for i, (new, old) in enumerate(zip(v, originals, strict=True)) if len(new.strip()) < len(old.strip())]
        if short:
            raise ValueError(f"action lines {short} are shorter than the original; add what we see, never cut")
        return v


# --- prompt helpers --------------------------------------------------------------------------------


def style_capsule_text(story: StoryInput | None, templates: TemplateSource,
                       capsules: CapsuleLibrary | None = None) -> tuple[str, list[Any]]:
    """The written style capsule as prompt text (script and dialogue writing only), read from the
    library of the project's owner (`capsules`; the default data folder's when None)."""
    from aiuteur.pipeline.capsules import get_capsule

    capsule = None
    if story is not None and story.written_style_capsule:
        try:
            capsule = get_capsule(story.written_style_capsule, capsules)
        except NotFoundError:
            capsule = None
    if capsule is None:
        t = templates("script/no_capsule")
        return render(t, {}, VARIABLES), [t]
    t = templates("script/capsule")
    values = {"name": capsule.name, "example_prose": capsule.example_prose.strip() or "(none)",
              "example_dialogue": capsule.example_dialogue.strip() or "(none)"}
    return render(t, values, VARIABLES), [t]


def scene_count(story: StoryInput | None) -> int:
    """How many scenes to plan: about 1.5 a minute plus one, between 2 and 10."""
    if story is None:
        return 4
    minutes = (story.params.min_minutes + story.params.max_minutes) / 2
    return max(2, min(10, round(minutes * 1.5 + 1)))


def heading_of(s: ScenePlanDraft) -> str:
    ie = {"INT": "INT.", "EXT": "EXT.", "INT/EXT": "INT./EXT."}[s.int_ext]
    location = " ".join(s.location.upper().replace(" - ", " ").split()).strip(" .-") or "SOMEWHERE"
    return f"{ie} {location} - {s.time_of_day}"


def _outline(plan: ScriptPlanDraft) -> str:
    return "\n".join(f"{i}. {heading_of(s)}: {s.summary}" for i, s in enumerate(plan.scenes, start=1))


def _characters_block(cast: list[str], looks: dict[str, str]) -> str:
    if not cast:
        return "(nobody speaks in this scene)"
    return "\n".join(f"- {cue(c)}: {looks.get(cue(c), '').strip() or '(look as established)'}" for c in cast)


def _tail(scene: Scene | None, n: int = 3) -> str:
    if scene is None:
        return "(this is the first scene)"
    lines = [f"{e.character}: {e.text}" if e.kind == ElementKind.DIALOGUE else e.text
             for e in scene.elements if e.kind in (ElementKind.ACTION, ElementKind.DIALOGUE)]
    return "\n".join(lines[-n:]) or scene.heading


# --- plan -> scenes -> Fountain -> Script -----------------------------------------------------------


_HEADING_PREFIX = r"^\s*(?:INT\.?\s*/\s*EXT\.?|INT\.?|EXT\.?|I/E\.?)\s+"
#: A heading written into an action line: INT./EXT., the place in capitals, the time of day.
_HEADING_WITH_TIME = re.compile(
    _HEADING_PREFIX + r"[^a-z\n]{0,80}?\b(?:" + "|".join(TIMES_OF_DAY) + r")\b[\s:.\-–—]*"
)
#: The same without a time of day: the capitals end at a colon or a dash.
_HEADING_NO_TIME = re.compile(_HEADING_PREFIX + r"[^a-z\n]{1,80}?(?::|\s[-–—])[\s\-–—]*")


def strip_heading(text: str, heading: str = "") -> str:
    """An action line without a scene heading at its start (`INT. ROOM - DUSK: She waits.` ->
    `She waits.`): the heading is the scene's, never part of what we see."""
    t = text.strip()
    if heading and t.upper().startswith(heading.upper()):
        return t[len(heading):].lstrip(" :.-–—").strip()
    m = _HEADING_WITH_TIME.match(t) or _HEADING_NO_TIME.match(t)
    return t[m.end():].strip() if m else t


_SPEECH_IN_ACTION = re.compile(
    r"^(?P<who>[^\"“”.!?]{2,60}?)\s+(?:says|said|asks|asked|shouts|shouted|replies|replied|whispers|whispered|calls|"
    r"called|answers|answered|tells \w+|mutters|muttered)(?:\s+\w+ly)?[,:]?\s*(?:[\"“](?P<words>[^\"“”]{2,400})[\"”]"
    r"|['‘](?P<single>[^\"“”]{2,400}?)['’])\.?\s*$",
    re.IGNORECASE)

#: Speech written as an action line in the form of a script page: `TEODORA RUIZ: I know every uniform.`
_CUE_IN_ACTION = re.compile(r"^(?P<who>[A-Z][A-Za-z .'’\-]{1,50}):\s+(?P<words>\S.{0,400})$")


def not_said_before(elements: list[ScriptElement], earlier: list[Scene], story_text: str = "") -> list[ScriptElement]:
    """A scene's elements without what an earlier scene already has word for word: a long action
    line (`LOOP_MIN_WORDS` or more), the same story sentence given to two scenes (the real model's
    tuba-audition put the foyer paragraph into three scenes), and a line of dialogue of three words
    or more, or a shorter one the story has, unless the story itself says it as often (a refrain). The real model's
    mapmakers-apprentice gave Lune's two lines to all three scenes, and last-orders had Gus say
    "Well, that's that." in four (fdf86bd). A scene keeps at least one action line."""
    seen = {words_key(e.text) for sc in earlier for e in sc.elements if e.kind == ElementKind.ACTION}
    said = Counter(words_key(e.text) for sc in earlier for e in sc.elements if e.kind == ElementKind.DIALOGUE)
    story = f" {words_key(story_text)} "

    def again(e: ScriptElement) -> bool:
        key = words_key(e.text)
        if e.kind == ElementKind.ACTION:
            return len(key.split()) >= LOOP_MIN_WORDS and key in seen
        if e.kind == ElementKind.DIALOGUE and key and said[key]:
            # a short line goes too when it is the story's own, said as often as the story says it
            # ("Thursday rehearsals.", said once by Brandt, was in three scenes of tuba at 7aa231f)
            return (len(key.split()) >= DIALOGUE_AGAIN_WORDS or f" {key} " in story) and said[key] >= story.count(f" {key} ")
        return False

    # A scene keeps its first action line even when an earlier scene has it (and still loses its
    # repeated dialogue: tuba-audition's foyer scene kept a line of scene 3 and, with it, all the
    # lines scene 3 had said, at bcc86e3).
    first = next((i for i, e in enumerate(elements) if e.kind == ElementKind.ACTION), -1)
    if any(e.kind == ElementKind.ACTION and not again(e) for e in elements):
        first = -1
    kept: list[ScriptElement] = []
    for i, e in enumerate(elements):
        if i != first and again(e):
            if e.kind == ElementKind.DIALOGUE and kept and kept[-1].kind == ElementKind.PARENTHETICAL:
                kept.pop()  # its parenthetical goes with it
            continue
        kept.append(e)
    return kept or elements  # a scene keeps something


def only_action_here(elements: list[ScriptElement], earlier: list[Scene],
                     synopsis: str) -> tuple[list[ScriptElement], list[Scene], str]:
    """A scene whose only action line an earlier scene has word for word (`not_said_before` keeps
    it: a scene opens on what we see) keeps it, and the earlier scenes that have other action lines
    give it up; when an earlier scene needs it too (its only action), this scene opens on its
    synopsis instead, unless an earlier scene has that as well. The real model's tuba-audition
    (bcc86e3) put the foyer paragraph into the scene at the bus stop and into the foyer scene, whose
    only action it was; the eval counts a long line said twice as a loop. Returns the elements, the
    earlier scenes and what was done, for the take's note ('' when nothing)."""
    actions = [e for e in elements if e.kind == ElementKind.ACTION]
    key = words_key(actions[0].text) if len(actions) == 1 else ""
    if len(key.split()) < LOOP_MIN_WORDS:
        return elements, earlier, ""

    def has(sc: Scene) -> bool:
        return any(e.kind == ElementKind.ACTION and words_key(e.text) == key for e in sc.elements)

    if not any(has(sc) for sc in earlier):
        return elements, earlier, ""
    scenes, gave = list(earlier), []
    for k, sc in enumerate(scenes):
        rest = [e for e in sc.elements if not (e.kind == ElementKind.ACTION and words_key(e.text) == key)]
        if has(sc) and rest and rest[0].kind == ElementKind.ACTION:
            scenes[k] = sc.model_copy(update={"elements": rest})
            gave.append(sc.number)
    if not any(has(sc) for sc in scenes):
        return elements, scenes, f"its only action line was in scene {', '.join(gave)} too; it stays here and left there"
    seen = {words_key(e.text) for sc in scenes for e in sc.elements if e.kind == ElementKind.ACTION}
    if not synopsis.strip() or words_key(synopsis) in seen:
        return elements, scenes, ""
    opening = ScriptElement(kind=ElementKind.ACTION, text=synopsis.strip())
    note = f"its only action line is scene {next(sc.number for sc in scenes if has(sc))}'s, so it opens on its synopsis"
    return [opening if e is actions[0] else e for e in elements], scenes, note


def without_synopsis_copy(elements: list[ScriptElement], synopsis: str) -> tuple[list[ScriptElement], bool]:
    """A scene's elements without an action line that is its synopsis word for word (the synopsis
    under the heading says it already; the real model's tuba-audition put it into four of six
    scenes at bcc86e3), unless the scene needs it: it is the only action, or without it the scene
    would not open on action (the shot list films action lines, never the synopsis). Applied after
    `not_said_before`, so an action line an earlier scene has is no reason to drop it. Returns the
    elements and whether a copy went."""
    key = words_key(synopsis)
    if not key:
        return elements, False
    rest = [e for e in elements if not (e.kind == ElementKind.ACTION and words_key(e.text) == key)]
    if len(rest) == len(elements) or not rest or rest[0].kind != ElementKind.ACTION:
        return elements, False
    return rest, True


#: The most story lines a speaker nobody heard is given (`heard_story_speakers`).
HEARD_MOST_LINES = 4


def _insert_at(elements: list[ScriptElement], paragraph: str) -> int:
    """Where the story's lines of `paragraph` go in a scene: after the action line that shares the
    most content words (two or more) with the paragraph's narration and the dialogue that follows
    it, else at the end, before a closing transition."""
    words = content_words(unquoted(paragraph))
    best, at = 1, -1
    for i, e in enumerate(elements):
        if e.kind == ElementKind.ACTION and len(words & content_words(e.text)) > best:
            best, at = len(words & content_words(e.text)), i
    if at < 0:
        end = len(elements)
        return end - 1 if end and elements[-1].kind == ElementKind.TRANSITION else end
    at += 1
    while at < len(elements) and elements[at].kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
        at += 1
    return at


def heard_story_speakers(scenes: list[Scene], story_text: str,
                         names: list[str]) -> tuple[list[Scene], list[tuple[int, str]]]:
    """The script with every one of `names` who speaks in the story (`quotes_by_paragraph`) and
    says nothing in it given their own lines from the story, in the scene that tells the paragraph
    of each line (`screen_words.align`, as the asset stage aligns a finished script), after the
    action line that best matches it. A line the script already has (said by anyone) is not said
    again; only lines the story attributes to that person among all `names` are theirs; at most
    `HEARD_MOST_LINES`. Returns the scenes and (scene index, note) for each scene changed.

    The real model's mapmakers-apprentice at 7cba731: Master Ozias Fell was cast in three scenes
    whose passages never held his one exchange ("You cannot," said Ozias.), and the scenes whose
    passages held it did not cast him, so he never spoke (metrics.speakers 2 of 3).
    """
    paragraphs = story_paragraphs(story_text)
    quotes = quotes_by_paragraph(paragraphs, names, narrator_of(story_text, names)) if scenes and paragraphs else []
    if not quotes:
        return scenes, []
    cues = {speaker_of(e.character or "") for sc in scenes for e in sc.elements
            if e.kind == ElementKind.DIALOGUE and e.character}

    def words(name: str) -> set[str]:
        return {w.casefold() for w in name_words(name)}

    def heard(who: str) -> bool:
        """A cue of their name, or one whose name words are some of theirs, or theirs and more
        ("OFFICER MOYO" is B. Moyo, "INES ABERNATHY" is Ines)."""
        forms, own = name_forms(who, person=True, others=names), words(who)
        return any(is_called(c, forms) or (own and words(c) and (words(c) <= own or own <= words(c))) for c in cues)

    said = [words_key(e.text) for sc in scenes for e in sc.elements if e.kind == ElementKind.DIALOGUE]

    def new(line: str) -> bool:
        key = words_key(line)
        return bool(key) and not any(key == k or (min(len(key.split()), len(k.split())) >= DIALOGUE_AGAIN_WORDS
                                                   and (f" {key} " in f" {k} " or f" {k} " in f" {key} ")) for k in said)

    silent = [w for w in dict.fromkeys(w for _, w, _ in quotes if w is not None) if not heard(w)]
    if not silent:
        return scenes, []
    texts = ["\n".join([sc.synopsis, *(e.text for e in sc.elements), *sc.characters]) for sc in scenes]
    tells = align(paragraphs, texts, places=[place_of(sc.location) or place_of(sc.heading) for sc in scenes],
                  casts=[set(named_in(t, names)) for t in texts], people=[set(named_in(unquoted(p), names)) for p in paragraphs])
    out = list(scenes)
    notes: list[tuple[int, str]] = []
    for who in silent:
        given = 0
        gave: dict[int, int] = {}
        for i in dict.fromkeys(i for i, w, _ in quotes if w == who):
            lines = [q[:-1] + "." if q.endswith(",") else q for k, w, q in quotes if k == i and w == who]
            lines = [q[:400] for q in lines if new(q)][:HEARD_MOST_LINES - given]
            if not lines:
                continue
            j = tells[i]
            sc = out[j]
            elements = list(sc.elements)
            at = _insert_at(elements, paragraphs[i])
            added = [ScriptElement(kind=ElementKind.DIALOGUE, character=cue(who), text=q) for q in lines]
            out[j] = sc.model_copy(update={"elements": [*elements[:at], *added, *elements[at:]]})
            said += [words_key(q) for q in lines]
            given += len(lines)
            gave[j] = gave.get(j, 0) + len(lines)
            if given >= HEARD_MOST_LINES:
                break
        for j, n in gave.items():
            joined = "" if named_in(texts[j], [who]) else f"; {cue(who)} joins the scene"
            notes.append((j, f"{cue(who)} speaks in the story but nowhere in the script (a story speaker nobody "
                             f"heard), so scene {out[j].number} gives them {'a line' if n == 1 else f'{n} lines'} of their "
                             f"own from the story{joined}."))
    return out, notes


def _key_of(elements: list[ScriptElement]) -> str:
    return " ".join(re.findall(r"\w+", elements[0].text.lower())) if elements else ""


def _only_names(key: str, cast: list[str]) -> bool:
    """True when an action line says nothing but names ("Ines," - the model looping on a name)."""
    names = {w.lower() for c in cast for w in re.findall(r"\w+", c)}
    return bool(key) and all(w in names for w in key.split())


#: A line of dialogue of this many words said again in one scene is a loop (shorter ones, "Yes.",
#: may come back once).
DIALOGUE_AGAIN_WORDS = 3


_SUBJECT = re.compile(r"^(?P<name>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3})\s+(?P<verb>[a-z][\w'’-]*)")


def _narrates_self(text: str, speaker: str) -> bool:
    """A "line" that is its speaker told about in the third person ("Alder is a middle-aged man
    with a beard", "Tamsin notices the jumper"): narration the model put in a mouth, not speech."""
    m = _SUBJECT.match(text.strip())
    return bool(m) and all(w.upper() in speaker.split() for w in m.group("name").split())  # type: ignore[union-attr]


def to_elements(draft: SceneDraft, heading: str = "", cast: list[str] | None = None) -> list[ScriptElement]:
    """Typed elements as screenplay elements (a parenthetical goes before its speech; a heading
    written into an action line is removed, and an action line that was only a heading goes).

    What a small model does wrong, code puts right: an action line said again word for word
    (the model looping through its elements), a short one said again at once, one that is only
    names ("Ines," twenty times over) and the loops inside one line go; an action line
    that is only a cast member saying something in quotes (`BRANDT says, "Buy a suit."`) is
    that person's line of dialogue, and so is one written as a cue and its words
    (`BRANDT: Buy a suit.`); a transition goes anywhere but at the end of the scene (a small
    model puts DISSOLVE TO: between its action lines). A line of dialogue said before in the same
    scene goes too (three words or more; a shorter one the third time): the real model's letters
    scene ran "Tell your daughter." / "That her father keeps a filthy kitchen." eleven times over,
    two speakers taking turns. A "line" telling of its own speaker in the third person ("ALDER:
    Alder is a middle-aged man …") is action.
    """
    out: list[ScriptElement] = []
    seen: set[str] = set()
    said: Counter[str] = Counter()
    for e in draft.elements:
        if isinstance(e, ActionLine):
            text = cut_loops(strip_heading(e.text, heading), drop_unfinished=False)
            key = words_key(text)
            again = key in seen and (len(key.split()) >= LOOP_MIN_WORDS or _key_of(out[-1:]) == key)
            if not text or again or _only_names(key, cast or []):
                continue
            seen.add(key)
            spoken = _SPEECH_IN_ACTION.match(text) or _CUE_IN_ACTION.match(text)
            who = named_in(spoken.group("who"), cast) if spoken and cast else []
            if spoken and len(who) == 1:
                words = (spoken.group("words") or spoken.groupdict().get("single") or "").strip().strip('"“”').strip()
                out.append(ScriptElement(kind=ElementKind.DIALOGUE, text=words, character=cue(who[0])))
            else:
                out.append(ScriptElement(kind=ElementKind.ACTION, text=text))
        elif isinstance(e, DialogueLine) and _narrates_self(e.text, voice_of(e.speaker)[0]):
            key = words_key(e.text)
            if key not in seen:  # told again as a "line" after an action line said it: once is enough
                seen.add(key)
                out.append(ScriptElement(kind=ElementKind.ACTION, text=e.text.strip()))  # "ALDER: Alder is a man …"
        elif isinstance(e, DialogueLine):
            speaker, extension = voice_of(e.speaker)
            words = words_key(e.text)
            if out and out[-1].kind == ElementKind.DIALOGUE and out[-1].character == speaker \
                    and _key_of(out[-1:]) == words:
                continue  # the same line again from the same speaker: a loop, not a line
            if said[words] and (len(words.split()) >= DIALOGUE_AGAIN_WORDS or said[words] >= 2):
                continue  # a line said before in this scene, by anyone: two voices taking turns in a loop
            said[words] += 1
            paren = e.parenthetical.strip().strip("()").strip()
            if paren:
                out.append(ScriptElement(kind=ElementKind.PARENTHETICAL, text=f"({paren})", character=speaker))
            out.append(ScriptElement(kind=ElementKind.DIALOGUE, text=e.text.strip(), character=speaker,
                                     extension=extension))
        else:
            out.append(ScriptElement(kind=ElementKind.TRANSITION, text=e.text))
    last = len(out) - 1
    return [e for i, e in enumerate(out) if e.kind != ElementKind.TRANSITION or i == last]


def read_back(script: Script) -> Script:
    """Render to Fountain and import it again, keeping the scene ids (so saved = imported).

    Raises:
        InputError: the Fountain did not read back as the same number of scenes.
    """
    from aiuteur.screenplay import parse_fountain, to_fountain

    again = parse_fountain(to_fountain(script), "script.fountain")
    if len(again.scenes) != len(script.scenes):
        raise InputError(
            f"The written script read back as {len(again.scenes)} scenes instead of {len(script.scenes)}; "
            "check the scene headings in the Fountain editor."
        )
    scenes = [new.model_copy(update={"id": old.id}) for old, new in zip(script.scenes, again.scenes, strict=True)]
    return again.model_copy(update={"scenes": scenes})


def fountain_of(script: Script) -> str:
    from aiuteur.screenplay import to_fountain

    return to_fountain(script)


@dataclass
class Written:
    """What a script run made: every take, and the script when all of it worked."""

    takes: list[Take] = field(default_factory=list)
    script: Script | None = None

    @property
    def ok(self) -> bool:
        return self.script is not None and all(t.ok for t in self.takes)


@dataclass
class Writer:
    """The inputs every scene call shares; built once per run."""

    text: TextEngine
    story: StoryInput | None
    templates: TemplateSource = default_templates
    seed: int = 0
    guidance: str = ""
    max_attempts: int = 3
    capsules: CapsuleLibrary | None = None  # the project owner's capsule library
    beat_places: list[BeatPlace] = field(default_factory=list)  # the beats in order, each where it happens (normal path)

    @property
    def rules(self) -> str:
        return format_rules(story_rules(self.story))

    @property
    def story_text(self) -> str:
        """The primary source's text (the story itself), '' when the input has none."""
        primary = self.story.primary if self.story is not None else None
        return primary.text if primary is not None else ""

    def speakers(self, names: list[str]) -> list[str]:
        """Which of `names` speak in the story's own text: quoted speech near their name, or letters they sign."""
        if self.story is None:
            return []
        text = "\n".join(src.text for src in self.story.sources)
        return list(dict.fromkeys([*story_speakers(text, names), *letter_paragraphs(text, names).values()]))

    def take(self, purpose: str, inputs: Any, rendered: Rendered | None, **kw: Any) -> Take:
        return make_take(Stage.SCRIPT, purpose=purpose, inputs=inputs, rendered=rendered, text=self.text,
                         seed=kw.pop("seed", self.seed), **kw)

    # 1. The plan.
    def plan(self, material_label: str, material: str) -> tuple[Take, ScriptPlanDraft | None]:
        values = {"params": params_text(self.story) if self.story else "(not given)",
                  "material_label": material_label, "material": material,
                  "guidance": self.guidance.strip() or NO_GUIDANCE, "scene_count": scene_count(self.story)}
        rendered = messages_for(self.templates, "script", {"story_rules": self.rules}, values, VARIABLES,
                                system="plan_system", user="plan_user")
        inputs = {"material": material, "rules": self.rules, "guidance": self.guidance, "t": rendered.template_hash}
        try:
            got = ask_retrying(self.text, rendered.messages, ScriptPlanDraft, seed=self.seed,
                               max_attempts=self.max_attempts)
        except EngineError as e:
            return self.take("script_plan", inputs, rendered, error=engine_failure(e, "the scene plan")), None
        assert got.value is not None
        # Casts that disagree with the character list are completed by code, never re-asked: a
        # second answer costs minutes on a CPU and comes back with other gaps (docs/evals.md).
        fixed = plan_problems(got.value)
        plan, repeated = without_repeated_scenes(repair_plan(got.value))  # a scene planned twice is written once
        plan, retold = without_retold_scenes(plan)  # and one that retells another's passage too
        # The scenes in the order of what they tell: the beats, else (straight from the story) its paragraphs.
        marks = [b.summary for b in self.beat_places] or story_paragraphs(self.story_text)
        # A filmmaker who asks for a flashback, or to open on the ending, keeps the plan's order.
        plan, order = (plan, []) if _OWN_ORDER.search(self.guidance) else in_material_order(plan, marks)
        plan, placed = add_story_places(plan, self.story_text)  # every place the story puts people in gets a scene
        plan, added = add_missing_places(plan, self.beat_places)  # and every place of the beats still without one
        plan, untold = add_untold_story(plan, self.story_text)  # and every part of the story a scene
        plan, again = without_repeated_scenes(repair_plan(plan, names=False))
        repeated += again
        plan, twice = without_paragraphs_told_twice(plan, self.story_text)  # code's scenes retell none either
        plan, people = add_story_people(plan, self.story_text)  # every person the story names is cast
        plan, told_order = in_story_order(plan, self.story_text, marks, self.guidance)  # and all in the story's order
        notes = [f"The plan left out places where beats happen, so code added {', '.join(added)}."] if added else []
        if placed:
            notes.append(f"The plan left out places where the story puts people, so code {'; '.join(placed)}.")
        if untold:
            notes.append(f"The plan left parts of the story untold, so code added {', '.join(untold)}.")
        if people:
            notes.append(f"The plan left out people the story names, so code cast {', '.join(people)}.")
        if fixed:
            notes.append(f"Code completed the plan's casts and characters ({len(fixed)} gaps: {fixed[0]}).")
        if repeated:
            notes.append(f"The plan gave the same scene twice, so code kept it once and dropped {', '.join(repeated)}.")
        if retold:
            notes.append(f"The plan told the same part of the story twice, so code dropped {', '.join(retold)}.")
        if twice:
            notes.append(f"After code's additions, scenes told a part of the story again away from where the story "
                         f"puts it, so code merged {'; '.join(twice)}.")
        if order:
            notes.append(f"The plan's scenes did not follow the {'beats' if self.beat_places else 'story'}, so code "
                         f"put them in its order (planned scenes {', '.join(order)}).")
        if told_order:
            notes.append(f"The scenes did not follow the story, so code put them in its order "
                         f"(scenes {', '.join(told_order)}).")
        note = " ".join(notes)
        take = self.take("script_plan", inputs, rendered, attempts=got.attempts, seconds=got.seconds,
                         messages=got.messages, output=plan)
        return take.model_copy(update={"note": note}), plan

    def passage(self, cast: list[str], summary: str, heading: str) -> str:
        """What the story says where a scene of `cast` happens (its prompt's passage)."""
        return cast_passage(self.story_text, cast, summary, heading)

    @staticmethod
    def voiced(passage: str, cast: list[str], people: list[str] | None, letters: dict[str, str],
               teller: str | None) -> set[str]:
        """Who of `cast` has the story's own spoken (or written) lines in `passage` (`teller`: the
        story's narrator, `narrator_of`)."""
        return {who for who, _ in story_lines(passage, cast, people, teller)} | {
            who for who in cast if letter_lines(passage, letters, who)}

    # 2. One scene.
    def scene(self, *, title: str, outline: str, number: str, heading: str, summary: str, cast: list[str],
              looks: dict[str, str], previous: Scene | None, target: str, seed: int,
              guidance: str | None = None, talk_in_story: list[str] | None = None,
              speech: list[tuple[str, str]] | None = None, people: list[str] | None = None,
              letters: dict[str, str] | None = None,
              heard_elsewhere: Sequence[str] = (), scenes: int = 1) -> tuple[Take, SceneDraft | None]:
        capsule, used = style_capsule_text(self.story, self.templates, self.capsules)
        values = {"title": title, "outline": outline, "characters": _characters_block(cast, looks),
                  "previous": _tail(previous), "guidance": (guidance if guidance is not None else "").strip() or NO_GUIDANCE,
                  "number": number, "heading": heading, "summary": summary,
                  "passage": self.passage(cast, summary, heading)}
        seconds, most = scene_length(self.story, scenes)  # of a film of `scenes` scenes
        values |= {"seconds": str(seconds), "elements": str(most)}
        rendered = messages_for(self.templates, "script", {"story_rules": self.rules, "style_capsule": capsule},
                                values, VARIABLES, system="scene_system", user="scene_user", extra=used)
        inputs = {"values": values, "rules": self.rules, "t": rendered.template_hash}
        # A silent scene is re-asked only for speakers whose lines its passage lacks: the others get
        # their own lines from the story (`with_the_storys_own`), better than a re-ask gives, which
        # cost 1-2 calls of 100-230 s a scene and gave dialogue in 3 of 9 (docs/evals.md).
        # A talker heard in another scene of the film (`heard_elsewhere`) is not re-asked for either:
        # a film needs each talker to speak, not to speak in every scene they are in. Re-asked in
        # every scene, the tuba's Dov (whose story lines name no speaker) cost 8 re-asks and 111 s at
        # 6b7605f, the salt crown 9 and 149 s, 382 s over the corpus, most of them still silent.
        # the story's letters (computed once per run by `write_script`), those of this cast
        letters = {p: w for p, w in (letters if letters is not None else letter_paragraphs(self.story_text, cast)).items()
                   if any(_same_name(w, c) for c in cast)}
        teller = narrator_of(self.story_text, list(dict.fromkeys([*cast, *(people or [])])))
        voiced = self.voiced(values["passage"], cast, people, letters, teller)
        reask_for = [t for t in talk_in_story or [] if not any(_same_name(t, w) for w in [*voiced, *heard_elsewhere])]
        try:
            got = ask_retrying(self.text, rendered.messages, scene_schema(cast, most), seed=seed,
                               context={"cast": cast, "speakers": reask_for}, max_attempts=self.max_attempts)
        except EngineError as e:
            return self.take("script_scene", inputs, rendered, target=target, seed=seed,
                             error=engine_failure(e, f"scene {number}")), None
        assert got.value is not None  # after the last attempt the scene is kept as written: it is valid Fountain
        draft, notes = got.value, [f"Scene {number} is kept as written after every try, but {got.error}."] if got.error else []
        draft, labels = without_prompt_labels(draft, "\n".join(m["content"] for m in rendered.messages))
        if labels:
            notes.append(f"Scene {number} began lines with the instructions' own words ({', '.join(labels)}); "
                         "they were taken out.")
        written = draft
        try:
            draft, mended = mend_scene(draft, number=number, summary=summary, cast=cast, people=people or cast)
            notes += mended
            narration = story_narration(self.story_text, list(dict.fromkeys([*cast, *(people or [])])))
            draft, narrated = narration_not_speech(draft, narration, speech or [])
            if narrated:
                notes.append(f"Scene {number} gave the story's narration as dialogue ({'; '.join(narrated[:3])}); "
                             "it is action now.")
            draft, moved = with_true_speakers(draft, speech or [], cast)
            if moved:
                notes.append(f"Lines the story gives to someone else were put right: {'; '.join(moved[:3])}.")
            draft, added = with_the_storys_own(draft, values["passage"], cast, talk_in_story or [], letters, people,
                                               teller)
            if added:
                notes.append(f"Scene {number} as written left out {added}, so the story's own words were added.")
            draft, doubled = speech_in_its_place(draft)
            if doubled:
                notes.append(f"Scene {number} gave lines as action that are its dialogue too (\"{doubled[0]}\"); "
                             "they are spoken once, where the action had them.")
            draft, tags = speech_tags_in_their_line(draft)
            if tags:
                notes.append(f"Scene {number} left speech tags as action (\"{tags[0]}\"); they are how the line "
                             "before is said now.")
        except ValueError as e:  # a mending step's own fault must not cost the script its scene
            log.warning("scene %s: mending failed, kept as written", number, exc_info=True)
            draft = written
            notes.append(f"Scene {number} is kept as the model wrote it: code could not mend it ({type(e).__name__}).")
        take = self.take("script_scene", inputs, rendered, target=target, seed=seed, attempts=got.attempts,
                         seconds=got.seconds, messages=got.messages, output=draft)
        absent = absent_cast(draft, cast)
        if absent:
            notes.append(f"Scene {number} leaves out {', '.join(absent)}, planned to be in it.")
        if notes:
            take = take.model_copy(update={"note": " ".join(notes)})
        return take, draft


def write_script(
    writer: Writer, material_label: str, material: str, *, progress: ProgressFn | None = None,
    on_partial: PartialFn | None = None,
) -> Written:
    """Plan the film, write each scene, and read the result back as an import would."""
    out = Written()
    report = progress or (lambda f, s: None)
    # 1. The scene plan.
    report(0.02, "Planning the scenes")
    plan_take, plan = writer.plan(material_label, material)
    out.takes.append(plan_take)
    if plan is None:
        return out
    looks = {cue(c.name): c.look for c in plan.characters}
    talkers = writer.speakers([c.name for c in plan.characters])
    speech = story_speech(writer.story_text, [c.name for c in plan.characters])
    letters = letter_paragraphs(writer.story_text, [c.name for c in plan.characters])
    outline = _outline(plan)
    n = len(plan.scenes)
    report(1 / (n + 2), f"Planned {n} scenes")
    # 2. One call per scene; each finished scene is reported so the UI can show it growing.
    scenes: list[Scene] = []
    people = [c.name for c in plan.characters]
    planned_scenes = [p if p.cast else  # nobody planned here: the people of the story's passage for it are
                      p.model_copy(update={"cast": named_in(story_passage(writer.story_text, p.summary, heading_of(p)),
                                                            people)[:4]})
                      for p in plan.scenes]
    # Who gets the story's own lines in each scene's passage: a talker voiced in a later scene, or
    # heard in an earlier one, is not re-asked for in a silent one (`Writer.scene`).
    teller = narrator_of(writer.story_text, people)
    voiced_in = [writer.voiced(writer.passage(list(p.cast), p.summary, heading_of(p)), list(p.cast), people,
                               {k: w for k, w in letters.items() if any(_same_name(w, c) for c in p.cast)}, teller)
                 for p in planned_scenes]
    for i, planned in enumerate(planned_scenes, start=1):
        spoken = {e.character for s in scenes for e in s.elements if e.kind == ElementKind.DIALOGUE and e.character}
        later = {w for v in voiced_in[i:] for w in v}
        scene = Scene(number=str(i), heading=heading_of(planned), int_ext=IntExt(planned.int_ext),
                      location=planned.location.upper(), time_of_day=planned.time_of_day, synopsis=planned.summary)
        take, draft = writer.scene(title=plan.title, outline=outline, number=str(i), heading=scene.heading,
                                   summary=planned.summary, cast=list(planned.cast), looks=looks,
                                   previous=scenes[-1] if scenes else None, target=f"scene:{scene.id}",
                                   seed=writer.seed + 101 * i, guidance=writer.guidance,
                                   talk_in_story=[t for t in talkers if any(_same_name(t, c) for c in planned.cast)],
                                   speech=speech, people=people, letters=letters,
                                   heard_elsewhere=sorted(spoken | later), scenes=n)
        if draft is None:
            out.takes.append(take)
            return out
        elements = not_said_before(to_elements(draft, scene.heading, list(planned.cast)), scenes, writer.story_text)
        elements, scenes, shared = only_action_here(elements, scenes, planned.summary)
        elements, copied = without_synopsis_copy(elements, planned.summary)
        notes = [f"Scene {i}: {shared}."] if shared else []
        if copied:
            notes.append(f"Scene {i} repeated its summary word for word as an action line; the copy was taken out.")
        if notes:
            take = take.model_copy(update={"note": " ".join([take.note, *notes]).strip()})
        out.takes.append(take)
        scenes.append(scene.model_copy(update={"elements": elements}))
        report((i + 1) / (n + 2), f"Scene {i} of {n} written: {scene.heading}")
        if on_partial is not None:
            on_partial(fountain_of(Script(title=plan.title, scenes=scenes)))
    # 3. Everyone who speaks in the story speaks in the script: a speaker no scene gave a line to
    # says their own lines of the story in the scene that tells them.
    scenes, heard = heard_story_speakers(scenes, writer.story_text, [c.name for c in plan.characters])
    for j, note in heard:
        k = next((k for k, t in enumerate(out.takes) if t.target == f"scene:{scenes[j].id}"), None)
        if k is not None:
            out.takes[k] = out.takes[k].model_copy(update={"note": " ".join([out.takes[k].note, note]).strip()})
    # 4. Render to Fountain and read it back with the importer's parser.
    try:
        out.script = read_back(Script(title=plan.title, scenes=scenes))
    except InputError as e:
        out.takes.append(writer.take("script", {"plan": plan_take.id}, None, error=str(e)))
        return out
    report(1.0, f"Script written: {n} scenes")
    return out


def _looks_from_script(script: Script, names: list[str]) -> dict[str, str]:
    """A look for each character: the first action line of the script that names them."""
    looks: dict[str, str] = {}
    for scene in script.scenes:
        for e in scene.elements:
            if e.kind != ElementKind.ACTION:
                continue
            for name in named_in(e.text, names):
                looks.setdefault(cue(name), e.text[:300])
    return looks


def regenerate_scene(writer: Writer, script: Script, scene_id: str, *, guidance: str = "") -> Written:
    """Rewrite one scene with guidance; every other scene, and every scene id, stays."""
    index = next((i for i, s in enumerate(script.scenes) if s.id == scene_id), None)
    if index is None:
        raise InputError("That scene is not in the script any more; reload the script and pick a scene again.")
    old = script.scenes[index]
    everyone = list(dict.fromkeys(c for s in script.scenes for c in s.characters))
    scene_text = " ".join([old.synopsis, *(e.text for e in old.elements if e.kind == ElementKind.ACTION)])
    cast = list(dict.fromkeys([*old.characters, *(cue(n) for n in named_in(scene_text, everyone))]))
    summary = old.synopsis or " ".join(e.text for e in old.elements if e.kind == ElementKind.ACTION)[:400] or old.heading
    outline = "\n".join(f"{s.number}. {s.heading}: {s.synopsis or ''}".rstrip(": ") for s in script.scenes)
    take, draft = writer.scene(title=script.title or "Untitled", outline=outline, number=old.number,
                               heading=old.heading or "SCENE", summary=summary, cast=cast,
                               looks=_looks_from_script(script, everyone),
                               previous=script.scenes[index - 1] if index > 0 else None,
                               target=f"scene:{scene_id}", seed=writer.seed, guidance=guidance,
                               speech=story_speech(writer.story_text, everyone), people=everyone,
                               scenes=len(script.scenes))
    out = Written(takes=[take])
    if draft is None:
        return out
    elements = to_elements(draft, old.heading or "", cast)
    if old.synopsis:  # keep the summary line an import of this script had, and not its copy
        elements, _ = without_synopsis_copy(elements, old.synopsis)
        elements = [ScriptElement(kind=ElementKind.SYNOPSIS, text=old.synopsis), *elements]
    scenes = list(script.scenes)
    scenes[index] = old.model_copy(update={"elements": elements})
    try:
        out.script = read_back(script.model_copy(update={"scenes": scenes}))
    except InputError as e:
        out.takes.append(writer.take("script", {"scene": scene_id}, None, error=str(e)))
    return out


# --- enrich ------------------------------------------------------------------------------------------


def _speech(script: Script) -> list[list[tuple[str, str | None, str | None, str]]]:
    """Everything but action, per scene: what enrich must never change."""
    return [[(e.kind.value, e.character, e.extension, e.text) for e in s.elements if e.kind != ElementKind.ACTION]
            for s in script.scenes]


def _numbered(scene: Scene) -> str:
    lines, n = [], 0
    for e in scene.elements:
        if e.kind == ElementKind.ACTION:
            n += 1
            lines.append(f"[ACTION {n}] {e.text}")
        elif e.kind == ElementKind.DIALOGUE:
            lines.append(f"    {e.character}: {e.text}")
        elif e.kind == ElementKind.PARENTHETICAL:
            lines.append(f"    {e.text}")
        elif e.text:
            lines.append(e.text)
    return "\n".join(lines)


def enrich_script(
    script: Script, text: TextEngine, *, seed: int, story: StoryInput | None = None,
    templates: TemplateSource = default_templates, guidance: str = "", scene_ids: list[str] | None = None,
    max_attempts: int = 3, progress: ProgressFn | None = None, capsules: CapsuleLibrary | None = None,
) -> Written:
    """Make an ordinary script visually verbose: rewrite ACTION elements only, one for one.

    Dialogue, speakers, parentheticals and their order are never changed (checked in code); an
    action line the model failed to rewrite keeps its original text.
    """
    rules = format_rules(story_rules(story))
    capsule, used = style_capsule_text(story, templates, capsules)
    everyone = list(dict.fromkeys(c for s in script.scenes for c in s.characters))
    looks = _looks_from_script(script, everyone)
    wanted = [s for s in script.scenes if (scene_ids is None or s.id in scene_ids)]
    out = Written()
    scenes = list(script.scenes)
    for k, scene in enumerate(wanted, start=1):
        originals = [e.text for e in scene.elements if e.kind == ElementKind.ACTION]
        if not originals:
            continue
        values = {"characters": _characters_block(scene.characters, looks), "heading": scene.heading or "(no heading)",
                  "scene": _numbered(scene), "guidance": guidance.strip() or NO_GUIDANCE, "count": len(originals)}
        rendered = messages_for(templates, "script", {"story_rules": rules, "style_capsule": capsule}, values,
                                VARIABLES, system="enrich_system", user="enrich_user", extra=used)
        inputs = {"scene": scene.model_dump(mode="json"), "rules": rules, "guidance": guidance,
                  "t": rendered.template_hash}
        target = f"scene:{scene.id}"
        try:
            got = ask(text, rendered.messages, EnrichedActions, seed=seed + k, context={"originals": originals},
                      max_attempts=max_attempts)
        except EngineError as e:
            out.takes.append(make_take(Stage.SCRIPT, purpose="enrich", inputs=inputs, rendered=rendered, text=text,
                                       seed=seed + k, target=target, error=engine_failure(e, f"scene {scene.number}")))
            return out
        assert got.value is not None
        new = list(got.value.actions)
        rewritten = [n if i < len(new) and len(n.strip()) >= len(o.strip()) else o
                     for i, (o, n) in enumerate(zip(originals, new + originals[len(new):], strict=True))]
        it = iter(rewritten)
        elements = [e.model_copy(update={"text": next(it).strip()}) if e.kind == ElementKind.ACTION else e
                    for e in scene.elements]
        index = scenes.index(scene)
        scenes[index] = scene.model_copy(update={"elements": elements})
        out.takes.append(make_take(Stage.SCRIPT, purpose="enrich", inputs=inputs, rendered=rendered, text=text,
                                   seed=seed + k, target=target, attempts=got.attempts, seconds=got.seconds,
                                   messages=got.messages, output=got.value))
        if progress:
            progress(k / len(wanted), f"Scene {scene.number} enriched")
    enriched = script.model_copy(update={"scenes": scenes})
    try:
        again = read_back(enriched)
        enriched = again if _speech(again) == _speech(script) else enriched
    except InputError:
        pass  # keep the elements as rewritten; dialogue is untouched either way
    if _speech(enriched) != _speech(script):  # pragma: no cover - a bug, never the model's doing
        out.takes.append(make_take(Stage.SCRIPT, purpose="enrich", inputs={}, rendered=None, text=text, seed=seed,
                                   error="Enriching changed a line of dialogue, so nothing was saved."))
        return out
    out.script = enriched
    return out


# --- skip to script: import ------------------------------------------------------------------------

_EXTENSIONS = {"fountain": ".fountain", "fdx": ".fdx", "pdf": ".txt", "txt": ".txt", "md": ".md", "typed": ".txt"}


def is_screenplay_input(story: StoryInput) -> bool:
    """True when the input's primary source is a finished screenplay to import, not to rewrite."""
    primary = story.primary
    if primary is None or not primary.text.strip():
        return False
    if story.mode == InputMode.SKIP_TO_SCRIPT or story.brief.has_script:
        return True
    return story.skips_writing and primary.format in ("fountain", "fdx") and story.brief.has_script is not False


def import_script(story: StoryInput) -> Take:
    """The primary source read by the screenplay importer (no model call); output is the Script.

    Raises:
        InputError: there is no primary source, or it does not read as a screenplay (one sentence).
    """
    from aiuteur.screenplay import import_screenplay

    primary = story.primary
    if primary is None or not primary.text.strip():
        raise InputError("Add the screenplay as the primary source before importing it as the script.")
    stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", primary.name or "script") or "script"
    script = import_screenplay(primary.text.encode("utf-8"), stem + _EXTENSIONS.get(primary.format, ".txt"))
    return Take(stage=Stage.SCRIPT, purpose="import_script", inputs_hash=content_hash(primary.model_dump(mode="json")),
                engine="import", model_id="aiuteur.screenplay", output=script.model_dump(mode="json"))


# --- the stage ---------------------------------------------------------------------------------------


def _material(ctx: StageContext, story: StoryInput) -> tuple[str, str]:
    """What the plan is written from: the beat sheet, or (skip to stage 4) the inputs themselves."""
    if ctx.state.skips_writing:
        return "THE MATERIAL (write the script straight from it)", f"{sources_text(story)}\n\nBRIEF\n{brief_text(story)}"
    sheet = ctx.inputs.beats
    if sheet is None or not sheet.beats:
        raise InputError("Make the beat sheet before writing the script.")
    beats = "\n".join(f"{i}. {b.title}: {b.summary}" for i, b in enumerate(sheet.beats, start=1))
    material = f"{beats}\n\nBRIEF\n{brief_text(story)}"
    if story.primary is not None and story.primary.text.strip():
        # The beats summarise a retelling; the story keeps every name, place and look exactly.
        material += ("\n\nTHE STORY THE BEATS COME FROM (for the exact names of the people and places, how "
                     f"they look and the places where things happen)\n{sources_text(story, limit=8000)}")
    return "THE BEAT SHEET (every beat must happen, in this order)", material


def _beat_places(ctx: StageContext) -> list[BeatPlace]:
    """The saved beat sheet's beats in order, each with where it happens ("" where it names no
    place); none when the script is written straight from the inputs."""
    if ctx.state.skips_writing:  # no beat sheet is read (its loader does not read one)
        return []
    sheet = ctx.inputs.beats
    if sheet is None or not sheet.beats:
        return []
    return [BeatPlace(i, b.place, b.summary) for i, b in enumerate(sheet.beats, start=1)]


def _summary_take(writer: Writer, written: Written, target: str = "") -> Take:
    """The take the saved script points at: its output is the whole Script (so it can be chosen again)."""
    assert written.script is not None
    made = [t for t in written.takes if t.ok]
    return writer.take("script", {"takes": [t.id for t in made]}, None, target=target,
                       attempts=sum(t.attempts for t in made), seconds=sum(t.seconds for t in made),
                       output=written.script)  # the notes stay on the plan and scene takes


def _outcome(writer: Writer, written: Written, target: str = "") -> StageOutcome:
    if not written.ok:
        return StageOutcome(takes=written.takes)
    final = _summary_take(writer, written, target)
    assert written.script is not None
    return StageOutcome(takes=[*written.takes, final], artifact=written.script, take_id=final.id)


def saved_script(ctx: StageContext) -> Script:
    script = ctx.inputs.script
    if script is None or not script.scenes:
        raise InputError("Write or import the script first.")
    return script


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: import or write (WriteScript), rewrite one scene (RewriteScene), enrich
    (EnrichScript), or rewrite a highlighted passage of the Fountain (RewritePassage)."""
    action = ctx.action
    if isinstance(action, RewritePassage):
        return run_passage(ctx, Stage.SCRIPT, action)
    story = require_story(ctx.inputs.story, "the script")
    assert isinstance(action, WriteScript | RewriteScene | EnrichScript)
    # Skip to script: import the screenplay, no model call (and no model loaded).
    if is_screenplay_input(story) and isinstance(action, WriteScript):
        take = import_script(story)
        assert take.output is not None
        ctx.report(1.0, "Screenplay imported")
        return StageOutcome(takes=[take], artifact=Script.model_validate(take.output), take_id=take.id)
    writer = Writer(text=ctx.engines.text("script"), story=story, templates=ctx.template, seed=ctx.seed,
                    guidance=ctx.guidance, max_attempts=action.max_attempts,
                    beat_places=_beat_places(ctx), capsules=ctx.capsules)
    # 1. Enrich an existing (ordinary) script: action lines only.
    if isinstance(action, EnrichScript):
        script = saved_script(ctx)
        written = enrich_script(script, writer.text, seed=ctx.seed, story=story, templates=ctx.template,
                                guidance=ctx.guidance, scene_ids=[action.scene_id] if action.scene_id else None,
                                progress=ctx.progress, max_attempts=writer.max_attempts, capsules=ctx.capsules)
        return _outcome(writer, written, action.target)
    # 2. Rewrite one scene, keeping the others and every scene id.
    if isinstance(action, RewriteScene):
        written = regenerate_scene(writer, saved_script(ctx), action.scene_id, guidance=ctx.guidance)
        return _outcome(writer, written, action.target)
    # 3. Write it: plan, then scene by scene, from the beats or straight from the inputs.
    label, material = _material(ctx, story)
    written = write_script(writer, label, material, progress=ctx.report,
                           on_partial=ctx.on_partial)
    return _outcome(writer, written)


__all__ = [
    "EnrichedActions", "SceneDraft", "ScriptPlanDraft", "Writer", "enrich_script", "import_script",
    "is_screenplay_input", "read_back", "regenerate_scene", "scene_schema", "write_script",
]
