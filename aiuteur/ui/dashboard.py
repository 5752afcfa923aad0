"""The dashboard: project cards, search, folders, and create/rename/duplicate/delete/open.

Handlers are plain functions over a Runner (tested directly); `listen` wraps them for Gradio,
shows any `AiuteurError` message as is, and refreshes the cards after every change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, InputError, Position, Project, ProjectSummary
from aiuteur.pipeline.runner import Runner
from aiuteur.ui import views

# --- handlers (no Gradio) -------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """What the dashboard shows for one search and folder filter."""

    cards: list[ProjectSummary]
    html: str
    projects: list[tuple[str, str]]
    folders: list[tuple[str, str]]
    filters: list[tuple[str, str]]


def listing(runner: Runner, search: str = "", folder: str | None = None) -> Listing:
    folders = runner.folders()
    cards = views.filter_cards(runner.list_projects(search=search or ""), folder)
    return Listing(cards, views.cards_html(cards, folders, search=search or ""), views.project_choices(cards),
                   views.folder_choices(folders), views.folder_choices(folders, with_filters=True))


def _need(project_id: str | None) -> str:
    if not project_id:
        raise InputError("Choose a project in the list first.")
    return project_id


def create_project(runner: Runner, title: str) -> Project:
    return runner.create_project(title or "")


def rename_project(runner: Runner, project_id: str | None, title: str, seen: Any = None) -> Project:
    """Rename; `seen` is what the list showed ({id: [title, folder]}): renamed since, nothing changes."""
    pid = _need(project_id)
    return runner.rename_project(pid, title or "", seen=_seen(seen, pid)[0] if seen is not None else None)


def seen_cards(cards: list[ProjectSummary]) -> dict[str, list[str | None]]:
    """What the list shows of each project that a rename or a move acts on: its title and folder."""
    return {c.id: [c.title, c.folder_id] for c in cards}


def _seen(seen: Any, project_id: str) -> list[str | None]:
    got = seen.get(project_id) if isinstance(seen, dict) else None
    if not isinstance(got, list) or len(got) != 2:
        raise InputError("Choose the project in the list first.")
    return got


def duplicate_project(runner: Runner, project_id: str | None) -> Project:
    pid = _need(project_id)
    title = runner.summary(pid).title
    return runner.duplicate_project(pid, f"{title} (copy)"[:200])


def move_project(runner: Runner, project_id: str | None, folder: str | None, seen: Any = None) -> str:
    """Move; `seen` as for `rename_project`: moved since, it stays where it is."""
    pid = _need(project_id)
    target = None if folder in (None, "", views.NO_FOLDER, views.ALL_FOLDERS) else folder
    if seen is None:
        runner.move_project(pid, target)
    else:
        runner.move_project(pid, target, seen=_seen(seen, pid)[1])
    names = {f.id: f.name for f in runner.folders()}
    return f"Moved into “{names[target]}”." if target else "Moved out of its folder."


def delete_question(runner: Runner, project_id: str | None) -> str:
    """The confirmation text of the second, explicit delete step."""
    pid = _need(project_id)
    title = runner.summary(pid).title
    return (f"**Delete “{title}” for good?** Every stage, take, branch and lock of it goes; this cannot "
            "be undone. Duplicate it first if you may want it back.")


def delete_project(runner: Runner, project_id: str | None) -> str:
    pid = _need(project_id)
    title = runner.summary(pid).title
    runner.delete_project(pid)
    return f"Deleted “{title}”."


def _folder_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InputError("A folder name must be 1 to 120 characters.")
    return name


def create_folder(runner: Runner, name: str) -> str:
    folder = runner.create_folder(_folder_name(name))
    return f"Folder “{folder.name}” created."


def rename_folder(runner: Runner, folder_id: str | None, name: str, seen: Any = None) -> str:
    """Rename; `seen` is what the list showed ({folder id: name}): renamed since, nothing changes."""
    if not folder_id or folder_id in (views.NO_FOLDER, views.ALL_FOLDERS):
        raise InputError("Choose a folder to rename.")
    folder = runner.rename_folder(folder_id, _folder_name(name), seen=_seen_folder(seen, folder_id))
    return f"Folder renamed to “{folder.name}”."


def _seen_folder(seen: Any, folder_id: str) -> str | None:
    if seen is None:
        return None
    name = seen.get(folder_id) if isinstance(seen, dict) else None
    if not isinstance(name, str):
        raise InputError("Choose the folder in the list first.")
    return name


def delete_folder(runner: Runner, folder_id: str | None, seen: Any = None) -> str:
    if not folder_id or folder_id in (views.NO_FOLDER, views.ALL_FOLDERS):
        raise InputError("Choose a folder to delete.")
    runner.delete_folder(folder_id, seen=_seen_folder(seen, folder_id))  # refuses one with projects in it
    return "Folder deleted."


def open_project(runner: Runner, project_id: str | None) -> tuple[str, Position, str]:
    """Where to land: exactly the stage and scene last worked on."""
    pid = _need(project_id)
    position = runner.open(pid)
    summary = runner.summary(pid)
    title = summary.title
    where = views.card_label(summary)
    return pid, position, f"Opened “{title}” at {where}."


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    search: gr.Textbox
    folder_filter: gr.Dropdown
    cards: gr.HTML
    notice: gr.Markdown
    new_title: gr.Textbox
    create: gr.Button
    picker: gr.Dropdown
    open: gr.Button
    new_name: gr.Textbox
    rename: gr.Button
    duplicate: gr.Button
    move_to: gr.Dropdown
    move: gr.Button
    delete: gr.Button
    confirm: gr.Column
    confirm_text: gr.Markdown
    confirm_delete: gr.Button
    cancel_delete: gr.Button
    pending_delete: gr.State
    folder_name: gr.Textbox
    create_folder: gr.Button
    folder_pick: gr.Dropdown
    folder_new_name: gr.Textbox
    rename_folder: gr.Button
    delete_folder: gr.Button
    seen: gr.State  # the title and folder of each project the list showed
    seen_folders: gr.State  # the name of each folder the list showed


@dataclass(frozen=True)
class OpenedView:
    """What opening a project also fills: `fn(project_id, scene_id, request)` -> {component: value}."""

    fn: Callable[[str, str | None, gr.Request | None], dict[Any, Any]]
    outputs: list[Any]


@dataclass(frozen=True)
class DashboardEvents:
    """What the app chains onto: the events that open a project, and the card refresh."""

    opened: list[Any]
    refresh_fn: Callable[..., dict[Any, Any]]
    refresh_inputs: list[Any]
    refresh_outputs: set[Any]


# A click on a project's card opens it (the cards' select event carries the project id).
CARD_CLICK_JS = """
element.addEventListener('click', (e) => {
  const card = e.target.closest && e.target.closest('[data-project]');
  if (card) trigger('select', {index: 0, value: card.dataset.project});
});
"""


def selected_value(evt: gr.EventData | None) -> str | None:
    """The value a select event carries (a clicked card's or row's id), or None without one."""
    data = getattr(evt, "_data", None)
    value = data.get("value") if isinstance(data, dict) else None
    return str(value) if value else None


def render() -> Dashboard:
    gr.Markdown("### Your projects")
    with gr.Row():
        search = gr.Textbox(label="Search by title", placeholder="Type part of a title", scale=3)
        folder_filter = gr.Dropdown(label="Show", choices=[("All projects", views.ALL_FOLDERS)],
                                    value=views.ALL_FOLDERS, scale=2)
    cards = gr.HTML(js_on_load=CARD_CLICK_JS, elem_classes=["aiu-card-list"])
    notice = gr.Markdown()
    with gr.Row(equal_height=True):
        new_title = gr.Textbox(label="New project title", placeholder="e.g. Persephone goes underground", scale=3)
        create = gr.Button("Create project", variant="primary", scale=1)
    with gr.Group():
        with gr.Row(equal_height=True):
            picker = gr.Dropdown(label="Project", choices=[], value=None, scale=3)
            open_btn = gr.Button("Open", variant="primary", scale=1)
        with gr.Row(equal_height=True):
            new_name = gr.Textbox(label="New title", scale=2)
            rename = gr.Button("Rename", scale=1)
            duplicate = gr.Button("Duplicate", scale=1)
        with gr.Row(equal_height=True):
            move_to = gr.Dropdown(label="Folder", choices=[("(no folder)", views.NO_FOLDER)],
                                  value=views.NO_FOLDER, scale=2)
            move = gr.Button("Move to folder", scale=1)
            delete = gr.Button("Delete…", variant="stop", scale=1)
    with gr.Column(visible=False) as confirm:
        confirm_text = gr.Markdown()
        with gr.Row():
            confirm_delete = gr.Button("Yes, delete it for good", variant="stop")
            cancel_delete = gr.Button("Cancel")
    pending_delete = gr.State(None)
    with gr.Accordion("Folders", open=False), gr.Row(equal_height=True):
        folder_name = gr.Textbox(label="New folder", scale=2)
        create_folder = gr.Button("Create folder", scale=1)
        folder_pick = gr.Dropdown(label="Folder", choices=[], value=None, scale=2)
        folder_new_name = gr.Textbox(label="Rename to", scale=2)
        rename_folder = gr.Button("Rename folder", scale=1)
        delete_folder = gr.Button("Delete empty folder", scale=1)
    return Dashboard(search, folder_filter, cards, notice, new_title, create, picker, open_btn, new_name,
                     rename, duplicate, move_to, move, delete, confirm, confirm_text, confirm_delete,
                     cancel_delete, pending_delete, folder_name, create_folder, folder_pick,
                     folder_new_name, rename_folder, delete_folder, gr.State(None), gr.State(None))


RunnerFor = Callable[[gr.Request | None], Runner]


@dataclass(frozen=True)
class _Lists:
    """What the dashboard's event groups share: the list's outputs and the helpers that fill them."""

    runner_for: RunnerFor
    outputs: set[Any]  # the cards, the pickers, what the list showed
    values: Callable[..., dict[Any, Any]]  # values(runner, search, folder, selected=None) -> the list's outputs
    refresh: Callable[..., dict[Any, Any]]  # refresh(search, folder, request) -> the list's outputs
    act: Callable[[Callable[[], str]], str]  # act(fn) -> fn's message, or a refusal in words


def listen(d: Dashboard, runner_for: RunnerFor, project: gr.State,
           scene: gr.State, opened: OpenedView | None = None) -> DashboardEvents:
    """Wire the dashboard, by purpose: the list, creating and opening, renaming and moving, deleting,
    folders. `opened` fills the project's screen in the same event that opens it."""
    lists = _lists(d, runner_for)
    _listen_listing(d, lists)
    opened_by = _listen_opening(d, lists, project, scene, opened)
    _listen_project_edits(d, lists)
    _listen_delete(d, lists)
    _listen_folders(d, lists)
    return DashboardEvents(opened_by, lists.refresh, [d.search, d.folder_filter], lists.outputs)


def _lists(d: Dashboard, runner_for: RunnerFor) -> _Lists:
    """The list's outputs, and how every event refills them."""
    outputs = {d.cards, d.picker, d.move_to, d.folder_filter, d.folder_pick, d.seen, d.seen_folders}

    def values(runner: Runner, search: str, folder: str | None, selected: str | None = None) -> dict[Any, Any]:
        data = listing(runner, search, folder)
        ids = [pid for _, pid in data.projects]
        filter_ids = [fid for _, fid in data.filters]
        return {
            d.cards: data.html,
            d.picker: gr.Dropdown(choices=data.projects, value=selected if selected in ids else None),
            d.move_to: gr.Dropdown(choices=data.folders),
            d.folder_filter: gr.Dropdown(choices=data.filters,
                                         value=folder if folder in filter_ids else views.ALL_FOLDERS),
            d.folder_pick: gr.Dropdown(choices=data.folders[1:], value=None),
            d.seen: seen_cards(data.cards),
            d.seen_folders: {f.id: f.name for f in runner.folders()},
        }

    def refresh(search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
        return values(runner_for(request), search, folder)

    def act(fn: Callable[[], str]) -> str:
        try:
            return fn()
        except AiuteurError as e:
            gr.Warning(str(e))
            return f"⚠️ {e}"

    return _Lists(runner_for, outputs, values, refresh, act)


def _listen_listing(d: Dashboard, lists: _Lists) -> None:
    """Search and filter the cards; the list as data for scripts."""
    gr.on([d.search.change, d.folder_filter.input], lists.refresh, [d.search, d.folder_filter], lists.outputs,
          api_name="list_projects", show_progress="hidden")

    def project_list(search: str, request: gr.Request) -> list[dict[str, Any]]:
        """Projects as data (id, title, stage, label, folder, updated) for scripts and tests."""
        return [{**c.model_dump(mode="json"), "label": views.card_label(c)}
                for c in listing(lists.runner_for(request), search).cards]

    gr.api(project_list, api_name="project_list")


def _listen_opening(d: Dashboard, lists: _Lists, project: gr.State, scene: gr.State,
                    opened: OpenedView | None) -> list[Any]:
    """Create (and open) a project, open the picked one, or click a card: the events that open one."""
    runner_for, values = lists.runner_for, lists.values
    shown_outputs = list(opened.outputs) if opened else []

    def show(pid: str, scene_id: str | None, request: gr.Request | None) -> dict[Any, Any]:
        return opened.fn(pid, scene_id, request) if opened else {}

    def on_create(title: str, search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
        runner = runner_for(request)
        try:
            p = create_project(runner, title)
        except AiuteurError as e:
            gr.Warning(str(e))
            return {d.notice: f"⚠️ {e}"}
        return {project: p.id, scene: None, d.notice: f"Created “{p.title}”.", d.new_title: "",
                **values(runner, search, folder, p.id), **show(p.id, None, request)}

    created = d.create.click(on_create, [d.new_title, d.search, d.folder_filter],
                             [project, scene, d.notice, d.new_title, *lists.outputs, *shown_outputs],
                             api_name="dashboard_create_project")

    def on_open(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        try:
            opened_id, position, message = open_project(runner_for(request), pid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return {d.notice: f"⚠️ {e}"}
        return {project: opened_id, scene: position.scene_id, d.notice: message,
                **show(opened_id, position.scene_id, request)}

    def on_card(request: gr.Request, evt: gr.EventData) -> dict[Any, Any]:
        """A click on a project's card opens it (the select event's value is the project id)."""
        return on_open(selected_value(evt), request)

    opened_outputs = [project, scene, d.notice, *shown_outputs]
    return [created, d.open.click(on_open, [d.picker], opened_outputs, api_name="open_project"),
            d.cards.select(on_card, None, opened_outputs, api_visibility="private")]


def _listen_project_edits(d: Dashboard, lists: _Lists) -> None:
    """Rename, duplicate or move the picked project; the list follows."""
    runner_for, values, act = lists.runner_for, lists.values, lists.act

    def on_rename(pid: str | None, title: str, search: str, folder: str | None, seen: Any,
                  request: gr.Request) -> dict[Any, Any]:
        msg = act(lambda: f"Renamed to “{rename_project(runner_for(request), pid, title, seen or {}).title}”.")
        return {d.notice: msg, d.new_name: "" if not msg.startswith("⚠️") else title,
                **values(runner_for(request), search, folder, pid)}

    d.rename.click(on_rename, [d.picker, d.new_name, d.search, d.folder_filter, d.seen],
                   [d.notice, d.new_name, *lists.outputs], api_name="rename_project")

    def on_duplicate(pid: str | None, search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
        msg = act(lambda: f"Duplicated as “{duplicate_project(runner_for(request), pid).title}”.")
        return {d.notice: msg, **values(runner_for(request), search, folder, pid)}

    d.duplicate.click(on_duplicate, [d.picker, d.search, d.folder_filter], [d.notice, *lists.outputs],
                      api_name="duplicate_project")

    def on_move(pid: str | None, target: str | None, search: str, folder: str | None, seen: Any,
                request: gr.Request) -> dict[Any, Any]:
        msg = act(lambda: move_project(runner_for(request), pid, target, seen or {}))
        return {d.notice: msg, **values(runner_for(request), search, folder, pid)}

    d.move.click(on_move, [d.picker, d.move_to, d.search, d.folder_filter, d.seen], [d.notice, *lists.outputs],
                 api_name="move_project")


def _listen_delete(d: Dashboard, lists: _Lists) -> None:
    """Delete the picked project: a second, explicit confirmation step."""
    runner_for = lists.runner_for

    def on_delete(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        try:
            question = delete_question(runner_for(request), pid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return {d.notice: f"⚠️ {e}", d.confirm: gr.Column(visible=False), d.pending_delete: None}
        return {d.confirm_text: question, d.confirm: gr.Column(visible=True), d.pending_delete: pid}

    d.delete.click(on_delete, [d.picker], [d.notice, d.confirm, d.confirm_text, d.pending_delete],
                   api_name="ask_delete_project")

    def on_confirm(pending: str | None, search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
        msg = lists.act(lambda: delete_project(runner_for(request), pending))
        return {d.notice: msg, d.confirm: gr.Column(visible=False), d.pending_delete: None,
                **lists.refresh(search, folder, request)}

    d.confirm_delete.click(on_confirm, [d.pending_delete, d.search, d.folder_filter],
                           [d.notice, d.confirm, d.pending_delete, *lists.outputs], api_name="delete_project")
    d.cancel_delete.click(lambda: (gr.Column(visible=False), None, "Nothing was deleted."), None,
                          [d.confirm, d.pending_delete, d.notice], api_visibility="private")


def _listen_folders(d: Dashboard, lists: _Lists) -> None:
    """Create, rename and delete folders; the list follows."""

    def on_folder(fn: Callable[[Runner], str]) -> Callable[..., dict[Any, Any]]:
        def handler(search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
            msg = lists.act(lambda: fn(lists.runner_for(request)))
            return {d.notice: msg, **lists.refresh(search, folder, request)}
        return handler

    def on_create_folder(name: str, search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
        out = on_folder(lambda r: create_folder(r, name))(search, folder, request)
        return {**out, d.folder_name: "" if not str(out[d.notice]).startswith("⚠️") else name}

    d.create_folder.click(on_create_folder, [d.folder_name, d.search, d.folder_filter],
                          [d.notice, d.folder_name, *lists.outputs], api_name="create_folder")

    def on_rename_folder(fid: str | None, name: str, search: str, folder: str | None, seen: Any,
                         request: gr.Request) -> dict[Any, Any]:
        return on_folder(lambda r: rename_folder(r, fid, name, seen or {}))(search, folder, request)

    d.rename_folder.click(on_rename_folder, [d.folder_pick, d.folder_new_name, d.search, d.folder_filter,
                                             d.seen_folders],
                          [d.notice, *lists.outputs], api_name="rename_folder")

    def on_delete_folder(fid: str | None, search: str, folder: str | None, seen: Any,
                         request: gr.Request) -> dict[Any, Any]:
        return on_folder(lambda r: delete_folder(r, fid, seen or {}))(search, folder, request)

    d.delete_folder.click(on_delete_folder, [d.folder_pick, d.search, d.folder_filter, d.seen_folders],
                          [d.notice, *lists.outputs], api_name="delete_folder")
