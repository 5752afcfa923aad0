"""End to end through the Gradio client by api_name, on the tiny profile and a temp data folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client

from aiuteur.domain import Stage, StoryInput
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import patient_client
from tests.serving import serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Store]]:
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("AIUTEUR_HOME", str(home))
    mp.setenv("AIUTEUR_PROFILE", "tiny")
    store = Store(DataHome(home, "test"))
    demo = build_app(store)
    try:
        with serve(demo, allowed_paths=[str(store.home.media)], **launch_kwargs()) as url:  # patient launch
            yield patient_client(url), store
    finally:
        mp.undo()


def form_kwargs(client: Client, api_name: str, **by_label: Any) -> dict[str, Any]:
    """Keyword arguments for an endpoint whose inputs are a set: defaults, then values by label."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    out = {p["parameter_name"]: (p["parameter_default"] if p["parameter_has_default"] else "") for p in params}
    for p in params:
        if p["label"] in by_label:
            out[p["parameter_name"]] = by_label[p["label"]]
    return out


def test_endpoints_are_named_without_slashes(served: tuple[Client, Store]) -> None:
    client, _ = served
    names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in ("/dashboard_create_project", "/create_project", "/list_projects", "/project_list",
                 "/open_project", "/save_input",
                 "/save_story_input", "/lock_input", "/unlock_input", "/visit_beats", "/switch_branch"):
        assert name in names
    assert not [n for n in names if n.startswith("//")]


def test_create_save_lock_and_reopen(served: tuple[Client, Store]) -> None:
    client, store = served
    created = client.predict("Eggs at dawn", "", "__all__", api_name="/dashboard_create_project")
    assert "Created “Eggs at dawn”." in created
    listed = client.predict("", api_name="/project_list")
    pid = next(p["id"] for p in listed if p["title"] == "Eggs at dawn")
    cards = client.predict("dawn", "__all__", api_name="/list_projects")
    assert any("Eggs at dawn" in str(v) and "Stage 1 · Input" in str(v) for v in cards)

    # the open project is this session's; locking before anything is made is refused in words
    # lock answers in one event: its message first, then the refreshed status graphic and bars
    assert client.predict(api_name="/lock_input")[0] == "⚠️ Can't lock Input: nothing has been made yet."
    saved = client.predict(**form_kwargs(client, "/save_input", **{"Your story, idea or screenplay":
                                                                   "A thief plans one last job."}),
                           api_name="/save_input")
    assert "Saved (revision 1)." in saved
    story = StoryInput.model_validate(store.summary(pid) and _data(store, pid))
    assert story.primary is not None and story.primary.text == "A thief plans one last job."
    assert client.predict(api_name="/lock_input")[0] == "🔒 Input is locked."
    locked = client.predict(**form_kwargs(client, "/save_input", **{"Your story, idea or screenplay": "x"}),
                            api_name="/save_input")
    assert "locked and read-only" in str(locked)

    client.predict(api_name="/visit_treatment")
    opened = client.predict(pid, api_name="/open_project")
    assert "at Stage 2 · Treatment" in str(opened)

    json_save = client.predict(pid, {"mode": "expand"}, None, api_name="/save_story_input")
    assert json_save["ok"] is False and "locked" in json_save["error"]


def _data(store: Store, pid: str) -> dict[str, Any]:
    from aiuteur.pipeline.runner import Runner

    data = Runner(store).view(pid).data(Stage.INPUT)
    assert data is not None
    return data
