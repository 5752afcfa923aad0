"""Stage 6, script hub: every scene with its derived status, places, people and where it stands.

Open a scene to produce it (it lands where that scene was left); defer a scene to skip it for
now. The colours of the status chips come from `STATUS_COLOURS` only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Stage
from aiuteur.domain.stages import STATUS_COLOURS, STATUS_MEANINGS
from aiuteur.pipeline.hub import PER_SCENE, SceneRow, open_scene, scene_rows, set_deferred
from aiuteur.ui.tab_api import TabEnv

# --- pure formatting -------------------------------------------------------------------------------


def chip(text: str, colour: str, title: str = "") -> str:
    return (f'<span title="{escape(title)}" style="display:inline-block;padding:1px 8px;margin:1px;'
            f'border-radius:10px;background:{colour};color:#fff;font-size:0.85em">{escape(text)}</span>')


def hub_html(rows: list[SceneRow]) -> str:
    """The scene table: number, heading, status chip, where it stands, per-stage chips, places, people."""
    if not rows:
        return "<p>No scenes yet: write or import the script first (stage 4).</p>"
    head = ("<tr><th>#</th><th>Scene</th><th>Status</th><th>Where</th><th>Stages 7–12</th>"
            "<th>Places</th><th>Characters</th><th>Shots</th></tr>")
    body = []
    for r in rows:
        stages = "".join(chip(str(s.number), STATUS_COLOURS[r.statuses[s]],
                              f"{s.title}: {r.statuses[s].value} ({STATUS_MEANINGS[r.statuses[s]]})")
                         for s in PER_SCENE)
        body.append(
            f"<tr><td>{escape(r.number)}</td><td>{escape(r.heading)}</td>"
            f"<td>{chip(r.status.value, STATUS_COLOURS[r.status], STATUS_MEANINGS[r.status])}</td>"
            f"<td>{escape(r.where)}</td><td>{stages}</td><td>{escape(', '.join(r.locations))}</td>"
            f"<td>{escape(', '.join(r.characters))}</td><td>{r.shots}</td></tr>")
    return f'<table class="aiu-hub" style="width:100%">{head}{"".join(body)}</table>'


def scene_choices(rows: list[SceneRow]) -> list[tuple[str, str]]:
    return [(f"Scene {r.number} · {r.heading}" + (" (deferred)" if r.deferred else ""), r.scene_id) for r in rows]


# --- layout and events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubTab:
    table: gr.HTML
    scene: gr.Dropdown
    open: gr.Button
    defer: gr.Button
    undefer: gr.Button
    refresh: gr.Button
    status: gr.Markdown
    tabs: gr.Tabs | None  # the shell's tabs, to land on the opened scene's stage


def _surrounding_tabs() -> gr.Tabs | None:
    block = gr.context.Context.block
    while block is not None and not isinstance(block, gr.Tabs):
        block = getattr(block, "parent", None)
    return block


def render(env: TabEnv) -> HubTab:
    table = gr.HTML(hub_html([]))
    with gr.Row(equal_height=True):
        scene = gr.Dropdown(label="Scene", choices=[], scale=3)
        open_ = gr.Button("Open this scene", variant="primary", scale=1)
        defer = gr.Button("Defer it", scale=1)
        undefer = gr.Button("Take it up again", scale=1)
        refresh = gr.Button("Refresh", scale=0, min_width=90)
    status = gr.Markdown()
    return HubTab(table, scene, open_, defer, undefer, refresh, status, _surrounding_tabs())


def listen(tab: HubTab, env: TabEnv) -> None:
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(pid: str | None, request: gr.Request | None, status: str = "") -> list[Any]:
        if not pid:
            return [hub_html([]), gr.Dropdown(choices=[]), status]
        rows = scene_rows(env.runner_for(request).view(pid).state)
        return [hub_html(rows), gr.Dropdown(choices=scene_choices(rows)), status]

    shown = [tab.table, tab.scene, tab.status]
    def on_load(pid: str | None, request: gr.Request) -> list[Any]:
        return fill(pid, request)

    env.reload.change(on_load, [env.project], shown, api_visibility="private")
    tab.refresh.click(on_load, [env.project], shown, api_name="hub")

    def deferrer(on: bool) -> Any:
        def on_defer(pid: str | None, scene_id: str | None, request: gr.Request) -> list[Any]:
            if not pid or not scene_id:
                return fill(pid, request, "Choose a scene first.")
            try:
                set_deferred(env.runner_for(request), pid, scene_id, on)
            except AiuteurError as e:
                gr.Warning(str(e))
                return fill(pid, request, f"⚠️ {e}")
            return fill(pid, request, "Deferred: its stages show as skipped." if on else "Back in production.")
        return on_defer

    tab.defer.click(deferrer(True), [env.project, tab.scene], shown, api_name="hub_defer").then(**then)
    tab.undefer.click(deferrer(False), [env.project, tab.scene], shown, api_name="hub_undefer").then(**then)

    scene_token = env.scene_reload if env.scene_reload is not None else env.reload  # stages 6-12 reload
    outputs: list[Any] = [env.scene, scene_token, tab.status]
    if tab.tabs is not None:
        outputs.append(tab.tabs)

    def on_open(pid: str | None, scene_id: str | None, request: gr.Request) -> list[Any]:
        skip = [gr.skip()] * (len(outputs) - 1)
        if not pid or not scene_id:
            return [gr.skip(), gr.skip(), "Choose a scene first.", *skip[2:]]
        try:
            pos = open_scene(env.runner_for(request), pid, scene_id)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip(), gr.skip(), f"⚠️ {e}", *skip[2:]]
        stage = pos.stage if pos.stage.per_scene else Stage.SHOTS
        out: list[Any] = [scene_id, f"{pid}:scene:{scene_id}:{time.monotonic_ns()}", f"Opened at {stage.title}."]
        if tab.tabs is not None:
            out.append(gr.Tabs(selected=stage.value))
        return out

    tab.open.click(on_open, [env.project, tab.scene], outputs, api_name="hub_open_scene").then(**then)
