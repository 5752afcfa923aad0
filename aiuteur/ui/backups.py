"""Backups panel of the project shell: the rolling snapshots, "back up now" and restore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import TabEnv


@dataclass(frozen=True)
class BackupsPanel:
    pick: gr.Dropdown
    refresh: gr.Button
    backup_now: gr.Button
    restore: gr.Button
    confirm: gr.Button
    message: gr.Markdown


def choices(runner: Runner, project_id: str) -> list[tuple[str, str]]:
    """Dropdown choices, newest first: 'YYYY-MM-DD HH:MM:SS · reason'."""
    return [(f"{b.created_at[:19].replace('T', ' ')} UTC · {b.reason}", b.id) for b in runner.backups(project_id)]


def render() -> BackupsPanel:
    with gr.Accordion("Backups", open=False):
        gr.Markdown("Aiuteur keeps rolling snapshots of this project (automatically, every few minutes "
                    "while you work). Restoring one keeps the current state as a snapshot too.")
        with gr.Row(equal_height=True):
            pick = gr.Dropdown(label="Snapshots", choices=[], scale=3)
            refresh = gr.Button("↻", size="sm", scale=0, min_width=50)
            backup_now = gr.Button("Back up now", size="sm", scale=0, min_width=120)
            restore = gr.Button("Restore…", size="sm", scale=0, min_width=110)
        confirm = gr.Button("Yes, restore this snapshot", variant="stop", visible=False, size="sm")
        message = gr.Markdown()
    return BackupsPanel(pick, refresh, backup_now, restore, confirm, message)


def listen(p: BackupsPanel, env: TabEnv, then_load: Callable[[Any], None]) -> None:
    def on_list(pid: str | None, request: gr.Request) -> Any:
        if not pid:
            return gr.Dropdown(choices=[], value=None)
        return gr.Dropdown(choices=choices(env.runner_for(request), pid), value=None)

    env.on_reload(on_list, [env.project], [p.pick])
    p.refresh.click(on_list, [env.project], p.pick, api_name="list_backups")

    def on_backup(pid: str, request: gr.Request) -> tuple[Any, str]:
        try:
            runner = env.runner_for(request)
            snap = runner.backup_now(pid)
            return gr.Dropdown(choices=choices(runner, pid), value=snap.id), "Snapshot made."
        except AiuteurError as e:
            return gr.skip(), f"⚠️ {e}"

    p.backup_now.click(on_backup, [env.project], [p.pick, p.message], api_name="backup_now")

    def on_ask(snapshot_id: str | None) -> tuple[Any, str]:
        if not snapshot_id:
            return gr.Button(visible=False), "Choose a snapshot first."
        return gr.Button(visible=True), ("**Restore this snapshot?** The project goes back to how it was then; "
                                         "its current state is kept as another snapshot.")

    p.restore.click(on_ask, [p.pick], [p.confirm, p.message], api_visibility="private")

    def on_restore(pid: str, snapshot_id: str | None, request: gr.Request) -> tuple[Any, str]:
        try:
            snap = env.runner_for(request).restore_backup(pid, snapshot_id or "")
            return gr.Button(visible=False), f"Restored the snapshot of {snap.created_at[:19].replace('T', ' ')} UTC."
        except AiuteurError as e:
            return gr.Button(visible=False), f"⚠️ {e}"

    then_load(p.confirm.click(on_restore, [env.project, p.pick], [p.confirm, p.message], api_name="restore_backup"))
