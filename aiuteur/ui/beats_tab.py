"""Stage 3 tab, beat sheet: edit, reorder, add, delete, and regenerate one beat with guidance.

The table shows each beat's source passage from the treatment; the hidden-in-plain-sight id
column keeps a beat's identity through edits and moves. Editing helpers are pure functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Beat, BeatSheet, InputError, Stage
from aiuteur.pipeline.actions import Action, RewriteBeat
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, gate_on_skipped, guard_save, with_statuses

HEADERS = ["#", "Title", "Summary", "Place", "Source passage (from the treatment)", "id"]
SAVE = "aiu-save-beats"  # the leave guard: typed cells are unsaved until saved


# --- pure helpers ------------------------------------------------------------------------------------


def rows(sheet: BeatSheet | None) -> list[list[Any]]:
    """Table rows for a beat sheet."""
    if sheet is None:
        return []
    return [[i, b.title, b.summary, b.place, b.source_passage, b.id] for i, b in enumerate(sheet.beats, start=1)]


def sheet_from_rows(table: Any) -> BeatSheet:
    """The beat sheet the table shows (rows without a title or summary are dropped; ids kept)."""
    values = table.values.tolist() if hasattr(table, "values") else list(table or [])
    beats = []
    for row in values:
        row = [("" if c is None else str(c)) for c in [*row, "", "", "", "", "", ""][:6]]
        _, title, summary, place, passage, beat_id = row
        if not (title.strip() or summary.strip()):
            continue
        extra = {"id": beat_id.strip()} if beat_id.strip() else {}
        beats.append(Beat(title=title.strip() or "Untitled beat", summary=summary.strip(), place=place.strip(),
                          source_passage=passage, **extra))
    return BeatSheet(beats=beats)


def _index(sheet: BeatSheet, number: Any) -> int:
    try:
        i = int(number) - 1
    except (TypeError, ValueError):
        i = -1
    if not 0 <= i < len(sheet.beats):
        raise InputError(f"There is no beat {number}; pick a number from 1 to {len(sheet.beats)}.")
    return i


def move(sheet: BeatSheet, number: Any, by: int) -> BeatSheet:
    """Move beat `number` (1-based) up (-1) or down (+1); at an end it stays."""
    i = _index(sheet, number)
    j = max(0, min(len(sheet.beats) - 1, i + by))
    beats = list(sheet.beats)
    beats.insert(j, beats.pop(i))
    return BeatSheet(beats=beats)


def delete(sheet: BeatSheet, number: Any) -> BeatSheet:
    i = _index(sheet, number)
    return BeatSheet(beats=[b for k, b in enumerate(sheet.beats) if k != i])


def add_after(sheet: BeatSheet, number: Any) -> BeatSheet:
    """A new empty beat after beat `number` (0 or empty: at the start)."""
    i = 0 if number in (None, "", 0) else _index(sheet, number) + 1
    beats = list(sheet.beats)
    beats.insert(i, Beat(title="New beat", summary="What happens."))
    return BeatSheet(beats=beats)


def beat_id(sheet: BeatSheet, number: Any) -> str:
    return sheet.beats[_index(sheet, number)].id


# --- components --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BeatsTab:
    guidance: gr.Textbox
    generate: gr.Button
    table: gr.Dataframe
    save: gr.Button
    number: gr.Number
    up: gr.Button
    down: gr.Button
    add: gr.Button
    remove: gr.Button
    beat_guidance: gr.Textbox
    regenerate: gr.Button
    status: gr.Markdown
    rev: gr.State


def render(env: TabEnv) -> BeatsTab:
    with gr.Row():
        guidance = gr.Textbox(label="Guidance for the whole beat sheet (optional)", scale=4)
        generate = gr.Button("Make the beat sheet", variant="primary", scale=1)
    table = gr.Dataframe(headers=HEADERS, datatype=["number", "str", "str", "str", "str", "str"], interactive=True,
                         wrap=True, column_widths=["4%", "16%", "35%", "35%", "10%"], label="Beats, in order",
                         elem_classes=form_classes(SAVE))
    save = gr.Button("Save edits", elem_id=SAVE)
    with gr.Row():
        number = gr.Number(label="Beat #", value=1, precision=0, minimum=0, scale=1)
        up = gr.Button("Move up", scale=1)
        down = gr.Button("Move down", scale=1)
        add = gr.Button("Add a beat after it", scale=1)
        remove = gr.Button("Delete it", variant="stop", scale=1)
    with gr.Row():
        beat_guidance = gr.Textbox(label="Guidance for this beat", scale=4, placeholder="what to change in beat #")
        regenerate = gr.Button("Regenerate beat #", scale=1)
    status = gr.Markdown()
    return BeatsTab(guidance, generate, table, save, number, up, down, add, remove, beat_guidance, regenerate,
                    status, gr.State(0))


def _load(runner: Runner, pid: str) -> tuple[BeatSheet | None, int]:
    view = runner.view(pid)
    data = view.data(Stage.BEATS)
    return (BeatSheet.model_validate(data) if data else None), view.revision(Stage.BEATS)


@dataclass(frozen=True)
class _Sheet:
    """What stage 3's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the table, its revision, the status line
    then: dict[str, Any]  # chain env.refresh after model work
    fill: Callable[..., list[Any]]  # fill(runner, pid, status="") -> the whole tab


def listen(tab: BeatsTab, env: TabEnv) -> None:
    """Stage 3's events, by purpose: loading, model work, edits of the table."""
    b = _sheet(tab, env)
    _listen_loading(tab, env, b)
    _listen_model_work(tab, env, b)
    _listen_edits(tab, env, b)


def _sheet(tab: BeatsTab, env: TabEnv) -> _Sheet:
    """The outputs and the fill every event group of the tab shares."""
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str, status: str = "") -> list[Any]:
        sheet, rev = _load(runner, pid)
        return [rows(sheet), rev, status]

    return _Sheet([tab.table, tab.rev, tab.status], then, fill)


def _listen_loading(tab: BeatsTab, env: TabEnv, b: _Sheet) -> None:
    """Fill the tab when the project opens; the write button is off while the stage is skipped."""
    def on_load(pid: str | None, request: gr.Request) -> list[Any]:
        return b.fill(env.runner_for(request), pid) if pid else [gr.skip()] * 3

    gate_on_skipped(env, [tab.generate])  # a skipped stage has nothing to write
    env.on_reload(on_load, [env.project], b.shown)


def _listen_model_work(tab: BeatsTab, env: TabEnv, b: _Sheet) -> None:
    """Model work, on the GPU queue: the whole beat sheet, one beat again with guidance."""
    shown, then, fill = b.shown, b.then, b.fill

    def run(pid: str | None, request: gr.Request, guidance: str, action: Action | None = None) -> list[Any]:
        if not pid:
            return [gr.skip(), gr.skip(), "Open a project first."]
        runner = env.runner_for(request)
        try:
            result = runner.run(pid, Stage.BEATS, action=action, guidance=guidance)
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, f"⚠️ {e}")
        return fill(runner, pid, "✅ Written." if result.ok else "⚠️ " + " ".join(result.errors))

    def on_generate(pid: str | None, guidance: str, request: gr.Request) -> list[Any]:
        return run(pid, request, guidance)

    tab.generate.click(on_generate, [env.project, tab.guidance], shown, api_name="beats_generate",
                       concurrency_id=GPU, concurrency_limit=1).then(**then)

    def on_regenerate(pid: str | None, table: Any, number: Any, guidance: str, request: gr.Request) -> list[Any]:
        try:
            action = RewriteBeat(beat_id=beat_id(sheet_from_rows(table), number))
        except AiuteurError as e:
            return [gr.skip(), gr.skip(), f"⚠️ {e}"]
        return run(pid, request, guidance, action)

    tab.regenerate.click(on_regenerate, [env.project, tab.table, tab.number, tab.beat_guidance], shown,
                         api_name="beats_regenerate_one", concurrency_id=GPU, concurrency_limit=1).then(**then)


def _listen_edits(tab: BeatsTab, env: TabEnv, b: _Sheet) -> None:
    """Edits of the table (save, move, add, delete): each one event that answers with the statuses."""
    shown, fill = b.shown, b.fill

    def edit(pid: str | None, rev: int, sheet: BeatSheet, request: gr.Request, done: str) -> list[Any]:
        if not pid:
            return [gr.skip(), gr.skip(), "Open a project first."]
        runner = env.runner_for(request)
        try:
            runner.save(pid, Stage.BEATS, sheet, base_revision=rev)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip(), gr.skip(), f"⚠️ {e}"]
        return fill(runner, pid, done)

    def on_save(pid: str | None, rev: int, table: Any, request: gr.Request) -> list[Any]:
        return edit(pid, rev, sheet_from_rows(table), request, "Saved.")

    guard_save(tab.save.click(*with_statuses(env, on_save, [env.project, tab.rev, tab.table], shown),
                              api_name="beats_save"), SAVE, tab.status)

    for button, name, change in (
        (tab.up, "beats_move_up", lambda s, n: move(s, n, -1)),
        (tab.down, "beats_move_down", lambda s, n: move(s, n, +1)),
        (tab.add, "beats_add", add_after),
        (tab.remove, "beats_delete", delete),
    ):
        def on_edit(pid: str | None, rev: int, table: Any, number: Any, request: gr.Request,
                    change: Any = change) -> list[Any]:
            try:
                sheet = change(sheet_from_rows(table), number)
            except AiuteurError as e:
                return [gr.skip(), gr.skip(), f"⚠️ {e}"]
            return edit(pid, rev, sheet, request, "Saved.")

        guard_save(button.click(*with_statuses(env, on_edit, [env.project, tab.rev, tab.table, tab.number], shown),
                                api_name=name), SAVE, tab.status)  # the table as shown, edited, is saved
