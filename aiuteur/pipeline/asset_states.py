"""Stage 8, scene asset states: how each asset looks in this scene, and the image to carry it.

For every asset of the scene (registry assets listed in the scene, and any a shot puts in
frame): a visual state description inferred by the text model from the scene, its shot list
and the registry's state changes (what they wear and hold, their condition; for a place the
time of day and its dressing), pre-filled from those state changes so a failed call still
leaves something sensible. A change inside the scene is recorded at its shot.

Continuity (DESIGN idea 5): the reference of an asset in scene N defaults to the latest chosen
scene-instance image of that asset in a scene before N, else the master reference. The
*rearview mirror* lists, per asset, the master and every earlier scene's chosen image and
modifications; any of them can become this scene's reference. "Use master as is" skips
generation. Scene-instance images are generated from the reference and the description with
the reference dominant over the style (reference scale above style scale; the reference is also
the img2img start). Several takes form a carousel; one is chosen. Every modification is written
to the audit trail in words. No asset needs an image for the scene to be done.

Suggested assets (names a shot puts in frame, or speakers, that the registry does not have) are
stored and shown until accepted (a real registry asset) or dismissed.
"""

from __future__ import annotations

import functools
import io
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    model_validator,
)

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetState,
    AssetStates,
    InputError,
    Scene,
    ShotList,
    Stage,
    StateChange,
    StyleAndAssets,
    Take,
    VisualStyle,
    content_hash,
)
from aiuteur.domain.names import names_asset
from aiuteur.engines.base import EngineError, ImageRequest, Reference, TextEngine
from aiuteur.pipeline.actions import SceneInstance
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.images_in import load_image
from aiuteur.pipeline.screen_words import (
    changes_back,
    garments,
    retells,
    says_a_look,
    says_look_change,
    says_the_same,
    sentences_whole,
    stems,
    taken_off,
    told_as_i,
    unquoted,
    words_key,
)
from aiuteur.pipeline.shot_list import (
    find_asset,
    scene_assets,
    shot_lines,
    text_engine,
)
from aiuteur.pipeline.stage import StageContext, StageOutcome, describe_error
from aiuteur.pipeline.visual_style import scene_style
from aiuteur.pipeline.writing import (
    TemplateSource,
    ask_bounded,
    default_templates,
    engine_failure,
    format_rules,
    make_take,
    messages_for,
    story_rules,
)

#: IP-Adapter scale of an asset's reference; the style image always gets less (DESIGN idea 6).
REFERENCE_SCALE = 0.8
STYLE_CAP = 0.45
IMG2IMG_STRENGTH = 0.55
NO_GUIDANCE = "(none)"

VARIABLES: dict[str, frozenset[str]] = {
    "asset_states/system": frozenset({"story_rules"}),
    "asset_states/user": frozenset({"heading", "scene", "shots", "assets", "guidance"}),
}

Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]


# --- generation schema (bounded) -----------------------------------------------------------------


class ChangeDraft(BaseModel):
    """A change of look inside the scene, at the shot where it happens."""

    model_config = ConfigDict(extra="forbid")
    shot: str = Field(min_length=1, max_length=8, description="The number of the shot, exactly as the shot list writes it.")
    description: str = Field(min_length=1, max_length=200, description="How the asset looks from that shot on.")


class StateDraft(BaseModel):
    """How one asset looks in this scene."""

    model_config = ConfigDict(extra="forbid")
    number: int = Field(ge=1, le=24, description="The asset's number in the list.")
    description: Text = Field(description="What it looks like in this scene: clothes, what it holds, condition; "
                                          "for a place, the time of day, light and dressing.")
    changes: list[ChangeDraft] = Field(default_factory=list, max_length=3)


class AssetStatesDraft(BaseModel):
    """One visual state per listed asset."""

    model_config = ConfigDict(extra="forbid")
    states: list[StateDraft] = Field(min_length=1, max_length=24)

    @model_validator(mode="after")
    def _one_per_asset(self, info: ValidationInfo) -> AssetStatesDraft:
        ctx = info.context or {}
        if "masters" not in ctx:
            return self
        problems = draft_problems(self, list(ctx["masters"]), set(ctx["shots"]))
        if problems:
            raise ValueError("; ".join(problems[:4]))
        return self


@functools.lru_cache(maxsize=32)
def states_schema(n: int) -> type[AssetStatesDraft]:
    """`AssetStatesDraft` for a scene of `n` assets, one state per asset by construction: the
    states are a tuple whose k-th item is numbered k, so a constrained decoder cannot number an
    asset wrong, leave one out or give one two states. Those were the offline model's re-asks
    (the-wash-bay: 16 asset-state calls for 8 scenes, 1,363 s of its 42 min; docs/evals.md). An
    engine that does not constrain its output is read leniently instead (`writing.read_leniently`)."""
    n = max(1, min(n, 24))
    items = tuple(
        create_model(f"State{k}", __base__=StateDraft,
                     number=(Literal[k], Field(description=f"Always {k}: the number of asset {k}.")))  # type: ignore[valid-type,arg-type]
        for k in range(1, n + 1))
    schema: type[AssetStatesDraft] = create_model(
        f"AssetStatesDraft{n}", __base__=AssetStatesDraft,
        states=(tuple[items], Field(description=f"One state for each of the {n} assets, in their order.")))  # type: ignore[valid-type]
    return schema


def copies_master(state: StateDraft, masters: list[str]) -> bool:
    """The state is its asset's master description word for word: the model saw no change, so the
    asset keeps its last known look (`prefill`), never the master again (which would undo an
    earlier scene's change). Not re-asked: the offline model copied it back every time (12 calls
    for 5 scenes on tuba-audition, docs/evals.md)."""
    master = masters[state.number - 1] if 1 <= state.number <= len(masters) else ""
    return bool(master) and words_key(state.description) == words_key(master)


def draft_problems(draft: AssetStatesDraft, masters: list[str], shot_numbers: set[str]) -> list[str]:
    """Code checks, as sentences for the model: one state per asset, changes at this scene's shots."""
    n = len(masters)
    problems = []
    numbers = [s.number for s in draft.states]
    missing = [k for k in range(1, n + 1) if k not in numbers]
    extra = sorted({k for k in numbers if not 1 <= k <= n})
    dup = sorted({k for k in numbers if numbers.count(k) > 1})
    if missing:
        problems.append(f"assets {missing} have no state; give one state for each of the {n} assets")
    if extra:
        problems.append(f"there are no assets {extra}; number them 1 to {n}")
    if dup:
        problems.append(f"assets {dup} have more than one state; give exactly one each")
    for s in draft.states:
        for c in s.changes:
            if c.shot.strip().upper() not in shot_numbers:
                problems.append(f"asset {s.number} changes at shot {c.shot!r}, which is not a shot of this scene")
    return problems


def usable_states(draft: AssetStatesDraft, masters: list[str], shot_numbers: set[str]) -> dict[int, StateDraft]:
    """The states of an answer that pass the checks, by asset number: the first state of each
    listed asset, with only the changes at shots of this scene (one that copies its master means
    "unchanged": the caller keeps the last known look). What is missing is filled from the
    registry by the caller: a small model that numbers one asset wrong must not lose the states it
    got right."""
    out: dict[int, StateDraft] = {}
    for s in draft.states:
        if not 1 <= s.number <= len(masters) or s.number in out:
            continue
        changes = [c for c in s.changes if c.shot.strip().upper() in shot_numbers]
        out[s.number] = s.model_copy(update={"changes": changes})
    return out


# --- continuity: references, the rearview mirror, pre-fills --------------------------------------------


def saved_states(state: ProjectState, scene_id: str) -> AssetStates | None:
    """The saved asset states of a scene (an earlier one's, for continuity), as their model."""
    return state.artifacts(scene_id).asset_states


def state_of(states: AssetStates | None, asset_id: str) -> AssetState | None:
    if states is None:
        return None
    return next((s for s in states.states if s.asset_id == asset_id), None)


def master_key(asset: Asset) -> str | None:
    """The master reference used for conditioning: the plain-white version when there is one."""
    return asset.master_ref_white or asset.master_ref


def earlier_scenes(state: ProjectState, scene_id: str) -> list[str]:
    ids = state.scene_ids
    return ids[: ids.index(scene_id)] if scene_id in ids else []


def default_reference(state: ProjectState, scene_id: str, asset: Asset) -> tuple[str | None, str]:
    """(media key, where from): the latest chosen scene-instance image of the asset in an earlier
    scene ('scene:<id>'), else its master reference ('master'); (None, 'master') when neither exists."""
    for sid in reversed(earlier_scenes(state, scene_id)):
        st = state_of(saved_states(state, sid), asset.id)
        if st is not None and st.image and not st.use_master:
            return st.image, f"scene:{sid}"
    return master_key(asset), "master"


def current_reference(state: ProjectState, scene_id: str, asset: Asset, st: AssetState | None) -> tuple[str | None, str]:
    """This scene's reference: the one the user pinned, else the default (always up to date)."""
    if st is not None and st.use_master:
        return master_key(asset), "master"
    if st is not None and st.pinned:
        return st.reference, st.reference_from
    return default_reference(state, scene_id, asset)


def scene_image(state: ProjectState, scene_id: str, asset: Asset, st: AssetState | None) -> tuple[str | None, str]:
    """The image that stands for the asset in this scene (for frames): the chosen scene-instance
    image, else the master when 'use master as is', else the reference. (key, where from)."""
    if st is not None and st.image and not st.use_master:
        return st.image, "generated"
    return current_reference(state, scene_id, asset, st)


@dataclass(frozen=True)
class MirrorItem:
    """One image in an asset's rearview mirror."""

    source: str  # 'master' or 'scene:<id>'
    label: str  # 'Master reference', 'Scene 3'
    image: str | None
    description: str
    modifications: list[str]


def rearview(state: ProjectState, scene_id: str, asset: Asset) -> list[MirrorItem]:
    """The asset's master reference, then each earlier scene's chosen image and modifications, oldest first."""
    items = [MirrorItem("master", "Master reference", master_key(asset), asset.description, [])]
    for sid in earlier_scenes(state, scene_id):
        st = state_of(saved_states(state, sid), asset.id)
        if st is None:
            continue
        image = st.image if (st.image and not st.use_master) else None
        items.append(MirrorItem(f"scene:{sid}", state.scene_label(sid), image, st.description, list(st.audit)))
    return items


def source_label(state: ProjectState, source: str) -> str:
    """'master' -> 'the master reference'; 'scene:<id>' -> "Scene 2's image"."""
    if source.startswith("scene:"):
        return f"{state.scene_label(source.removeprefix('scene:'))}'s image"
    if source == "generated":
        return "this scene's chosen image"
    return "the master reference"


@dataclass(frozen=True)
class Look:
    """How an asset looks at a point of the film: `text` (what a pre-fill says), the last change of
    look that holds (`change`, None when none has happened), the look just before that change
    (`base`) and every look recorded before it (`earlier`, the master description first)."""

    text: str
    change: str | None = None
    base: str = ""
    earlier: tuple[str, ...] = ()

    def changed(self, change: str) -> Look:
        """This look after a new change."""
        change = change.strip()
        return Look(change, change, self.text, tuple(dict.fromkeys([*self.earlier, self.text])))

    def described(self, text: str) -> Look:
        """This look as a scene's description says it (the change, if any, still holds)."""
        return Look(text.strip(), self.change, self.base, tuple(dict.fromkeys([*self.earlier, self.text])))


def _merged(first: str, then: str) -> str:
    """`first`, then `then` (unless `then` already begins with it, or says nothing more)."""
    first, then = first.strip(), then.strip()
    if not then or words_key(then).startswith(words_key(first)):
        return then or first
    if not first:
        return then
    return f"{first.rstrip('.')}. {then}"


def keeps(text: str, look: Look) -> bool:
    """True when `text` still says what the look's last change added to the look before it (four
    fifths of those words or more, tense and endings aside): a restatement that drops the gold
    sequins does not. Strict on purpose: a text that fails only gets the change's words first."""
    if look.change is None:
        return True
    added = stems(look.change) - stems(look.base) or stems(look.change)
    return len(added & stems(text)) * 5 >= len(added) * 4


def new_look(text: str, look: Look, asset: Asset) -> bool:
    """True when a recorded change `text` changes the look: it undoes the last change (`changes_back`),
    or it says a look that is none of these, which change nothing (the look before them holds):
    - the last change told again (the script's second telling of it, in fewer words, in the present);
    - a look from before the last change told again, the master's or an earlier state's, without
      saying it goes back (the offline model recorded "Teodora Ruiz is wearing a suit and tie." in
      every scene of the-wash-bay, before and after her disguise);
    - no look at all (a line of the scene, "Gus sings 'The Last Waltz'"), or a look told as "I" or
      "you" (a teller's words, which stage 5 gives to their speaker by name)."""
    plain = unquoted(text)
    if not says_a_look(plain) or told_as_i(plain):
        return False
    names = " ".join([asset.name, *asset.aliases])
    if look.change is None:
        return not retells(text, asset.description, names)
    if changes_back(text, look.change):
        return True
    return not any(retells(text, t, names) for t in (look.change, asset.description, *look.earlier))


def _history(state: ProjectState, scene_id: str, asset: Asset, *, here: bool) -> list[tuple[str, bool]]:
    """(text, is a change) in film order: the registry's state changes up to this scene (with this
    scene's own when `here`), and each earlier scene's saved state: its description (the look as it
    opened), then the changes recorded at its shots."""
    order = {sid: i for i, sid in enumerate(state.scene_ids)}
    at = order.get(scene_id, len(order))
    found: list[tuple[tuple[int, int, int], str, bool]] = [
        ((order[c.scene_id], 0, k), c.description, True) for k, c in enumerate(asset.state_changes)
        if c.shot_id is None and c.scene_id in order and (order[c.scene_id] < at or (here and order[c.scene_id] == at))]
    for sid in earlier_scenes(state, scene_id):
        st = state_of(saved_states(state, sid), asset.id)
        if st is None:
            continue
        found.append(((order.get(sid, -1), 1, 0), st.description, False))
        found.extend(((order.get(sid, -1), 1, 1 + k), c.description, True) for k, c in enumerate(st.changes))
    return [(text, change) for _, text, change in sorted(found, key=lambda f: f[0]) if text.strip()]


def last_look(state: ProjectState, scene_id: str, asset: Asset, *, here: bool = True) -> Look:
    """The asset's last known look at this scene (as it opens when not `here`; with this scene's
    registry changes when `here`): the master description, changed by each recorded change that
    changes the look (`new_look`). A scene's own description follows it while it keeps what the
    last change added (`keeps`), and otherwise gets the change's words first: a change the story
    makes holds into every scene after it until it is changed again or back, whatever shorter
    restatement of it a model or a scene wrote (last-orders-at-the-lantern: the script's second
    telling of Gus putting on the jacket, with no gold or sequins, took its place)."""
    look = Look(asset.description)
    for text, is_change in _history(state, scene_id, asset, here=here):
        if is_change:
            if new_look(text, look, asset):
                look = look.changed(text)
        elif look.change is None or keeps(text, look):
            look = look.described(text)
        else:
            look = look.described(_merged(look.change, text))
    return look


def prefill(state: ProjectState, scene_id: str, asset: Asset) -> str:
    """The asset's last known look at this scene (`last_look`): the registry's state changes at or
    before it and the looks recorded inside earlier scenes (stage 8, by shot); else the master
    description. So a change seen in one scene carries into every scene after it."""
    return last_look(state, scene_id, asset).text or asset.description


def script_sentence(scene: Scene, asset: Asset) -> str:
    """The first action sentence of the scene that names the asset ('' when none does)."""
    for e in scene.elements:
        if e.kind.value not in ("action", "centered"):
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", e.text.strip()):
            if sentence.strip() and names_asset(sentence, asset):
                return sentence.strip()
    return ""


def never_empty(description: str, asset: Asset, scene: Scene, prefilled: str) -> str:
    """A description is never empty: the model's, else the last known look, else the master
    description, else the script's own sentence naming the asset, else its name and kind."""
    for text in (description, prefilled, asset.description, script_sentence(scene, asset)):
        if text and text.strip():
            return text.strip()
    return f"{asset.name}, the {asset.category.value} as the script names it."


def look_before(state: ProjectState, scene_id: str, asset: Asset) -> str:
    """The asset's look as the scene opens (before any change inside it): the last known look before it."""
    return last_look(state, scene_id, asset, here=False).text or asset.description


def carries(text: str, change: str) -> bool:
    """True when `text` already says the change (half its content words or more are in it)."""
    return says_the_same(text, change)


def shot_of(sentence: str, shots: ShotList | None) -> int | None:
    """The index of the shot whose action holds the sentence (by its first words), or None."""
    head = " ".join(words_key(sentence).split()[:6])
    if not head or shots is None:
        return None
    for k, s in enumerate(shots.shots):
        if head in words_key(s.action):
            return k
    return None


def change_shot(description: str, shots: ShotList | None) -> int | None:
    """The index of the shot where a change happens: the shot whose action holds the sentence that
    says the change (a change's words may begin with what is put on: "It was a jacket. … Gus …
    put it on."), else any of its sentences, else None."""
    said = sentences_whole(description) or [description]
    for sentence in sorted(said, key=lambda x: not says_look_change(x, True)):
        at = shot_of(sentence, shots)
        if at is not None:
            return at
    return None


def land_look_changes(state: ProjectState, scene: Scene, shots: ShotList | None, assets: list[Asset],
                      descriptions: list[str], changes: list[list[StateChange]]) -> None:
    """Make each look change the registry records in this scene land in the scene's states (in
    place): at the shot whose action states it (the look before it holds until then), else in the
    scene's description. A state that already says it is left as it is. A recorded change that
    changes nothing (`new_look`: the last change told again in fewer words, the first look told
    again, no look at all) is not one. An asset with no change in this scene keeps the changed look
    it had before: its description gets the last change's words first unless it still says what
    that change added (`keeps`), so a model's shorter restatement cannot erase it."""
    for i, a in enumerate(assets):
        look = last_look(state, scene.id, a, here=False)
        opening = look.text
        fresh = False
        for ch in (c for c in a.state_changes if c.scene_id == scene.id and c.shot_id is None):
            if not new_look(ch.description, look, a):
                continue
            fresh = True
            look = look.changed(ch.description)
            if any(carries(c.description, ch.description) for c in changes[i]):
                continue
            at = change_shot(ch.description, shots)
            if at is not None and at > 0 and shots is not None:
                changes[i].append(StateChange(scene_id=scene.id, shot_id=shots.shots[at].id,
                                              description=ch.description))
                if carries(descriptions[i], ch.description):  # the look before the change holds until then
                    descriptions[i] = opening
            elif not keeps(descriptions[i], look):
                descriptions[i] = with_change(descriptions[i], look)
        if fresh:
            continue
        if look.change is not None:
            if not keeps(descriptions[i], look):
                descriptions[i] = _merged(look.change, descriptions[i])
        elif opening.strip() and opening != a.description and not carries(descriptions[i], opening):
            rest = descriptions[i].strip()
            descriptions[i] = f"{opening.strip().rstrip('.')}." + (f" {rest}" if rest and rest != opening else "")


def with_change(description: str, look: Look) -> str:
    """A scene's description that does not say the change its scene makes (`keeps`), with the
    change's words first and the description's sentences after them, less those the change already
    says and those that still wear what the change takes off without the new look: the offline
    model wrote "Alder is still wearing the green jumper, with no holes in it at all." for the scene
    where the story has him take off the green jumper and put on the new grey one (letters-from-the-
    weather-station); that sentence shares half its words with the change, so it passed for saying it."""
    change = look.change or ""
    added = stems(change) - stems(look.base) or stems(change)
    gone = taken_off(change)
    kept = [s for s in sentences_whole(description)
            if not says_the_same(change, s) and not (garments(s) & gone and not stems(s) & added)]
    return _merged(change, " ".join(kept))


#: "I", "my", "you", "your" outside quotes: a teller's or a letter's words, not a description.
_TOLD = re.compile(r"\b(?:I|I['’](?:m|ve|ll|d)|me|my|mine|myself|you|your|yours|yourself|you['’](?:re|ve|ll|d))\b")


def _told_lines(scene: Scene) -> list[str]:
    """The scene's action sentences told as "I" or "you" (narration a small model lifted from the
    story) that say enough to be copied: three words that matter or more."""
    out = []
    for e in scene.elements:
        if e.kind.value not in ("action", "centered", "synopsis"):
            continue
        for sentence in sentences_whole(e.text):
            plain = unquoted(sentence)
            if _TOLD.search(plain) and len(re.findall(r"[\w'’-]{4,}", plain)) >= 3:
                out.append(plain)
    return out


def own_look(text: str, asset: Asset, cast: Sequence[Asset], told: Sequence[str], others: Sequence[str],
             own: Sequence[str]) -> str:
    """The sentences of a character's state that are about that character. Left out: a sentence in
    the first or second person ("I am now wearing the top tier": a teller's line, which stage 5
    gives to its speaker by name), one that names other characters and not this one ("Pell is
    wearing a green jumper" in Alder's state), and one that says what a line told as "I" or
    another character's recorded change says ("Blessing is now wearing the top tier", copied from
    the teller's "I am now wearing …"), unless this character's own recorded change says it too.
    The offline model did each (three-tier-disaster, letters-from-the-weather-station)."""
    kept = []
    for sentence in sentences_whole(text):
        plain = unquoted(sentence)
        if _TOLD.search(plain):
            continue
        named = [a for a in cast if a.category == AssetCategory.CHARACTER and names_asset(plain, a, cast)]
        if named and all(a.id != asset.id for a in named):
            continue
        if len(re.findall(r"[\w'’-]{4,}", plain)) >= 3 and any(says_the_same(x, plain) for x in [*told, *others]) \
                and not any(says_the_same(x, plain) for x in own):
            continue
        kept.append(sentence)
    return " ".join(kept)


def keep_own_looks(states: dict[int, StateDraft], assets: list[Asset], scene: Scene) -> dict[int, StateDraft]:
    """`usable_states` with each character's state cut to the sentences about that character
    (`own_look`); a state with none left is not usable (the registry's look stands in for it)."""
    told = _told_lines(scene)
    out: dict[int, StateDraft] = {}
    for number, st in states.items():
        asset = assets[number - 1]
        if asset.category != AssetCategory.CHARACTER:
            out[number] = st
            continue
        own = [c.description for c in asset.state_changes]
        others = [c.description for a in assets if a.id != asset.id for c in a.state_changes]
        description = own_look(st.description, asset, assets, told, others, own)
        changes = [c.model_copy(update={"description": d}) for c in st.changes
                   if (d := own_look(c.description, asset, assets, told, others, own))]
        if description:
            out[number] = st.model_copy(update={"description": description, "changes": changes})
    return out


def assets_in_scene(bundle: StyleAndAssets | None, scene_id: str, shots: ShotList | None) -> list[Asset]:
    """Registry assets listed in the scene, then any other a shot puts in frame."""
    found = scene_assets(bundle, scene_id)
    if bundle is not None and shots is not None:
        have = {a.id for a in found}
        for shot in shots.shots:
            for aid in shot.assets:
                if aid not in have:
                    try:
                        a = bundle.registry.get(aid)
                    except KeyError:
                        continue
                    if not a.removed:
                        found.append(a)
                        have.add(aid)
    return found


def suggestions(scene: Scene, shots: ShotList | None, bundle: StyleAndAssets | None,
                dismissed: Sequence[str] = ()) -> list[str]:
    """Names the shots put in frame (and speakers) that the registry does not have, minus dismissed."""
    registry = [a for a in bundle.registry.assets if not a.removed] if bundle else []
    names: list[str] = []
    for shot in shots.shots if shots else []:
        names.extend(shot.unregistered)
    names.extend(c.title() for c in scene.characters)
    out: list[str] = []
    gone = {words_key(d) for d in dismissed}
    for n in names:
        if not n.strip() or words_key(n) in gone or find_asset(n, registry) is not None:
            continue
        if words_key(n) not in {words_key(o) for o in out}:
            out.append(n.strip())
    return out


# --- edits (pure; the UI saves the result with Runner.save) ---------------------------------------------


def _replace(states: AssetStates, asset_id: str, **update: Any) -> AssetStates:
    st = state_of(states, asset_id)
    if st is None:
        raise InputError("That asset has no state in this scene; infer the asset states first.")
    audit = update.pop("audit_add", None)
    if audit:
        update["audit"] = [*st.audit, audit]
    new = st.model_copy(update=update)
    return states.model_copy(update={"states": [new if s.asset_id == asset_id else s for s in states.states]})


def _quote(text: str, n: int = 80) -> str:
    t = " ".join(text.split())
    return f"'{t if len(t) <= n else t[: n - 1] + '…'}'"


def set_description(states: AssetStates, asset_id: str, description: str, scene_label: str) -> AssetStates:
    """The user's own description of the asset in this scene."""
    description = description.strip()
    if len(description) > 2000:
        raise InputError(f"The description is {len(description)} characters; keep it under 2,000.")
    st = state_of(states, asset_id)
    if st is not None and st.description == description:
        return states
    return _replace(states, asset_id, description=description,
                    audit_add=f"{scene_label}: description changed to {_quote(description)}")


def set_reference(states: AssetStates, asset_id: str, image: str | None, source: str, scene_label: str,
                  source_words: str) -> AssetStates:
    """Pin this scene's reference to an image from the rearview mirror (master or an earlier scene)."""
    if not image:
        raise InputError(f"{source_words.capitalize()} has no image yet; pick one that has.")
    return _replace(states, asset_id, reference=image, reference_from=source, pinned=True, use_master=False,
                    audit_add=f"{scene_label}: reference set to {source_words}")


def use_master(states: AssetStates, asset_id: str, on: bool, scene_label: str) -> AssetStates:
    """'Use master as is': the master reference stands for the asset in this scene, no generation."""
    st = state_of(states, asset_id)
    if st is not None and st.use_master == on:
        return states
    words = "uses the master reference as is" if on else "no longer uses the master as is"
    return _replace(states, asset_id, use_master=on, audit_add=f"{scene_label}: {words}")


def choose_instance(states: AssetStates, asset_id: str, take: Take, scene_label: str) -> AssetStates:
    """Make one take of the carousel this scene's image."""
    st = state_of(states, asset_id)
    if st is None or take.id not in st.instance_takes:
        raise InputError("That image is not a take of this asset in this scene; reload and choose again.")
    if not take.ok or not take.media:
        raise InputError(f"That take failed ({take.error or 'no image'}); choose another one.")
    n = st.instance_takes.index(take.id) + 1
    return _replace(states, asset_id, chosen_take=take.id, image=take.media[0], use_master=False,
                    audit_add=f"{scene_label}: chose scene-instance image {n} of {len(st.instance_takes)}")


def dismiss_suggestion(states: AssetStates, name: str) -> AssetStates:
    if name not in states.suggested:
        raise InputError(f"{name!r} is not a suggestion of this scene any more.")
    return states.model_copy(update={"suggested": [s for s in states.suggested if s != name],
                                     "dismissed": [*states.dismissed, name]})


def add_asset(bundle: StyleAndAssets, states: AssetStates, state: ProjectState, scene_id: str, name: str,
              category: AssetCategory, description: str = "") -> tuple[StyleAndAssets, AssetStates, Asset]:
    """A real registry asset made from this scene (origin 'scene'), with its state here.

    Returns the new StyleAndAssets, the AssetStates with the asset's state (and without the
    suggestion of that name) and the asset.
    """
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise InputError("A new asset needs a name of 1 to 80 characters.")
    live = [a for a in bundle.registry.assets if not a.removed]
    if find_asset(name, live) is not None:
        raise InputError(f"{name} is already in the asset registry; pick it instead of adding it again.")
    asset = Asset(name=name, category=category, description=description.strip(), scenes=[scene_id], origin="scene")
    registry = bundle.registry.model_copy(update={"assets": [*bundle.registry.assets, asset]})
    label = state.scene_label(scene_id)
    st = AssetState(asset_id=asset.id, description=description.strip(), reference=None, reference_from="master",
                    audit=[f"{label}: {name} added to the asset registry from this scene"])
    new_states = states.model_copy(update={
        "states": [*states.states, st], "suggested": [s for s in states.suggested if words_key(s) != words_key(name)]})
    return bundle.model_copy(update={"registry": registry}), new_states, asset


# --- stage: infer the states --------------------------------------------------------------------------


def _scene_lines(scene: Scene) -> list[str]:
    lines = []
    for e in scene.elements:
        if e.kind.value == "dialogue":
            lines.append(f"{e.character}: {e.text}")
        elif e.text.strip() and e.kind.value in ("action", "parenthetical", "centered", "lyric"):
            lines.append(e.text)
    return lines


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _scene_text(scene: Scene, shots_text: str = "") -> str:
    """The scene's lines that the shot list does not already give, in order. A shot list holds
    every line of its scene (split at shots, under the shots' own labels), and telling them twice
    made the scene ~40 % of stage 8's prompt, whose reading is most of stage 8's time on a CPU; a
    line counts as given when its words follow one another, in order, in the shot list's words."""
    lines = _scene_lines(scene)
    if not lines:
        return "(no text)"
    given, at, rest = _words(shots_text), 0, []
    for line in lines:
        end = _told_in(_words(line), given, at)
        if end is None:
            rest.append(line)
        else:
            at = end
    return "\n".join(rest) if rest else "(every line of the scene is in the shot list below)"


#: The most words between two words of one line where the shot list tells it: a shot's label
#: (number, size, length, who is in frame, the speaker again) where a line runs on into the next shot.
_SHOT_GAP = 40


def _told_in(words: list[str], given: list[str], start: int) -> int | None:
    """Where `words` end in `given` (searched from `start`) when they stand there in order, each
    within `_SHOT_GAP` words of the one before; None when they do not."""
    if not words:
        return start
    for first in range(start, len(given)):
        if given[first] != words[0]:
            continue
        k = first + 1
        for w in words[1:]:
            limit = min(len(given), k + _SHOT_GAP)
            while k < limit and given[k] != w:
                k += 1
            if k == limit:
                break
            k += 1
        else:
            return k
    return None


def _shots_text(shots: ShotList | None, scene: Scene, names: dict[str, str]) -> str:
    if not shots or not shots.shots:
        return "(no shot list yet)"
    out = []
    for s in shots.shots:
        who = ", ".join(names.get(a, a) for a in s.assets) or "nobody named"
        out.append(f"{s.number} ({s.size}, {s.duration_s:g} s) in frame: {who}. {s.action} {' '.join(shot_lines(s, scene))}".strip())
    return "\n".join(out)


def _assets_text(assets: list[Asset], prefills: list[str], state: ProjectState, scene_id: str) -> str:
    """Each asset with its master, the registry's changes up to this scene (a later scene's change
    has not happened yet: shown it, the offline model dressed Teodora in her disguise from the
    first scene of the-wash-bay), each once, and its last known look."""
    order = {sid: i for i, sid in enumerate(state.scene_ids)}
    here = order.get(scene_id, len(order))
    out = []
    for k, (a, pre) in enumerate(zip(assets, prefills, strict=True), start=1):
        told = dict.fromkeys(f"{state.scene_label(c.scene_id)}: {c.description}" for c in a.state_changes
                             if order.get(c.scene_id, len(order)) <= here)
        changes = "; ".join(told) or "none"
        master = a.description or "(no description)"
        if pre and pre.strip() == master.strip():  # said once: the prompt's reading is most of stage 8's time
            out.append(f"{k}. {a.name} ({a.category.value}). Master, also its last known look: {master}\n"
                       f"   Registry state changes: {changes}")
            continue
        out.append(f"{k}. {a.name} ({a.category.value}). Master: {master}\n"
                   f"   Registry state changes: {changes}\n   Last known look: {pre or '(unknown)'}")
    return "\n".join(out)


def make_states(state: ProjectState, scene: Scene, shots: ShotList | None, assets: list[Asset], bundle: StyleAndAssets | None,
                text: TextEngine, *, seed: int, rules: Sequence[str] = (), guidance: str = "",
                templates: TemplateSource = default_templates, max_attempts: int = 3) -> tuple[Take, AssetStates]:
    """Infer each asset's state in the scene and merge with what the user already chose.

    Returns the take and the new AssetStates. A failed or rejected model answer falls back to
    the pre-fills (the registry's state changes): the take's purpose says so.
    """
    prior = saved_states(state, scene.id)
    prefills = [prefill(state, scene.id, a) for a in assets]
    label = state.scene_label(scene.id)
    shots_text = _shots_text(shots, scene, {a.id: a.name for a in assets})
    rendered = messages_for(
        templates, "asset_states", {"story_rules": format_rules(list(rules))},
        {"heading": scene.heading or label, "scene": _scene_text(scene, shots_text if shots else ""),
         "shots": shots_text,
         "assets": _assets_text(assets, prefills, state, scene.id), "guidance": guidance.strip() or NO_GUIDANCE},
        VARIABLES)
    inputs = {"scene": scene.model_dump(mode="json"), "shots": shots.model_dump(mode="json") if shots else None,
              "assets": [a.model_dump(mode="json") for a in assets], "rules": list(rules), "guidance": guidance,
              "t": rendered.template_hash}
    shot_ids = {s.number.upper(): s.id for s in (shots.shots if shots else [])}
    descriptions = list(prefills)
    changes: list[list[StateChange]] = [[] for _ in assets]
    purpose, error, note, got = "asset_states", "", "", None
    masters = [a.description for a in assets]
    if assets:
        try:
            # an engine that does not constrain: keep what it got right
            got = ask_bounded(text, rendered.messages, states_schema(len(assets)), AssetStatesDraft, seed=seed,
                              max_attempts=max_attempts, context={"masters": masters, "shots": list(shot_ids)},
                              keep=lambda d: len(usable_states(d, masters, set(shot_ids))))
        except EngineError as e:
            error = engine_failure(e, f"the asset states of {label}")
        usable = usable_states(got.value, masters, set(shot_ids)) if got is not None and got.value is not None else {}
        answered = usable
        usable = keep_own_looks(answered, assets, scene)
        foreign = [assets[n - 1].name for n in answered if n not in usable]
        for number, s in usable.items():
            if not copies_master(s, masters):
                descriptions[number - 1] = s.description.strip()
            changes[number - 1] = [StateChange(scene_id=scene.id, shot_id=shot_ids[c.shot.strip().upper()],
                                               description=c.description.strip()) for c in s.changes]
        if not usable:
            purpose = "asset_states_fallback"
            error = error or (got.error if got else "") or (
                f"the model described {', '.join(foreign)} with somebody else's words" if foreign else "")
        elif got is not None and not got.ok:
            note = (f"The model's answer for {label} kept {len(usable)} of {len(assets)} states; the rest come "
                    f"from the registry ({got.error.split(';')[0]}).")
        elif foreign:
            note = (f"The model described {', '.join(foreign)} in {label} with somebody else's words (a line told "
                    "as 'I', or another character's look); their looks come from the registry.")
    land_look_changes(state, scene, shots, assets, descriptions, changes)
    descriptions = [never_empty(d, a, scene, p) for d, a, p in zip(descriptions, assets, prefills, strict=True)]
    new_states = []
    for a, desc, ch in zip(assets, descriptions, changes, strict=True):
        old = state_of(prior, a.id)
        ref, src = current_reference(state, scene.id, a, old)
        if old is None:
            audit = [f"{label}: state described as {_quote(desc)}; reference is {source_label(state, src)}"]
            new_states.append(AssetState(asset_id=a.id, description=desc, reference=ref, reference_from=src,
                                         changes=ch, audit=audit))
            continue
        audit = list(old.audit)
        if desc != old.description:
            audit.append(f"{label}: description inferred again as {_quote(desc)}")
        new_states.append(old.model_copy(update={"description": desc, "changes": ch, "reference": ref,
                                                 "reference_from": src, "audit": audit}))
    dismissed = list(prior.dismissed) if prior else []
    out = AssetStates(states=new_states, suggested=suggestions(scene, shots, bundle, dismissed), dismissed=dismissed)
    take = make_take(Stage.ASSET_STATES, purpose=purpose, inputs={**inputs, "why": error} if error else inputs,
                     rendered=rendered if assets else None, text=text if assets else None, seed=seed,
                     scene_id=scene.id, attempts=got.attempts if got else 1, seconds=got.seconds if got else 0.0,
                     messages=got.messages if got else None, output=out, engine=None if assets else "code")
    if note:
        take = take.model_copy(update={"note": note})
    return take, out


# --- stage: scene-instance images ------------------------------------------------------------------------


def instance_prompt(asset: Asset, description: str, rules: Sequence[str], style: VisualStyle | None) -> tuple[str, str]:
    """(prompt, negative prompt) for a scene-instance image: the asset alone, as described here."""
    look = ", ".join(x for x in ((style.medium, style.look, style.palette, style.lighting, style.era) if style else ())
                     if x.strip())
    rules_text = " ".join(r.rstrip(".") + "." for r in rules)
    if asset.category == AssetCategory.LOCATION:
        body = f"{asset.name}, an empty establishing view of the place: {description}"
        negative = "people, text, watermark, blurry"
    else:
        body = f"{asset.name}, alone, full view on a plain white background: {description}"
        negative = "background scenery, other people, text, watermark, blurry, cropped"
    parts = [body, f"Style: {look}." if look else "", rules_text]
    return " ".join(p for p in parts if p).strip(), negative


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _open(ctx: StageContext, key: str | None) -> Image.Image | None:
    if not key:
        return None
    data = ctx.read_media(key)
    if not data:
        return None
    return load_image(data).convert("RGB")


def style_scale(style: VisualStyle | None) -> float:
    """The style image's scale: the style's influence, always below the reference's."""
    return min(style.influence if style else 0.0, STYLE_CAP, REFERENCE_SCALE - 0.2)


def generate_instances(ctx: StageContext, scene: Scene, states: AssetStates, asset: Asset,
                       bundle: StyleAndAssets | None, rules: Sequence[str], count: int = 1) -> tuple[list[Take], AssetStates]:
    """`count` scene-instance takes of one asset; the first becomes the choice when none was made."""
    st = state_of(states, asset.id)
    if st is None:
        raise InputError(f"{asset.name} has no state in this scene yet; infer the asset states first.")
    label = ctx.state.scene_label(scene.id)
    ref_key, ref_from = current_reference(ctx.state, scene.id, asset, st)
    ref = _open(ctx, ref_key)
    style = bundle.style if bundle else None
    style_img = _open(ctx, style.images[0]) if style and style.images else None
    prompt, negative = instance_prompt(asset, st.description or asset.description, rules, style)
    engine = ctx.engines.image("scene_instance")
    takes: list[Take] = []
    target = f"instance:{asset.id}"
    for k in range(max(1, min(count, 8))):
        seed = ctx.seed + k
        req = ImageRequest(
            prompt=prompt, negative_prompt=negative, seed=seed,
            references=[Reference(ref, REFERENCE_SCALE, ref_key or "")] if ref is not None else [],
            style=Reference(style_img, style_scale(style), style.images[0]) if style_img is not None and style else None,
            init_image=ref, strength=IMG2IMG_STRENGTH,
        )
        inputs = {"prompt": prompt, "reference": ref_key, "style": style.images[0] if style_img is not None and style else None,
                  "seed": seed}
        t0 = time.perf_counter()
        try:
            image = engine.generate(req)
        except Exception as e:  # EngineError, or a raw OOM from an unwrapped engine: keep the made ones
            takes.append(Take(stage=Stage.ASSET_STATES, scene_id=scene.id, target=target, purpose="scene_instance",
                              inputs_hash=content_hash(inputs), seed=seed, ok=False,
                              error=f"The image model failed on {asset.name}: {describe_error(e)}", seconds=time.perf_counter() - t0))
            break
        key = ctx.put_media(_png(image), "png")
        takes.append(Take(
            stage=Stage.ASSET_STATES, scene_id=scene.id, target=target, purpose="scene_instance",
            inputs_hash=content_hash(inputs), engine=str(getattr(engine, "backend", "")),
            model_id=str(getattr(engine, "model_id", "")), seed=seed, seconds=round(time.perf_counter() - t0, 3),
            prompt=[{"role": "user", "content": prompt}], media=[key],
            output={"image": key, "reference": ref_key, "reference_from": ref_from,
                    "reference_scale": REFERENCE_SCALE, "style_scale": style_scale(style) if style_img else 0.0},
        ))
    made = [t for t in takes if t.ok]
    if not made:
        return takes, states
    chosen, chosen_image = st.chosen_take, st.image
    if chosen is None or st.use_master:
        chosen, chosen_image = made[0].id, made[0].media[0]
    words = f"{len(made)} scene-instance image{'s' if len(made) > 1 else ''} generated from {source_label(ctx.state, ref_from)}"
    new = _replace(states, asset.id, instance_takes=[*st.instance_takes, *(t.id for t in made)], chosen_take=chosen,
                   image=chosen_image, use_master=False, audit_add=f"{label}: {words}")
    return takes, new


# --- the stage ------------------------------------------------------------------------------------------


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: infer the states (InferStates), or scene-instance takes (SceneInstance)."""
    assert ctx.scene_id is not None
    scene = ctx.inputs.require_scene()
    bundle = scene_style(ctx.inputs.assets, scene.id, ctx.capsules)  # the scene's own style, if any
    shots = ctx.inputs.shots
    rules = story_rules(ctx.inputs.story)
    assets = assets_in_scene(bundle, scene.id, shots)
    action = ctx.action
    if isinstance(action, SceneInstance):
        asset = next((a for a in assets if a.id == action.asset_id), None)
        if asset is None:
            raise InputError("That asset is not in this scene; choose one of the scene's assets.")
        states = ctx.inputs.asset_states
        if states is None:
            raise InputError("Infer the asset states of this scene before making scene-instance images.")
        takes, new = generate_instances(ctx, scene, states, asset, bundle, rules, action.takes)
        if not any(t.ok for t in takes):
            return StageOutcome(takes=takes)
        return StageOutcome(takes=takes, artifact=new)
    take, states = make_states(ctx.state, scene, shots, assets, bundle, text_engine(ctx, "asset_states"),
                               seed=ctx.seed, rules=rules, guidance=ctx.guidance, templates=ctx.template)
    return StageOutcome(takes=[take], artifact=states, take_id=take.id)


__all__ = [
    "AssetStatesDraft", "MirrorItem", "add_asset", "assets_in_scene", "choose_instance", "current_reference",
    "default_reference", "dismiss_suggestion", "generate_instances", "instance_prompt", "make_states", "prefill",
    "rearview", "run", "scene_image", "set_description", "set_reference", "suggestions", "use_master",
]
