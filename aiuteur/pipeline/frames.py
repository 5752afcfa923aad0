"""Stage 10, frames: a start and (where the shot has one) an end keyframe per shot, from the
stage-9 prompts and the references attached to them.

Each keyframe is conditioned on every in-frame asset's reference, above the style image
(references dominate style, DESIGN idea 6; the style scale follows the stage-5 influence): on SD
families one IP-Adapter image per asset, each character's masked to its region of the frame when
two or more share it (the regions of the shot's layout: `aiuteur.pipeline.layout`); on
multi-reference edit families (Qwen-Image-Edit, FLUX.2 klein) one input image per asset,
characters first, with the engine saying which image is whom and where they stand ("Mara
(character), on the left of the frame") and naming any it left out (recorded with the take as
`engine_notes`). Continuity inside a scene: when a shot continues the previous shot's action
(same place, someone or something in common, no jump in time; or the shot's explicit
`continues` flag), its start frame is made image-to-image from the previous shot's last chosen
frame; an end frame is made image-to-image from its own shot's start frame.

Every generation is a take in the frame's carousel (target `frame:<shot id>:start|end`). A new
image becomes the frame's choice; with best-of-N (the action's `best_of`) the most consistent of
the N becomes the choice. A failed generation is a take that says why; earlier takes and choices
are left as they were. Each image gets a consistency score (`aiuteur.pipeline.consistency`).

Actions (`aiuteur.pipeline.actions`): MakeKeyframes every frame of the scene; RegenerateShotFrames
one shot's frames; RegenerateFrame one frame. Each carries the settings of KeyframeSettings:
`best_of` (1-8), `width`/`height` or `size` (long side), `steps`, `reference_scale`,
`continuity_strength`, `score` (False skips the consistency score).
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from aiuteur.domain import (
    AiuteurError,
    Asset,
    AssetCategory,
    Frame,
    Frames,
    InputError,
    Prompts,
    Shot,
    ShotList,
    ShotPrompt,
    Stage,
    Take,
    VisualStyle,
    content_hash,
)
from aiuteur.engines.base import (
    EmbeddingEngine,
    ImageEngine,
    ImageRequest,
    MattingEngine,
    Reference,
    engine_notes,
)
from aiuteur.pipeline.actions import KeyframeSettings, RegenerateFrame, RegenerateShotFrames
from aiuteur.pipeline.batch import ItemClock, cancel_queued, mean_seconds, parallelism, run_items
from aiuteur.pipeline.consistency import AssetReference, KeyframeScore, score_keyframe
from aiuteur.pipeline.layout import effective_layout, regions
from aiuteur.pipeline.stage import StageContext, StageOutcome, describe_error
from aiuteur.pipeline.visual_style import scene_style

log = logging.getLogger(__name__)

#: IP-Adapter scale of a character's or prop's reference, and of a place's; the style gets less.
REFERENCE_SCALE = 0.8
PLACE_SCALE = 0.6
STYLE_CAP = 0.45
#: img2img strength from the previous shot's last frame (1.0 would ignore it entirely).
CONTINUITY_STRENGTH = 0.75
#: img2img strength of an end frame from its own start frame.
END_STRENGTH = 0.7
DEFAULT_SIDE = 768
DEFAULT_STEPS = 25
MAX_BEST_OF = 8
NEGATIVE = "text, watermark, blurry, deformed, extra limbs"

_TIME_JUMP = re.compile(
    r"\b(later|meanwhile|next (morning|day|night|week)|the following|afterwards|years? ago|"
    r"flash(back|forward)|that night|by nightfall|at dawn|dissolve)\b",
    re.IGNORECASE,
)

_ASPECTS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "2.39:1": 2.39}


# --- pure helpers ---------------------------------------------------------------------------------


def frame_size(aspect: str, side: int = DEFAULT_SIDE) -> tuple[int, int]:
    """(width, height) of a keyframe: the long side `side`, both multiples of 8."""
    ratio = _ASPECTS.get(aspect, 16 / 9)
    w, h = (side, side / ratio) if ratio >= 1 else (side * ratio, side)
    return max(8, int(w) // 8 * 8), max(8, int(h) // 8 * 8)


def _places(shot: Shot, extra: list[str], assets: Mapping[str, Asset]) -> set[str]:
    return {a for a in [*shot.assets, *extra] if a in assets and assets[a].category == AssetCategory.LOCATION}


def _figures(shot: Shot, extra: list[str], assets: Mapping[str, Asset]) -> set[str]:
    return {a for a in [*shot.assets, *extra] if a in assets and assets[a].category != AssetCategory.LOCATION}


def continues(previous: Shot | None, shot: Shot, assets: Mapping[str, Asset],
              prompts: Mapping[str, ShotPrompt] | None = None) -> bool:
    """Whether `shot` continues the action of `previous`: its explicit flag, else decided by code.

    By code: the same place (or no place named in one of them), a character or prop in common
    (or nobody in one of them: an insert of the place), something in common at all, and no words
    of a jump in time ("later", "meanwhile", "the next morning"…).
    """
    if previous is None:
        return False
    if shot.continues is not None:
        return shot.continues
    extra_prev = list((prompts or {}).get(previous.id, ShotPrompt(shot_id="", start_prompt="")).asset_refs)
    extra_here = list((prompts or {}).get(shot.id, ShotPrompt(shot_id="", start_prompt="")).asset_refs)
    p_prev, p_here = _places(previous, extra_prev, assets), _places(shot, extra_here, assets)
    if p_prev and p_here and not p_prev & p_here:
        return False
    f_prev, f_here = _figures(previous, extra_prev, assets), _figures(shot, extra_here, assets)
    if f_prev and f_here and not f_prev & f_here:
        return False  # other people, other action
    if not (p_prev | f_prev) & (p_here | f_here):
        return False  # nothing in common at all
    return not _TIME_JUMP.search(shot.action)


def style_scale(style: VisualStyle | None, reference_scale: float = REFERENCE_SCALE) -> float:
    """The style image's scale: the style's influence, capped, and always below the references'."""
    if style is None:
        return 0.0
    return max(0.0, min(style.influence, STYLE_CAP, reference_scale - 0.2))


def frames_for(prompts: Prompts, previous: Frames | None) -> Frames:
    """The scene's frame slots in shot order (start, then end where the shot has an end prompt),
    keeping every earlier take and choice."""
    old = previous or Frames()
    out: list[Frame] = []
    for p in prompts.prompts:
        out.append(old.get(p.shot_id, "start") or Frame(shot_id=p.shot_id, which="start"))
        if p.end_prompt:
            out.append(old.get(p.shot_id, "end") or Frame(shot_id=p.shot_id, which="end"))
    return Frames(frames=out)


def _replace_frame(frames: Frames, new: Frame) -> Frames:
    return Frames(frames=[new if (f.shot_id, f.which) == (new.shot_id, new.which) else f for f in frames.frames])


def choose_frame(frames: Frames, shot_id: str, which: str, take: Take) -> Frames:
    """Make one take of a frame's carousel its chosen image (a user edit; save it with Runner.save)."""
    frame = frames.get(shot_id, which)
    if frame is None or take.id not in frame.takes:
        raise InputError("That image is not a take of this frame; reload and choose again.")
    if not take.ok or not take.media:
        raise InputError(f"That take failed ({take.error or 'no image'}); choose another one.")
    return _replace_frame(frames, _chosen(frame, take))


def _chosen(frame: Frame, take: Take) -> Frame:
    out = take.output or {}
    return frame.model_copy(update={
        "chosen_take": take.id, "image": take.media[0], "consistency": out.get("consistency"),
        "asset_scores": dict(out.get("asset_scores") or {}), "conditioned_on": out.get("conditioned_on"),
    })


def wanted_frames(action: KeyframeSettings, prompts: Prompts) -> list[tuple[str, str]]:
    """The (shot id, 'start'|'end') frames an action names, in shot order.

    Raises:
        InputError: a shot or frame the prompts do not have.
    """
    slots: list[tuple[str, str]] = [(f.shot_id, f.which) for f in frames_for(prompts, None).frames]
    if isinstance(action, RegenerateShotFrames):
        picked = [s for s in slots if s[0] == action.shot_id]
        if not picked:
            raise InputError("That shot has no prompts in this scene; rebuild the prompts first.")
        return picked
    if isinstance(action, RegenerateFrame):
        if (action.shot_id, action.which) not in slots:
            if (action.shot_id, "start") in slots and action.end:
                raise InputError("That shot has no end frame (its prompt has none); add an end prompt in stage 9.")
            raise InputError("That shot has no prompts in this scene; rebuild the prompts first.")
        return [(action.shot_id, action.which)]
    return slots


# --- generation -----------------------------------------------------------------------------------


@dataclass
class _Setup:
    """What every keyframe of one run shares."""

    ctx: StageContext
    engine: ImageEngine
    embedding: EmbeddingEngine | None
    matting: MattingEngine | None
    assets: dict[str, Asset]
    style: VisualStyle | None
    style_image: Image.Image | None
    style_key: str
    size: tuple[int, int]
    steps: int
    reference_scale: float
    continuity_strength: float
    score: bool
    images: dict[str, Image.Image]
    score_cache: dict[str, Any]

    def image(self, key: str | None) -> Image.Image | None:
        if not key:
            return None
        if key not in self.images:
            data = self.ctx.read_media(key)
            if not data:
                return None
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                self.images[key] = im.copy()
        return self.images[key]


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _optional(get: Any, method: str) -> Any:
    """An engine from the provider, or None when this profile (or test) has none."""
    try:
        engine = get()
    except Exception as e:  # an engine that cannot load only costs the score, never the frame
        log.info("no %s engine: %s", method, e)
        return None
    return engine if callable(getattr(engine, method, None)) else None


def _score(setup: _Setup, image: Image.Image, prompt: ShotPrompt) -> tuple[KeyframeScore | None, str]:
    if not setup.score or setup.embedding is None:
        return None, "no embedding engine" if setup.embedding is None else "scoring off"
    refs = []
    for asset_id, key in prompt.asset_refs.items():
        asset = setup.assets.get(asset_id)
        if asset is not None and asset.master_ref and key == asset.master_ref_white:
            key = asset.master_ref  # the cut-out: its alpha is the figure's mask
        ref = setup.image(key)
        if ref is None:
            continue
        refs.append(AssetReference(asset_id, ref, asset is not None and asset.category == AssetCategory.LOCATION, key))
    try:
        return score_keyframe(image, refs, embedding=setup.embedding, matting=setup.matting,
                              cache=setup.score_cache), ""
    except Exception as e:
        log.warning("consistency score failed: %s", describe_error(e))
        return None, f"the consistency score failed: {describe_error(e)}"


#: Which references a model that takes few images keeps first: characters, then props, then places.
_IMPORTANCE = {AssetCategory.CHARACTER: 3.0, AssetCategory.PROP: 2.0, AssetCategory.LOCATION: 1.0}
def _references(setup: _Setup, prompt: ShotPrompt, shot: Shot | None = None) -> list[Reference]:
    """One reference per in-frame asset with an image: scale, name, kind, importance and region."""
    order = list(shot.assets) if shot is not None else []
    ids = [a for a in prompt.asset_refs if setup.image(prompt.asset_refs[a]) is not None]
    ids.sort(key=lambda a: order.index(a) if a in order else len(order))
    characters = [a for a in ids if (x := setup.assets.get(a)) is not None and x.category == AssetCategory.CHARACTER]
    positions = effective_layout(shot, setup.assets) if shot is not None else {}
    boxes = regions(positions, characters)
    out = []
    for rank, asset_id in enumerate(ids):
        key = prompt.asset_refs[asset_id]
        image = setup.image(key)
        assert image is not None
        asset = setup.assets.get(asset_id)
        place = asset is not None and asset.category == AssetCategory.LOCATION
        scale = min(setup.reference_scale, PLACE_SCALE) if place else setup.reference_scale
        out.append(Reference(
            _on_white(image), scale, key, name=asset.name if asset else "",
            kind=asset.category.value if asset else "",
            importance=(_IMPORTANCE.get(asset.category, 1.0) if asset else 1.0) - rank / 100,
            region=boxes.get(asset_id), position=positions.get(asset_id, "") if not place else "",
        ))
    return out


@dataclass
class _FrameJob:
    """One keyframe to make: the request for the image model and what its take records."""

    shot: Shot
    prompt: ShotPrompt
    which: str
    seed: int
    text: str
    request: ImageRequest
    references: list[Reference]
    style_scale: float
    init_key: str | None
    inputs: dict[str, Any]


@dataclass
class _Batch:
    """What the frames of one run have made so far (read and written in the stage's thread)."""

    frames: Frames
    changed: bool = False
    done: int = 0


def frame_job(setup: _Setup, shot: Shot, prompt: ShotPrompt, which: str, *, seed: int,
              init_key: str | None, strength: float) -> _FrameJob:
    """Everything one keyframe needs, read in the stage's thread (continuity reads earlier frames)."""
    ctx = setup.ctx
    text = prompt.start_prompt if which == "start" else (prompt.end_prompt or prompt.start_prompt)
    if ctx.guidance.strip():  # the filmmaker's words for this attempt come first (CLIP keeps 77 tokens)
        text = f"{ctx.guidance.strip().rstrip('.')}. {text}"
    references = _references(setup, prompt, shot)
    s_scale = style_scale(setup.style, min((r.scale for r in references), default=setup.reference_scale))
    style = Reference(setup.style_image, s_scale, setup.style_key) if setup.style_image is not None and s_scale > 0 else None
    init = setup.image(init_key)
    w, h = setup.size
    request = ImageRequest(
        prompt=text, negative_prompt=NEGATIVE, width=w, height=h, steps=setup.steps, seed=seed,
        init_image=_on_white(init).resize((w, h)) if init is not None else None, strength=strength,
        references=references, style=style,
    )
    inputs = {"prompt": text, "references": prompt.asset_refs, "style": setup.style_key if style else None,
              "style_scale": s_scale, "init": init_key, "strength": strength if init is not None else None,
              "size": [w, h], "steps": setup.steps, "seed": seed}
    return _FrameJob(shot, prompt, which, seed, text, request, references, s_scale if style else 0.0,
                     init_key if init is not None else None, inputs)


def call_image(engine: ImageEngine, request: ImageRequest) -> tuple[Image.Image | BaseException, float]:
    """The model call alone (safe to run in a worker thread): the image, or the error, and its seconds."""
    t0 = time.perf_counter()
    try:
        return engine.generate(request), time.perf_counter() - t0
    except AiuteurError:
        raise
    except Exception as e:
        return e, time.perf_counter() - t0


def frame_take(setup: _Setup, job: _FrameJob, result: Image.Image | BaseException, seconds: float) -> Take:
    """The take of one keyframe (failed takes say why); the image is stored by content hash."""
    ctx, shot, which = setup.ctx, job.shot, job.which
    target = f"frame:{shot.id}:{which}"
    common: dict[str, Any] = {
        "stage": Stage.FRAMES, "scene_id": ctx.scene_id, "target": target, "purpose": "keyframe",
        "inputs_hash": content_hash(job.inputs), "engine": str(getattr(setup.engine, "backend", "")),
        "model_id": str(getattr(setup.engine, "model_id", "")), "seed": job.seed,
        "seconds": round(seconds, 3), "prompt": [{"role": "user", "content": job.text}],
    }
    if isinstance(result, BaseException):
        return Take(**common, ok=False,
                    error=f"The image model failed on shot {shot.number} ({which} frame): {describe_error(result)}")
    key = ctx.put_media(_png(result), "png")
    setup.images[key] = result
    scored, why = _score(setup, result, job.prompt)
    output: dict[str, Any] = {
        "image": key, "which": which, "conditioned_on": job.init_key,
        "references": job.prompt.asset_refs, "reference_scales": {r.key: r.scale for r in job.references},
        "style_scale": job.style_scale,
        "consistency": round(scored.score, 4) if scored and scored.score is not None else None,
        "asset_scores": scored.asset_scores() if scored else {}, "low": bool(scored and scored.low),
    }
    notes = engine_notes(result)
    if notes:  # references the model could not take, a prompt encoded in chunks or shortened
        output["engine_notes"] = notes
    if result.info.get("aiuteur_inputs"):
        output["inputs"] = list(result.info["aiuteur_inputs"])
    if why:
        output["score_note"] = why
    return Take(**common, output=output, media=[key])


def generate_frame(setup: _Setup, shot: Shot, prompt: ShotPrompt, which: str, *, seed: int,
                   init_key: str | None, strength: float) -> Take:
    """One keyframe take, start to finish, in this thread."""
    job = frame_job(setup, shot, prompt, which, seed=seed, init_key=init_key, strength=strength)
    return frame_take(setup, job, *call_image(setup.engine, job.request))


def _best(takes: list[Take]) -> Take:
    """The most consistent of several takes (the first when none could be scored)."""
    def key(t: Take) -> float:
        c = (t.output or {}).get("consistency")
        return float(c) if c is not None else -1.0
    return max(takes, key=key)


TINY_SIDE, TINY_STEPS = 128, 2


def is_test_model(engine: object) -> bool:
    """The tiny profile's random-weight models draw noise at any size: keep them small and quick."""
    return str(getattr(engine, "model_id", "")).startswith("tiny/")


def _size(ctx: StageContext, default_side: int = DEFAULT_SIDE) -> tuple[int, int]:
    o = ctx.action
    assert isinstance(o, KeyframeSettings)
    if o.width is not None or o.height is not None:
        w, h = o.width or DEFAULT_SIDE, o.height or DEFAULT_SIDE
        return w // 8 * 8, h // 8 * 8
    story = ctx.inputs.story
    aspect = story.params.aspect_ratio if story else "16:9"
    return frame_size(aspect, o.size or default_side)


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: keyframes for the scene, one shot, or one frame (see the module docstring)."""
    # 1. Check inputs.
    assert ctx.scene_id is not None
    scene = ctx.inputs.require_scene()
    label = ctx.state.scene_label(scene.id)
    prompts = ctx.inputs.prompts
    if prompts is None or not prompts.prompts:
        raise InputError(f"Build the prompts of {label} before making its keyframes.")
    shots = ctx.inputs.shots or ShotList()
    shot_by_id = {s.id: s for s in shots.shots}
    missing = [p.shot_id for p in prompts.prompts if p.shot_id not in shot_by_id]
    if missing:
        raise InputError(f"The prompts of {label} name shots no longer in its shot list; rebuild the prompts.")
    prompt_by_id = {p.shot_id: p for p in prompts.prompts}
    action = ctx.action
    assert isinstance(action, KeyframeSettings)
    wanted = wanted_frames(action, prompts)
    best_of = min(action.best_of, MAX_BEST_OF)
    frames = frames_for(prompts, ctx.inputs.frames)

    # 2. Engines and what every frame shares.
    bundle = scene_style(ctx.inputs.assets, scene.id, ctx.capsules)  # the scene's own style, if any
    style = bundle.style if bundle else None
    engine = ctx.engines.image("keyframe")
    tiny = is_test_model(engine)
    setup = _Setup(
        ctx=ctx, engine=engine,
        embedding=_optional(ctx.engines.embedding, "embed") if action.score else None,
        matting=_optional(ctx.engines.matting, "cutout") if action.score else None,
        assets={a.id: a for a in (bundle.registry.assets if bundle else [])}, style=style, style_image=None,
        style_key="", size=_size(ctx, TINY_SIDE if tiny else DEFAULT_SIDE),
        steps=action.steps or (TINY_STEPS if tiny else DEFAULT_STEPS),
        reference_scale=REFERENCE_SCALE if action.reference_scale is None else action.reference_scale,
        continuity_strength=(CONTINUITY_STRENGTH if action.continuity_strength is None
                             else action.continuity_strength),
        score=action.score, images={}, score_cache={},
    )
    if style and style.images:
        setup.style_key = style.images[0]
        setup.style_image = setup.image(style.images[0])
        if setup.style_image is not None:
            setup.style_image = _on_white(setup.style_image)

    # 3. Generate the frames in shot order; with several cluster replicas, frames that do not
    #    continue from one another run at once (an end frame waits for its start, a continuing
    #    start for the previous shot's last frame), and every take is saved from this thread.
    order = [s for s in shots.shots if s.id in prompt_by_id]
    index = {s.id: i for i, s in enumerate(order)}
    slots = set(wanted)
    after: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for shot_id, which in wanted:
        i = index[shot_id]
        prev = order[i - 1] if i > 0 else None
        if which == "end":
            after[(shot_id, which)] = {(shot_id, "start")}
        elif prev is not None and continues(prev, shot_by_id[shot_id], setup.assets, prompt_by_id):
            after[(shot_id, which)] = {(prev.id, "end"), (prev.id, "start")} & slots
    made_by: dict[tuple[str, str], list[Take]] = {}
    state = _Batch(frames)

    def prepare(slot: tuple[str, str]) -> Any:
        shot_id, which = slot
        shot, prompt = shot_by_id[shot_id], prompt_by_id[shot_id]
        current = state.frames
        init_key, strength = None, setup.continuity_strength
        if which == "end":
            start = current.get(shot_id, "start")
            init_key, strength = (start.image if start else None), END_STRENGTH
        else:
            i = index[shot_id]
            prev = order[i - 1] if i > 0 else None
            if prev is not None and continues(prev, shot, setup.assets, prompt_by_id):
                last = current.get(prev.id, "end") or current.get(prev.id, "start")
                if last is not None and last.image is None:
                    last = current.get(prev.id, "start")
                init_key = last.image if last else None
        base = ctx.seed + 1000 * index[shot_id] + (500 if which == "end" else 0)
        jobs = [frame_job(setup, shot, prompt, which, seed=base + k, init_key=init_key, strength=strength)
                for k in range(best_of)]

        def work() -> list[tuple[_FrameJob, Image.Image | BaseException, float]]:
            results = []
            for job in jobs:  # best-of-N: stop at the first failure
                image, seconds = call_image(setup.engine, job.request)
                results.append((job, image, seconds))
                if isinstance(image, BaseException):
                    break
            return results

        return work

    def finish(slot: tuple[str, str], results: list[tuple[_FrameJob, Any, float]]) -> bool:
        made_by[slot] = [frame_take(setup, job, image, seconds) for job, image, seconds in results]
        ok = [t for t in made_by[slot] if t.ok]
        if ok:
            frame = state.frames.get(*slot)
            assert frame is not None
            frame = frame.model_copy(update={"takes": [*frame.takes, *(t.id for t in ok)]})
            state.frames = _replace_frame(state.frames, _chosen(frame, _best(ok)))
            state.changed = True
        state.done += 1
        ctx.report(state.done / len(wanted),
                   clock.line(state.done, f"shot {shot_by_id[slot[0]].number}, {slot[1]} frame"))
        # the engine is failing: later frames would fail too (or lose their continuity)
        return len(ok) == len(made_by[slot])

    # the time left: from the keyframes measured in this run, before the first from earlier ones here
    model_id = str(getattr(setup.engine, "model_id", ""))
    earlier = [t for sid in ctx.state.scene_ids for t in ctx.past_takes(Stage.FRAMES, sid)]
    one = mean_seconds(earlier, model_id=model_id)
    workers = parallelism(ctx, "image")
    clock = ItemClock("keyframe", len(wanted), prior_s=one * best_of if one else None, workers=workers)
    ctx.report(0.0, clock.line(0))
    run_items(wanted, prepare, finish, workers=workers, after=after,
              cancelled=ctx.cancelled, on_cancel=lambda: cancel_queued(ctx))
    frames, changed = state.frames, state.changed
    takes = [t for slot in wanted for t in made_by.get(slot, [])]  # script order, whatever finished first
    ctx.report(1.0, "keyframes done")
    # 4. A failed generation leaves the saved frames as they were.
    return StageOutcome(takes=takes, artifact=frames if changed else None)


__all__ = [
    "CONTINUITY_STRENGTH", "END_STRENGTH", "PLACE_SCALE", "REFERENCE_SCALE", "choose_frame", "continues",
    "frame_size", "frames_for", "generate_frame", "run", "style_scale", "wanted_frames",
]
