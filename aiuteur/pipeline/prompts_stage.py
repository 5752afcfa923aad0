"""Stage 9, prompts: per shot a start-frame, an end-frame and a video prompt, built by code.

No model writes these: they are assembled from the shot (size, angle, movement, lens, action,
dialogue), the scene's asset states (each asset in frame as it looks in this scene, with any
change recorded at this shot), the visual style and the story rules. Each prompt comes with the
reference images of every asset in frame (the chosen scene-instance image, else the master used
as is, else the scene's reference), so the frame model is conditioned on them. An asset whose
state changes at a shot is in that shot's frame even when the action only says "she".

A static shot in which nothing changes gets no end frame, and says why. Prompts the filmmaker
edited are kept when the stage is run again (unless that shot is rebuilt on purpose); when an
upstream artifact changes, the graph shows the prompts as stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetStates,
    InputError,
    Prompts,
    Scene,
    Shot,
    ShotList,
    ShotPrompt,
    Stage,
    StyleAndAssets,
    VisualStyle,
)
from aiuteur.engines.clip_tokens import CLIP_CONTEXT, clip_tokens
from aiuteur.pipeline.actions import BuildPrompts, RebuildPrompt
from aiuteur.pipeline.asset_states import assets_in_scene, scene_image, state_of
from aiuteur.pipeline.assets import display_name, scene_place
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.screen_words import sentences_whole
from aiuteur.pipeline.shot_list import shot_lines
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.visual_style import scene_style, style_words
from aiuteur.pipeline.writing import make_take, story_rules

STATIC = ("static",)
NO_CHANGE = "Static shot and nothing changes in it: the start frame holds for the whole shot."

#: Image families whose text encoder is CLIP (77 tokens); every other family reads a longer prompt.
SD_FAMILIES = frozenset({"sd15", "sd21", "sdxl", "sd3"})
SD_BUDGET = CLIP_CONTEXT
LONG_BUDGET = 256  # multi-reference edit models (LLM or T5 text encoders), counted in CLIP tokens
STATE_WORDS = 14  # an asset's look in a frame prompt: its first clause, at most this many words


def image_family(engines: Any) -> str:
    """The image family of the active profile ('sd15', 'sdxl', …; '' when it cannot be told)."""
    try:
        spec = engines.profile.spec("image")
    except Exception:  # a test double without a profile, or a profile without an image table
        return ""
    return str(spec.get("family") or spec.get("backend") or "")


def prompt_budget(family: str) -> int:
    """CLIP tokens a frame prompt may use: 77 for SD families (and when unknown), longer otherwise."""
    return SD_BUDGET if not family or family.lower() in SD_FAMILIES or family.lower() == "diffusers" else LONG_BUDGET


# --- fitting a prompt into its budget ------------------------------------------------------------------


@dataclass(frozen=True)
class PromptPart:
    """One piece of a frame prompt, in priority order; `short` is tried before the part is dropped."""

    label: str  # what the piece is, in words for the warning ("the style", "the look of Hades")
    text: str
    short: str = ""


@dataclass(frozen=True)
class FittedPrompt:
    """A prompt within its budget, and what had to be shortened or left out to get there."""

    text: str
    tokens: int
    budget: int
    wanted: int  # tokens of everything, before fitting
    dropped: list[str] = field(default_factory=list)
    shortened: list[str] = field(default_factory=list)

    def warning(self, what: str) -> str:
        """One sentence for the filmmaker ('' when everything fitted)."""
        if not self.dropped and not self.shortened:
            return ""
        out = [f"{what}: {self.wanted} CLIP tokens is more than the {self.budget} the image model reads"]
        if self.dropped:
            out.append(f"left out {', '.join(self.dropped)}")
        if self.shortened:
            out.append(f"shortened {', '.join(self.shortened)}")
        return "; ".join(out) + "."


def _join(texts: Sequence[str]) -> str:
    return " ".join(t.strip() for t in texts if t.strip())


def _clip_words(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The longest run of `text`'s first words that fits `budget` (a lone part too long for it)."""
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def fit_prompt(parts: Sequence[PromptPart], budget: int, count: Callable[[str], int] = clip_tokens) -> FittedPrompt:
    """Join `parts` (highest priority first) within `budget` tokens; never cut a prompt silently.

    Each part is kept whole if it fits after those kept before it, else its short form, else it
    is left out; a later, smaller part may still fit. The first part is never left out: if alone
    it is over the budget its last words go (and the warning says so). The result is always
    within the budget as `count` measures it, and lists what was shortened or left out.
    """
    kept: list[str] = []
    dropped: list[str] = []
    shortened: list[str] = []
    wanted = count(_join([p.text for p in parts]))
    for k, part in enumerate(parts):
        if not part.text.strip():
            continue
        if count(_join([*kept, part.text])) <= budget:
            kept.append(part.text)
        elif part.short.strip() and count(_join([*kept, part.short])) <= budget:
            kept.append(part.short)
            shortened.append(part.label)
        elif k == 0 or not kept:
            cut = _clip_words(part.text, budget, count)
            if cut:
                kept.append(cut)
                shortened.append(part.label)
            else:
                dropped.append(part.label)
        else:
            dropped.append(part.label)
    text = _join(kept)
    return FittedPrompt(text=text, tokens=count(text), budget=budget, wanted=wanted, dropped=dropped,
                        shortened=shortened)


# --- building a shot's prompts ---------------------------------------------------------------------------


def _sentences(text: str) -> tuple[str, str]:
    """(first sentence, the rest) of an action; never split after "Mr." or "a.m." or inside quotes
    (`screen_words.sentences_whole`): "Mr. Abiodun is in the passenger seat" is one sentence, not
    a start frame of "Mr." and an end frame of the rest."""
    said = sentences_whole(" ".join(text.split()))
    return (said[0], " ".join(said[1:])) if said else ("", "")


def _last_sentence(text: str) -> str:
    rest = " ".join(text.split())
    while True:
        first, more = _sentences(rest)
        if not more:
            return first
        rest = more


def short_look(description: str, words: int = STATE_WORDS) -> str:
    """An asset's look for a frame prompt: its first sentence, cut at a clause when still long."""
    first, _ = _sentences(description.strip())
    first = first.strip().rstrip(".!?")
    if len(first.split()) <= words:
        return first
    clauses = re.split(r"(?<=[,;:])\s+", first)
    out: list[str] = []
    for c in clauses:
        if out and len(" ".join([*out, c]).split()) > words:
            break
        out.append(c)
    text = " ".join(out).rstrip(",;:")
    return text if len(text.split()) <= words else " ".join(text.split()[:words])


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?…\"'”’)" else text + "."


def _speech_moment(shot: Shot, scene: Scene) -> str:
    speakers = list(dict.fromkeys(scene.dialogue[i].character or "" for i in shot.dialogue
                                  if 0 <= i < len(scene.dialogue)))
    speakers = [display_name(s) for s in speakers if s.strip()]
    if not speakers:
        return ""
    if len(speakers) == 1:
        return f"{speakers[0]} speaking."
    return f"{', '.join(speakers[:-1])} and {speakers[-1]} talking."


def frame_parts(moment: str, camera: str, subjects: Sequence[tuple[str, str]], setting: str, style: str,
                rules: Sequence[str]) -> list[PromptPart]:
    """The parts of a frame prompt in priority order: the moment (the shot's action), the camera,
    each subject with its look in this scene, the story rules, the setting, the style."""
    parts = [PromptPart("the action", _sentence(moment)), PromptPart("the camera", _sentence(camera))]
    for name, look in subjects:
        text = f"{name} ({look})." if look else f"{name}."
        parts.append(PromptPart(f"the look of {name}", text, short=f"{name}." if look else ""))
    if rules:
        rules_text = " ".join(_sentence(r.rstrip(".")) for r in rules)
        parts.append(PromptPart("the story rules", rules_text, short=_sentence(rules[0].rstrip("."))))
    if setting:
        parts.append(PromptPart("the setting", f"Setting: {setting}.", short=f"Setting: {setting.split(' (')[0]}."))
    if style:
        parts.append(PromptPart("the style", f"Style: {style}.", short=f"Style: {style.split(',')[0]}."))
    return parts


def build_prompt(shot: Shot, scene: Scene, assets: dict[str, Asset], states: AssetStates | None,
                 images: dict[str, str | None], style: VisualStyle | None, rules: Sequence[str],
                 order: Sequence[str] = (), budget: int = SD_BUDGET) -> ShotPrompt:
    """One shot's prompts and references, by code.

    Frame prompts put the shot's action first, then the camera, the subjects with their look in
    this scene (short), the story rules, the setting and the style, within `budget` CLIP tokens;
    what did not fit is listed in the prompt's warnings.

    Args:
        assets: the scene's assets by id.
        images: asset id -> the image that stands for it in this scene (None: no image yet).
        order: the scene's shot ids in order, so a change at an earlier shot holds in this one.
        budget: CLIP tokens a frame prompt may use (`prompt_budget` of the image family).
    """
    changing = [st.asset_id for st in (states.states if states else []) if any(c.shot_id == shot.id for c in st.changes)]
    in_frame = [assets[a] for a in dict.fromkeys([*shot.assets, *changing]) if a in assets]
    place = [a for a in in_frame if a.category == AssetCategory.LOCATION]
    others = [a for a in in_frame if a.category != AssetCategory.LOCATION]
    others.sort(key=lambda a: a.category != AssetCategory.CHARACTER)  # people before props
    here = list(order).index(shot.id) if shot.id in order else -1

    def look(a: Asset, at_end: bool) -> str:
        st = state_of(states, a.id)
        desc = st.description if st and st.description else a.description
        for c in st.changes if st else []:
            at = list(order).index(c.shot_id) if c.shot_id is not None and c.shot_id in order else None
            if at is not None and (at < here or (at_end and at == here)):
                desc = c.description
        return desc

    def setting(at_end: bool) -> str:
        where = "; ".join(f"{a.name} ({short_look(look(a, at_end))})" if look(a, at_end).strip() else a.name
                          for a in place) or scene_place(scene)
        when = scene.time_of_day.strip().lower()
        return ", ".join(x for x in (where, when) if x)

    rules_list = [r for r in rules if r.strip()]
    words = style_words(style) if style is not None else ""  # as the master references say it
    camera = f"{shot.size} shot, {shot.angle}, {shot.lens} lens"
    first, rest = _sentences(shot.action)
    speech = _speech_moment(shot, scene)

    def frame(at_end: bool, moment: str) -> FittedPrompt:
        subjects = [(a.name, short_look(look(a, at_end))) for a in others]
        parts = frame_parts(moment or speech, camera, subjects, setting(at_end), words, rules_list)
        return fit_prompt(parts, budget)

    warnings: list[str] = []
    start_fit = frame(False, first)
    warnings.append(start_fit.warning(f"Start frame of shot {shot.number}"))
    changes_here = any(look(a, True) != look(a, False) for a in in_frame)
    end: str | None
    if shot.movement in STATIC and not changes_here and not rest:
        end, reason = None, NO_CHANGE
    else:
        end_moment = _last_sentence(rest) if rest else first
        if shot.movement not in STATIC:
            end_moment = f"{_sentence(end_moment or speech)} The camera has finished its {shot.movement}."
        end_fit = frame(True, end_moment)
        warnings.append(end_fit.warning(f"End frame of shot {shot.number}"))
        end, reason = end_fit.text, ""
    rules_text = " ".join(r.rstrip(".") + "." for r in rules_list)
    lines = " ".join(f'{ln.split(": ", 1)[0]} says: "{ln.split(": ", 1)[1]}"' for ln in shot_lines(shot, scene))
    video_parts = [f"Camera: {shot.movement}, {shot.size}, {shot.angle}.", shot.action, lines,
                   f"{shot.duration_s:g} seconds.", f"Style: {words}." if words else "", rules_text]
    video = " ".join(p for p in video_parts if p).strip()
    asset_refs = {a.id: key for a in in_frame if (key := images.get(a.id))}
    missing = [a.id for a in in_frame if not images.get(a.id)]
    return ShotPrompt(shot_id=shot.id, start_prompt=start_fit.text, end_prompt=end, end_reason=reason,
                      video_prompt=video, references=list(dict.fromkeys(asset_refs.values())), asset_refs=asset_refs,
                      missing=missing, warnings=[w for w in warnings if w])


def build_prompts(state: ProjectState, scene: Scene, shots: ShotList, states: AssetStates | None,
                  bundle: StyleAndAssets | None, rules: Sequence[str], previous: Prompts | None = None,
                  rebuild: set[str] | None = None, budget: int = SD_BUDGET) -> Prompts:
    """Prompts for every shot; edited prompts of `previous` are kept unless their shot is in `rebuild`.

    `budget` is the CLIP tokens each frame prompt may use (`prompt_budget(image_family(engines))`).
    """
    assets = {a.id: a for a in assets_in_scene(bundle, scene.id, shots)}
    images = {aid: scene_image(state, scene.id, a, state_of(states, aid))[0] for aid, a in assets.items()}
    kept = {p.shot_id: p for p in (previous.prompts if previous else []) if p.edited}
    order = [s.id for s in shots.shots]
    style = bundle.style if bundle else None
    out = [kept[shot.id] if shot.id in kept and shot.id not in (rebuild or set())
           else build_prompt(shot, scene, assets, states, images, style, rules, order, budget) for shot in shots.shots]
    return Prompts(prompts=out)


def edit_prompt(prompts: Prompts, shot_id: str, *, start: str | None = None, end: str | None = None,
                video: str | None = None, no_end: bool | None = None) -> Prompts:
    """The filmmaker's edit of one shot's prompts (marked edited, so a rebuild keeps it)."""
    p = next((x for x in prompts.prompts if x.shot_id == shot_id), None)
    if p is None:
        raise InputError("That shot has no prompts yet; build the prompts first.")
    update: dict[str, object] = {"edited": True}
    if start is not None or end is not None or no_end:
        update["warnings"] = []  # the notes were about the built prompt, which the filmmaker replaced
    if start is not None:
        if not start.strip():
            raise InputError("The start-frame prompt is empty; every shot needs one.")
        update["start_prompt"] = start.strip()
    if video is not None:
        update["video_prompt"] = video.strip()
    if no_end:
        update |= {"end_prompt": None, "end_reason": "The filmmaker chose no end frame."}
    elif end is not None and (end.strip() or p.end_prompt is not None):
        update |= {"end_prompt": end.strip() or None,
                   "end_reason": "" if end.strip() else "The filmmaker chose no end frame."}
    new = p.model_copy(update=update)
    if new == p.model_copy(update={"edited": True}) and p.edited:
        return prompts
    return Prompts(prompts=[new if x.shot_id == shot_id else x for x in prompts.prompts])


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: build every prompt (no model); RebuildPrompt rebuilds one, dropping its edit."""
    assert ctx.scene_id is not None
    scene = ctx.inputs.require_scene()
    shots = ctx.inputs.shots
    if shots is None or not shots.shots:
        raise InputError(f"Make the shot list of {ctx.state.scene_label(scene.id)} before building its prompts.")
    states = ctx.inputs.asset_states
    bundle = scene_style(ctx.inputs.assets, scene.id, ctx.capsules)  # the scene's own style, if any
    rules = story_rules(ctx.inputs.story)
    previous = ctx.inputs.prompts
    action = ctx.action
    assert isinstance(action, BuildPrompts)
    rebuild = {action.shot_id} if isinstance(action, RebuildPrompt) else set()
    budget = prompt_budget(action.image_family or image_family(ctx.engines))
    prompts = build_prompts(ctx.state, scene, shots, states, bundle, rules, previous, rebuild, budget)
    inputs = {"budget": budget, "shots": shots.model_dump(mode="json"), "states": states.model_dump(mode="json") if states else None,
              "style": bundle.style.model_dump(mode="json") if bundle else None, "rules": rules}
    take = make_take(Stage.PROMPTS, purpose="prompts", inputs=inputs, rendered=None, text=None, seed=None,
                     engine="code", scene_id=scene.id, target=action.target, output=prompts)
    return StageOutcome(takes=[take], artifact=prompts, take_id=take.id)


__all__ = [
    "FittedPrompt", "PromptPart", "build_prompt", "build_prompts", "edit_prompt", "fit_prompt", "frame_parts",
    "image_family", "prompt_budget", "run", "short_look",
]
