"""Stage 12, video: per-shot clips, the scene cut and the animatic with their shot markers,
re-render one shot (the cut is joined again), and every deliverable to download."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Clips, InputError, ShotList, Stage
from aiuteur.pipeline.actions import Action, RenderAnimatic, RenderClip, RenderCut, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.video import choose_clip, shot_markers
from aiuteur.ui import take_picker
from aiuteur.ui.progress import progress_fn
from aiuteur.ui.tab_api import GPU, TabEnv, seen

# --- pure formatting ---------------------------------------------------------------------------------


def timecode(seconds: float, fps: int = 24) -> str:
    """'00:00:04:12' (hours, minutes, seconds, frames)."""
    frames = round(seconds * fps)
    f, s = frames % fps, frames // fps
    return f"{s // 3600:02d}:{(s // 60) % 60:02d}:{s % 60:02d}:{f:02d}"


def markers_markdown(shots: ShotList | None, fps: int = 24) -> str:
    if not shots or not shots.shots:
        return ""
    return "\n".join(f"- `{timecode(t, fps)}` Shot {n}" for t, n in shot_markers(shots.shots))


def clips_markdown(clips: Clips | None, shots: ShotList | None) -> str:
    if clips is None:
        return "_Nothing rendered yet: confirm the estimate in stage 11, then render._"
    number = {s.id: s.number for s in (shots.shots if shots else [])}
    lines = [f"ℹ️ {clips.note}"] if clips.note else []
    for c in clips.clips:
        state = (f"v{c.takes.index(c.chosen_take) + 1:02d} · {c.num_frames} frames · rendered in "
                 f"{c.render_seconds:.1f} s" if c.video and c.chosen_take in c.takes else "no clip")
        lines.append(f"- **{number.get(c.shot_id, '?')}** · {state}")
    return "\n".join(lines)


# --- layout and events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoTab:
    render: gr.Button
    animatic_button: gr.Button
    status: gr.Markdown
    scene_cut: gr.Video
    animatic: gr.Video
    markers: gr.Markdown
    clips: gr.Markdown
    shot: gr.Dropdown
    clip: gr.Video
    rerender: gr.Button
    picker: take_picker.TakePicker
    rev: gr.State
    export: gr.Button
    files: gr.File
    export_cut: gr.Button | None = None


def render(env: TabEnv) -> VideoTab:
    with gr.Row():
        render_all = gr.Button("Render the clips, the scene cut and the animatic", variant="primary")
        animatic_button = gr.Button("Make the animatic only (no GPU)")
    status = gr.Markdown()
    with gr.Row(equal_height=False):
        scene_cut = gr.Video(label="Scene cut", interactive=False)
        animatic = gr.Video(label="Animatic (keyframes, crossfades, dialogue captions)", interactive=False)
    with gr.Row(equal_height=False):
        markers = gr.Markdown(label="Shot markers")
        clips = gr.Markdown()
    with gr.Row(equal_height=False):
        with gr.Column():
            shot = gr.Dropdown(label="Shot", choices=[])
            rerender = gr.Button("Re-render this shot and join the cut again")
        clip = gr.Video(label="This shot's clip", interactive=False)
    picker = take_picker.render("Takes of this shot's clip", columns=4, height=180)
    with gr.Row():
        export = gr.Button("Export every deliverable")
        export_cut = gr.Button("Export the cut for editors (.otio, FCP7 XML, CMX 3600 EDL, media)")
    files = gr.File(label="Deliverables", file_count="multiple", interactive=False)
    return VideoTab(render_all, animatic_button, status, scene_cut, animatic, markers, clips, shot, clip, rerender,
                    picker, gr.State(0), export, files, export_cut)


def _load(runner: Runner, pid: str, sid: str) -> tuple[Clips | None, ShotList | None]:
    view = runner.view(pid)
    data, shots = view.data(Stage.VIDEO, sid), view.data(Stage.SHOTS, sid)
    return (Clips.model_validate(data) if data else None, ShotList.model_validate(shots) if shots else None)


def clip_takes(runner: Runner, pid: str, sid: str, clips: Clips | None, shot_id: str) -> list[take_picker.Shown]:
    """Every rendered take of a shot's clip, as the picker shows them."""
    clip = next((c for c in (clips.clips if clips else []) if c.shot_id == shot_id), None)
    if clip is None:
        return []
    mine = {t.id: t for t in runner.takes(pid, Stage.VIDEO, sid, RenderClip.label(shot_id)) if t.ok and t.media}
    media = runner.media_paths(pid)
    return [take_picker.Shown(t.id, str(media(t.media[0])), f"v{k:02d} · {t.seconds:.0f} s")
            for k, t in enumerate((mine[i] for i in clip.takes if i in mine), start=1)]


@dataclass(frozen=True)
class _Panel:
    """What stage 12's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the tab's outputs, ending with the take picker's
    then: dict[str, Any]  # chain env.refresh after model work and choices
    fill: Callable[..., list[Any]]  # fill(runner, pid, sid, shot_id, status="") -> the whole tab


def listen(tab: VideoTab, env: TabEnv) -> None:
    """Stage 12's events, by purpose: loading and picking a shot, rendering, choosing a clip, exports."""
    p = _panel(tab, env)
    _listen_loading(tab, env, p)
    _listen_model_work(tab, env, p)
    _listen_takes(tab, env, p)
    _listen_exports(tab, env)


def _panel(tab: VideoTab, env: TabEnv) -> _Panel:
    """The outputs and the fill every event group of the tab shares."""
    shown = [tab.scene_cut, tab.animatic, tab.markers, tab.clips, tab.shot, tab.clip, tab.status, tab.rev,
             *take_picker.outputs(tab.picker)]
    then: dict[str, Any] = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
                            "api_visibility": "private"}

    def fill(runner: Runner, pid: str | None, sid: str | None, shot_id: str | None, status: str = "") -> list[Any]:
        if not pid or not sid:
            return [None, None, "", "", gr.Dropdown(choices=[], value=None), None, status or "Choose a scene first.",
                    0, *take_picker.empty()]
        clips, shots = _load(runner, pid, sid)
        path = runner.media_paths(pid)
        choices = [(s.number, s.id) for s in (shots.shots if shots else [])]
        ids = [v for _, v in choices]
        shot_id = shot_id if shot_id in ids else (ids[0] if ids else None)
        clip = next((c for c in (clips.clips if clips else []) if c.shot_id == shot_id), None)
        number = dict((v, k) for k, v in choices)
        takes = clip_takes(runner, pid, sid, clips, shot_id) if shot_id else []
        return [str(path(clips.scene_cut)) if clips and clips.scene_cut else None,
                str(path(clips.animatic)) if clips and clips.animatic else None,
                markers_markdown(shots, clips.fps if clips else 24), clips_markdown(clips, shots),
                gr.Dropdown(choices=choices, value=shot_id), str(path(clip.video)) if clip and clip.video else None,
                status, runner.view(pid).revision(Stage.VIDEO, sid),
                *take_picker.show(takes, clip.chosen_take if clip else None, f"shot {number.get(shot_id or '', '?')}")]

    return _Panel(shown, then, fill)


def _listen_loading(tab: VideoTab, env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or scene changes; show the picked shot."""
    shown, fill = p.shown, p.fill

    def on_load(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, None)

    def on_pick(pid: str | None, sid: str | None, shot: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, shot)

    env.on_reload(on_load, [env.project, env.scene], shown)
    tab.shot.input(on_pick, [env.project, env.scene, tab.shot], shown, api_name="video_pick")


def _listen_model_work(tab: VideoTab, env: TabEnv, p: _Panel) -> None:
    """Rendering, on the GPU queue: the whole scene, the animatic alone, one shot again."""
    shown, then, fill = p.shown, p.then, p.fill
    tracker = gr.Progress()  # Gradio swaps in each event's own tracker

    def run(pid: str | None, sid: str | None, shot: str | None, action: Action, request: gr.Request,
            progress: gr.Progress | None = None) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid, shot)
        try:
            result = runner.run(pid, Stage.VIDEO, sid, action, progress=progress_fn(progress))
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, shot, f"⚠️ {e}")
        return fill(runner, pid, sid, shot, "✅ Done." if result.ok else "⚠️ " + " ".join(result.errors))

    def on_render(pid: str | None, sid: str | None, shot: str | None, request: gr.Request,
                  progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, shot, RenderScene(), request, progress)

    def on_animatic(pid: str | None, sid: str | None, shot: str | None, request: gr.Request,
                    progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, shot, RenderAnimatic(), request, progress)

    def on_rerender(pid: str | None, sid: str | None, shot: str | None, request: gr.Request,
                    progress: gr.Progress = tracker) -> list[Any]:
        if not shot:
            return fill(env.runner_for(request), pid, sid, shot, "Choose a shot first.")
        return run(pid, sid, shot, RenderClip(shot_id=shot), request, progress)

    ins = [env.project, env.scene, tab.shot]
    gpu: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1}
    tab.render.click(on_render, ins, shown, api_name="video_render", **gpu).then(**then)
    tab.animatic_button.click(on_animatic, ins, shown, api_name="video_animatic", **gpu).then(**then)
    tab.rerender.click(on_rerender, ins, shown, api_name="video_rerender_shot", **gpu).then(**then)


def _listen_takes(tab: VideoTab, env: TabEnv, p: _Panel) -> None:
    """The picked shot's clip takes: click one to choose it (with Undo); the scene cut is joined again."""
    shown, then, fill = p.shown, p.then, p.fill

    def chosen_of(request: gr.Request, pid: str | None, sid: str | None, shot: str | None) -> str | None:
        if not pid or not sid or not shot:
            return None
        clips, _ = _load(env.runner_for(request), pid, sid)
        return next((c.chosen_take for c in (clips.clips if clips else []) if c.shot_id == shot), None)

    def choose(request: gr.Request, pid: str | None, sid: str | None, shot: str | None, rev: int,
               take_id: str | None) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid or not shot or take_id is None:
            return fill(runner, pid, sid, shot)
        clips, _ = _load(runner, pid, sid)
        take = next((t for t in runner.takes(pid, Stage.VIDEO, sid, RenderClip.label(shot)) if t.id == take_id), None)
        if clips is None or take is None:
            raise InputError("That clip is no longer a take of this shot; click one of the takes on screen.")
        runner.save(pid, Stage.VIDEO, choose_clip(clips, shot, take), sid, base_revision=seen(rev))
        result = runner.run(pid, Stage.VIDEO, sid, RenderCut())  # the scene cut follows the choice (no rendering)
        return fill(runner, pid, sid, shot, "Chosen; the scene cut is joined again." if result.ok else
                    "Chosen. ⚠️ " + " ".join(result.errors))

    def fail(request: gr.Request, pid: str | None, sid: str | None, shot: str | None, message: str) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, shot, message)

    take_picker.listen(tab.picker, [env.project, env.scene, tab.shot, tab.rev], shown, chosen_of=chosen_of,
                       choose=choose, fail=fail, api_name="video_choose_clip", then=then)


def _listen_exports(tab: VideoTab, env: TabEnv) -> None:
    """The film's files: everything made (export_all), and the cut as editors' files."""

    def on_export(pid: str | None, request: gr.Request) -> tuple[list[str], str]:
        from aiuteur.exports import export_all

        if not pid:
            return [], "Open a project first."
        runner = env.runner_for(request)
        try:
            out = Path(tempfile.mkdtemp(prefix="aiuteur-export-"))
            written, missing = export_all(runner, pid, out)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [], f"⚠️ {e}"
        words = f"✅ {len(written)} files." + ("".join(f"\n- not exported: {m}" for m in missing) if missing else "")
        return [str(p) for p in written], words

    tab.export.click(on_export, [env.project], [tab.files, tab.status], api_name="video_export")

    def on_export_cut(pid: str | None, request: gr.Request) -> tuple[list[str], str]:
        """The film's cut as the editors' files, with the clips and stills they reference beside them."""
        from aiuteur.exports import safe_name
        from aiuteur.exports.editors import export_editor_cuts
        from aiuteur.exports.timeline import export_timeline

        if not pid:
            return [], "Open a project first."
        runner = env.runner_for(request)
        try:
            view = runner.view(pid)
            out = Path(tempfile.mkdtemp(prefix="aiuteur-cut-"))
            base = safe_name(view.project.title)
            cut = export_timeline(runner, view, out, base) + export_editor_cuts(runner, view, out, base)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [], f"⚠️ {e}"
        if not cut:
            return [], "There is no cut yet: render the clips or make the animatic first."
        media = sorted(p for p in out.iterdir() if p not in cut)
        return [str(p) for p in [*cut, *media]], (
            f"✅ The cut for editors: {', '.join(p.name for p in cut)}, and {len(media)} media files they "
            "reference by name. Keep them in one folder; in the editor, relink offline media to it.")

    if tab.export_cut is not None:
        tab.export_cut.click(on_export_cut, [env.project], [tab.files, tab.status], api_name="video_export_cut")
