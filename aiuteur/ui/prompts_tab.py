"""Stage 9, prompts: per shot the start-frame, end-frame and video prompts, built by code, with the
reference images attached. Edits are kept (and shown as edited) until the shot is rebuilt; when
the shot list, the asset states, the style or the story rules change, the stage shows as stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, InputError, Prompts, ShotList, ShotPrompt, Stage, StyleAndAssets
from aiuteur.pipeline.actions import Action, BuildPrompts, RebuildPrompt
from aiuteur.pipeline.prompts_stage import edit_prompt
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import TabEnv, form_classes, guard_save, seen, with_statuses
from aiuteur.ui.tab_api import surrounding_tab as _surrounding_tab

# --- pure formatting ---------------------------------------------------------------------------------


def shot_choices(shots: ShotList | None, prompts: Prompts | None) -> list[tuple[str, str]]:
    edited = {p.shot_id for p in (prompts.prompts if prompts else []) if p.edited}
    return [(f"{s.number}" + (" (edited)" if s.id in edited else ""), s.id) for s in (shots.shots if shots else [])]


def overview_markdown(shots: ShotList | None, prompts: Prompts | None, names: dict[str, str]) -> str:
    if not prompts or not shots:
        return "_No prompts yet: build them from the shot list and the asset states._"
    number = {s.id: s.number for s in shots.shots}
    lines = []
    for p in prompts.prompts:
        refs = len(p.references)
        missing = ", ".join(names.get(a, a) for a in p.missing)
        end = "end frame" if p.end_prompt else "no end frame"
        lines.append(f"- **{number.get(p.shot_id, '?')}** · {refs} reference{'s' if refs != 1 else ''} · {end}"
                     + (" · edited" if p.edited else "") + (f" · no image yet for {missing}" if missing else ""))
        lines.extend(f"  - {w}" for w in p.warnings)  # what was left out to fit the image model's prompt length
    return "\n".join(lines)


def reference_gallery(p: ShotPrompt | None, names: dict[str, str], path: Any) -> list[tuple[str, str]]:
    if p is None:
        return []
    return [(str(path(key)), names.get(aid, aid)) for aid, key in p.asset_refs.items()]


# --- layout and events -------------------------------------------------------------------------------

SAVE = "aiu-save-prompts"  # the leave guard: typed prompts are unsaved until saved


@dataclass(frozen=True)
class PromptsTab:
    build: gr.Button
    overview: gr.Markdown
    shot: gr.Dropdown
    start: gr.Textbox
    end: gr.Textbox
    end_reason: gr.Markdown
    no_end: gr.Checkbox
    video: gr.Textbox
    references: gr.Gallery
    save: gr.Button
    rebuild: gr.Button
    status: gr.Markdown
    editing: gr.State  # what the form shows: {"scene", "shot", "revision"}; a save acts on that only
    page: gr.Tab | None



def render(env: TabEnv) -> PromptsTab:
    build = gr.Button("Build the prompts (no model: from the shots, asset states, style and story rules)",
                      variant="primary")
    overview = gr.Markdown()
    shot = gr.Dropdown(label="Shot", choices=[])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            start = gr.Textbox(label="Start-frame prompt", lines=4, elem_classes=form_classes(SAVE))
            end = gr.Textbox(label="End-frame prompt (empty: no end frame)", lines=4, elem_classes=form_classes(SAVE))
            end_reason = gr.Markdown()
            no_end = gr.Checkbox(label="No end frame for this shot", elem_classes=form_classes(SAVE))
            video = gr.Textbox(label="Video (motion) prompt", lines=3, elem_classes=form_classes(SAVE))
        with gr.Column(scale=2):
            references = gr.Gallery(label="References attached (one per asset in frame)", columns=3, height=260)
    with gr.Row():
        save = gr.Button("Save edits", elem_id=SAVE)
        rebuild = gr.Button("Rebuild this shot's prompts (drops the edit)")
    status = gr.Markdown()
    return PromptsTab(build, overview, shot, start, end, end_reason, no_end, video, references, save, rebuild, status,
                      gr.State(editing(None, None, 0)), _surrounding_tab())


def editing(scene_id: str | None, shot_id: str | None, revision: int) -> dict[str, Any]:
    """The form's context: the scene and shot its prompts belong to, and the revision they were read at."""
    return {"scene": scene_id, "shot": shot_id, "revision": revision}


def _load(runner: Runner, pid: str, sid: str) -> tuple[ShotList | None, Prompts | None, int, dict[str, str]]:
    view = runner.view(pid)
    shots = ShotList.model_validate(view.data(Stage.SHOTS, sid)) if view.data(Stage.SHOTS, sid) else None
    prompts = Prompts.model_validate(view.data(Stage.PROMPTS, sid)) if view.data(Stage.PROMPTS, sid) else None
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS)) if view.data(Stage.ASSETS) else None
    names = {a.id: a.name for a in (bundle.registry.assets if bundle else [])}
    return shots, prompts, view.revision(Stage.PROMPTS, sid), names


@dataclass(frozen=True)
class _Panel:
    """What stage 9's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the overview, the shot's prompt form, its references, the form's context, the status line
    then: dict[str, Any]  # chain env.refresh after a build
    fill: Callable[..., list[Any]]  # fill(runner, pid, scene_id, shot_id, status="") -> the whole tab


def listen(tab: PromptsTab, env: TabEnv) -> None:
    """Stage 9's events, by purpose: loading and picking a shot, building, saving an edit."""
    p = _panel(tab, env)
    _listen_loading(tab, env, p)
    _listen_building(tab, env, p)
    _listen_edits(tab, env, p)


def _panel(tab: PromptsTab, env: TabEnv) -> _Panel:
    """The outputs and the fill every event group of the tab shares."""
    shown = [tab.overview, tab.shot, tab.start, tab.end, tab.end_reason, tab.no_end, tab.video, tab.references,
             tab.editing, tab.status]
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str | None, sid: str | None, shot_id: str | None, status: str = "") -> list[Any]:
        if not pid or not sid:
            return ["", gr.Dropdown(choices=[], value=None), "", "", "", False, "", [], editing(sid, None, 0),
                    status or "Choose a scene to build its prompts."]
        shots, prompts, rev, names = _load(runner, pid, sid)
        by_shot = {p.shot_id: p for p in (prompts.prompts if prompts else [])}
        ids = [s.id for s in (shots.shots if shots else [])]
        sid_shot = shot_id if shot_id in ids else (ids[0] if ids else None)
        p = by_shot.get(sid_shot or "")
        return [overview_markdown(shots, prompts, names),
                gr.Dropdown(choices=shot_choices(shots, prompts), value=sid_shot),
                p.start_prompt if p else "", (p.end_prompt or "") if p else "",
                f"_{p.end_reason}_" if p and p.end_reason else "", bool(p and p.end_prompt is None),
                p.video_prompt if p else "", reference_gallery(p, names, runner.media_paths(pid)),
                editing(sid, sid_shot, rev), status]

    return _Panel(shown, then, fill)


def _listen_loading(tab: PromptsTab, env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or scene changes; show the picked shot; remember the visit."""
    shown, fill = p.shown, p.fill

    def on_load(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, None)

    def on_pick(pid: str | None, sid: str | None, shot: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, shot)

    env.on_reload(on_load, [env.project, env.scene], shown)
    tab.shot.input(on_pick, [env.project, env.scene, tab.shot], shown, api_name="prompts_pick")
    if tab.page is not None:
        def on_visit(pid: str | None, sid: str | None, request: gr.Request) -> None:
            if pid and sid:
                env.runner_for(request).note_position(pid, Stage.PROMPTS, sid)

        tab.page.select(on_visit, [env.project, env.scene], None, api_name="prompts_visit", show_progress="hidden")


def _listen_building(tab: PromptsTab, env: TabEnv, p: _Panel) -> None:
    """Build the scene's prompts (no model), or one shot's again (its edit dropped)."""
    shown, then, fill = p.shown, p.then, p.fill

    def run(pid: str | None, sid: str | None, shot: str | None, action: Action, request: gr.Request) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid, shot)
        try:
            result = runner.run(pid, Stage.PROMPTS, sid, action)
            runner.note_position(pid, Stage.PROMPTS, sid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, shot, f"⚠️ {e}")
        return fill(runner, pid, sid, shot, "✅ Built." if result.ok else "⚠️ " + " ".join(result.errors))

    def on_build(pid: str | None, sid: str | None, shot: str | None, request: gr.Request) -> list[Any]:
        return run(pid, sid, shot, BuildPrompts(), request)

    def on_rebuild(pid: str | None, sid: str | None, shot: str | None, request: gr.Request) -> list[Any]:
        return run(pid, sid, shot, RebuildPrompt(shot_id=shot) if shot else BuildPrompts(), request)

    tab.build.click(on_build, [env.project, env.scene, tab.shot], shown, api_name="prompts_build").then(**then)
    tab.rebuild.click(on_rebuild, [env.project, env.scene, tab.shot], shown,
                      api_name="prompts_rebuild_one").then(**then)


def _listen_edits(tab: PromptsTab, env: TabEnv, p: _Panel) -> None:
    """Save the shot's edited prompts: one event with the statuses; a refused save keeps what was typed."""
    shown, fill = p.shown, p.fill
    form: set[Any] = {env.project, tab.editing, tab.start, tab.end, tab.no_end, tab.video}

    def on_save(values: dict[Any, Any], request: gr.Request) -> list[Any]:
        """The shot's prompt form as one dict of components; its scene, shot and revision as the form showed them."""
        context = values[tab.editing] if isinstance(values[tab.editing], dict) else editing(None, None, 0)
        pid, sid, shot, rev = values[env.project], context["scene"], context["shot"], context["revision"]
        start, end, no_end, video = values[tab.start], values[tab.end], values[tab.no_end], values[tab.video]
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid, shot)
        try:
            _, prompts, _, _ = _load(runner, pid, sid)
            if prompts is None or not shot:
                raise InputError("Build the prompts and choose a shot first.")
            new = edit_prompt(prompts, shot, start=start, end=end, video=video, no_end=no_end)
            runner.save(pid, Stage.PROMPTS, new, sid, base_revision=seen(rev))
            runner.note_position(pid, Stage.PROMPTS, sid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip()] * (len(shown) - 1) + [f"⚠️ {e}"]  # every field as typed, the reason beneath
        return fill(runner, pid, sid, shot, "Saved: this shot's prompts are kept when the stage is built again.")

    guard_save(tab.save.click(*with_statuses(env, on_save, form, shown, scene_in=tab.editing), api_name="prompts_save"),
               SAVE, tab.status)
