"""Stage 10, frames: every shot's start and end keyframes with consistency badges (low scores
flagged), a takes carousel per frame, choose, and regenerate one frame or one shot with guidance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Frames, InputError, ShotList, Stage, Take
from aiuteur.pipeline.actions import Action, MakeKeyframes, RegenerateFrame, RegenerateShotFrames, build
from aiuteur.pipeline.consistency import LOW_SCORE
from aiuteur.pipeline.frames import choose_frame
from aiuteur.pipeline.runner import Runner
from aiuteur.ui import take_picker
from aiuteur.ui.progress import progress_fn
from aiuteur.ui.tab_api import GPU, TabEnv, seen

# --- pure formatting ---------------------------------------------------------------------------------


def badge(score: float | None) -> str:
    """'0.91' for a good score, '⚠ 0.42 low' below the threshold, '–' when unscored."""
    if score is None:
        return "–"
    return f"⚠ {score:.2f} low" if score < LOW_SCORE else f"{score:.2f}"


def overview_markdown(shots: ShotList | None, frames: Frames | None, names: dict[str, str]) -> str:
    if not frames or not frames.frames:
        return "_No keyframes yet: make them from the stage-9 prompts._"
    number = {s.id: s.number for s in (shots.shots if shots else [])}
    lines = []
    for f in frames.frames:
        weakest = min(f.asset_scores, key=lambda a: f.asset_scores[a]) if f.asset_scores else None
        low = f" (weakest: {names.get(weakest, weakest)})" if weakest and f.consistency is not None \
            and f.consistency < LOW_SCORE else ""
        state = "chosen" if f.image else "no image yet"
        lines.append(f"- **{number.get(f.shot_id, '?')} {f.which}** · {len(f.takes)} take"
                     f"{'s' if len(f.takes) != 1 else ''} · {state} · consistency {badge(f.consistency)}{low}")
    flagged = sum(1 for f in frames.frames if f.consistency is not None and f.consistency < LOW_SCORE)
    head = (f"⚠ {flagged} frame{'s' if flagged != 1 else ''} below {LOW_SCORE:.2f}: an asset may not look like "
            "its reference." if flagged else "")
    return "\n".join([head, *lines]).strip()


def frame_choices(shots: ShotList | None, frames: Frames | None) -> list[tuple[str, str]]:
    number = {s.id: s.number for s in (shots.shots if shots else [])}
    return [(f"{number.get(f.shot_id, '?')} {f.which} · {badge(f.consistency)}", f"{f.shot_id}:{f.which}")
            for f in (frames.frames if frames else [])]


def take_caption(take: Take, k: int) -> str:
    if not take.ok:
        return f"take {k}: failed"
    score = (take.output or {}).get("consistency")
    return f"take {k} · {badge(score)}"


def failures_markdown(takes: list[Take]) -> str:
    failed = [t for t in takes if not t.ok]
    return "\n".join(f"- ⚠️ {t.error}" for t in failed[-3:])


# --- layout and events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FramesTab:
    best_of: gr.Slider
    generate: gr.Button
    status: gr.Markdown
    overview: gr.Markdown
    board: gr.Gallery
    frame: gr.Dropdown
    guidance: gr.Textbox
    regenerate_frame: gr.Button
    regenerate_shot: gr.Button
    picker: take_picker.TakePicker
    failures: gr.Markdown
    rev: gr.State


def render(env: TabEnv) -> FramesTab:
    with gr.Row():
        best_of = gr.Slider(1, 4, value=1, step=1, label="Takes per frame (best-of-N: the most consistent is chosen)")
        generate = gr.Button("Make every keyframe of the scene", variant="primary")
    status = gr.Markdown()
    overview = gr.Markdown()
    board = gr.Gallery(label="Chosen keyframes (start and end per shot)", columns=6, height=260, allow_preview=True)
    frame = gr.Dropdown(label="Frame", choices=[])
    guidance = gr.Textbox(label="Guidance for the next take (optional, e.g. 'her coat is blue')")
    with gr.Row():
        regenerate_frame = gr.Button("Regenerate this frame")
        regenerate_shot = gr.Button("Regenerate this shot (start and end)")
    picker = take_picker.render("Takes of this frame")
    failures = gr.Markdown()
    return FramesTab(best_of, generate, status, overview, board, frame, guidance, regenerate_frame, regenerate_shot,
                     picker, failures, gr.State(0))


def _load(runner: Runner, pid: str, sid: str) -> tuple[ShotList | None, Frames | None, int, dict[str, str]]:
    view = runner.view(pid)
    shots = ShotList.model_validate(view.data(Stage.SHOTS, sid)) if view.data(Stage.SHOTS, sid) else None
    frames = Frames.model_validate(view.data(Stage.FRAMES, sid)) if view.data(Stage.FRAMES, sid) else None
    names = {a["id"]: a["name"] for a in view.state.registry_assets()}
    return shots, frames, view.revision(Stage.FRAMES, sid), names


def _split(value: str | None) -> tuple[str, str]:
    if not value or ":" not in value:
        raise InputError("Choose a frame first.")
    shot_id, _, which = value.rpartition(":")
    return shot_id, which


@dataclass(frozen=True)
class _Panel:
    """What stage 10's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the tab's outputs, ending with the take picker's
    then: dict[str, Any]  # chain env.refresh after model work and choices
    fill: Callable[..., list[Any]]  # fill(runner, pid, sid, pick, status="") -> the whole tab


def listen(tab: FramesTab, env: TabEnv) -> None:
    """Stage 10's events, by purpose: loading and picking a frame, model work, choosing a take."""
    p = _panel(tab, env)
    _listen_loading(tab, env, p)
    _listen_model_work(tab, env, p)
    _listen_takes(tab, env, p)


def _panel(tab: FramesTab, env: TabEnv) -> _Panel:
    """The outputs and the fill every event group of the tab shares."""
    shown = [tab.overview, tab.board, tab.frame, tab.failures, tab.rev, tab.status, *take_picker.outputs(tab.picker)]
    then: dict[str, Any] = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
                            "api_visibility": "private"}

    def fill(runner: Runner, pid: str | None, sid: str | None, pick: str | None, status: str = "") -> list[Any]:
        if not pid or not sid:
            return ["", [], gr.Dropdown(choices=[], value=None), "", 0, status or "Choose a scene first.",
                    *take_picker.empty()]
        shots, frames, rev, names = _load(runner, pid, sid)
        choices = frame_choices(shots, frames)
        values = [v for _, v in choices]
        pick = pick if pick in values else (values[0] if values else None)
        number = {s.id: s.number for s in (shots.shots if shots else [])}
        path = runner.media_paths(pid)
        board = [(str(path(f.image)), f"{number.get(f.shot_id, '?')} {f.which} · {badge(f.consistency)}")
                 for f in (frames.frames if frames else []) if f.image]
        carousel: list[take_picker.Shown] = []
        chosen, what = None, "this frame"
        failures = ""
        if pick and frames:
            shot_id, which = _split(pick)
            frame = frames.get(shot_id, which)
            takes = runner.takes(pid, Stage.FRAMES, sid, f"frame:{shot_id}:{which}")
            if frame is not None:
                carousel = [take_picker.Shown(t.id, str(path(t.media[0])), take_caption(t, k))
                            for k, t in enumerate(takes, start=1) if t.ok and t.media]
                chosen, what = frame.chosen_take, f"shot {number.get(shot_id, '?')} {which}"
            failures = failures_markdown(takes)
        return [overview_markdown(shots, frames, names), board, gr.Dropdown(choices=choices, value=pick),
                failures, rev, status, *take_picker.show(carousel, chosen, what)]

    return _Panel(shown, then, fill)


def _listen_loading(tab: FramesTab, env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or scene changes; show the picked frame."""
    shown, fill = p.shown, p.fill

    def on_load(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, None)

    def on_pick(pid: str | None, sid: str | None, pick: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, pick)

    env.on_reload(on_load, [env.project, env.scene], shown)
    tab.frame.input(on_pick, [env.project, env.scene, tab.frame], shown, api_name="frames_pick")


def _action(what: str, pick: str | None, best_of: float) -> Action:
    """`what`: "scene" every keyframe, "shot" the picked frame's shot, "frame" the picked frame."""
    n = int(best_of or 1)
    if what == "scene":
        return build(MakeKeyframes, best_of=n)
    shot_id, which = _split(pick)
    if what == "shot":
        return build(RegenerateShotFrames, shot_id=shot_id, best_of=n)
    return build(RegenerateFrame, shot_id=shot_id, end=which == "end", best_of=n)


def _listen_model_work(tab: FramesTab, env: TabEnv, p: _Panel) -> None:
    """Model work, on the GPU queue: every keyframe of the scene, one frame again, one shot again."""
    shown, then, fill = p.shown, p.then, p.fill
    tracker = gr.Progress()  # Gradio swaps in each event's own tracker

    def run(pid: str | None, sid: str | None, pick: str | None, what: str, best_of: float, guidance: str,
            request: gr.Request, progress: gr.Progress) -> list[Any]:
        runner = env.runner_for(request)
        if what != "scene" and not pick:
            return fill(runner, pid, sid, pick, "Choose a frame first.")
        if not pid or not sid:
            return fill(runner, pid, sid, pick)
        try:
            result = runner.run(pid, Stage.FRAMES, sid, _action(what, pick, best_of), guidance=guidance or "",
                                progress=progress_fn(progress))
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, pick, f"⚠️ {e}")
        made = sum(1 for t in result.takes if t.ok)
        words = f"✅ {made} image{'s' if made != 1 else ''} made." if result.ok else "⚠️ " + " ".join(result.errors)
        return fill(runner, pid, sid, pick, words)

    def on_generate(pid: str | None, sid: str | None, pick: str | None, best_of: float, guidance: str,
                    request: gr.Request, progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, pick, "scene", best_of, guidance, request, progress)

    def on_frame(pid: str | None, sid: str | None, pick: str | None, best_of: float, guidance: str,
                 request: gr.Request, progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, pick, "frame", best_of, guidance, request, progress)

    def on_shot(pid: str | None, sid: str | None, pick: str | None, best_of: float, guidance: str,
                request: gr.Request, progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, pick, "shot", best_of, guidance, request, progress)

    ins = [env.project, env.scene, tab.frame, tab.best_of, tab.guidance]
    gpu: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1}
    tab.generate.click(on_generate, ins, shown, api_name="frames_generate", **gpu).then(**then)
    tab.regenerate_frame.click(on_frame, ins, shown, api_name="frames_regenerate_frame", **gpu).then(**then)
    tab.regenerate_shot.click(on_shot, ins, shown, api_name="frames_regenerate_shot", **gpu).then(**then)


def _listen_takes(tab: FramesTab, env: TabEnv, p: _Panel) -> None:
    """The picked frame's takes: click one to choose it (with Undo)."""
    shown, then, fill = p.shown, p.then, p.fill

    def chosen_of(request: gr.Request, pid: str | None, sid: str | None, pick: str | None) -> str | None:
        if not pid or not sid or not pick:
            return None
        _, frames, _, _ = _load(env.runner_for(request), pid, sid)
        frame = frames.get(*_split(pick)) if frames else None
        return frame.chosen_take if frame else None

    def choose(request: gr.Request, pid: str | None, sid: str | None, pick: str | None, rev: int,
               take_id: str | None) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid or take_id is None:
            return fill(runner, pid, sid, pick)
        shot_id, which = _split(pick)
        _, frames, _, _ = _load(runner, pid, sid)
        take = next((t for t in runner.takes(pid, Stage.FRAMES, sid, f"frame:{shot_id}:{which}")
                     if t.id == take_id), None)
        if frames is None or take is None:
            raise InputError("That take is no longer a take of this frame; click one of the takes on screen.")
        runner.save(pid, Stage.FRAMES, choose_frame(frames, shot_id, which, take), sid, base_revision=seen(rev))
        return fill(runner, pid, sid, pick, "Chosen.")

    def fail(request: gr.Request, pid: str | None, sid: str | None, pick: str | None, message: str) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, pick, message)

    take_picker.listen(tab.picker, [env.project, env.scene, tab.frame, tab.rev], shown, chosen_of=chosen_of,
                       choose=choose, fail=fail, api_name="frames_choose", then=then)
