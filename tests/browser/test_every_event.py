"""Every event the app registers, fired through the running app as the page fires it.

A two-scene film with data at every stage (scene 1 taken to its video, scene 2 to its prompts) is
served by the real app over test-double engines. A small front end (`protocol.Page`) reads the
app's config like the browser, keeps what each component shows, and fires every event by its id
through Gradio's queue, following each `.then()` chain and the `change` events an update causes.
Inputs are what the page would hold (the first choice of a dropdown, the uploaded files, a line
of words where a field is empty). No event may end in an error. Events that run only JavaScript
in the browser are counted apart; the Playwright tests drive those.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import Runner
from aiuteur.ui import api
from tests.browser.protocol import Outcome, Page
from tests.browser.serving import film_home, open_film, serve_film
from tests.pipeline.film_fixtures import TWO

pytestmark = pytest.mark.browser

# Events a user fires last: they close or delete what the others work on.
LAST = ("close_project", "ask_delete_project", "delete_project", "delete_folder")
DASHBOARD = ("list_projects", "dashboard_create_project", "open_project", "rename_project", "duplicate_project",
             "move_project", "create_folder", "rename_folder", "project_list")

WORDS = {  # what a filmmaker types where the page shows an empty field (by label)
    "New project title": "The Second Lamp",
    "New title": "The Lamp Keeper (cut 2)",
    "New folder": "Shorts",
    "Rename to": "Short films",
    "Rename project": "The Lamp Keeper",
    "Rename branch": "night version",
    "New asset": "Brass lantern",
    "title": "API film",
    "mode": "skip_to_script",
    "stage": "prompts",
    "guidance": "",
    "Search by title": "",  # a search that matches nothing hides the film
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Runner, str, str, Path]]:
    with film_home(tmp_path_factory) as film:
        runner, pid = film.runner, film.pid
        sid = film.script.scenes[0].id
        film.finish_scene(sid)
        files = tmp_path_factory.mktemp("files")
        (files / "lamp.fountain").write_text(TWO, encoding="utf-8")
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (200, 60, 40)).save(buf, format="PNG")
        (files / "lantern.png").write_bytes(buf.getvalue())
        with serve_film(film) as url:
            yield url, runner, pid, sid, files


def choice_values(choices: list[Any]) -> list[Any]:
    return [c[1] if isinstance(c, (list, tuple)) and len(c) == 2 else c for c in choices]


def filler(page: Page, runner: Runner, pid: str, sid: str, files: Path) -> Any:
    uploads: dict[str, dict[str, Any]] = {}

    def uploaded(name: str) -> dict[str, Any]:
        if name not in uploads:
            uploads[name] = page.upload(files / name)
        return uploads[name]

    def fill(c: dict[str, Any]) -> Any:
        kind, label, value, props = c["type"], c["label"], c["value"], c["props"]
        if label == "project_id":
            return pid
        if label == "scene_id":  # the film's first scene as it stands now (events may have re-cut it)
            ids = runner.view(pid).state.scene_ids
            return sid if sid in ids or not ids else ids[0]
        if kind in ("dropdown", "radio"):
            values = choice_values(c["choices"])
            if props.get("multiselect"):
                return value if value else values[:1]
            return value if value in values or (value and props.get("allow_custom_value")) else (
                values[0] if values else None)
        if kind == "textbox":
            if label == "file":
                return value
            if value:
                return value
            return WORDS.get(label, "Martha lifts the lantern to the window.")
        if kind in ("file", "image"):
            if value:
                return value
            types = " ".join(props.get("file_types") or [])
            text = kind == "file" and label != "Add style images" and "image" not in types
            one = uploaded("lamp.fountain" if text else "lantern.png")
            return [one] if props.get("file_count") in ("multiple", "directory") else one
        if kind == "number":
            return value if value is not None else 1
        return value

    return fill


def sentence(message: str) -> bool:
    """A message a person reads: words ending in a full stop, no exception name or traceback."""
    text = message.strip()
    return bool(text) and text.endswith((".", "?")) and "Traceback" not in text and "Error:" not in text


def event_data_for(page: Page, dep: dict[str, Any]) -> Any:
    cid, event = dep["targets"][0] if dep["targets"] else (None, "")
    if event != "select" or cid is None:
        return None
    if page.kind(cid) == "textbox":
        text = str(page.values.get(cid) or "")
        return {"index": [0, min(12, len(text))], "value": text[:12], "selected": True}
    return {"index": 0, "value": page.values.get(cid), "selected": True}


def test_status_graphic_agrees_with_the_bars_and_the_data(served: tuple[str, Runner, str, str, Path]) -> None:
    """Scene 1 is finished (its video made), scene 2 is not: chips, bars and data say the same."""
    import re

    url, runner, pid, sid, files = served
    page = Page(url)
    page.fill = filler(page, runner, pid, sid, files)
    open_film(page)
    view = runner.view(pid)
    other = next(x for x in view.state.scene_ids if x != sid)
    pipeline = page.by_id[page.dep_named("lock_input")["id"]]["outputs"][1]  # message, then the graphic
    picker = page.dep_named("choose_scene")
    for scene_id in (sid, other):
        page.values[picker["inputs"][1]] = scene_id
        assert all(o.success for o in page.fire(picker["id"]))
        html = str(page.values[pipeline])
        chips = dict(re.findall(r'data-stage="([a-z_]+)" data-status="([a-z]+)"', html))
        truth = runner.view(pid).scene_statuses(scene_id)
        texts = [str(v) for v in page.values.values() if isinstance(v, str) and v.startswith("**Stage ")]
        for stage in (st for st in Stage if st.per_scene):
            assert chips[stage.value] == truth[stage].value, (scene_id, stage)
            bar = next(t for t in texts if t.startswith(f"**Stage {stage.number} ·"))
            assert f"— {truth[stage].value}:" in bar, (bar, truth[stage])
        assert "1 of 2 scenes done" in html  # stage 12: scene 1 has its video, scene 2 not
    assert runner.view(pid).scene_statuses(sid)[Stage.VIDEO].value in ("done", "locked")
    assert runner.view(pid).scene_statuses(other)[Stage.VIDEO].value not in ("done", "locked")


# every stage's save (and the edits wired with it): stage 1, 2, 3, 4, 5, 7, 8, 9, 11
SAVES = ("save_input", "treatment_save", "beats_save", "script_save", "save_checklist", "save_asset", "save_style",
         "scene_style", "shot_list_save", "asset_states_description", "prompts_save", "confirm_scene")


def test_every_stage_save_is_one_event_that_redraws_the_statuses(served: tuple[str, Runner, str, str, Path]) -> None:
    """Saving in any stage tab is one server event, as the page fires it (no chained loaders): its
    answer carries the pipeline graphic and lock bars along with the tab's own fields."""
    url, runner, pid, sid, files = served
    page = Page(url)
    page.fill = filler(page, runner, pid, sid, files)
    open_film(page, sid)
    pipeline = page.by_id[page.dep_named("lock_input")["id"]]["outputs"][1]  # message, then the graphic
    write = page.dep_named("treatment_generate")["targets"][0][0]  # gated on a skipped stage: an update, not a value
    assert "gradio.components" not in str(page.values.get(write, "")), page.values.get(write)
    counts: dict[str, int] = {}
    for name in SAVES:
        dep = page.dep_named(name)
        assert not [d for d in page.chained(dep["id"]) if d.get("backend_fn")], name  # nothing chained on the server
        assert pipeline in dep["outputs"], name
        page.values[pipeline] = ""
        outcomes = page.fire(dep["id"])
        assert all(o.success for o in outcomes), (name, [o.error[:300] for o in outcomes])
        counts[name] = len(outcomes)
        assert 'data-stage="input"' in str(page.values[pipeline]), name  # the statuses came with the answer
    print(f"\nserver events per save: {counts}")
    assert set(counts.values()) == {1}, counts


def test_every_registered_event_runs_through_the_app(served: tuple[str, Runner, str, str, Path]) -> None:
    url, runner, pid, sid, files = served
    page = Page(url)
    page.fill = filler(page, runner, pid, sid, files)
    server = [d for d in page.deps if d.get("backend_fn")]
    browser_only = [d for d in page.deps if not d.get("backend_fn")]

    states = {i for i, c in page.components.items() if c["type"] == "state"}

    def fresh(dep_id: int) -> bool:  # what the page runs next, once each (and always what sets state)
        return dep_id not in page.fired or bool(states & set(page.by_id[dep_id]["outputs"]))

    def fire(dep: dict[str, Any]) -> list[Outcome]:
        return page.fire(dep["id"], event_data_for(page, dep), follow_changes=fresh, follow_chain=fresh)

    # the page loads, the filmmaker opens the film
    for dep in [d for d in page.deps if any(t[1] == "load" for t in d["targets"])]:
        fire(dep)
    open_dep = page.dep_named("open_project")
    fire(open_dep)
    assert page.fired[open_dep["id"]].success

    roots = [d for d in page.deps if d.get("trigger_after") is None and d["targets"]
             and not any(t[1] == "load" for t in d["targets"])]
    named = {d["id"]: str(d.get("api_name") or "") for d in roots}
    project_roots = [d for d in roots if named[d["id"]] not in DASHBOARD + LAST]
    dashboard_roots = [d for d in roots if named[d["id"]] in DASHBOARD]
    last = sorted((d for d in roots if named[d["id"]] in LAST), key=lambda d: LAST.index(named[d["id"]]))
    for dep in project_roots:
        fire(dep)
        if dep is not project_roots[-1] and not page.values.get(page.by_id[open_dep["id"]]["outputs"][0]):
            fire(open_dep)  # an event closed the project (none should): open it again and go on
    for dep in dashboard_roots + last:
        if dep["id"] not in page.fired:
            fire(dep)
    for dep in server:  # anything no trigger reached (a change nobody caused): fired on its own
        if dep["id"] not in page.fired:
            page.call(dep["id"], event_data_for(page, dep))

    # The client API answers a refusal as an error carrying one sentence (its contract, e.g. a
    # treatment for a project that skips to its script): that is an answer, not a crash.
    client_api = {str(n).lstrip("/") for n in api.iter_endpoints()}
    refused = {d: o for d, o in page.fired.items() if not o.success and page.by_id[d].get("api_name") in client_api
               and sentence(o.error)}
    failed = {d: o for d, o in page.fired.items() if not o.success and d not in refused}
    for d, o in refused.items():
        print(f"client API /{page.by_id[d]['api_name']} refused in words: {o.error}")
    exercised = len([d for d in server if d["id"] in page.fired])
    print(f"\nevents exercised through the app: {exercised} / {len(server)} server events registered "
          f"({len(page.log)} calls; {len(browser_only)} JavaScript-only events run in the browser tests)")
    assert not failed, "\n".join(
        f"{page.by_id[d].get('api_name') or d} ({page.by_id[d]['targets']}): {o.error[:400]}" for d, o in failed.items())
    assert exercised == len(server)
    assert runner.view(pid).data(Stage.VIDEO, sid) is not None  # the film's approved work is still there
