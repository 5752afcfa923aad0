"""Stage 11, confirm: what the video pass of a scene will cost before anything is rendered.

Per shot and in total: the estimated GPU seconds of the active profile's video model, and the
money at a rate per GPU hour. The estimate uses timings measured on this machine (every chosen
clip records its frame count, render time, model and machine) scaled by each shot's frame count;
without any, the video engine's own figure for its family and steps (or a table of rough
figures per model). Every assumption is listed in words, and so is how each clip fits the host's
per-call GPU limit (a ZeroGPU Space stops a call after its duration): a clip too long for one call
is said to be split into several, or refused, and a model that ignores end frames is said to be
refused for the shots that have one, before anything is rendered.

The filmmaker confirms (`confirm_estimate`, saved with Runner.save); stage 12 renders nothing
before. A headless run (no `confirm` option) confirms by itself only when the video pass costs no
GPU time (animatic-only profiles) or when the estimate is within `AIUTEUR_AUTO_CONFIRM_GPU_S`
(default 60 s, so tests and tiny models pass and a real studio pass always waits for a person).

The estimate also says how long the scene's sound takes (`voice_seconds`: lines not yet spoken,
at the speed measured here, and the mixing), CPU time that is not in the GPU cost.
The action is `Estimate` (`aiuteur.pipeline.actions`): `confirm`, `rate_per_hour` (else
`AIUTEUR_GPU_RATE`, else 2.50), `currency`, `fps`, `timings` (extra measurements).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from aiuteur.domain import CostEstimate, Frames, InputError, ShotList, Stage, Take
from aiuteur.pipeline.actions import Estimate, RenderClip
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.video import (
    clip_fps,
    clip_frames,
    clip_plans,
    end_frame_refusal,
    engine_backend,
    this_machine,
    video_engine,
)
from aiuteur.pipeline.writing import make_take

DEFAULT_RATE = 2.50  # per GPU hour: a typical on-demand price of one 80 GB data-centre GPU
DEFAULT_AUTO_CONFIRM_S = 60.0

#: Rough seconds of GPU time per output frame when nothing was measured here, by model id part.
FALLBACK_SECONDS_PER_FRAME: list[tuple[str, float, str]] = [
    ("flf2v-14b", 11.0, "Wan2.1 FLF2V 14B at 1280×720, 50 steps: about 15 min for 81 frames on one 80 GB GPU"),
    ("ltx-2", 0.9, "LTX-2 at 1280×720, 30 steps: about 2 min for 121 frames on one 80 GB GPU"),
    ("wan2.1", 11.0, "a Wan2.1 14B-class model at 720p: about 15 min for 81 frames on one 80 GB GPU"),
    ("wan2.2", 8.0, "a Wan2.2-class model at 720p: about 11 min for 81 frames on one 80 GB GPU"),
    ("ltx", 0.3, "LTX-Video at 768×512: about 40 s for 121 frames on one 80 GB GPU"),
    ("tiny/", 0.02, "a tiny random-weight test model: a few hundredths of a second per frame"),
]
UNKNOWN_SECONDS_PER_FRAME = 11.0


def _number(given: float | None, name: str, env: str, default: float) -> float:
    raw: Any = given
    if raw is None:
        raw = os.environ.get(env, "").strip() or default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{name} ({env}) must be a number, not {raw!r}.") from None
    if value < 0:
        raise InputError(f"{name} ({env}) cannot be negative; got {value:g}.")
    return value


def default_rate() -> float:
    """The rate per GPU hour when the filmmaker sets none: AIUTEUR_GPU_RATE, else 2.50."""
    return _number(None, "rate_per_hour", "AIUTEUR_GPU_RATE", DEFAULT_RATE)


def measured_seconds_per_frame(state: ProjectState, model_id: str, machine: str,
                               extra: Sequence[Mapping[str, Any]] = (),
                               takes: Sequence[Take] | None = None) -> tuple[float | None, int]:
    """Seconds per frame of `model_id` from the clips rendered on `machine` (every scene), and how many.

    With `takes` (the project's stage-12 takes), every clip take counts, chosen or not: each one
    was a measurement. Without, the chosen clips of the saved artifacts."""
    seconds, frames, count = 0.0, 0, 0
    if takes is not None:
        for tk in takes:
            out = tk.output or {}
            n = int(out.get("num_frames", 0) or 0)
            if (tk.ok and RenderClip.labels(tk.target) and tk.model_id == model_id and out.get("machine") == machine
                    and n > 0 and tk.seconds > 0):
                seconds, frames, count = seconds + tk.seconds, frames + n, count + 1
    for sid in state.scene_ids if takes is None else []:
        clips = state.artifacts(sid).video
        for clip in (clips.clips if clips else []):
            if clip.video and clip.model_id == model_id and clip.machine == machine and clip.num_frames > 0:
                seconds, frames, count = seconds + clip.render_seconds, frames + clip.num_frames, count + 1
    for t in extra:
        if str(t.get("model_id", "")) == model_id and int(t.get("frames", 0)) > 0:
            seconds, frames, count = seconds + float(t.get("seconds", 0.0)), frames + int(t["frames"]), count + 1
    return (seconds / frames if frames and seconds > 0 else None), count


def pass_overhead(takes: Sequence[Take]) -> tuple[float, str]:
    """Seconds a pass spends beyond its clips (joining the cut, the animatic), measured on the last pass here."""
    latest: dict[str, Take] = {}
    for t in takes:
        fresher = t.target not in latest or t.created_at > latest[t.target].created_at
        if t.ok and t.target in ("scene_cut", "animatic") and t.seconds > 0 and fresher:
            latest[t.target] = t
    if not latest:
        return 0.0, ("Joining the cut and making the animatic: not measured here yet (a few seconds to a few "
                     "minutes on a busy CPU); the next estimate includes them.")
    seconds = round(sum(t.seconds for t in latest.values()), 2)
    return seconds, (f"Joining the cut and making the animatic: about {seconds:.0f} s, as the last pass took here "
                     "(CPU; not in the GPU cost).")


def fallback_seconds_per_frame(model_id: str) -> tuple[float, str]:
    low = model_id.lower()
    for part, value, words in FALLBACK_SECONDS_PER_FRAME:
        if part in low:
            return value, words
    return UNKNOWN_SECONDS_PER_FRAME, "an unknown model, assumed as slow as a 14B video model"


def estimate(state: ProjectState, scene_id: str, model_id: str, backend: str, *, fps: int, rate: float,
             currency: str = "USD", machine: str = "", timings: Sequence[Mapping[str, Any]] = (),
             engine: Any = None, takes: Sequence[Take] | None = None) -> CostEstimate:
    """The cost estimate of one scene's video pass (pure: from saved artifacts and measured timings)."""
    saved = state.artifacts(scene_id)
    shots = (saved.shots or ShotList()).shots
    frames = saved.frames or Frames()
    shots = [s for s in shots if frames.get(s.id, "start") is not None] or shots
    if backend == "animatic":
        return CostEstimate(
            per_shot_seconds={s.id: 0.0 for s in shots}, total_seconds=0.0, rate_per_hour=rate, currency=currency,
            model_id="animatic", animatic_only=True, measured={s.id: False for s in shots},
            assumptions=["This profile has no video model: stage 12 makes the animatic from the keyframes on the "
                         "CPU, which needs no GPU time and costs nothing.",
                         f"Rate: {rate:.2f} {currency} per GPU hour (not used)."],
        )
    per_frame, samples = measured_seconds_per_frame(state, model_id, machine, timings, takes)
    measured = per_frame is not None
    words = ""
    own = getattr(engine, "seconds_per_frame", None)
    size = getattr(engine, "default_clip_size", None)
    if per_frame is None and callable(own) and callable(size):
        per_frame, words = own(*size())
    if per_frame is None:
        per_frame, words = fallback_seconds_per_frame(model_id)
    per_shot = {s.id: round(clip_frames(s, fps) * per_frame, 2) for s in shots}
    total = round(sum(per_shot.values()), 2)
    n_frames = sum(clip_frames(s, fps) for s in shots)
    assumptions = [
        f"Video model: {model_id} ({backend}), {len(shots)} clip{'s' if len(shots) != 1 else ''} of "
        f"{n_frames} frames in all at {fps} fps (each shot's duration × fps).",
        (f"Timing measured on this machine: {per_frame:.3g} s per frame, from {samples} clip"
         f"{'s' if samples != 1 else ''} rendered earlier with the same model." if measured else
         f"Nothing rendered with this model on this machine yet, so a rough figure is used: {per_frame:g} s per "
         f"frame ({words}). It will be replaced by measured timings after the first clips."),
        "Time grows in proportion to the number of frames; loading the model (once per session) is not counted.",
        f"Money: {rate:.2f} {currency} per GPU hour"
        + (" (set by you)." if rate != DEFAULT_RATE else " (the default; change it, or set AIUTEUR_GPU_RATE)."),
        "Re-rendering a shot later costs that shot's estimate again.",
        *fit_assumptions(engine, shots, frames, fps, per_frame),
    ]
    return CostEstimate(per_shot_seconds=per_shot, total_seconds=total, rate_per_hour=rate, currency=currency,
                        model_id=model_id, animatic_only=False, measured={s.id: measured for s in shots},
                        assumptions=assumptions)


#: Seconds of work per second of speech when nothing was spoken on this machine yet (Piper on one busy core).
FALLBACK_VOICE_RTF = 0.5
MIX_SECONDS_PER_VIDEO = 1.0  # mixing the lines and muxing them into one video (no frame is re-encoded)


def voice_time(state: ProjectState, scene_id: str) -> tuple[float, str]:
    """Seconds the scene's sound adds to stage 12, and how that was worked out, in words.

    Lines spoken in stage 7 cost nothing more; lines not spoken yet are costed at the speed
    measured on this machine (seconds of work per second of speech), else a rough figure.
    """
    shot_list = state.artifacts(scene_id).shots
    lines = shot_list.lines if shot_list else []
    if not lines:
        return 0.0, "Sound: no spoken lines in this scene's shot list, so the videos stay silent."
    measured = [(ln.took_s, ln.seconds) for ln in lines if ln.took_s > 0 and ln.seconds > 0]
    rtf = sum(t for t, _ in measured) / sum(s for _, s in measured) if measured else FALLBACK_VOICE_RTF
    todo = [ln for ln in lines if ln.audio is None and "no words" not in ln.note]
    speak = sum(ln.seconds for ln in todo) * rtf
    total = round(speak + 2 * MIX_SECONDS_PER_VIDEO, 2)
    spoken = sum(ln.seconds for ln in lines if ln.audio)
    words = (f"Sound: {len(lines) - len(todo)} of {len(lines)} line parts already spoken in stage 7 "
             f"({spoken:.1f} s of speech)")
    if todo:
        how = "as measured on this machine" if measured else "a rough figure for Piper on one CPU core"
        words += f"; {len(todo)} still to speak, about {speak:.1f} s at {rtf:.2f} s per second of speech ({how})"
    words += (f"; mixing them onto the animatic and the cut about {2 * MIX_SECONDS_PER_VIDEO:g} s. "
              f"Voice time in all: about {total:g} s (CPU; not in the GPU cost).")
    return total, words


def fit_assumptions(engine: Any, shots: list[Any], frames: Frames, fps: int, per_frame: float) -> list[str]:
    """What the per-call GPU limit and the model's end-frame support mean for this scene, in words."""
    out: list[str] = []
    refusal = end_frame_refusal(engine, shots, frames)
    if refusal:
        out.append(refusal.replace(" Nothing was rendered.", " Stage 12 will refuse to render them."))
    plans = clip_plans(engine, shots, frames, fps, seconds_per_frame=per_frame)
    if not plans:
        return out
    limit = next(iter(plans.values())).limit_s
    if limit is None:
        out.append("This host sets no time limit on one GPU call, so every clip is rendered in one call.")
        return out
    split = [(s, plans[s.id]) for s in shots if plans[s.id].split]
    refused = [(s, plans[s.id]) for s in shots if plans[s.id].refused and "ignores the end frame" not in plans[s.id].refused]
    fits = len(shots) - len(split) - len(refused)
    out.append(f"One GPU call may last {limit:.0f} s here (ZeroGPU); {fits} of {len(shots)} clips fit in one call.")
    for s, p in split:
        out.append(f"Shot {s.number}: about {p.seconds:.0f} s of GPU, so it will be rendered in {len(p.segments)} "
                   f"calls of {', '.join(map(str, p.segments))} frames, each starting on the last frame of the one "
                   "before (only the last ends on the end keyframe).")
    for s, p in refused:
        out.append(f"Shot {s.number}: refused before it starts. {p.refused}")
    return out


def confirm_estimate(estimate: CostEstimate, rate_per_hour: float | None = None) -> CostEstimate:
    """The filmmaker's go-ahead (optionally at a new rate); save it with Runner.save."""
    update: dict[str, Any] = {"confirmed": True}
    if rate_per_hour is not None:
        if rate_per_hour < 0:
            raise InputError(f"The rate cannot be negative; got {rate_per_hour:g}.")
        update["rate_per_hour"] = float(rate_per_hour)
    return estimate.model_copy(update=update)


def _auto_confirm(est: CostEstimate, confirm: bool | None) -> tuple[bool, str]:
    if confirm is not None:
        return confirm, ""
    if est.animatic_only:
        return True, "Confirmed by itself: the animatic needs no GPU time."
    budget = _number(None, "auto-confirm budget", "AIUTEUR_AUTO_CONFIRM_GPU_S", DEFAULT_AUTO_CONFIRM_S)
    if est.total_seconds <= budget:
        return True, (f"Confirmed by itself in a headless run: the estimate is within "
                      f"AIUTEUR_AUTO_CONFIRM_GPU_S = {budget:g} s of GPU time.")
    return False, (f"Waiting for your confirmation: the estimate is above AIUTEUR_AUTO_CONFIRM_GPU_S = "
                   f"{budget:g} s, so a headless run does not confirm it by itself.")


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point: estimate the scene's video pass (and confirm it when asked to)."""
    assert ctx.scene_id is not None
    label = ctx.state.scene_label(ctx.scene_id)
    frames = ctx.inputs.frames
    if frames is None or not frames.frames:
        raise InputError(f"Make the keyframes of {label} in stage 10 before estimating its video.")
    engine = video_engine(ctx)
    backend = engine_backend(engine)
    action = ctx.action
    assert isinstance(action, Estimate)
    rate = _number(action.rate_per_hour, "rate_per_hour", "AIUTEUR_GPU_RATE", DEFAULT_RATE)
    currency = (action.currency or os.environ.get("AIUTEUR_GPU_CURRENCY", "USD"))[:8] or "USD"
    timings = [t.model_dump() for t in action.timings]
    # every stage-12 take of the project is a measurement made here (clips, the cut, the animatic)
    takes = [t for sid in ctx.state.scene_ids for t in ctx.past_takes(Stage.VIDEO, sid)]
    est = estimate(ctx.state, ctx.scene_id, str(getattr(engine, "model_id", "animatic")) if engine else "animatic",
                   backend, fps=clip_fps(backend, action.fps), rate=rate, currency=currency, machine=this_machine(),
                   timings=timings, engine=engine, takes=takes)
    voice_s, voice_words = voice_time(ctx.state, ctx.scene_id)
    other_s, other_words = pass_overhead(takes) if not est.animatic_only else (0.0, "")
    wall = round(est.total_seconds + other_s + voice_s, 2)
    est = est.model_copy(update={"voice_seconds": voice_s, "wall_seconds": wall,
                                 "assumptions": [*est.assumptions, *([other_words] if other_words else []),
                                                 voice_words]})
    confirmed, why = _auto_confirm(est, action.confirm)
    est = est.model_copy(update={"confirmed": confirmed,
                                 "assumptions": [*est.assumptions, why] if why else est.assumptions})
    take = make_take(Stage.CONFIRM, purpose="estimate", inputs={"frames": frames.model_dump(mode="json"), "model": est.model_id,
                                                                 "rate": rate, "timings": timings},
                     rendered=None, text=None, seed=None, engine="code", scene_id=ctx.scene_id, output=est)
    return StageOutcome(takes=[take], artifact=est, take_id=take.id)


__all__ = ["DEFAULT_RATE", "confirm_estimate", "default_rate", "estimate", "fallback_seconds_per_frame", "fit_assumptions",
           "measured_seconds_per_frame", "pass_overhead", "run", "voice_time"]
