"""Stage 7, shot list: split one approved scene into shots of at most 8 s, never rewriting it.

The scene is cut by code into *units*: action sentences (long ones split at commas, then into
word runs) and whole dialogue lines (a parenthetical travels with its line). The model only
groups consecutive units into shots and picks the camera (size, angle, movement, lens) and who
is in frame, by unit number, under a bounded schema. Every word of action and dialogue in a
shot is copied from the scene by code, so the shot list cannot rewrite the script; code checks
that every unit is in exactly one shot, in order, and that no shot runs past 8 s, and re-asks
with the complaint. When attempts run out a deterministic split is used: it never fails.

Edits keep the same guarantee: split and merge only move unit boundaries, and `check_shots`
refuses a shot list whose dialogue is not every line of the scene, in order, exactly once.

Example:
    take = make_shot_list(scene, assets, engines.text("shot_list"), seed=7)
    shots = ShotList.model_validate(take.output)
"""

from __future__ import annotations

import functools
import itertools
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from aiuteur.domain import (
    Asset,
    AssetCategory,
    ElementKind,
    InputError,
    IntExt,
    Scene,
    Script,
    Shot,
    ShotList,
    Stage,
    StyleAndAssets,
    Take,
)
from aiuteur.domain.names import asset_forms, is_called, names_asset
from aiuteur.engines.base import EngineError, M, Message, ProgressFn, TextEngine
from aiuteur.pipeline import timing
from aiuteur.pipeline.actions import RegenerateShot
from aiuteur.pipeline.assets import canonical, scene_place
from aiuteur.pipeline.layout import default_layout
from aiuteur.pipeline.screen_words import (
    CROWD,
    LOOMING,
    LOWLY,
    MOVEMENT,
    REACTION,
    handled,
    is_heading_fragment,
)
from aiuteur.pipeline.screen_words import OPENING as _OPEN
from aiuteur.pipeline.screen_words import quote_depths as _depths
from aiuteur.pipeline.screen_words import sentences_whole as _sentences
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.writing import (
    TemplateSource,
    ask,
    ask_bounded,
    default_templates,
    engine_failure,
    format_rules,
    make_take,
    messages_for,
    story_rules,
)

MAX_SHOT_S = 8.0
MIN_SHOT_S = 1.5
DIALOGUE_WPS = 2.5  # spoken words per second
ACTION_WPS = 3.0  # words of action per second of screen time
MAX_UNITS = 200
NO_GUIDANCE = "(none)"

SIZES = ("extreme wide", "wide", "full", "medium wide", "medium", "medium close-up", "close-up",
         "extreme close-up", "over the shoulder", "two shot", "insert")
ANGLES = ("eye level", "high angle", "low angle", "bird's eye", "dutch angle", "worm's eye", "point of view")
MOVEMENTS = ("static", "pan", "tilt", "dolly in", "dolly out", "tracking", "crane", "handheld", "zoom in",
             "zoom out", "arc")
LENSES = ("14mm", "18mm", "24mm", "35mm", "50mm", "85mm", "135mm")

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "shot_list/system": frozenset({"story_rules", "max_seconds"}),
    "shot_list/user": frozenset({"heading", "units", "assets", "unit_count", "guidance"}),
    "shot_list/shot_user": frozenset({"heading", "shot", "before", "after", "assets", "guidance"}),
}

Name = Annotated[str, StringConstraints(min_length=1, max_length=40)]


# --- units: the scene cut into pieces a shot can hold ------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One piece of the scene, copied word for word: an action sentence or one dialogue line."""

    index: int  # position in the scene's unit list
    kind: Literal["action", "dialogue"]
    element: int  # index into scene.elements
    text: str
    character: str | None = None
    parenthetical: str = ""
    dialogue_index: int | None = None  # index into scene.dialogue
    seconds: float = 1.0
    part: int = 0  # a long line split across shots: which part (see pipeline/timing.py)
    parts: int = 1
    extension: str | None = None  # V.O., O.S. …

    def label(self) -> str:
        if self.kind == "dialogue":
            paren = f" {self.parenthetical}" if self.parenthetical else ""
            part = f" [part {self.part + 1} of {self.parts}]" if self.parts > 1 else ""
            return f"{self.character}{paren}{part}: {self.text}"
        return self.text


def words(text: str) -> int:
    return len(text.split())


def dialogue_seconds(text: str) -> float:
    """Screen time of a spoken line: about 2.5 words a second, plus a breath."""
    return round(words(text) / DIALOGUE_WPS + 0.5, 2)


def action_seconds(text: str) -> float:
    """Screen time of an action sentence, by its length (at least a second)."""
    return round(max(1.0, words(text) / ACTION_WPS), 2)


_BREAK_BEFORE = re.compile(r"^(?:and|but|as|while|then|when|until|before|after|so|or|because|where|who|which)$",
                           re.IGNORECASE)
_PHRASE_START = re.compile(r"^(?:from|behind|with|without|into|onto|across|through|toward|towards|under|over|past"
                           r"|along|beside|between|among|around|against|inside|outside|beneath|above|below)$",
                           re.IGNORECASE)
_LEADING_FRAGMENT = re.compile(r"^(?P<head>[^a-z]{2,}?):\s+(?=\S)")


def _fits(words: list[str]) -> bool:
    return action_seconds(" ".join(words)) <= MAX_SHOT_S - 0.5


def _cut_words(words: list[str]) -> list[list[str]]:
    """Cut a run of words too long for one shot, never mid-phrase: at a clause end (",", ";", ":",
    "—") first, then before a joining word ("and", "while" …), then before a preposition ("from",
    "behind" …), then anywhere else outside brackets; never inside a parenthesis or a quote, never
    between a name and the parenthesis that describes it ("MAYA CHEN (30s, wiry)"), and never
    leaving a word alone. A run with no such place stays whole (a long shot, not a broken phrase)."""
    if _fits(words) or len(words) < 4:
        return [words]
    depth = _depths(words)
    n = len(words)
    limit = int((MAX_SHOT_S - 1) * ACTION_WPS)

    def allowed(i: int) -> bool:  # a cut before words[i]
        return 2 <= i <= n - 2 and depth[i - 1] == 0 and not words[i].startswith(tuple(_OPEN))

    def best(cands: list[int]) -> int | None:
        fine = [i for i in cands if allowed(i)]
        ok = [i for i in fine if i <= limit]
        return max(ok) if ok else min(fine, default=None)

    clause = [i + 1 for i in range(n - 1) if words[i][-1] in ",;:—–"]
    joiner = [i for i in range(1, n) if _BREAK_BEFORE.match(words[i].strip(",;:"))]
    phrase = [i for i in range(1, n) if _PHRASE_START.match(words[i])]
    for cands in (clause, joiner, phrase, list(range(1, n))):
        at = best(cands)
        if at is not None:
            return [*_cut_words(words[:at]), *_cut_words(words[at:])]
    return [words]


def _pieces(text: str) -> list[str]:
    """An action paragraph in sentences; a sentence too long for one shot at clause ends outside
    brackets and quotes, then before joining words (see `_cut_words`). Headings, transitions,
    camera directions and empty fragments written into the action ("INT.", "BEDROOM - DUSK:",
    "CUT TO:") are not pieces: they are never a shot's action.

    Joining the pieces with single spaces gives the paragraph back without those fragments
    (whitespace is collapsed by the importer), so nothing else is lost or added.
    """
    out: list[str] = []
    for sentence in _sentences(text.strip()):
        lead = _LEADING_FRAGMENT.match(sentence)
        if lead and is_heading_fragment(lead.group("head")):
            sentence = sentence[lead.end():].strip()  # "BEDROOM - DUSK: Marisol sits." -> "Marisol sits."
        if not sentence or is_heading_fragment(sentence):
            continue
        out.extend(" ".join(w) for w in _cut_words(sentence.split()) if w)
    return out


ACTION_KINDS = (ElementKind.ACTION, ElementKind.CENTERED, ElementKind.LYRIC)


def scene_units(scene: Scene) -> list[Unit]:
    """The scene as units, in order: what shots are made of. Deterministic for a scene."""
    units: list[Unit] = []
    paren = ""
    d_index = -1
    for i, e in enumerate(scene.elements):
        if e.kind == ElementKind.DIALOGUE:
            d_index += 1
            parts = timing.split_line(e.text)  # a line too long for one shot, at sentences and phrases
            for k, piece in enumerate(parts):
                units.append(Unit(len(units), "dialogue", i, piece, e.character, paren, d_index,
                                  dialogue_seconds(piece), part=k, parts=len(parts), extension=e.extension))
            paren = ""
        elif e.kind == ElementKind.PARENTHETICAL:
            paren = e.text.strip()
        elif e.kind in ACTION_KINDS and e.text.strip():
            for piece in _pieces(e.text):
                units.append(Unit(len(units), "action", i, piece, seconds=action_seconds(piece)))
    return units


# --- generation schemas (bounded) ---------------------------------------------------------------------


class ShotDraft(BaseModel):
    """One camera setup: which numbered units of the scene it shows, and how the camera sees them."""

    model_config = ConfigDict(extra="forbid")
    units: list[Annotated[int, Field(ge=1, le=MAX_UNITS)]] = Field(
        min_length=1, max_length=10, description="Numbers of consecutive units of the scene this shot shows.")
    size: Literal[SIZES] = Field(description="Shot size.")  # type: ignore[valid-type]
    angle: Literal[ANGLES] = Field(description="Camera angle.")  # type: ignore[valid-type]
    movement: Literal[MOVEMENTS] = Field(description="Camera movement.")  # type: ignore[valid-type]
    lens: Literal[LENSES] = Field(description="Lens focal length.")  # type: ignore[valid-type]
    in_frame: list[Name] = Field(default_factory=list, max_length=6,
                                 description="Names of the characters, places and props we see.")


class ShotListDraft(BaseModel):
    """The scene as shots: every unit in exactly one shot, in order, no shot longer than the limit."""

    model_config = ConfigDict(extra="forbid")
    shots: list[ShotDraft] = Field(min_length=1, max_length=40)


@functools.lru_cache(maxsize=64)
def shot_list_schema(n: int) -> type[ShotListDraft]:
    """`ShotListDraft` for a scene of `n` units: at most `n` shots, each showing units 1 to `n`. Every
    unit goes in exactly one shot, so a longer list is wrong by construction; left to 40 shots of
    10 units, the offline model once wrote the same shots over and over for 3,085 tokens (105 s, a
    wash-bay scene of 7 units, 430 grouping problems) where the bound ends the list."""
    n = max(1, min(n, MAX_UNITS))
    shot = create_model(
        f"ShotDraft{n}", __base__=ShotDraft,
        units=(list[Annotated[int, Field(ge=1, le=n)]],
               Field(min_length=1, max_length=min(10, n),
                     description=f"Numbers of consecutive units of the scene (1 to {n}) this shot shows.")))
    schema: type[ShotListDraft] = create_model(
        f"ShotListDraft{n}", __base__=ShotListDraft,
        shots=(list[shot], Field(min_length=1, max_length=min(40, n),  # type: ignore[valid-type]
                                 description=f"The shots, in order; at most {min(40, n)}: every unit in exactly one.")))
    return schema


class CameraDraft(BaseModel):
    """New camera choices for one shot; what it shows stays the same."""

    model_config = ConfigDict(extra="forbid")
    size: Literal[SIZES]  # type: ignore[valid-type]
    angle: Literal[ANGLES]  # type: ignore[valid-type]
    movement: Literal[MOVEMENTS]  # type: ignore[valid-type]
    lens: Literal[LENSES]  # type: ignore[valid-type]
    in_frame: list[Name] = Field(default_factory=list, max_length=6)


def grouping_problems(groups: list[list[int]], unit_seconds: list[float]) -> list[str]:
    """Why a grouping (1-based unit numbers per shot) is not a clean cut of the scene (for the take's note)."""
    n = len(unit_seconds)
    flat = [u for g in groups for u in g]
    problems: list[str] = []
    out_of_range = sorted({u for u in flat if not 1 <= u <= n})
    if out_of_range:
        problems.append(f"units {out_of_range} do not exist; the scene has units 1 to {n}")
    seen: dict[int, int] = {}
    for k, g in enumerate(groups, start=1):
        for u in g:
            if u in seen and seen[u] != k:
                problems.append(f"unit {u} is in shot {seen[u]} and shot {k}; put each unit in exactly one shot")
            seen.setdefault(u, k)
    missing = [u for u in range(1, n + 1) if u not in seen]
    if missing:
        problems.append(f"units {missing} are in no shot; every unit must be in a shot")
    if not problems and flat != list(range(1, n + 1)):
        problems.append("the shots must take the units in order (1, 2, 3 …), each shot a run of consecutive units")
    for k, g in enumerate(groups, start=1):
        valid = [u for u in g if 1 <= u <= n]
        total = sum(unit_seconds[u - 1] for u in valid)
        if len(valid) > 1 and total > MAX_SHOT_S:
            problems.append(f"shot {k} runs about {total:.0f} s; shots are at most {MAX_SHOT_S:.0f} s, so split it")
    return problems


def repair_grouping(draft: ShotListDraft, unit_seconds: list[float]) -> ShotListDraft | None:
    """The model's grouping made a clean cut of the scene by code, keeping its shots' cameras:
    a unit in two shots stays in the first, a unit in none joins the shot before it (or after it),
    a shot whose units are not one run becomes one shot per run, and a run longer than
    MAX_SHOT_S is split between units. None when no unit the model named exists."""
    n = len(unit_seconds)
    owner: dict[int, int] = {}
    for k, d in enumerate(draft.shots):
        for u in d.units:
            if 1 <= u <= n:
                owner.setdefault(u, k)
    if not owner:
        return None
    for u in range(1, n + 1):
        if u not in owner:
            before = [owner[v] for v in range(u - 1, 0, -1) if v in owner]
            owner[u] = before[0] if before else next(owner[v] for v in range(u + 1, n + 1) if v in owner)
    runs: list[tuple[int, list[int]]] = []
    for u in range(1, n + 1):
        if runs and runs[-1][0] == owner[u]:
            runs[-1][1].append(u)
        else:
            runs.append((owner[u], [u]))
    pieces: list[tuple[int, list[int]]] = []
    for k, us in runs:
        piece: list[int] = []
        for u in us:
            total = sum(unit_seconds[v - 1] for v in piece) + unit_seconds[u - 1]
            if piece and (total > MAX_SHOT_S or len(piece) >= 10):
                pieces.append((k, piece))
                piece = []
            piece.append(u)
        pieces.append((k, piece))
    if len(pieces) > 40:
        return None
    return ShotListDraft(shots=[draft.shots[k].model_copy(update={"units": us}) for k, us in pieces])


# --- from groups to shots -----------------------------------------------------------------------------


def shot_letters(k: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' …"""
    letters = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        letters = string.ascii_uppercase[r] + letters
    return letters


def renumber(shots: list[Shot], scene_number: str) -> list[Shot]:
    """Number shots '3A', '3B' … in their order."""
    return [s.model_copy(update={"number": f"{scene_number}{shot_letters(k)}"}) for k, s in enumerate(shots)]


def find_asset(name: str, assets: list[Asset]) -> Asset | None:
    """The asset `name` (a listed name, a cue) is one of the names of, in any case."""
    return next((a for a in assets if is_called(name, asset_forms(a, assets))), None)


def scene_assets(bundle: StyleAndAssets | None, scene_id: str) -> list[Asset]:
    """Registry assets that appear in the scene (not removed), in registry order."""
    if bundle is None:
        return []
    return [a for a in bundle.registry.assets if scene_id in a.scenes and not a.removed]


_PRONOUN = re.compile(r"\b(?:he|she|they|him|her|them|his|hers|their)\b", re.IGNORECASE)


def scene_place_ids(scene: Scene, assets: list[Asset]) -> list[str]:
    """The location assets of the scene's own heading place (all the scene's locations when none matches)."""
    places = [a for a in assets if a.category == AssetCategory.LOCATION]
    key = canonical(scene_place(scene), AssetCategory.LOCATION)
    own = [a.id for a in places if key and key in {canonical(n, AssetCategory.LOCATION) for n in [a.name, *a.aliases]}]
    return own or [a.id for a in places]


def off_screen(extension: str | None) -> bool:
    """A cue heard but not seen: V.O. (voice-over), O.S. / O.C. (off screen)."""
    ext = (extension or "").upper().replace(" ", "")
    return any(mark in ext for mark in ("V.O", "O.S", "O.C", "VOICEOVER", "OFF"))


def in_frame(units: list[Unit], assets: list[Asset], named: Sequence[str] = (), *,
             places: Sequence[str] | None = None, before: Sequence[str] = (),
             trust_named: bool = True) -> tuple[list[str], list[str]]:
    """Asset ids in frame and the listed names that are not in the registry.

    In frame: the scene's own place (`places`; every location when None) and any other place the
    units name; the speakers of its lines (not a V.O. or O.S. voice); anyone or anything the units
    name; when the action says only "she" or "they", the characters of the shot before (`before`); and what the model
    listed (`named`) when `trust_named` (its lists told shots apart). Listed names not in the
    registry are returned either way (they become suggestions at stage 8).
    """
    text = " ".join(u.text for u in units)
    action = " ".join(u.text for u in units if u.kind == "action")
    speakers = {(u.character or "").upper() for u in units if u.kind == "dialogue" and not off_screen(u.extension)}
    ids: list[str] = []
    for a in assets:
        if a.category == AssetCategory.LOCATION:
            if places is None or a.id in places or names_asset(text, a, assets):
                ids.append(a.id)
        elif names_asset(text, a, assets) or any(is_called(s, asset_forms(a, assets)) for s in speakers):
            ids.append(a.id)
    by_id = {a.id: a for a in assets}
    people = [i for i in ids if by_id[i].category == AssetCategory.CHARACTER]
    if not people and _PRONOUN.search(action):
        ids += [i for i in before if i in by_id and by_id[i].category == AssetCategory.CHARACTER and i not in ids]
    unknown: list[str] = []
    for name in named:
        hit = find_asset(name, assets)
        if hit is not None:
            other_place = hit.category == AssetCategory.LOCATION and places is not None and hit.id not in places
            unseen_prop = hit.category == AssetCategory.PROP  # a prop is in frame when the shot names it
            if hit.id not in ids and trust_named and not other_place and not unseen_prop:
                ids.append(hit.id)
        elif name.strip() and name.strip() not in unknown:
            unknown.append(name.strip())
    order = {a.id: i for i, a in enumerate(assets)}
    return sorted(ids, key=order.__getitem__), unknown


def _action_of(units: list[Unit]) -> str:
    return " ".join(u.text for u in units if u.kind == "action")


# --- the camera, chosen from the content -------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    size: str
    angle: str
    movement: str
    lens: str


ESTABLISHING = frozenset({"extreme wide", "wide", "full", "medium wide"})
_NEIGHBOUR = {"medium": "medium wide", "medium wide": "medium", "close-up": "medium close-up",
              "medium close-up": "close-up", "wide": "full", "full": "wide", "over the shoulder": "medium close-up",
              "insert": "close-up", "two shot": "medium", "extreme wide": "wide", "extreme close-up": "close-up"}


def choose_camera(units: list[Unit], assets: list[Asset], *, first: bool, exchange: bool, exterior: bool,
                  previous: Camera | None = None) -> Camera:
    """A camera for a shot from what it shows: a wide establishing shot for a new place; over the
    shoulder for a line in an exchange and a close-up for a short one; a close-up for a reaction;
    an insert or close-up for an object handled; wide and high for a crowd; a tracking full shot
    for movement; low for a looming figure, high for a small one; medium otherwise. A shot is never
    framed exactly as the one before it."""
    action = _action_of(units)
    lines = [u for u in units if u.kind == "dialogue"]
    here = {a.id: a for a in assets}
    people = [a for a in here.values() if a.category == AssetCategory.CHARACTER]
    props = [a for a in here.values() if a.category == AssetCategory.PROP]
    angle = "low angle" if LOOMING.search(action) else ("high angle" if LOWLY.search(action) else "eye level")
    if first:
        cam = Camera("extreme wide", "high angle", "pan", "18mm") if exterior else Camera("wide", "eye level", "static", "24mm")
    elif lines and not action:
        words_spoken = sum(len(u.text.split()) for u in lines)
        if words_spoken <= 4 or (lines[0].parenthetical and len(lines) == 1 and words_spoken <= 8):
            cam = Camera("close-up", "eye level", "static", "85mm")
        elif exchange:
            cam = Camera("over the shoulder", "eye level", "static", "50mm")
        else:
            long_line = sum(u.seconds for u in lines) > 5
            cam = Camera("medium close-up", "eye level", "dolly in" if long_line else "static", "85mm")
    elif CROWD.search(action) or len(people) >= 3:
        cam = Camera("wide", "high angle", "static", "24mm")
    elif props and any(handled(sentence, asset_forms(p)) for p in props for sentence in [action]):
        cam = Camera("insert" if not people else "close-up", "high angle" if not people else angle, "static", "50mm")
    elif REACTION.search(action) and len(people) <= 1 and len(action.split()) <= 14:
        cam = Camera("close-up", angle, "static", "85mm")
    elif MOVEMENT.search(action):
        cam = Camera("full", angle, "tracking", "35mm")
    elif len(people) == 2:
        cam = Camera("two shot", angle, "static", "35mm")
    else:
        cam = Camera("medium", angle, "static", "50mm")
    if previous is not None and (cam.size, cam.angle) == (previous.size, previous.angle):
        cam = Camera(_NEIGHBOUR.get(cam.size, "medium"), cam.angle, cam.movement, cam.lens)
    return cam


def _framing(d: ShotDraft | Camera) -> tuple[str, str, str]:
    return d.size, d.angle, d.movement


def usable_cameras(draft: ShotListDraft) -> bool:
    """False when the model is not choosing a camera per shot: every shot of two or more framed
    the same way, or more than half the cuts joining two shots framed the same way (the offline
    model answered runs of 'wide, low angle, dolly in'; docs/evals.md)."""
    framings = [_framing(d) for d in draft.shots]
    if len(framings) < 2:
        return True
    repeats = sum(a == b for a, b in itertools.pairwise(framings))
    return len(set(framings)) > 1 and repeats * 2 <= len(framings) - 1


def usable_in_frame(draft: ShotListDraft, assets: Sequence[Asset] = ()) -> bool:
    """False when the model listed the same names for every shot of a scene of two or more shots,
    or put every character and prop of the scene (two or more) in its one shot."""
    lists = {tuple(sorted(n.strip().lower() for n in d.in_frame)) for d in draft.shots}
    if len(draft.shots) >= 2:
        return len(lists) > 1
    listed = {a.id for n in draft.shots[0].in_frame if (a := find_asset(n, list(assets))) is not None} \
        if draft.shots else set()
    things = {a.id for a in assets if a.category != AssetCategory.LOCATION}
    return len(things) < 2 or not things <= listed


def shot_from_units(units: list[Unit], assets: list[Asset], *, size: str, angle: str, movement: str, lens: str,
                    named: Sequence[str] = (), shot_id: str | None = None, places: Sequence[str] | None = None,
                    before: Sequence[str] = (), trust_named: bool = True) -> Shot:
    """A shot holding `units`: action and dialogue copied by code, duration estimated from them."""
    ids, unknown = in_frame(units, assets, named, places=places, before=before, trust_named=trust_named)
    seconds = sum(u.seconds for u in units)
    by_id = {a.id: a for a in assets}
    characters = [by_id[i] for i in ids if by_id[i].category == AssetCategory.CHARACTER]
    fields = dict(
        number="?", size=size, angle=angle, movement=movement, lens=lens, action=_action_of(units), assets=ids,
        dialogue=list(dict.fromkeys(u.dialogue_index for u in units if u.dialogue_index is not None)),
        duration_s=round(min(MAX_SHOT_S, max(MIN_SHOT_S, seconds)), 1), units=[u.index for u in units],
        unregistered=unknown, layout=default_layout(_action_of(units), characters),
    )
    return Shot(id=shot_id, **fields) if shot_id else Shot(**fields)  # type: ignore[arg-type]


def shots_from_groups(groups: list[list[Unit]], scene: Scene, assets: list[Asset],
                      cameras: Sequence[Camera | None], named: Sequence[Sequence[str]] = (),
                      trust_named: bool = True) -> ShotList:
    """Shots from groups of units with their cameras (None: chosen by code from the shot's content
    and the camera of the shot before, `choose_camera`)."""
    speakers = {u.character for g in groups for u in g if u.kind == "dialogue"}
    exterior = scene.int_ext == IntExt.EXT or scene.heading.strip().upper().startswith(("EXT", "EST"))
    places = scene_place_ids(scene, assets)
    shots: list[Shot] = []
    before: list[str] = []
    previous: Camera | None = None
    for k, g in enumerate(groups):
        given = cameras[k] if k < len(cameras) else None
        if given is None:
            ids, _ = in_frame(g, assets, places=places, before=before)
            given = choose_camera(g, [a for a in assets if a.id in ids], first=k == 0, exchange=len(speakers) >= 2,
                                  exterior=exterior, previous=previous)
        cam = given
        previous = cam
        shot = shot_from_units(g, assets, size=cam.size, angle=cam.angle, movement=cam.movement, lens=cam.lens,
                               named=named[k] if k < len(named) else (), places=places, before=before,
                               trust_named=trust_named)
        shots.append(shot)
        before = shot.assets
    return ShotList(shots=renumber(shots, scene.number))


def from_draft(draft: ShotListDraft, scene: Scene, assets: list[Asset], *, guided: bool = False) -> ShotList:
    """The model's grouping as shots. Its camera is kept when it tells shots apart (or the filmmaker
    guided it), else chosen by code from the content, and the first shot always establishes the
    place unless the filmmaker guided otherwise, and a shot the model framed as the one before it
    is framed by code; its in-frame names are kept when they differ
    from shot to shot, else what each shot names or implies decides."""
    units = scene_units(scene)
    groups = [[units[u - 1] for u in d.units] for d in draft.shots]
    keep_camera = guided or usable_cameras(draft)
    cameras: list[Camera | None] = [Camera(d.size, d.angle, d.movement, d.lens) if keep_camera else None
                                    for d in draft.shots]
    if keep_camera and not guided:  # a shot framed as the one before it: the code frames it from its content
        cameras = [None if k and _framing(d) == _framing(draft.shots[k - 1]) else cam
                   for k, (d, cam) in enumerate(zip(draft.shots, cameras, strict=True))]
    if not guided and cameras and cameras[0] is not None and cameras[0].size not in ESTABLISHING:
        cameras[0] = None  # a scene opens on its place: the code's establishing shot
    return shots_from_groups(groups, scene, assets, cameras, [list(d.in_frame) for d in draft.shots],
                             trust_named=usable_in_frame(draft, assets))


def fallback_groups(units: list[Unit]) -> list[list[Unit]]:
    """Greedy cut that never fails: a new shot when the next unit would pass 6 s (8 s at most),
    when action turns to speech or back, or when the speaker changes."""
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    for u in units:
        if current:
            total = sum(x.seconds for x in current)
            last = current[-1]
            turn = last.kind != u.kind or (u.kind == "dialogue" and last.character != u.character)
            if total + u.seconds > 6.0 or turn:
                groups.append(current)
                current = []
        current.append(u)
    if current:
        groups.append(current)
    return groups


def fallback_shot_list(scene: Scene, assets: list[Asset]) -> ShotList:
    """The deterministic shot list: the greedy cut, each shot's camera chosen from its content."""
    units = scene_units(scene)
    if not units:
        shots = [Shot(number="?", size="wide", angle="eye level", movement="static", lens="24mm", action="",
                      assets=scene_place_ids(scene, assets), duration_s=3.0)]
        return ShotList(shots=renumber(shots, scene.number))
    groups = fallback_groups(units)
    return shots_from_groups(groups, scene, assets, [None] * len(groups))


# --- checks on any shot list (generated or edited) --------------------------------------------------


def shot_lines(shot: Shot, scene: Scene) -> list[str]:
    """The shot's dialogue as 'SPEAKER: line', copied from the scene (only its part of a split line)."""
    lines = scene.dialogue
    units = scene_units(scene) if shot.units else []
    mine = [units[i] for i in shot.units if 0 <= i < len(units) and units[i].kind == "dialogue"]
    if mine:
        return [f"{u.character}: {u.text}" for u in mine]
    return [f"{lines[i].character}: {lines[i].text}" for i in shot.dialogue if 0 <= i < len(lines)]


def joined_lines(shots: ShotList, scene: Scene) -> list[str]:
    """Every line the shots carry as 'SPEAKER: line', the parts of a line split across shots joined
    with spaces (equal to the script's line when nothing was rewritten)."""
    units = scene_units(scene)
    out: list[str] = []
    last: int | None = None
    for s in shots.shots:
        for i in s.units:
            u = units[i] if 0 <= i < len(units) else None
            if u is None or u.kind != "dialogue":
                continue
            if u.dialogue_index == last and u.part > 0 and out:
                out[-1] += " " + u.text
            else:
                out.append(f"{u.character}: {u.text}")
            last = u.dialogue_index
    return out


def check_shots(shots: ShotList, scene: Scene) -> None:
    """Raise InputError unless every dialogue line of the scene is in exactly one shot, in order.

    The line text itself is always the scene's (shots hold indexes), so this is the whole of
    "never rewrites the script" for dialogue.
    """
    n = len(scene.dialogue)
    got: list[int] = []
    for s in shots.shots:
        for k, i in enumerate(s.dialogue):
            if not (k == 0 and got and got[-1] == i):  # a long line split across consecutive shots
                got.append(i)
    if got == list(range(n)):
        return
    bad = sorted({i for i in got if not 0 <= i < n})
    if bad:
        raise InputError(f"Scene {scene.number} has {n} lines of dialogue; a shot points at line(s) "
                         f"{[b + 1 for b in bad]}, which do not exist. Regenerate the shot list.")
    dup = sorted({i + 1 for i in got if got.count(i) > 1})
    if dup:
        raise InputError(f"Line(s) {dup} of scene {scene.number} are in more than one shot; each line "
                         "belongs to exactly one shot.")
    missing = sorted(i + 1 for i in set(range(n)) - set(got))
    if missing:
        raise InputError(f"Line(s) {missing} of scene {scene.number} are in no shot; the shot list must "
                         "keep every line of the script.")
    raise InputError(f"The shots of scene {scene.number} put its dialogue out of order; keep the script's order.")


# --- edits: add, delete, reorder, split, merge, update ------------------------------------------


def _index(shots: ShotList, shot_id: str) -> int:
    for i, s in enumerate(shots.shots):
        if s.id == shot_id:
            return i
    raise InputError("That shot is no longer in the shot list; reload it and try again.")


def _finish(shots: list[Shot], scene: Scene, base: ShotList | None = None) -> ShotList:
    """The edited shots renumbered and checked; the spoken lines kept, and no shot shorter than its lines."""
    out = ShotList(shots=renumber(shots, scene.number))
    if base is not None and base.lines:
        units = scene_units(scene)
        fitted = [timing.fit_duration(s, units, base.lines) for s in out.shots]
        out = base.model_copy(update={"shots": [f if f.duration_s > s.duration_s else s
                                                for f, s in zip(fitted, out.shots, strict=True)]})
    check_shots(out, scene)
    return out


def add_shot(shots: ShotList, scene: Scene, after_id: str | None = None, *, action: str = "",
             duration_s: float = 3.0) -> ShotList:
    """Insert a new shot (no script lines of its own) after `after_id`, or at the end."""
    at = _index(shots, after_id) + 1 if after_id else len(shots.shots)
    new = Shot(number="?", action=action.strip(), duration_s=min(MAX_SHOT_S, max(0.5, duration_s)))
    return _finish([*shots.shots[:at], new, *shots.shots[at:]], scene, shots)


def delete_shot(shots: ShotList, scene: Scene, shot_id: str) -> ShotList:
    """Delete a shot that holds no dialogue (merge it into a neighbour to keep its lines)."""
    i = _index(shots, shot_id)
    shot = shots.shots[i]
    if shot.dialogue:
        raise InputError(f"Shot {shot.number} holds dialogue from the script; merge it into the shot before "
                         "or after instead of deleting it, so no line is lost.")
    return _finish([s for s in shots.shots if s.id != shot_id], scene, shots)


def move_shot(shots: ShotList, scene: Scene, shot_id: str, delta: int) -> ShotList:
    """Move a shot earlier (delta < 0) or later; shots carrying dialogue may not pass each other."""
    i = _index(shots, shot_id)
    j = max(0, min(len(shots.shots) - 1, i + delta))
    order = list(shots.shots)
    order.insert(j, order.pop(i))
    try:
        return _finish(order, scene, shots)
    except InputError:
        raise InputError(f"Moving shot {shots.shots[i].number} there would put the dialogue out of the "
                         "script's order; move a shot without dialogue, or split first.") from None


def split_shot(shots: ShotList, scene: Scene, shot_id: str, at: int | None = None) -> ShotList:
    """Split a shot in two between its units (`at` units in the first; default: the middle).

    No story content is added: the two shots hold exactly the units the one held.
    """
    i = _index(shots, shot_id)
    shot = shots.shots[i]
    units = scene_units(scene)
    mine = [units[u] for u in shot.units if 0 <= u < len(units)]
    if len(mine) < 2:
        raise InputError(f"Shot {shot.number} holds a single line or sentence of the script; it cannot be split.")
    k = len(mine) // 2 if at is None else at
    if not 1 <= k < len(mine):
        raise InputError(f"Split shot {shot.number} after unit 1 to {len(mine) - 1}; it has {len(mine)} units.")
    assets = shot.assets
    common = {"size": shot.size, "angle": shot.angle, "movement": shot.movement, "lens": shot.lens}
    first, second = mine[:k], mine[k:]
    a = _rebuilt(shot, first, assets, common)
    b = _rebuilt(Shot(number="?", layout=shot.layout), second, assets, common)  # the same blocking both sides
    return _finish([*shots.shots[:i], a, b, *shots.shots[i + 1:]], scene, shots)


def _rebuilt(base: Shot, units: list[Unit], assets: list[str], common: dict[str, str]) -> Shot:
    seconds = sum(u.seconds for u in units)
    return base.model_copy(update={
        **common, "units": [u.index for u in units], "action": _action_of(units), "assets": list(assets),
        "dialogue": list(dict.fromkeys(u.dialogue_index for u in units if u.dialogue_index is not None)),
        "duration_s": round(min(MAX_SHOT_S, max(MIN_SHOT_S, seconds)), 1),
    })


def merge_shots(shots: ShotList, scene: Scene, shot_id: str) -> ShotList:
    """Merge a shot with the one after it; the result may not run past 8 s. Adds nothing."""
    i = _index(shots, shot_id)
    if i + 1 >= len(shots.shots):
        raise InputError(f"Shot {shots.shots[i].number} is the last shot; merge the shot before it instead.")
    a, b = shots.shots[i], shots.shots[i + 1]
    total = a.duration_s + b.duration_s
    if total > MAX_SHOT_S:
        raise InputError(f"Shots {a.number} and {b.number} together run {total:.1f} s; a shot is at most "
                         f"{MAX_SHOT_S:.0f} s, so they stay apart.")
    action = " ".join(x for x in (a.action, b.action) if x)
    merged = a.model_copy(update={
        "units": [*a.units, *b.units], "dialogue": list(dict.fromkeys([*a.dialogue, *b.dialogue])), "action": action,
        "assets": list(dict.fromkeys([*a.assets, *b.assets])), "duration_s": round(total, 1),
        "unregistered": list(dict.fromkeys([*a.unregistered, *b.unregistered])),
        "layout": {**b.layout, **a.layout},  # the first shot's blocking wins where both place someone
    })
    return _finish([*shots.shots[:i], merged, *shots.shots[i + 2:]], scene, shots)


EDITABLE = ("size", "angle", "movement", "lens", "action", "duration_s", "assets", "layout")


def update_shot(shots: ShotList, scene: Scene, shot_id: str, **changes: object) -> ShotList:
    """Change a shot's camera, action, duration, assets in frame or layout (never its script lines).

    A new `layout` replaces the old one (an empty one: every character placed from the action
    again); otherwise the positions of assets that stay in frame are kept, and an asset taken out
    of frame loses its position.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InputError(f"Only {', '.join(EDITABLE)} of a shot can be edited, not {', '.join(sorted(unknown))}.")
    i = _index(shots, shot_id)
    old = shots.shots[i]
    try:
        new = Shot.model_validate({**old.model_dump(), **changes})
    except ValueError as e:
        raise InputError(f"Shot {old.number} could not be changed: {str(e).splitlines()[-1]}") from None
    new = new.model_copy(update={"layout": {k: v for k, v in new.layout.items() if k in new.assets}})
    return _finish([*shots.shots[:i], new, *shots.shots[i + 1:]], scene, shots)


# --- the stage ---------------------------------------------------------------------------------------


def _assets_block(assets: list[Asset]) -> str:
    if not assets:
        return "(no registered assets for this scene)"
    return "\n".join(f"- {a.name} ({a.category.value})" for a in assets)


def _units_block(units: list[Unit]) -> str:
    return "\n".join(f"[{u.index + 1}] {'LINE' if u.kind == 'dialogue' else 'ACTION'} ({u.seconds:g} s) {u.label()}"
                     for u in units) or "(the scene is empty)"


def make_shot_list(scene: Scene, assets: list[Asset], text: TextEngine, *, seed: int, rules: Sequence[str] = (),
                   guidance: str = "", templates: TemplateSource = default_templates) -> Take:
    """Group the scene's units into shots and choose the camera; the Take's output is a ShotList.

    The model is asked once. A grouping that is not a clean cut (a unit twice or never, out of
    order, a shot past MAX_SHOT_S) is repaired by code, keeping the model's cameras, and the take
    says what was repaired: re-asked, the offline model fixed 0 of 5 such groupings and each
    try cost minutes (docs/evals.md). The output never fails to be valid: when nothing of the
    answer is usable (or the model fails) the deterministic split is used, and the purpose says so.
    """
    # 1. Check inputs and cut the scene into units.
    units = scene_units(scene)
    if len(units) > MAX_UNITS:
        raise InputError(f"Scene {scene.number} is {len(units)} sentences and lines long; split it into "
                         f"scenes of at most {MAX_UNITS} in the script.")
    # 2. Render the prompts.
    rendered = messages_for(
        templates, "shot_list", {"story_rules": format_rules(list(rules)), "max_seconds": f"{MAX_SHOT_S:g}"},
        {"heading": scene.heading or f"Scene {scene.number}", "units": _units_block(units),
         "assets": _assets_block(assets), "unit_count": len(units), "guidance": guidance.strip() or NO_GUIDANCE},
        VARIABLES)
    inputs = {"scene": scene.model_dump(mode="json"), "assets": [a.id for a in assets], "rules": list(rules),
              "guidance": guidance, "t": rendered.template_hash}
    if not units:
        return make_take(Stage.SHOTS, purpose="shot_list_fallback", inputs=inputs, rendered=None, text=None,
                         seed=seed, engine="code", scene_id=scene.id, output=fallback_shot_list(scene, assets))
    # 3. Generate with the bounded schema, once.
    try:
        # an engine that does not constrain its output is read as any shot list; code repairs its grouping below
        got = ask_bounded(text, rendered.messages, shot_list_schema(len(units)), ShotListDraft, seed=seed,
                          max_attempts=1, temperature=0.4)
    except EngineError as e:
        why = engine_failure(e, f"the shot list of scene {scene.number}")
        return make_take(Stage.SHOTS, purpose="shot_list_fallback", inputs={**inputs, "why": why}, rendered=rendered,
                         text=text, seed=seed, scene_id=scene.id, output=fallback_shot_list(scene, assets))
    # 4. The model's grouping, repaired by code where it is not a clean cut; else the deterministic split.
    assert got.value is not None
    seconds = [u.seconds for u in units]
    problems = grouping_problems([d.units for d in got.value.shots], seconds)
    draft = repair_grouping(got.value, seconds) if problems else got.value
    if draft is None:
        return make_take(Stage.SHOTS, purpose="shot_list_fallback", inputs={**inputs, "why": "; ".join(problems[:2])},
                         rendered=rendered, text=text, seed=seed, scene_id=scene.id, attempts=got.attempts,
                         seconds=got.seconds, messages=got.messages, output=fallback_shot_list(scene, assets))
    shots = from_draft(draft, scene, assets, guided=bool(guidance.strip()))
    check_shots(shots, scene)
    take = make_take(Stage.SHOTS, purpose="shot_list", inputs=inputs, rendered=rendered, text=text, seed=seed,
                     scene_id=scene.id, attempts=got.attempts, seconds=got.seconds, messages=got.messages,
                     output=shots)
    if problems:
        take = take.model_copy(update={"note": f"Code repaired the model's grouping of scene {scene.number} "
                                               f"({len(problems)} problems: {problems[0]})."})
    return take


def regenerate_shot(scene: Scene, shots: ShotList, shot_id: str, assets: list[Asset], text: TextEngine, *,
                    seed: int, rules: Sequence[str] = (), guidance: str = "",
                    templates: TemplateSource = default_templates, max_attempts: int = 3) -> Take:
    """New camera choices and assets in frame for one shot, with guidance; its script lines stay.

    The take's output is the whole ShotList with that one shot changed.
    """
    i = _index(shots, shot_id)
    shot = shots.shots[i]
    units = scene_units(scene)
    mine = [units[u] for u in shot.units if 0 <= u < len(units)]

    def describe(s: Shot | None) -> str:
        if s is None:
            return "(none)"
        return f"{s.number}: {s.size}, {s.angle}, {s.movement}, {s.lens} — {s.action or ''} {' '.join(shot_lines(s, scene))}"

    rendered = messages_for(
        templates, "shot_list", {"story_rules": format_rules(list(rules)), "max_seconds": f"{MAX_SHOT_S:g}"},
        {"heading": scene.heading or f"Scene {scene.number}", "shot": describe(shot) + "\n" + _units_block(mine),
         "before": describe(shots.shots[i - 1] if i > 0 else None),
         "after": describe(shots.shots[i + 1] if i + 1 < len(shots.shots) else None),
         "assets": _assets_block(assets), "guidance": guidance.strip() or NO_GUIDANCE},
        VARIABLES, user="shot_user")
    target = f"shot:{shot_id}"
    inputs = {"scene": scene.model_dump(mode="json"), "shot": shot.model_dump(mode="json"), "guidance": guidance,
              "t": rendered.template_hash}
    try:
        got = ask(text, rendered.messages, CameraDraft, seed=seed, max_attempts=max_attempts)
    except EngineError as e:
        return make_take(Stage.SHOTS, purpose="shot", inputs=inputs, rendered=rendered, text=text, seed=seed,
                         scene_id=scene.id, target=target, error=engine_failure(e, f"shot {shot.number}"))
    assert got.value is not None
    c = got.value
    ids, unknown = in_frame(mine, assets, list(c.in_frame), places=scene_place_ids(scene, assets))
    if not mine:  # a shot the user added: keep its assets, add the named ones
        ids = list(dict.fromkeys([*shot.assets, *ids]))
    kept = {k: v for k, v in shot.layout.items() if k in ids}  # who stays in frame keeps their place
    by_id = {a.id: a for a in assets}
    newcomers = [by_id[i] for i in ids if i in by_id and by_id[i].category == AssetCategory.CHARACTER]
    new = shot.model_copy(update={"size": c.size, "angle": c.angle, "movement": c.movement, "lens": c.lens,
                                  "assets": ids, "unregistered": unknown,
                                  "layout": {**kept, **default_layout(shot.action, newcomers, kept)}})
    updated = ShotList(shots=[*shots.shots[:i], new, *shots.shots[i + 1:]])
    return make_take(Stage.SHOTS, purpose="shot", inputs=inputs, rendered=rendered, text=text, seed=seed,
                     scene_id=scene.id, target=target, attempts=got.attempts, seconds=got.seconds,
                     messages=got.messages, output=updated)


class Unavailable:
    """Stands in for a text model that could not be loaded: every call raises its EngineError, so
    the stages that have a code fallback (shot list, asset states) still make their artifact."""

    backend = "unavailable"

    def __init__(self, why: str, model_id: str = "") -> None:
        self.why, self.model_id = why, model_id

    def generate(self, messages: list[Message], schema: type[M], *, seed: int, max_tokens: int | None = None,
                 temperature: float = 0.7, progress: ProgressFn | None = None, avoid_copying: Sequence[str] = ()) -> M:
        raise EngineError(self.why)

    def stream(self, messages: list[Message], *, seed: int, max_tokens: int = 512,
               temperature: float = 0.7) -> Iterator[str]:
        raise EngineError(self.why)


def text_engine(ctx: StageContext, purpose: str) -> TextEngine:
    """The text engine for `purpose`, or an `Unavailable` one saying why it could not be loaded."""
    try:
        engine: TextEngine = ctx.engines.text(purpose)
    except EngineError as e:
        return Unavailable(str(e))
    return engine


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: the whole shot list (WriteShotList), or one shot again (RegenerateShot)."""
    assert ctx.scene_id is not None
    scene = ctx.inputs.require_scene()
    bundle = ctx.inputs.assets
    assets = scene_assets(bundle, scene.id)
    rules = story_rules(ctx.inputs.story)
    text = text_engine(ctx, "shot_list")
    action = ctx.action
    if isinstance(action, RegenerateShot):
        saved = ctx.inputs.shots
        if saved is None:
            raise InputError("Make the shot list before regenerating one of its shots.")
        take = regenerate_shot(scene, saved, action.shot_id, assets, text,
                               seed=ctx.seed, rules=rules, guidance=ctx.guidance, templates=ctx.template)
    else:
        take = make_shot_list(scene, assets, text, seed=ctx.seed, rules=rules, guidance=ctx.guidance,
                              templates=ctx.template)
    if not take.ok or take.output is None:
        return StageOutcome(takes=[take])
    # Speak every line in its character's voice and time the shots by them (pipeline/timing.py).
    from aiuteur.pipeline.voices import time_shots

    previous = ctx.inputs.shots
    shots = ShotList.model_validate(take.output)
    if isinstance(action, RegenerateShot) and previous is not None:  # one shot's camera again: its lines and timing stay
        shots = shots.model_copy(update={"lines": previous.lines, "voice_model": previous.voice_model})
    timed = time_shots(shots, scene, ctx.inputs.script or Script(), bundle.registry if bundle is not None else None,
                       ctx.engines, seed=ctx.seed, put_media=ctx.put_media, previous=previous,
                       report=lambda f, what: ctx.report(0.9 + 0.1 * f, what))
    take = take.model_copy(update={"output": timed.shots.model_dump(mode="json")})
    return StageOutcome(takes=[take, *timed.takes], artifact=timed.shots, take_id=take.id)


__all__ = [
    "CameraDraft",
    "ShotDraft",
    "ShotListDraft",
    "Unit",
    "add_shot",
    "check_shots",
    "delete_shot",
    "fallback_shot_list",
    "make_shot_list",
    "merge_shots",
    "move_shot",
    "regenerate_shot",
    "renumber",
    "run",
    "scene_assets",
    "scene_units",
    "shot_lines",
    "shot_list_schema",
    "split_shot",
    "update_shot",
]
