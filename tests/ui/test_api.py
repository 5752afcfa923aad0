"""The client API (aiuteur/ui/api.py) through gradio_client: names, files, errors in words, users apart."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import api
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.assets_fixtures import FakeImage, FakeMatting, ResponderText
from tests.serving import serve

SCREENPLAY = """Title: The Egg Thief

INT. KITCHEN - NIGHT

A small kitchen lit by one yellow bulb. MARA (30s, red raincoat) opens the fridge.

MARA
Just one egg. Nobody will notice.

EXT. GARDEN - DAWN

Mara buries the egg under the apple tree.
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Store]]:
    home = tmp_path_factory.mktemp("home")
    store = Store(DataHome(home, "test"))
    # extraction asks the text model (an empty answer: the screenplay's own words find the assets);
    # a master reference draws with the image double
    demo = build_app(store, engines_factory=lambda: FakeEngines(text=ResponderText(), image=FakeImage(),
                                                                matting=FakeMatting()))
    with serve(demo, _frontend=False, **launch_kwargs()) as url:
        yield patient_client(url), store  # generous: CI may be loaded


@pytest.fixture(scope="module")
def fountain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "egg_thief.fountain"
    path.write_text(SCREENPLAY, encoding="utf-8")
    return path


def test_every_endpoint_is_listed_without_a_leading_slash(served: tuple[Client, Store]) -> None:
    client, _ = served
    names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    missing = [n for n in api.iter_endpoints() if n not in names]
    assert not missing
    assert not [n for n in names if n.startswith("//")]
    params = [p["parameter_name"] for p in names["/shot_list"]["parameters"]]
    assert params == ["project_id", "scene_id", "seed"]


def test_model_endpoints_share_the_gpu_queue(store: Store) -> None:
    # extraction asks the text model (an empty answer: the screenplay's own words find the assets);
    # a master reference draws with the image double
    demo = build_app(store, engines_factory=lambda: FakeEngines(text=ResponderText(), image=FakeImage(),
                                                                matting=FakeMatting()))
    fns = {f.api_name: f for f in demo.fns.values() if f.api_name}
    for name in ("treatment", "beats", "script", "extract_assets", "shot_list", "asset_states", "prompts",
                 "frames", "video", "run_until"):
        assert fns[name].concurrency_id == "gpu", name
    for name in ("create_project", "status", "export", "set_story", "animatics"):
        assert fns[name].concurrency_id != "gpu", name


def test_import_script_status_and_export(served: tuple[Client, Store], fountain: Path) -> None:
    client, _ = served
    pid = client.predict("Eggs", api_name="/create_project")
    assert isinstance(pid, str) and pid.startswith("pr_")
    summary = client.predict(pid, handle_file(str(fountain)), api_name="/import_script")
    assert summary["project"] == pid
    assert [s["heading"] for s in summary["scenes"]] == ["INT. KITCHEN - NIGHT", "EXT. GARDEN - DAWN"]
    assert summary["stages"]["script"] == "done" and summary["stages"]["treatment"] == "skipped"

    status = client.predict(pid, api_name="/status")
    assert status["stages"]["script"] == "done"
    assert len(status["scenes"]) == 2 and status["scenes"][0]["stages"]["shots"] == "empty"
    assert status["position"]["stage"] == "script"

    archive = client.predict(pid, api_name="/export")
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    assert any(n.endswith("_Screenplay.fountain") for n in names)
    assert "NOT_EXPORTED.txt" in names


def test_import_script_without_a_project_creates_one(served: tuple[Client, Store], fountain: Path) -> None:
    client, store = served
    summary = client.predict("", handle_file(str(fountain)), api_name="/import_script")
    assert Runner(store).view(summary["project"]).project.title == "The Egg Thief"


def test_errors_reach_the_client_as_one_plain_line(served: tuple[Client, Store]) -> None:
    client, _ = served
    with pytest.raises(AppError, match=r"^No project 'pr_nope'[^\n]*$"):
        client.predict("pr_nope", api_name="/status")
    pid = client.predict("Empty", api_name="/create_project")
    with pytest.raises(AppError, match="has no scenes yet"):
        client.predict(pid, "", 0, api_name="/shot_list")
    with pytest.raises(AppError, match="Unknown mode 'poem'"):
        client.predict(pid, "An egg.", "poem", 0, api_name="/set_story")
    with pytest.raises(AppError, match="needs a title"):
        client.predict("  ", api_name="/create_project")


def test_run_action_takes_a_typed_action_and_refuses_a_bad_one_naming_the_field(
        served: tuple[Client, Store], fountain: Path) -> None:
    client, store = served
    pid = client.predict("", handle_file(str(fountain)), api_name="/import_script")["project"]
    out = client.predict(pid, "assets", "", {"kind": "extract", "references": False}, 0, "",
                         api_name="/run_action")
    assert out["ok"] and out["stage"] == "assets" and out["data"]["registry"]["assets"]
    mara = next(a for a in out["data"]["registry"]["assets"] if a["name"] == "Mara")
    assert not mara["history"]  # extraction only: no reference was drawn
    made = client.predict(pid, "assets", "", {"kind": "master_reference", "asset_id": mara["id"]}, 3, "red coat",
                          api_name="/run_action")
    assert made["ok"]
    takes = Runner(store).takes(pid, Stage.ASSETS, target=f"reference:{mara['id']}")
    assert len(takes) == 1 and takes[0].ok and takes[0].seed == 3
    with pytest.raises(AppError, match=r"field 'colour' is not valid: Extra inputs are not permitted"):
        client.predict(pid, "assets", "", {"kind": "master_reference", "asset_id": mara["id"], "colour": "red"}, 0,
                       "", api_name="/run_action")
    with pytest.raises(AppError, match=r"Style & assets has no action 'regenerate_frame'; use one of: extract, "):
        client.predict(pid, "assets", "", {"kind": "regenerate_frame", "shot_id": "x"}, 0, "", api_name="/run_action")
    with pytest.raises(AppError, match=r"field 'takes' is not valid: Input should be less than or equal to 8"):
        client.predict(pid, "asset_states", "", {"kind": "scene_instance", "asset_id": mara["id"], "takes": 40}, 0,
                       "", api_name="/run_action")
    assert len(Runner(store).takes(pid, Stage.ASSETS, target=f"reference:{mara['id']}")) == 1  # nothing ran


def test_set_story_saves_the_text_and_mode(served: tuple[Client, Store]) -> None:
    client, store = served
    pid = client.predict("Idea", api_name="/create_project")
    out = client.predict(pid, "A thief plans one last job.", "", 0, api_name="/set_story")
    assert out["mode"] == "expand" and out["stages"]["input"] == "done" and out["revision"] == 1
    data = Runner(store).view(pid).data(Stage.INPUT)
    assert data is not None and data["sources"][0]["text"] == "A thief plans one last job."
    # a save from a stale revision (or none) is refused in one sentence; the saved text stays
    with pytest.raises(AppError, match=r"^The story was changed by someone else since you read it \(now revision 1, "
                                       r"yours was 0\); nothing was saved\.[^\n]*$"):
        client.predict(pid, "A different story.", "", 0, api_name="/set_story")
    with pytest.raises(AppError, match="Say which revision"):
        client.predict(pid, "A different story.", "", None, api_name="/set_story")
    assert client.predict(pid, api_name="/status")["revisions"]["input"] == 1
    assert Runner(store).view(pid).data(Stage.INPUT) == data
    assert client.predict(pid, "A different story.", "", 1, api_name="/set_story")["revision"] == 2


def test_users_stay_apart(store: Store, fountain: Path) -> None:
    alice, bob = Runner(store, owner="user:alice"), Runner(store, owner="user:bob")
    pid = api.import_script(alice, "", fountain)["project"]
    assert api.status(alice, pid)["stages"]["script"] == "done"
    with pytest.raises(Exception, match="No project"):
        api.status(bob, pid)


def test_run_until_gives_the_cli_json(store: Store, fountain: Path) -> None:
    runner = Runner(store, engines=FakeEngines())
    pid = api.import_script(runner, "", fountain)["project"]
    out = api.run_until(runner, pid, "script")
    assert out["project"] == pid and out["scenes"] == 2 and out["stages"]["script"] == "done"
    assert set(out) >= {"stages", "scenes", "assets", "shots", "frames", "model_calls", "outputs"}
