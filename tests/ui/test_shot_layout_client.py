"""The shot table's layout column through the running app: the table shows where each character
stands (from the action), an edit is saved as the shot's layout, a bad entry is one sentence and
saves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gradio_client import Client

from aiuteur.domain import ShotList, Stage
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from aiuteur.ui.shots_tab import HEADERS
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, film_stages
from tests.pipeline.phase_b_fixtures import FakeMatting
from tests.serving import serve


def engines() -> FakeEngines:
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding())


def _shots(store: Store, pid: str, sid: str) -> ShotList:
    return ShotList.model_validate(Runner(store, engines=engines()).view(pid).data(Stage.SHOTS, sid))


def test_where_each_character_stands_is_shown_edited_and_saved_in_the_shot_table(tmp_path: Path) -> None:
    store = Store(DataHome(tmp_path, "test"))
    demo = build_app(store, engines_factory=engines)
    with serve(demo, allowed_paths=[str(store.home.media)], **launch_kwargs()) as url:
        client = patient_client(url)  # a busy machine answers slowly
        client.predict("The Lamp Keeper", "", "__all__", api_name="/dashboard_create_project")
        pid = next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == "The Lamp Keeper")
        script = film_stages(Runner(store, engines=engines()), pid)  # stages 1-9 as the film fixture makes them
        sid = script.scenes[0].id
        shot = next(s for s in _shots(store, pid, sid).shots if {"as_martha", "as_leo"} <= set(s.assets))
        client.predict(pid, api_name="/open_project")
        client.predict(sid, api_name="/choose_scene")  # the scene picker: scene 1
        shown = _table(client)
        row = next(r for r in shown["data"] if r[0] == shot.number)
        assert row[HEADERS.index("Where they stand (left … right)")] == "Martha: left; Leo: right"  # from the action

        row[9] = "Martha: right; Leo: left"
        said = client.predict(_value(shown["data"]), shot.number, api_name="/shot_list_save")[1]
        assert said == "Saved."
        saved = next(s for s in _shots(store, pid, sid).shots if s.id == shot.id)
        assert saved.layout == {"as_martha": "right", "as_leo": "left"}
        again = next(r for r in _table(client)["data"] if r[0] == shot.number)
        assert again[9] == "Martha: right; Leo: left"

        row[9] = "Martha: up high"
        said = client.predict(_value(shown["data"]), shot.number, api_name="/shot_list_save")[1]
        assert said.startswith("⚠️") and "'up high' is not a position" in said
        assert next(s for s in _shots(store, pid, sid).shots if s.id == shot.id).layout == saved.layout


def _value(data: list[list[Any]]) -> dict[str, Any]:
    return {"headers": HEADERS, "data": data, "metadata": None}


def _table(client: Client) -> dict[str, Any]:
    """The shot table as the tab shows it: a save of an unedited (empty) table answers with it."""
    table, said = client.predict(_value([]), "", api_name="/shot_list_save")[:2]  # then the statuses
    assert said == "Saved.", said
    return dict(table)
