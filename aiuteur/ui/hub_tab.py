"""Stage 6, script hub: every scene with its derived status, places, people and where it stands.

Open a scene to produce it (it lands where that scene was left); defer a scene to skip it for
now. The colours of the status chips come from `STATUS_COLOURS` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, ConflictError, Stage
from aiuteur.domain.stages import STATUS_COLOURS, STATUS_MEANINGS
from aiuteur.pipeline.hub import PER_SCENE, SceneRow, scene_rows
from aiuteur.ui.tab_api import TabEnv, seen

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
    body: list[str] = []
    for r in rows:
        stages = "".join(chip(str(s.number), STATUS_COLOURS[r.statuses[s]],
                              f"{s.title}: {r.statuses[s].value} ({STATUS_MEANINGS[r.statuses[s]]})")
                         for s in PER_SCENE)
        body.append(
            f'<tr data-scene="{escape(r.scene_id)}" data-index="{len(body)}" title="Open this scene where it was left">'
            f"<td>{escape(r.number)}</td><td>{escape(r.heading)}</td>"
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
    open: gr.Button
    defer: gr.Button
    undefer: gr.Button
    refresh: gr.Button
    status: gr.Markdown
    rev: gr.State  # the revision of the hub (deferred scenes) the table showed


# A click on a scene's row opens that scene where it was left (the table's select event).
ROW_CLICK_JS = """
element.addEventListener('click', (e) => {
  const row = e.target.closest && e.target.closest('tr[data-scene]');
  if (row) trigger('select', {index: Number(row.dataset.index || 0), value: row.dataset.scene});
});
"""


def render(env: TabEnv) -> HubTab:
    gr.Markdown("Click a scene's row to open it where it was left. **Defer** and **Take it up again** act on "
                "the scene chosen in the Scene picker above.")
    table = gr.HTML(hub_html([]), js_on_load=ROW_CLICK_JS, elem_classes=["aiu-hub-table"])
    with gr.Row(equal_height=True):
        open_ = gr.Button("Open the chosen scene where it was left", variant="primary", scale=2)
        defer = gr.Button("Defer it", scale=1)
        undefer = gr.Button("Take it up again", scale=1)
        refresh = gr.Button("Refresh", scale=0, min_width=90)
    status = gr.Markdown()
    return HubTab(table, open_, defer, undefer, refresh, status, gr.State(0))


def listen(tab: HubTab, env: TabEnv) -> None:
    shown = [tab.table, tab.status, tab.rev]

    def fill(pid: str | None, request: gr.Request | None, status: str = "") -> list[Any]:
        if not pid:
            return [hub_html([]), status, 0]
        view = env.runner_for(request).view(pid)
        return [hub_html(scene_rows(view.state)), status, view.revision(Stage.HUB)]

    def on_load(pid: str | None, request: gr.Request) -> list[Any]:
        return fill(pid, request)

    env.on_reload(on_load, [env.project], shown, on_visit=True)  # "Where" follows work done in other tabs
    tab.refresh.click(on_load, [env.project], shown, api_name="hub")

    def deferrer(on: bool) -> Any:
        def on_defer(pid: str | None, scene_id: str | None, rev: int, request: gr.Request) -> list[Any]:
            if not pid or not scene_id:
                return fill(pid, request, "Choose a scene first (the Scene picker above).")
            try:
                env.runner_for(request).set_deferred(pid, scene_id, on, seen(rev))
            except ConflictError as e:  # the table keeps what this user saw; Refresh shows the news
                gr.Warning(str(e))
                return [gr.skip(), f"⚠️ {e}", gr.skip()]
            except AiuteurError as e:
                gr.Warning(str(e))
                return fill(pid, request, f"⚠️ {e}")
            label = env.runner_for(request).view(pid).state.scene_label(scene_id)
            return fill(pid, request, f"{label} deferred: its stages show as skipped." if on
                        else f"{label} is back in production.")
        return on_defer

    # the scene the buttons act on is the picker's value: a client names it (a gr.State is no API input)
    chosen = env.scene_pick if env.scene_pick is not None else env.scene
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}
    tab.defer.click(deferrer(True), [env.project, chosen, tab.rev], shown, api_name="hub_defer").then(**then)
    tab.undefer.click(deferrer(False), [env.project, chosen, tab.rev], shown, api_name="hub_undefer").then(**then)

    # opening a scene moves the one scene picker, the tab and stages 7-12: the shell wires it
    env.opens_scene(tab.open.click, chosen)
    env.opens_scene(tab.table.select)
