"""Every save through the app carries the revision its user saw: a save from a stale view is
refused in one sentence and nothing saved changes (the user's text stays where it was typed).

Two `gradio_client` sessions (two browser tabs, or two people on one account) work on one project
of the running app; the first saves, the second saves from what it saw before. One test per door
that saves: the scene-assets tab (description, a new asset), the writing-voice panel,
`/import_script`, `/save_story_input`; and, below the app, a model run that finishes after someone
saved the same artifact keeps their save.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from aiuteur.domain import ConflictError, Stage, Treatment
from aiuteur.domain.capsules import WrittenCapsule
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.visual_style import create_capsule as create_visual_capsule
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import launch_app
from tests.clients import patient_client
from tests.fakes import ScriptedText
from tests.pipeline.phase_b_fixtures import FakeImage, FakeMatting, project_with_script
from tests.reliability.test_generation_faults import RegistryEngines, _scene_with_states, records
from tests.serving import free_port

STALE = "changed by someone else"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, RegistryEngines]]:
    home = tmp_path_factory.mktemp("stale")
    mp = pytest.MonkeyPatch()
    mp.setenv("AIUTEUR_HOME", str(home))
    mp.setenv("AIUTEUR_PROFILE", "tiny")
    mp.delenv("AIUTEUR_AUTH", raising=False)
    store = Store(DataHome(home, "test"))
    engines = RegistryEngines(text=ScriptedText(), image=FakeImage(), matting=FakeMatting())
    demo = None
    try:
        demo, url = launch_app(store, host="127.0.0.1", port=free_port(), prevent_thread_lock=True, quiet=True,
                               ssr_mode=False, _frontend=False, engines_factory=lambda: engines)
        yield url, store, engines
    finally:
        if demo is not None:
            demo.close()
        mp.undo()


def client(url: str) -> Client:
    return patient_client(url)


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and len(message) < 600


def status_line(out: Any) -> str:
    """The status line a tab event shows: its "⚠️ …" line, else its first line that says it saved or added."""
    values = [str(v) for v in (out if isinstance(out, list | tuple) else [out]) if isinstance(v, str)]
    return next((v for v in values if v.startswith("⚠️")), None) or next(
        (v for v in values if v in ("Saved.",) or v.startswith("Added ")), "")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock") and "backups" not in p.parts}


def opened(url: str, pid: str) -> Client:
    """A session with the project open, as a browser tab that opened it from the dashboard."""
    c = client(url)
    c.predict("", "__all__", api_name="/list_projects")  # the dashboard lists it in this session
    assert "Opened" in str(c.predict(pid, api_name="/open_project"))
    return c


def at_scene(url: str, pid: str, sid: str, asset: str) -> Client:
    """A session with the project and scene open and the asset picked, as a browser tab would have."""
    c = opened(url, pid)
    c.predict(api_name="/hub")  # the scene list (a browser gets it when the project opens)
    c.predict(sid, api_name="/hub_open_scene")
    c.predict(None, api_name="/asset_states_pick")  # the tab fills its asset list
    c.predict(asset, api_name="/asset_states_pick")
    return c


def test_scene_assets_refuse_a_save_from_a_stale_view(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    runner = Runner(store, engines)
    pid, sid = _scene_with_states(runner, engines, store)
    first, second = at_scene(url, pid, sid, "as_persephone"), at_scene(url, pid, sid, "as_persephone")

    saved = first.predict("as_persephone", "In a green cloak, soaked.", api_name="/asset_states_description")
    assert status_line(saved) == "Saved."
    before = files_under(store.root)
    for endpoint, values in (("/asset_states_description", ["as_persephone", "In a red scarf."]),
                             ("/asset_states_add_asset", ["Brass lamp", "prop", "Dented."]),
                             ("/asset_states_use_master", ["as_persephone", True])):
        out = second.predict(*values, api_name=endpoint)
        line = status_line(out)
        assert line.startswith("⚠️") and STALE in line and one_sentence(line), (endpoint, line)
        assert files_under(store.root) == before, endpoint  # nothing saved changed
    states = json.dumps(records(store, pid)[("asset_states", sid)])
    assert "In a green cloak, soaked." in states and "In a red scarf." not in states
    assert "Brass lamp" not in json.dumps(records(store, pid)[("assets", None)])

    # the second tab reloads the asset (its view is current again) and saves
    second.predict("as_persephone", api_name="/asset_states_pick")
    assert status_line(second.predict("as_persephone", "In a red scarf.",
                                      api_name="/asset_states_description")) == "Saved."
    added = second.predict("Brass lamp", "prop", "Dented.", api_name="/asset_states_add_asset")
    assert status_line(added) == "Added Brass lamp to the asset registry."
    assert "Brass lamp" in json.dumps(records(store, pid)[("assets", None)])


def test_the_writing_voice_refuses_a_choice_over_someone_elses(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    pid = Runner(store, engines).create_project("Voices").id
    first, second = opened(url, pid), opened(url, pid)
    def new_capsule(c: Client, name: str) -> str:
        made = c.predict(name, "Rain. Neon.", "You lied.", api_name="/create_written_capsule")
        return str(made[0]["value"] if isinstance(made[0], dict) else made[0])

    capsule = new_capsule(first, "Hard-boiled")
    assert "Scenes and dialogue will be written" in str(first.predict(capsule, api_name="/use_written_capsule"))
    other = new_capsule(second, "Soft-spoken")  # the second tab opened when the project had no voice
    before = files_under(store.root)
    refused = str(second.predict(other, api_name="/use_written_capsule"))
    assert refused.startswith("⚠️") and STALE in refused and "Hard-boiled" in refused and one_sentence(refused)
    assert files_under(store.root) == before
    assert Runner(store).view(pid).data(Stage.INPUT)["written_style_capsule"] == capsule


def test_import_script_and_the_json_save_need_the_revision_read(app: tuple[str, Store, RegistryEngines],
                                                                tmp_path: Path) -> None:
    url, store, _ = app
    script = tmp_path / "film.fountain"
    script.write_text("Title: Rooms\n\nINT. ROOM - DAY\n\nMara waits.\n\nEXT. YARD - NIGHT\n\nMara runs.\n",
                      encoding="utf-8")
    first, second = client(url), client(url)
    pid = first.predict("Imports", api_name="/create_project")
    read = second.predict(pid, api_name="/story")["revision"]  # 0: nothing saved yet
    first.predict(pid, "Mara's story, typed by the first.", "expand", 0, api_name="/set_story")
    before = files_under(store.root)
    with pytest.raises(AppError) as e:
        second.predict(pid, handle_file(str(script)), read, api_name="/import_script")
    assert str(e.value) == ("The input was saved by someone else since you read it (now revision 1, yours was 0); "
                            "nothing was imported. Read it again with /story and import again.")
    with pytest.raises(AppError, match=r"^The input was saved by someone else"):
        second.predict(pid, handle_file(str(script)), api_name="/import_script")  # no revision: "nothing saved yet"
    refused = second.predict(pid, {"mode": "expand"}, None, api_name="/save_story_input")
    assert refused["ok"] is False and STALE in refused["error"] and refused["yours"]["mode"] == "expand"
    assert files_under(store.root) == before
    # from the current revision, both doors save
    summary = second.predict(pid, handle_file(str(script)), 1, api_name="/import_script")
    assert summary["revision"] == 2 and summary["stages"]["script"] == "done"
    assert second.predict(pid, {"mode": "skip_to_script"}, 2, api_name="/save_story_input") == {"ok": True,
                                                                                                 "revision": 3}


class EditsWhileRunning:
    """A text model during whose first call someone else saves the artifact being made."""

    def __init__(self, inner: ScriptedText, edit: Any) -> None:
        self.inner, self.edit, self.done = inner, edit, False

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if not self.done:
            self.done = True
            self.edit()
        return self.inner.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_run_never_replaces_a_save_made_while_it_ran(store: Store) -> None:
    from tests.pipeline.test_script import _through_beats
    from tests.pipeline.writing_fixtures import treatment_out

    scripted = ScriptedText()
    engines = RegistryEngines(text=scripted)
    runner = Runner(store, engines)
    pid = _through_beats(runner, engines)
    rev = runner.view(pid).revision(Stage.TREATMENT)
    mine = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    mine = mine.model_copy(update={"variants": [mine.variants[0].model_copy(update={"prose": "My own words."}),
                                                *mine.variants[1:]]})
    engines._text = EditsWhileRunning(scripted, lambda: Runner(store).save(pid, Stage.TREATMENT, mine,
                                                                            base_revision=rev))
    scripted.enqueue(treatment_out("New "))
    takes_before = len(runner.takes(pid, Stage.TREATMENT))
    with pytest.raises(ConflictError) as e:
        runner.run(pid, Stage.TREATMENT, seed=3)
    assert str(e.value) == (f"Treatment (now revision {rev + 1}, it started from {rev}) was saved by someone else "
                            "while this ran; their version is kept and the new takes are in the history, to choose "
                            "from.")
    saved = runner.view(pid)
    assert saved.revision(Stage.TREATMENT) == rev + 1
    assert Treatment.model_validate(saved.data(Stage.TREATMENT)).variants[0].prose == "My own words."
    assert len(runner.takes(pid, Stage.TREATMENT)) > takes_before  # the run's work is in the history


# --- every other change a user can make: prompts, capsules, hub, locks, branches, names, folders -------


def said(out: Any) -> str:
    """The one message an event answered with: its "⚠️ …" line, else its first text that is not HTML or a title."""
    values = [v for v in (out if isinstance(out, list | tuple) else [out]) if isinstance(v, str)]
    return next((v for v in values if v.startswith("⚠️")), None) or next(
        (v for v in values if v.strip() and not v.lstrip().startswith(("<", "# "))), "")


def refused(out: Any, *words: str) -> str:
    line = said(out)
    assert line.startswith("⚠️") and one_sentence(line), line
    assert all(w in line for w in words), (words, line)
    return line


def test_prompt_overrides_and_capsule_edits_refuse_a_stale_change(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    pid = Runner(store, engines).create_project("Prompts").id
    first = opened(url, pid)
    made = first.predict("Noir", "Rain. Neon.", "You lied.", api_name="/create_written_capsule")
    cap = str(made[0]["value"] if isinstance(made[0], dict) else made[0])
    second = opened(url, pid)  # its capsule list holds the new one
    role = "treatment/system"
    default = str(first.predict(role, api_name="/view_prompt_template")[0])
    second.predict(role, api_name="/view_prompt_template")  # both show the default
    assert "now uses your text" in said(first.predict(role, "Write tersely. " + default, api_name="/override_prompt"))
    before = files_under(store.root)
    refused(second.predict(role, "Write lushly. " + default, api_name="/override_prompt"), "changed by someone else")
    refused(second.predict(role, api_name="/reset_prompt"), "changed by someone else")
    assert files_under(store.root) == before
    assert Runner(store).view(pid).project.prompt_overrides[role].startswith("Write tersely.")
    assert str(second.predict(role, api_name="/view_prompt_template")[0]).startswith("Write tersely.")  # re-opened
    assert "now uses your text" in said(second.predict(role, "Write lushly. " + default, api_name="/override_prompt"))
    assert Runner(store).view(pid).project.prompt_overrides[role].startswith("Write lushly.")

    # a written capsule: the first edits it while the second shows it; the second's edit and delete are refused
    first.predict(cap, api_name="/pick_written_capsule")
    second.predict(cap, api_name="/pick_written_capsule")
    assert "updated" in said(first.predict(cap, "Noir", "Rain, always.", "You lied.", api_name="/update_written_capsule"))
    before = files_under(store.root)
    refused(second.predict(cap, "Noir", "Sun. Dust.", "", api_name="/update_written_capsule"), "changed by someone else")
    refused(second.predict(cap, api_name="/delete_written_capsule"), "changed by someone else")
    assert files_under(store.root) == before
    assert Runner(store).capsules.get(WrittenCapsule, cap).example_prose == "Rain, always."
    second.predict(cap, api_name="/pick_written_capsule")  # shows it again: its changes go through
    assert "updated" in said(second.predict(cap, "Noir", "Sun. Dust.", "", api_name="/update_written_capsule"))
    assert Runner(store).capsules.get(WrittenCapsule, cap).example_prose == "Sun. Dust."
    assert said(second.predict(cap, api_name="/delete_written_capsule")) == "Capsule deleted."


def test_a_scenes_own_style_refuses_a_stale_change(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    runner = Runner(store, engines)
    clay = create_visual_capsule("Clay", medium="claymation", library=runner.capsules)
    pid, sid = _scene_with_states(runner, engines, store)
    first, second = opened(url, pid), opened(url, pid)  # both show the film's style in every scene
    assert "Scene style saved." in str(first.predict(sid, clay.id, api_name="/scene_style"))
    before = files_under(store.root)
    refused(second.predict(sid, "", api_name="/scene_style"), "Style & assets was changed by someone else")
    assert files_under(store.root) == before
    assert runner.view(pid).data(Stage.ASSETS)["style"]["scene_overrides"] == {sid: clay.id}  # type: ignore[index]
    second.predict(pid, api_name="/open_project")
    assert "Scene style saved." in str(second.predict(sid, "", api_name="/scene_style"))
    assert runner.view(pid).data(Stage.ASSETS)["style"]["scene_overrides"] == {}  # type: ignore[index]


def test_hub_deferral_and_locks_refuse_a_stale_change(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    runner = Runner(store, engines)
    pid, _ = project_with_script(runner)
    sid = runner.view(pid).state.scene_ids[0]
    first, second = opened(url, pid), opened(url, pid)
    for c in (first, second):
        c.predict(sid, api_name="/choose_scene")
    assert "deferred" in said(first.predict(sid, api_name="/hub_defer"))
    before = files_under(store.root)
    refused(second.predict(sid, api_name="/hub_undefer"), "changed by someone else")  # it never showed the deferral
    assert files_under(store.root) == before and sid in runner.view(pid).state.deferred
    second.predict(api_name="/hub")  # the table again
    assert "back in production" in said(second.predict(sid, api_name="/hub_undefer"))
    assert sid not in runner.view(pid).state.deferred

    # the first saves the input; the second, whose screen still shows the old one, cannot approve it unseen
    view = runner.view(pid)
    assert first.predict(pid, {**(view.data(Stage.INPUT) or {}), "story_rules": ["No dogs."]},
                         view.revision(Stage.INPUT), api_name="/save_story_input")["ok"]
    before = files_under(store.root)
    refused(second.predict(api_name="/lock_input"), "Input was changed by someone else", "not locked")
    assert files_under(store.root) == before and not runner.view(pid).branch.is_locked(Stage.INPUT)
    for c in (first, second):
        c.predict(pid, api_name="/open_project")  # re-opened: both show the new input, unlocked
    assert said(second.predict(api_name="/lock_input")) == "🔒 Input is locked."
    refused(first.predict(api_name="/lock_input"), "Input was locked by someone else")  # its bar now shows the lock
    assert said(second.predict(api_name="/unlock_input")) == "🔓 Input is unlocked."
    before = files_under(store.root)
    refused(first.predict(api_name="/unlock_input"), "Input was unlocked by someone else", "nothing was unlocked")
    assert files_under(store.root) == before
    assert said(first.predict(api_name="/lock_input")) == "🔒 Input is locked."  # what it shows now


def test_branches_titles_and_folders_refuse_a_stale_change(app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    runner = Runner(store, engines)
    pid, _ = project_with_script(runner)
    main = runner.view(pid).branch.id
    runner.lock(pid, Stage.SCRIPT)
    other = runner.unlock(pid, Stage.SCRIPT, mode="branch").id
    runner.switch_branch(pid, main)
    first, second = opened(url, pid), opened(url, pid)

    # the project's title, from its own screen
    assert "Renamed" in said(first.predict("Seeds, cut 2", api_name="/rename_open_project"))
    before = files_under(store.root)
    refused(second.predict("Seeds (final)", api_name="/rename_open_project"), "renamed by someone else")
    assert files_under(store.root) == before
    second.predict(pid, api_name="/open_project")
    assert "Renamed" in said(second.predict("Seeds (final)", api_name="/rename_open_project"))

    # a branch's name, and which branch the project is on
    assert "renamed" in said(first.predict(main, "approved", api_name="/rename_branch"))
    refused(second.predict(main, "day version", api_name="/rename_branch"), "renamed by someone else")
    assert "Now on branch" in said(first.predict(other, api_name="/switch_branch"))
    before = files_under(store.root)
    refused(second.predict(main, api_name="/switch_branch"), "switched this project", "nothing changed")
    assert files_under(store.root) == before and runner.view(pid).branch.id == other
    second.predict(pid, api_name="/open_project")
    assert "Now on branch" in said(second.predict(main, api_name="/switch_branch"))
    assert runner.view(pid).branch.id == main and runner.view(pid).branch.name == "approved"

    # the dashboard: renaming and moving a project someone renamed or moved since
    folder = runner.create_folder("Shorts").id
    lists = [client(url) for _ in range(3)]
    for c in lists:
        c.predict("", "__all__", api_name="/list_projects")
    a, b, c = lists  # three tabs showing the list; a refusal shows the list as it is now
    assert "Renamed" in said(a.predict(pid, "Seeds III", "", "__all__", api_name="/rename_project"))
    assert "Moved into" in said(a.predict(pid, folder, "", "__all__", api_name="/move_project"))
    before = files_under(store.root)
    refused(b.predict(pid, "Seeds IV", "", "__all__", api_name="/rename_project"), "renamed by someone else")
    refused(c.predict(pid, "__none__", "", "__all__", api_name="/move_project"), "moved", "nothing moved")
    assert files_under(store.root) == before
    assert runner.summary(pid).title == "Seeds III" and runner.summary(pid).folder_id == folder
    assert "Renamed" in said(b.predict(pid, "Seeds IV", "", "__all__", api_name="/rename_project"))
    assert "Moved out" in said(c.predict(pid, "__none__", "", "__all__", api_name="/move_project"))
    assert runner.summary(pid).title == "Seeds IV" and runner.summary(pid).folder_id is None

    # a folder renamed in one tab is not renamed (nor deleted) from another that showed its old name
    assert "renamed" in said(a.predict(folder, "Short films", "", "__all__", api_name="/rename_folder"))
    before = files_under(store.root)
    refused(b.predict(folder, "Shorts 2026", "", "__all__", api_name="/rename_folder"), "renamed by someone else")
    refused(c.predict(folder, "", "__all__", api_name="/delete_folder"), "renamed by someone else", "not deleted")
    assert files_under(store.root) == before and [f.name for f in runner.folders()] == ["Short films"]
    assert "renamed" in said(b.predict(folder, "Shorts 2026", "", "__all__", api_name="/rename_folder"))
    c.predict("", "__all__", api_name="/list_projects")  # the list again
    assert said(c.predict(folder, "", "__all__", api_name="/delete_folder")) == "Folder deleted."
