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

from collections.abc import Sequence

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
from aiuteur.pipeline.asset_states import assets_in_scene, saved_states, scene_image, state_of
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.runner import StageContext, StageOutcome
from aiuteur.pipeline.shot_list import load_bundle, load_scene, shot_lines
from aiuteur.pipeline.writing import load_story, make_take, story_rules

STATIC = ("static",)
NO_CHANGE = "Static shot and nothing changes in it: the start frame holds for the whole shot."


def style_text(style: VisualStyle | None) -> str:
    if style is None:
        return ""
    parts = [style.medium, style.look, style.palette, style.lighting, style.era]
    return ", ".join(p.strip() for p in parts if p.strip())


def _who(asset: Asset, description: str) -> str:
    return f"{asset.name} ({description.strip().rstrip('.')})" if description.strip() else asset.name


def _sentences(text: str) -> tuple[str, str]:
    """(first sentence, the rest) of an action."""
    text = " ".join(text.split())
    for mark in (". ", "! ", "? "):
        i = text.find(mark)
        if i != -1:
            return text[: i + 1], text[i + 2:]
    return text, ""


def _last_sentence(text: str) -> str:
    rest = " ".join(text.split())
    while True:
        first, more = _sentences(rest)
        if not more:
            return first
        rest = more


def build_prompt(shot: Shot, scene: Scene, assets: dict[str, Asset], states: AssetStates | None,
                 images: dict[str, str | None], style: VisualStyle | None, rules: Sequence[str],
                 order: Sequence[str] = ()) -> ShotPrompt:
    """One shot's prompts and references, by code.

    Args:
        assets: the scene's assets by id.
        images: asset id -> the image that stands for it in this scene (None: no image yet).
        order: the scene's shot ids in order, so a change at an earlier shot holds in this one.
    """
    changing = [st.asset_id for st in (states.states if states else []) if any(c.shot_id == shot.id for c in st.changes)]
    in_frame = [assets[a] for a in dict.fromkeys([*shot.assets, *changing]) if a in assets]
    place = [a for a in in_frame if a.category == AssetCategory.LOCATION]
    others = [a for a in in_frame if a.category != AssetCategory.LOCATION]
    here = list(order).index(shot.id) if shot.id in order else -1

    def look(a: Asset, at_end: bool) -> str:
        st = state_of(states, a.id)
        desc = st.description if st and st.description else a.description
        for c in st.changes if st else []:
            at = list(order).index(c.shot_id) if c.shot_id is not None and c.shot_id in order else None
            if at is not None and (at < here or (at_end and at == here)):
                desc = c.description
        return desc

    rules_text = " ".join(r.rstrip(".") + "." for r in rules)
    style_words = style_text(style)
    camera = f"{shot.size} shot, {shot.angle}, {shot.lens} lens"
    where = "; ".join(_who(a, look(a, False)) for a in place) or scene.heading
    first, rest = _sentences(shot.action)
    tail = [f"Style: {style_words}." if style_words else "", rules_text]

    def frame(at_end: bool, moment: str) -> str:
        who = "; ".join(_who(a, look(a, at_end)) for a in others)
        parts = [f"{camera}.", f"Setting: {where}.", f"In frame: {who}." if who else "", moment, *tail]
        return " ".join(p for p in parts if p).strip()

    start = frame(False, first)
    changes_here = any(look(a, True) != look(a, False) for a in in_frame)
    if shot.movement in STATIC and not changes_here and not rest:
        end, reason = None, NO_CHANGE
    else:
        end_moment = _last_sentence(rest) if rest else first
        if shot.movement not in STATIC:
            end_moment = f"{end_moment} The camera has finished its {shot.movement}."
        end, reason = frame(True, end_moment), ""
    lines = " ".join(f'{ln.split(": ", 1)[0]} says: "{ln.split(": ", 1)[1]}"' for ln in shot_lines(shot, scene))
    video_parts = [f"Camera: {shot.movement}, {shot.size}, {shot.angle}.", shot.action, lines,
                   f"{shot.duration_s:g} seconds.", f"Style: {style_words}." if style_words else "", rules_text]
    video = " ".join(p for p in video_parts if p).strip()
    asset_refs = {a.id: key for a in in_frame if (key := images.get(a.id))}
    missing = [a.id for a in in_frame if not images.get(a.id)]
    return ShotPrompt(shot_id=shot.id, start_prompt=start, end_prompt=end, end_reason=reason, video_prompt=video,
                      references=list(dict.fromkeys(asset_refs.values())), asset_refs=asset_refs, missing=missing)


def build_prompts(state: ProjectState, scene: Scene, shots: ShotList, states: AssetStates | None,
                  bundle: StyleAndAssets | None, rules: Sequence[str], previous: Prompts | None = None,
                  rebuild: set[str] | None = None) -> Prompts:
    """Prompts for every shot; edited prompts of `previous` are kept unless their shot is in `rebuild`."""
    assets = {a.id: a for a in assets_in_scene(bundle, scene.id, shots)}
    images = {aid: scene_image(state, scene.id, a, state_of(states, aid))[0] for aid, a in assets.items()}
    kept = {p.shot_id: p for p in (previous.prompts if previous else []) if p.edited}
    order = [s.id for s in shots.shots]
    style = bundle.style if bundle else None
    out = [kept[shot.id] if shot.id in kept and shot.id not in (rebuild or set())
           else build_prompt(shot, scene, assets, states, images, style, rules, order) for shot in shots.shots]
    return Prompts(prompts=out)


def edit_prompt(prompts: Prompts, shot_id: str, *, start: str | None = None, end: str | None = None,
                video: str | None = None, no_end: bool | None = None) -> Prompts:
    """The filmmaker's edit of one shot's prompts (marked edited, so a rebuild keeps it)."""
    p = next((x for x in prompts.prompts if x.shot_id == shot_id), None)
    if p is None:
        raise InputError("That shot has no prompts yet; build the prompts first.")
    update: dict[str, object] = {"edited": True}
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
    """Runner entry point: build every prompt (no model); `shot:<id>` rebuilds one, dropping its edit."""
    assert ctx.scene_id is not None
    scene = load_scene(ctx.state, ctx.scene_id)
    data = ctx.state.data(Stage.SHOTS, scene.id)
    if not data or not data.get("shots"):
        raise InputError(f"Make the shot list of {ctx.state.scene_label(scene.id)} before building its prompts.")
    shots = ShotList.model_validate(data)
    states = saved_states(ctx.state, scene.id)
    bundle = load_bundle(ctx.state)
    rules = story_rules(load_story(ctx.state))
    prev_data = ctx.state.data(Stage.PROMPTS, scene.id)
    previous = Prompts.model_validate(prev_data) if prev_data else None
    rebuild: set[str] = set()
    if ctx.target:
        if not ctx.target.startswith("shot:"):
            raise InputError(f"Unknown prompts target {ctx.target!r}; use 'shot:<id>'.")
        rebuild = {ctx.target.removeprefix("shot:")}
    prompts = build_prompts(ctx.state, scene, shots, states, bundle, rules, previous, rebuild)
    inputs = {"shots": data, "states": states.model_dump(mode="json") if states else None,
              "style": bundle.style.model_dump(mode="json") if bundle else None, "rules": rules}
    take = make_take(Stage.PROMPTS, purpose="prompts", inputs=inputs, rendered=None, text=None, seed=None,
                     engine="code", scene_id=scene.id, target=ctx.target, output=prompts)
    return StageOutcome(takes=[take], artifact=prompts, take_id=take.id)


__all__ = ["build_prompt", "build_prompts", "edit_prompt", "run", "style_text"]
