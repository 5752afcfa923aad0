"""Stage 12, video: one clip per shot from its chosen start and end keyframes, joined into the
scene cut, and the animatic, which is always made.

Nothing is rendered before the stage-11 estimate is confirmed. On a profile whose video engine
is the animatic only, the stage says so plainly and makes the animatic (keyframes held for the
shots' durations, crossfades, the dialogue as captions). Every clip is a take in its shot's
carousel (target `clip:<shot id>`); a failed render says why and leaves the earlier clips as
they were. The chosen clip records its frame count, render time, model and machine, so the next
estimate uses timings measured here.

Both carry the dialogue: every line spoken in stage 7, at its shot's start, mixed onto one track
(pipeline/soundtrack.py); a video model's own sound stays under it.

Targets: '' every clip, the scene cut and the animatic; `clip:<shot id>` re-render one shot and
join the cut again; `cut` join the cut again from the chosen clips (after choosing an earlier take;
no frame is rendered); `animatic` the animatic only; `line:<line>.<part>` speak one line again and
re-mix the sound of the animatic and the cut (no frame is re-encoded). Options: `fps`,
`animatic_fps`, `crossfade_s`.
"""

from __future__ import annotations

import io
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from aiuteur.domain import (
    AiuteurError,
    Clip,
    Clips,
    Frames,
    InputError,
    Prompts,
    Scene,
    Shot,
    ShotList,
    Stage,
    Take,
    content_hash,
)
from aiuteur.engines.animatic import AnimaticShot, concat_clips, write_animatic
from aiuteur.engines.base import VideoEngine
from aiuteur.pipeline import soundtrack
from aiuteur.pipeline.actions import (
    RenderAnimatic,
    RenderClip,
    RenderCut,
    RenderScene,
    RespeakLine,
    VideoSettings,
)
from aiuteur.pipeline.batch import ItemClock, cancel_queued, mean_seconds, parallelism, run_items
from aiuteur.pipeline.shot_list import shot_lines
from aiuteur.pipeline.stage import StageContext, StageOutcome, describe_error

log = logging.getLogger(__name__)

#: Frames per second each video backend is trained for; anything else uses DEFAULT_FPS.
BACKEND_FPS: dict[str, int] = {"diffusers-wan": 16, "diffusers-ltx": 24, "diffusers-ltx2": 24}
DEFAULT_FPS = 24
#: Backends whose pipeline needs an end frame too (Wan first/last-frame), for engines that do not say
#: (`needs_end_frame`): a shot without one holds its start.
NEEDS_END = frozenset({"diffusers-wan"})
ANIMATIC_FPS = 24
CROSSFADE_S = 0.5
ANIMATIC_ONLY = (
    "This profile has no video model, so no clips are rendered: the animatic (keyframes held for "
    "each shot's length, with crossfades and the dialogue as captions) is the cut. Clips need a GPU "
    "profile with a start+end-frame video model (studio)."
)


# --- shared with stage 11 -----------------------------------------------------------------------------


def video_engine(ctx: StageContext) -> VideoEngine | None:
    """The profile's video engine, or None when the profile has none (animatic only)."""
    try:
        engine = ctx.engines.video("video")
    except Exception as e:
        log.info("no video engine: %s", e)
        return None
    backend = getattr(engine, "backend", None)
    if backend is None or backend == "animatic" or not callable(getattr(engine, "render", None)):
        return None
    return engine


def engine_backend(engine: VideoEngine | None) -> str:
    return str(getattr(engine, "backend", "animatic")) if engine is not None else "animatic"


def clip_fps(backend: str, fps: int | None = None) -> int:
    """Frames per second of the clips: `fps` when given, else what the backend is made for."""
    return fps if fps is not None else BACKEND_FPS.get(backend, DEFAULT_FPS)


def clip_frames(shot: Shot, fps: int) -> int:
    """Frames of a shot's clip: its duration at `fps` (at least 2)."""
    return max(2, round(shot.duration_s * fps))


def this_machine() -> str:
    """Where clips are rendered: the host name and the device, so timings from elsewhere are not mixed in."""
    device = "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return f"{platform.node()}|{device}"


def end_frame_refusal(engine: VideoEngine | None, shots: list[Shot], frames: Frames) -> str:
    """Why the shots with an end frame cannot be rendered by this engine ('' when they can)."""
    refusal = getattr(engine, "refusal", None)
    if engine is None or not callable(refusal):
        return ""
    why = str(refusal(True))
    with_end = [s.number for s in shots if (f := frames.get(s.id, "end")) is not None and f.image]
    if not why or not with_end:
        return ""
    which = f"Shot {with_end[0]} has" if len(with_end) == 1 else f"Shots {', '.join(with_end)} have"
    return f"{which} an end frame. {why} Nothing was rendered."


def clip_plans(engine: VideoEngine | None, shots: list[Shot], frames: Frames, fps: int,
               seconds_per_frame: float | None = None) -> dict[str, Any]:
    """Each shot's `ClipPlan` (GPU calls, or why it is refused) where the engine plans clips, else {}."""
    plan = getattr(engine, "plan_clip", None)
    size = getattr(engine, "default_clip_size", None)
    if engine is None or not callable(plan) or not callable(size):
        return {}
    w, h = size()
    out = {}
    for s in shots:
        end = frames.get(s.id, "end")
        out[s.id] = plan(clip_frames(s, fps), w, h, seconds_per_frame=seconds_per_frame,
                         has_end=end is not None and end.image is not None)
    return out


def too_long_refusal(engine: VideoEngine | None, shots: list[Shot], frames: Frames, fps: int) -> str:
    """Why some clips cannot be rendered within one GPU call here, even split ('' when all can)."""
    plans = clip_plans(engine, shots, frames, fps)
    bad = [(s, plans[s.id]) for s in shots if s.id in plans and plans[s.id].refused
           and "ignores the end frame" not in plans[s.id].refused]
    if not bad:
        return ""
    shot, first = bad[0]
    more = f" (and shots {', '.join(s.number for s, _ in bad[1:])})" if len(bad) > 1 else ""
    return f"Shot {shot.number}{more}: {first.refused} Nothing was rendered."


# --- pieces --------------------------------------------------------------------------------------------


def _image(ctx: StageContext, key: str | None) -> Image.Image | None:
    if not key:
        return None
    data = ctx.read_media(key)
    if not data:
        return None
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def caption(shot: Shot, scene: Scene) -> str:
    """The shot's dialogue as captions ('SPEAKER: line', one per line)."""
    return "\n".join(shot_lines(shot, scene))


def make_animatic(ctx: StageContext, scene: Scene, shots: list[Shot], frames: Frames, out: Path) -> Path:
    """Write the scene's animatic from the chosen keyframes."""
    items = []
    for shot in shots:
        start = frames.get(shot.id, "start")
        image = _image(ctx, start.image if start else None)
        if image is None:
            raise InputError(f"Shot {shot.number} has no chosen start frame; choose one in stage 10.")
        end = frames.get(shot.id, "end")
        items.append(AnimaticShot(start=image, duration_s=shot.duration_s,
                                  end=_image(ctx, end.image if end else None), caption=caption(shot, scene)))
    action = ctx.action
    assert isinstance(action, VideoSettings)
    fps = ANIMATIC_FPS if action.animatic_fps is None else action.animatic_fps
    fade = CROSSFADE_S if action.crossfade_s is None else action.crossfade_s
    return write_animatic(items, out, fps=fps, crossfade_s=float(fade),
                          progress=lambda f, what: ctx.report(0.9 + 0.05 * f, what))


def _take(ctx: StageContext, target: str, purpose: str, inputs: Any, *, engine: str, model_id: str = "",
          seed: int | None = None, seconds: float = 0.0, media: list[str] | None = None,
          output: dict[str, Any] | None = None, error: str = "", prompt: str = "") -> Take:
    return Take(stage=Stage.VIDEO, scene_id=ctx.scene_id, target=target, purpose=purpose,
                inputs_hash=content_hash(inputs), engine=engine, model_id=model_id, seed=seed,
                seconds=round(seconds, 3), ok=not error, error=error, media=media or [], output=output,
                prompt=[{"role": "user", "content": prompt}] if prompt else [])


def render_clip(ctx: StageContext, engine: VideoEngine, shot: Shot, index: int, frames: Frames, video_prompt: str,
                fps: int, tmp: Path, *, store: bool = True) -> Take:
    """One clip take of a shot from its chosen start (and end) frame.

    With `store=False` (a worker thread) the clip stays in `tmp` and `stored_clip` saves it later
    from the stage's thread.
    """
    start_f, end_f = frames.get(shot.id, "start"), frames.get(shot.id, "end")
    start = _image(ctx, start_f.image if start_f else None)
    end = _image(ctx, end_f.image if end_f else None)
    if end is None and getattr(engine, "needs_end_frame", engine_backend(engine) in NEEDS_END):
        end = start  # a shot without an end frame holds its start frame (FLF2V needs both images)
    n = clip_frames(shot, fps)
    seed = ctx.seed + index
    inputs = {"start": start_f.image if start_f else None, "end": end_f.image if end_f else None,
              "prompt": video_prompt, "frames": n, "fps": fps, "seed": seed, "model": getattr(engine, "model_id", "")}
    target, model_id = RenderClip.label(shot.id), str(getattr(engine, "model_id", ""))
    if start is None:
        return _take(ctx, target, "clip", inputs, engine=engine_backend(engine), model_id=model_id, seed=seed,
                     error=f"Shot {shot.number} has no chosen start frame; choose one in stage 10.")
    out = tmp / f"clip_{shot.id}.mp4"
    t0 = time.perf_counter()
    try:
        engine.render(start, end, video_prompt, out, num_frames=n, fps=fps, seed=seed,
                      progress=lambda f, what: ctx.report(min(0.9, (index + f) / max(1, index + 1)), what))
    except AiuteurError:
        raise
    except Exception as e:
        return _take(ctx, target, "clip", inputs, engine=engine_backend(engine), model_id=model_id, seed=seed,
                     seconds=time.perf_counter() - t0, prompt=video_prompt,
                     error=f"The video model failed on shot {shot.number}: {describe_error(e)}")
    seconds = time.perf_counter() - t0
    output: dict[str, Any] = {"video": str(out), "num_frames": n, "fps": fps, "machine": this_machine()}
    plan, clip_size = getattr(engine, "plan_clip", None), getattr(engine, "clip_size", None)
    if callable(plan) and callable(clip_size) and start is not None:
        made = plan(n, *clip_size(start), has_end=end is not None)
        output["gpu_calls"] = len(made.segments)
        if len(made.segments) > 1:
            output["note"] = (f"Rendered in {len(made.segments)} GPU calls of {', '.join(map(str, made.segments))} "
                              f"frames: one call may last {made.limit_s:.0f} s here.")
    take = _take(ctx, target, "clip", inputs, engine=engine_backend(engine), model_id=model_id, seed=seed,
                 seconds=seconds, media=[str(out)], prompt=video_prompt, output=output)
    return stored_clip(ctx, take) if store else take


def stored_clip(ctx: StageContext, take: Take) -> Take:
    """The clip take with its file moved into the store (media by content hash)."""
    if not take.ok or not take.media or not Path(take.media[0]).is_file():
        return take
    key = ctx.put_media(Path(take.media[0]).read_bytes(), "mp4")
    return take.model_copy(update={"media": [key], "output": {**(take.output or {}), "video": key}})


def join_cut(ctx: StageContext, clips: Clips, order: list[str], fps: int, tmp: Path) -> tuple[Take, str | None]:
    """Join every shot's chosen clip, in shot order, into the scene cut."""
    by_shot = {c.shot_id: c for c in clips.clips}
    keys = [by_shot[s].video if s in by_shot else None for s in order]
    inputs = {"clips": keys, "fps": fps}
    if not all(keys):
        return _take(ctx, "scene_cut", "scene_cut", inputs, engine="ffmpeg",
                     error="Not every shot has a clip yet, so the scene cut was not joined."), None
    paths = []
    for n, key in enumerate(keys):
        path = tmp / f"part_{n:03d}.mp4"
        path.write_bytes(ctx.read_media(key or ""))
        paths.append(path)
    t0 = time.perf_counter()
    try:
        concat_clips(paths, tmp / "scene_cut.mp4", fps=fps)
    except Exception as e:
        return _take(ctx, "scene_cut", "scene_cut", inputs, engine="ffmpeg", seconds=time.perf_counter() - t0,
                     error=f"Joining the clips failed: {describe_error(e)}"), None
    key = ctx.put_media((tmp / "scene_cut.mp4").read_bytes(), "mp4")
    return _take(ctx, "scene_cut", "scene_cut", inputs, engine="ffmpeg", seconds=time.perf_counter() - t0,
                 media=[key], output={"video": key}), key


# --- the stage -----------------------------------------------------------------------------------------


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: clips, scene cut and animatic (see the module docstring)."""
    # 1. Check inputs: nothing is rendered before the estimate is confirmed.
    assert ctx.scene_id is not None
    scene = ctx.inputs.require_scene()
    label = ctx.state.scene_label(scene.id)
    estimate = ctx.inputs.confirm
    if estimate is None or not estimate.confirmed:
        raise InputError(f"Confirm the cost estimate of {label} in stage 11 first; nothing was rendered.")
    frames = ctx.inputs.frames
    if frames is None:
        raise InputError(f"Make the keyframes of {label} in stage 10 first.")
    shot_list = ctx.inputs.shots or ShotList()
    shots_all = shot_list.shots
    prompts = ctx.inputs.prompts or Prompts()
    video_prompt = {p.shot_id: p.video_prompt or p.start_prompt for p in prompts.prompts}
    shots = [s for s in shots_all if frames.get(s.id, "start") is not None]
    if not shots:
        raise InputError(f"{label} has no keyframes yet; make them in stage 10.")
    previous = ctx.inputs.video or Clips()

    engine = video_engine(ctx)
    backend = engine_backend(engine)
    action = ctx.action
    assert isinstance(action, VideoSettings)
    fps = clip_fps(backend, action.fps)
    if isinstance(action, RespeakLine):
        return _respeak(ctx, scene, shot_list, shots, previous, action.line)
    if isinstance(action, RenderClip):
        wanted = [s for s in shots if s.id == action.shot_id]
        if not wanted:
            raise InputError("That shot has no keyframes in this scene; make its frames in stage 10 first.")
    else:
        wanted = [] if isinstance(action, RenderAnimatic | RenderCut) else shots
    if isinstance(action, RenderClip | RenderCut) and engine is None:
        raise InputError(ANIMATIC_ONLY)
    refused = end_frame_refusal(engine, wanted, frames) or too_long_refusal(engine, wanted, frames, fps)
    if refused:  # an end frame the model would ignore, or a clip past the per-call GPU limit
        raise InputError(refused)

    old = {c.shot_id: c for c in previous.clips}
    clips = Clips(clips=[old.get(s.id) or Clip(shot_id=s.id) for s in shots], scene_cut=previous.scene_cut,
                  animatic=previous.animatic, fps=fps if engine is not None else previous.fps,
                  lines=previous.lines, soundtrack=previous.soundtrack, cut_soundtrack=previous.cut_soundtrack,
                  animatic_picture=previous.animatic_picture, cut_picture=previous.cut_picture,
                  note="" if engine is not None else ANIMATIC_ONLY)
    takes: list[Take] = []
    with tempfile.TemporaryDirectory(prefix="aiuteur-video-") as tmp_name:
        tmp = Path(tmp_name)
        # 2. Clips, shot by shot.
        rendered = False
        if engine is not None:
            made: dict[str, Take] = {}

            by_id = {s.id: s for s in wanted}

            def prepare(shot_id: str) -> Any:
                shot = by_id[shot_id]
                i = shots.index(shot)
                return lambda: render_clip(ctx, engine, shot, i, frames, video_prompt.get(shot.id, ""), fps, tmp,
                                           store=False)

            def finish(shot_id: str, take: Take) -> bool:
                made[shot_id] = take = stored_clip(ctx, take)
                ctx.report(len(made) / len(wanted) * 0.85, clock.line(len(made), f"shot {by_id[shot_id].number}"))
                return take.ok  # a failing engine would fail the rest too; earlier clips stay

            # the time left: clips measured in this run, before the first from earlier clips here (per frame)
            earlier = [t for sid in ctx.state.scene_ids for t in ctx.past_takes(Stage.VIDEO, sid)
                       if RenderClip.labels(t.target)]
            per_frame = mean_seconds(earlier, model_id=str(getattr(engine, "model_id", "")),
                                     per=lambda t: float((t.output or {}).get("num_frames", 0)))
            workers = parallelism(ctx, "video")
            frames_each = sum(clip_frames(s, fps) for s in wanted) / max(1, len(wanted))
            clock = ItemClock("clip", len(wanted), prior_s=per_frame * frames_each if per_frame else None,
                              workers=workers)
            if wanted:
                ctx.report(0.0, clock.line(0))
            run_items(list(by_id), prepare, finish, workers=workers, cancelled=ctx.cancelled,
                      on_cancel=lambda: cancel_queued(ctx))
            for shot in wanted:  # script order, whatever finished first
                take = made.get(shot.id)
                if take is None:
                    continue
                takes.append(take)
                if not take.ok:
                    continue
                out = take.output or {}
                clip = next(c for c in clips.clips if c.shot_id == shot.id)
                new = clip.model_copy(update={
                    "takes": [*clip.takes, take.id], "chosen_take": take.id, "video": take.media[0],
                    "num_frames": int(out.get("num_frames", 0)), "render_seconds": take.seconds,
                    "model_id": take.model_id, "machine": str(out.get("machine", "")),
                })
                clips = clips.model_copy(update={"clips": [new if c.shot_id == shot.id else c for c in clips.clips]})
                rendered = True
            # 3. The scene cut, joined again whenever a clip changed.
            if (rendered or isinstance(action, RenderCut)) and all(c.video for c in clips.clips):
                ctx.report(0.88, "joining the scene cut")
                take, key = join_cut(ctx, clips, [s.id for s in shots], fps, tmp)
                takes.append(take)
                if key:
                    clips = _cut_sound(ctx, scene, shots, shot_list, clips.model_copy(update={"scene_cut": key}),
                                       key, fps, tmp)
        # 4. The animatic: always on a full run, on request, and whenever there is none yet.
        if isinstance(action, RenderScene | RenderAnimatic) or clips.animatic is None:
            t0 = time.perf_counter()
            inputs = {"frames": [(s.id, s.duration_s) for s in shots], "chosen": [f.image for f in frames.frames]}
            try:
                path = make_animatic(ctx, scene, shots, frames, tmp / "animatic.mp4")
            except AiuteurError:
                raise
            except Exception as e:
                takes.append(_take(ctx, "animatic", "animatic", inputs, engine="ffmpeg",
                                   seconds=time.perf_counter() - t0,
                                   error=f"The animatic could not be written: {describe_error(e)}"))
            else:
                picture = ctx.put_media(path.read_bytes(), "mp4")
                clips = _animatic_sound(ctx, scene, shots, shot_list, clips, picture, tmp)
                key = clips.animatic or picture
                takes.append(_take(ctx, "animatic", "animatic", inputs, engine="ffmpeg",
                                   seconds=time.perf_counter() - t0, media=[key],
                                   output={"video": key, "soundtrack": clips.soundtrack}))
    ctx.report(1.0, "video done")
    changed = clips != previous
    return StageOutcome(takes=takes, artifact=clips if changed else None)


def _animatic_sound(ctx: StageContext, scene: Scene, shots: list[Shot], shot_list: ShotList, clips: Clips,
                    picture: str, tmp: Path) -> Clips:
    """The animatic with the dialogue mixed in (each line at its shot's start)."""
    lines = soundtrack.scene_lines(shot_list, clips)
    key, sound, note = soundtrack.add_sound(ctx, scene, shots, lines, picture, soundtrack.animatic_starts(shots),
                                           tmp, "animatic")
    update: dict[str, Any] = {"animatic": key, "animatic_picture": picture, "soundtrack": sound}
    if note and note not in clips.note:
        update["note"] = " ".join(x for x in (clips.note, note) if x)
    return clips.model_copy(update=update)


def _cut_sound(ctx: StageContext, scene: Scene, shots: list[Shot], shot_list: ShotList, clips: Clips,
               picture: str, fps: int, tmp: Path) -> Clips:
    """The scene cut with the dialogue mixed in (over the clips' own sound, if they have any)."""
    by_shot = {c.shot_id: c for c in clips.clips}
    counts = [by_shot[s.id].num_frames or clip_frames(s, fps) if s.id in by_shot else clip_frames(s, fps)
              for s in shots]
    lines = soundtrack.scene_lines(shot_list, clips)
    key, sound, note = soundtrack.add_sound(ctx, scene, shots, lines, picture, soundtrack.cut_starts(counts, fps),
                                           tmp, "scene_cut")
    update: dict[str, Any] = {"scene_cut": key, "cut_picture": picture, "cut_soundtrack": sound}
    if note and note not in clips.note:
        update["note"] = " ".join(x for x in (clips.note, note) if x)
    return clips.model_copy(update=update)


def _respeak(ctx: StageContext, scene: Scene, shot_list: ShotList, shots: list[Shot], previous: Clips,
             key: str) -> StageOutcome:
    """Speak one line again and re-mix only the sound of the animatic and the cut."""
    take, clips = soundtrack.respeak(ctx, scene, shot_list, previous, key)
    if not take.ok:
        return StageOutcome(takes=[take])
    with tempfile.TemporaryDirectory(prefix="aiuteur-sound-") as tmp_name:
        tmp = Path(tmp_name)
        if clips.animatic_picture:
            clips = _animatic_sound(ctx, scene, shots, shot_list, clips, clips.animatic_picture, tmp)
        if clips.cut_picture:
            clips = _cut_sound(ctx, scene, shots, shot_list, clips, clips.cut_picture, clips.fps, tmp)
    return StageOutcome(takes=[take], artifact=clips)


def choose_clip(clips: Clips, shot_id: str, take: Take) -> Clips:
    """Make an earlier take of a shot's clip the chosen one (then join the cut again with `clip:` … or
    run the stage with RenderAnimatic()); a user edit saved with Runner.save."""
    clip = next((c for c in clips.clips if c.shot_id == shot_id), None)
    if clip is None or take.id not in clip.takes:
        raise InputError("That clip is not a take of this shot; reload and choose again.")
    if not take.ok or not take.media:
        raise InputError(f"That take failed ({take.error or 'no video'}); choose another one.")
    out = take.output or {}
    new = clip.model_copy(update={"chosen_take": take.id, "video": take.media[0],
                                  "num_frames": int(out.get("num_frames", 0)), "render_seconds": take.seconds,
                                  "model_id": take.model_id, "machine": str(out.get("machine", ""))})
    return clips.model_copy(update={"clips": [new if c.shot_id == shot_id else c for c in clips.clips]})


def shot_markers(shots: list[Shot]) -> list[tuple[float, str]]:
    """(start second, shot number) of every shot in the cut."""
    t, out = 0.0, []
    for s in shots:
        out.append((round(t, 3), s.number))
        t += s.duration_s
    return out


__all__ = [
    "ANIMATIC_ONLY",
    "BACKEND_FPS",
    "caption",
    "choose_clip",
    "clip_fps",
    "clip_frames",
    "clip_plans",
    "end_frame_refusal",
    "make_animatic",
    "render_clip",
    "run",
    "shot_markers",
    "this_machine",
    "too_long_refusal",
    "video_engine",
]
