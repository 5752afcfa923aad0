"""Opening a scene from the hub through the client API: the scene asked for is the one opened.

The hub's buttons act on the scene picker's value, so a client names the scene (it once opened
whatever scene the session held, a `gr.State` being no API input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiuteur.domain import Stage
from aiuteur.pipeline.hub import hub_state
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import project_with_script
from tests.serving import serve


def _said(out: Any) -> str:
    """The notice line of an event's answer."""
    return next((str(v) for v in (out if isinstance(out, list | tuple) else [out])
                 if isinstance(v, str) and (v.startswith(("Opened", "⚠️")) or "deferred" in v)), "")


def test_the_hub_opens_the_scene_asked_for_and_remembers_where_the_last_one_was_left(tmp_path: Path) -> None:
    store = Store(DataHome(tmp_path, "test"))
    runner = Runner(store, engines=FakeEngines())
    pid, script = project_with_script(runner)
    s1, s2, s3 = (sc.id for sc in script.scenes[:3])
    demo = build_app(store, engines_factory=FakeEngines)
    with serve(demo, **launch_kwargs()) as url:
        c = patient_client(url)  # a busy machine answers slowly
        params = c.view_api(return_format="dict", print_info=False)["named_endpoints"]["/hub_open_scene"]["parameters"]
        assert len(params) == 1  # the scene to open
        c.predict("", "__all__", api_name="/list_projects")
        c.predict(pid, api_name="/open_project")
        assert "deferred" in _said(c.predict(s3, api_name="/hub_defer"))
        assert s3 in hub_state(runner.view(pid).state).deferred

        said = _said(c.predict(s2, api_name="/hub_open_scene"))
        assert said.startswith("Opened Scene 2") and "Stage 7" in said, said
        assert (runner.open(pid).stage, runner.open(pid).scene_id) == (Stage.SHOTS, s2)
        c.predict(api_name="/visit_prompts")  # the filmmaker works on scene 2's prompts

        said = _said(c.predict(s3, api_name="/hub_open_scene"))
        assert said.startswith("Opened Scene 3") and "Stage 7" in said, said  # taken up again, not "skipped"
        view = runner.view(pid)
        assert (view.position.stage, view.position.scene_id) == (Stage.SHOTS, s3)
        assert hub_state(view.state).deferred == [] and view.branch.scene_positions[s2] == Stage.PROMPTS

        said = _said(c.predict(s2, api_name="/hub_open_scene"))
        assert said.startswith("Opened Scene 2") and "Stage 9" in said, said  # where it was left
        assert runner.open(pid).scene_id == s2 and s1 not in runner.view(pid).branch.scene_positions
