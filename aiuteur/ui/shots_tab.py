"""Stage 7, shot list: an editable table of the scene's shots; the script's lines are read-only.

Camera, action, seconds and where each character stands (the layout the keyframes use) can be
edited in the table; shots can be added,
deleted, moved, split and merged (which only move unit boundaries), and one shot can be shot
again with guidance. Every change goes through `aiuteur.pipeline.shot_list`, which refuses any
shot list that loses, repeats or reorders a line of dialogue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Asset, InputError, Scene, ShotList, Stage
from aiuteur.pipeline import shot_list as sl
from aiuteur.pipeline.actions import Action, RegenerateShot
from aiuteur.pipeline.layout import effective_layout, format_layout, parse_layout
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, guard_save, seen, with_statuses
from aiuteur.ui.tab_api import surrounding_tab as _surrounding_tab

HEADERS = ["Shot", "Size", "Angle", "Movement", "Lens", "Seconds", "Action", "Dialogue (from the script)", "In frame",
           "Where they stand (left … right)"]

# --- pure helpers -------------------------------------------------------------------------------------


def rows(shots: ShotList | None, scene: Scene | None, names: dict[str, str],
         assets: Sequence[Asset] = ()) -> list[list[Any]]:
    """The table rows: dialogue resolved from the scene, assets by name, where each one stands."""
    if shots is None or scene is None:
        return []
    by_id = {a.id: a for a in assets}
    return [[s.number, s.size, s.angle, s.movement, s.lens, s.duration_s, s.action,
             "\n".join(sl.shot_lines(s, scene)),
             ", ".join([names.get(a, a) for a in s.assets] + [f"{n} (not registered)" for n in s.unregistered]),
             format_layout(effective_layout(s, by_id), s.assets, names)]
            for s in shots.shots]


def _records(table: Any) -> list[list[Any]]:
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):
        return [list(r) for r in table.values.tolist()]
    if isinstance(table, dict):
        return [list(r) for r in table.get("data", [])]
    return [list(r) for r in table]


def apply_table(shots: ShotList, scene: Scene, table: Any, assets: Sequence[Asset] = ()) -> ShotList:
    """The shot list with the table's edits of camera, seconds, action and layout (rows matched by number).

    The layout column is saved as the shot's own positions when it differs from what the shot
    would show without an edit (so the positions the action implied stay implied until changed).
    """
    by_id = {a.id: a for a in assets}
    by_number = {s.number: s for s in shots.shots}
    out = shots
    for r in _records(table):
        if not r or str(r[0]) not in by_number:
            continue
        shot = by_number[str(r[0])]
        try:
            seconds = float(r[5])
        except (TypeError, ValueError):
            raise InputError(f"Shot {shot.number}: seconds must be a number, not {r[5]!r}.") from None
        changes = {"size": str(r[1]).strip() or shot.size, "angle": str(r[2]).strip() or shot.angle,
                   "movement": str(r[3]).strip() or shot.movement, "lens": str(r[4]).strip() or shot.lens,
                   "duration_s": seconds, "action": str(r[6] or "").strip()}
        if len(r) > 9 and assets:
            layout = parse_layout(str(r[9] or ""), shot, assets)
            if layout != effective_layout(shot, by_id):
                changes["layout"] = layout
        if any(getattr(shot, k) != v for k, v in changes.items()):
            out = sl.update_shot(out, scene, shot.id, **changes)
    return out


def shot_id(shots: ShotList, number: str) -> str:
    number = (number or "").strip().upper()
    for s in shots.shots:
        if s.number.upper() == number:
            return s.id
    raise InputError(f"There is no shot {number or '(none)'} in this scene; type a number from the first column.")


@dataclass(frozen=True)
class Loaded:
    scene: Scene
    shots: ShotList | None
    rev: int
    names: dict[str, str]
    assets: list[Asset]


def load(runner: Runner, pid: str, scene_id: str) -> Loaded:
    view = runner.view(pid)
    saved = view.state.artifacts(scene_id)
    scene = saved.require_scene()
    bundle = saved.assets
    assets = list(bundle.registry.assets if bundle else [])
    return Loaded(scene, saved.shots, view.revision(Stage.SHOTS, scene_id), {a.id: a.name for a in assets}, assets)


# --- layout and events -------------------------------------------------------------------------------

SAVE = "aiu-save-shots"  # the leave guard: typed cells are unsaved until saved (or an edit saves the table)


@dataclass(frozen=True)
class ShotsTab:
    guidance: gr.Textbox
    generate: gr.Button
    table: gr.Dataframe
    save: gr.Button
    number: gr.Textbox
    up: gr.Button
    down: gr.Button
    add: gr.Button
    remove: gr.Button
    split: gr.Button
    merge: gr.Button
    shot_guidance: gr.Textbox
    regenerate: gr.Button
    status: gr.Markdown
    rev: gr.State
    page: gr.Tab | None



def render(env: TabEnv) -> ShotsTab:
    with gr.Row():
        guidance = gr.Textbox(label="Guidance for the shot list (optional)", scale=4)
        generate = gr.Button("Make the shot list", variant="primary", scale=1)
    table = gr.Dataframe(headers=HEADERS, datatype=["str", "str", "str", "str", "str", "number", "str", "str", "str",
                                                    "str"],
                         interactive=True, wrap=True,
                         label="Shots (at most 8 s each; dialogue is the script's own; where they stand: "
                               "'Mara: left; Joe: right', also centre-left, centre, centre-right)",
                         column_widths=["5%", "8%", "8%", "8%", "5%", "5%", "24%", "15%", "11%", "11%"],
                         elem_classes=form_classes(SAVE))
    save = gr.Button("Save edits", elem_id=SAVE)
    with gr.Row():
        number = gr.Textbox(label="Shot", placeholder="3B", scale=1, max_lines=1)
        up = gr.Button("Move up", scale=1)
        down = gr.Button("Move down", scale=1)
        add = gr.Button("Add a shot after it", scale=1)
        remove = gr.Button("Delete it", variant="stop", scale=1)
        split = gr.Button("Split it", scale=1)
        merge = gr.Button("Merge with next", scale=1)
    with gr.Row():
        shot_guidance = gr.Textbox(label="Guidance for this shot", scale=4, placeholder="e.g. lower, make him loom")
        regenerate = gr.Button("Shoot this shot again", scale=1)
    status = gr.Markdown()
    return ShotsTab(guidance, generate, table, save, number, up, down, add, remove, split, merge, shot_guidance,
                    regenerate, status, gr.State(0), _surrounding_tab())


@dataclass(frozen=True)
class _Panel:
    """What stage 7's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the shot table, its revision, the status line
    then: dict[str, Any]  # chain env.refresh after model work
    fill: Callable[..., list[Any]]  # fill(runner, pid, scene_id, status="") -> the whole tab


def listen(tab: ShotsTab, env: TabEnv) -> None:
    """Stage 7's events, by purpose: loading, model work, edits of the table."""
    p = _panel(tab, env)
    _listen_loading(tab, env, p)
    _listen_model_work(tab, env, p)
    _listen_edits(tab, env, p)


def _panel(tab: ShotsTab, env: TabEnv) -> _Panel:
    """The outputs and the fill every event group of the tab shares."""
    shown = [tab.table, tab.rev, tab.status]
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str | None, scene_id: str | None, status: str = "") -> list[Any]:
        if not pid or not scene_id:
            return [[], 0, status or "Choose a scene (in the hub or above) to make its shot list."]
        try:
            got = load(runner, pid, scene_id)
        except AiuteurError as e:
            return [[], 0, f"⚠️ {e}"]
        return [rows(got.shots, got.scene, got.names, got.assets), got.rev, status]

    return _Panel(shown, then, fill)


def _listen_loading(tab: ShotsTab, env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or scene changes; remember the visit."""
    shown, fill = p.shown, p.fill

    def on_load(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid)

    env.on_reload(on_load, [env.project, env.scene], shown)
    if tab.page is not None:
        def on_visit(pid: str | None, sid: str | None, request: gr.Request) -> None:
            if pid and sid:
                env.runner_for(request).note_position(pid, Stage.SHOTS, sid)

        tab.page.select(on_visit, [env.project, env.scene], None, api_name="shots_visit", show_progress="hidden")


def _listen_model_work(tab: ShotsTab, env: TabEnv, p: _Panel) -> None:
    """Model work, on the GPU queue: the scene's shot list, one shot again."""
    shown, then, fill = p.shown, p.then, p.fill

    def run(pid: str | None, sid: str | None, request: gr.Request, guidance: str,
            action: Action | None = None) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid)
        try:
            result = runner.run(pid, Stage.SHOTS, sid, action, guidance=guidance)
            runner.note_position(pid, Stage.SHOTS, sid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, f"⚠️ {e}")
        fallback = any(t.purpose == "shot_list_fallback" for t in result.takes)
        msg = ("✅ Shot list made." if not fallback else
               "✅ Shot list made by the simple split (the model's grouping was not usable); edit it or try again.")
        return fill(runner, pid, sid, msg if result.ok else "⚠️ " + " ".join(result.errors))

    def on_generate(pid: str | None, sid: str | None, guidance: str, request: gr.Request) -> list[Any]:
        return run(pid, sid, request, guidance)

    tab.generate.click(on_generate, [env.project, env.scene, tab.guidance], shown, api_name="shot_list_generate", concurrency_id=GPU, concurrency_limit=1).then(**then)

    def on_regenerate(pid: str | None, sid: str | None, number: str, guidance: str, request: gr.Request) -> list[Any]:
        runner = env.runner_for(request)
        try:
            shots = load(runner, pid or "", sid or "").shots
            if shots is None:
                raise InputError("Make the shot list first.")
            action = RegenerateShot(shot_id=shot_id(shots, number))
        except AiuteurError as e:
            return fill(runner, pid, sid, f"⚠️ {e}")
        return run(pid, sid, request, guidance, action)

    tab.regenerate.click(on_regenerate, [env.project, env.scene, tab.number, tab.shot_guidance], shown,
                         api_name="shot_list_regenerate_one", concurrency_id=GPU, concurrency_limit=1).then(**then)


def _listen_edits(tab: ShotsTab, env: TabEnv, p: _Panel) -> None:
    """Edits of the table (save, move, add, delete, split, merge): each one event with the statuses."""
    shown, fill = p.shown, p.fill

    def edit(change: Callable[[ShotList, Scene, Any, str], ShotList], done: str) -> Callable[..., list[Any]]:
        def handler(pid: str | None, sid: str | None, rev: int, table: Any, number: str,
                    request: gr.Request) -> list[Any]:
            runner = env.runner_for(request)
            if not pid or not sid:
                return fill(runner, pid, sid)
            try:
                got = load(runner, pid, sid)
                if got.shots is None:
                    raise InputError("Make the shot list first.")
                new = change(apply_table(got.shots, got.scene, table, got.assets), got.scene, table, number)
                runner.save(pid, Stage.SHOTS, new, sid, base_revision=seen(rev))
                runner.note_position(pid, Stage.SHOTS, sid)
            except AiuteurError as e:
                gr.Warning(str(e))
                return [gr.skip(), gr.skip(), f"⚠️ {e}"]
            return fill(runner, pid, sid, done)
        return handler

    inputs = [env.project, env.scene, tab.rev, tab.table, tab.number]
    for button, name, change, done in (
        (tab.save, "shot_list_save", lambda s, sc, t, n: s, "Saved."),
        (tab.up, "shot_list_move_up", lambda s, sc, t, n: sl.move_shot(s, sc, shot_id(s, n), -1), "Moved."),
        (tab.down, "shot_list_move_down", lambda s, sc, t, n: sl.move_shot(s, sc, shot_id(s, n), +1), "Moved."),
        (tab.add, "shot_list_add", lambda s, sc, t, n: sl.add_shot(s, sc, shot_id(s, n) if n else None), "Added."),
        (tab.remove, "shot_list_delete", lambda s, sc, t, n: sl.delete_shot(s, sc, shot_id(s, n)), "Deleted."),
        (tab.split, "shot_list_split", lambda s, sc, t, n: sl.split_shot(s, sc, shot_id(s, n)), "Split."),
        (tab.merge, "shot_list_merge", lambda s, sc, t, n: sl.merge_shots(s, sc, shot_id(s, n)), "Merged."),
    ):
        # each saves the table as shown (edited): typed cells are saved with it
        guard_save(button.click(*with_statuses(env, edit(change, done), inputs, shown), api_name=name), SAVE,
                   tab.status)
