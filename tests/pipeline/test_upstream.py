"""One loader of a stage's inputs (pipeline/upstream.py): what a stage sees is what its fingerprint watches.

`tests/fixtures/saved_before_one_loader.json` holds two projects saved by the code before the
loader (made by `tests/fixtures/make_saved_before_one_loader.py` at commit 180e6be): a film taken
through stage 12 and a written project through stage 5, with each record's stored fingerprints
and the statuses the app showed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aiuteur.domain import (
    ArtifactRecord,
    AssetStates,
    Branch,
    Scene,
    ShotList,
    Stage,
    Status,
    StoryInput,
    StyleAndAssets,
    artifact_model,
)
from aiuteur.pipeline import graph, upstream
from aiuteur.pipeline import runner as runner_module
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.stage import StageContext, StageOutcome
from aiuteur.pipeline.state import ProjectState, UndeclaredRead
from aiuteur.store import Store
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import film_project
from tests.pipeline.phase_b_fixtures import DownText


@pytest.fixture
def film_runner(store: Store) -> Runner:
    return Runner(store, engines=FakeEngines(text=DownText()))  # stages 6-8 take their fallbacks


SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "saved_before_one_loader.json"


def saved(name: str) -> tuple[ProjectState, dict[str, Any]]:
    project = json.loads(SAVED.read_text(encoding="utf-8"))[name]
    branch = Branch(name="main")
    records = [ArtifactRecord(branch=branch.id, stage=Stage(r["stage"]), scene_id=r["scene_id"], revision=1,
                              data=r["data"], upstream=r["upstream"]) for r in project["records"]]
    return ProjectState.build(branch, records), project


def edited(state: ProjectState, stage: Stage, scene_id: str | None, change: dict[str, Any]) -> ProjectState:
    key = (stage, scene_id if stage.per_scene else None)
    rec = state.records[key]
    return ProjectState(state.branch, {**state.records, key: rec.model_copy(update={"data": {**rec.data, **change}})})


@pytest.mark.parametrize("name", ["film", "writing"])
def test_a_project_saved_before_the_one_loader_is_not_stale(name: str) -> None:
    state, project = saved(name)
    assert {s.value: st.value for s, st in graph.all_statuses(state).items()} == project["statuses"]
    for sid, statuses in project["scene_statuses"].items():
        assert {s.value: st.value for s, st in graph.scene_statuses(state, sid).items()} == statuses
    assert Status.STALE not in graph.all_statuses(state).values()
    for rec in state.records.values():  # every input fingerprinted before hashes the same now
        now = graph.fingerprints(state, rec.stage, rec.scene_id)
        assert {k: now.get(k) for k in rec.upstream} == rec.upstream, (rec.stage, rec.scene_id)


def test_editing_an_upstream_input_of_a_saved_project_still_marks_the_downstream_stale() -> None:
    state, _ = saved("film")
    first, second = state.scene_ids
    shots = state.data(Stage.SHOTS, first) or {}
    changed = edited(state, Stage.SHOTS, first, {"shots": shots["shots"][:1]})
    assert graph.status(changed, Stage.ASSET_STATES, first) == Status.STALE
    assert graph.status(changed, Stage.PROMPTS, first) == Status.STALE
    assert graph.status(changed, Stage.PROMPTS, second) == Status.DONE  # the other scene is untouched
    ruled = edited(state, Stage.INPUT, None, {"story_rules": ["Nobody ever runs."]})
    assert graph.status(ruled, Stage.PROMPTS, first) == Status.STALE  # watched before too

    writing, _ = saved("writing")
    assert graph.status(edited(writing, Stage.TREATMENT, None, {"chosen": 0}), Stage.BEATS) == Status.STALE
    text = edited(writing, Stage.INPUT, None, {"brief": {"plot": "Another story."}})
    assert graph.status(text, Stage.TREATMENT) == Status.STALE


def test_newly_saved_work_watches_every_input_its_stage_reads(film_runner: Runner) -> None:
    runner = film_runner
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    assert runner.view(pid).scene_statuses(sid)[Stage.SHOTS] == Status.DONE
    story = runner.view(pid).data(Stage.INPUT) or {}
    runner.save(pid, Stage.INPUT, {**story, "story_rules": ["Nobody ever runs."]})
    view = runner.view(pid)
    # the shot list reads the story rules: it was not stale on a rule change before the one loader
    assert view.scene_statuses(sid)[Stage.SHOTS] == Status.STALE
    assert view.scene_statuses(sid)[Stage.ASSET_STATES] == Status.STALE


def test_a_stage_sees_no_record_its_fingerprint_does_not_watch() -> None:
    """For every stage of a saved film and script: each record the stage may read changes its
    fingerprint when it changes (its own earlier work aside, which is what it makes)."""
    for name in ("film", "writing"):
        state, _ = saved(name)
        state = edited(state, Stage.INPUT, None, {"story_rules": ["Nobody dies."],
                                                  "brief": {"story_rules": "No magic.", "plot": "x"}})
        for rec in list(state.records.values()):
            loaded = upstream.load(state, rec.stage, rec.scene_id)
            own = (rec.stage, rec.scene_id)
            for key, seen in loaded.state.records.items():
                if key == own:
                    continue
                emptied = ProjectState(state.branch, {**state.records, key: seen.model_copy(update={"data": {}})})
                assert upstream.load(emptied, rec.stage, rec.scene_id).fingerprint != loaded.fingerprint, (own, key)


def test_a_stage_reading_a_record_its_loader_does_not_read_fails(film_runner: Runner,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    runner = film_runner
    pid, script = film_project(runner)
    seen: dict[str, Any] = {}

    def nosy(ctx: StageContext) -> StageOutcome:
        seen["script"] = ctx.state.data(Stage.SCRIPT)  # read by the confirm loader: fine
        seen["frames"] = ctx.state.data(Stage.FRAMES, ctx.scene_id)
        ctx.state.data(Stage.ASSET_STATES, ctx.scene_id)  # not read by it: its changes would go unseen
        return StageOutcome()

    monkeypatch.setitem(runner_module.STAGES, Stage.CONFIRM, nosy)
    monkeypatch.setattr(runner, "_check_ready", lambda *a, **k: None)
    result = runner.run(pid, Stage.CONFIRM, script.scenes[0].id)
    assert not result.ok and result.record is None
    assert Stage.ASSET_STATES.title in result.errors[0]
    assert "does not read" in result.errors[0]
    assert seen["script"] is not None and "frames" in seen
    with pytest.raises(UndeclaredRead):
        upstream.load(runner.view(pid).state, Stage.SHOTS, script.scenes[0].id).state.data(Stage.PROMPTS, "x")


def test_a_stage_gets_its_upstream_artifacts_as_domain_models_from_the_loaders_read() -> None:
    state, _ = saved("film")
    sid = state.scene_ids[0]
    loaded = upstream.load(state, Stage.PROMPTS, sid)
    inputs = loaded.inputs
    assert isinstance(inputs.shots, ShotList) and inputs.shots.shots
    assert isinstance(inputs.assets, StyleAndAssets) and isinstance(inputs.story, StoryInput)
    assert isinstance(inputs.asset_states, AssetStates)
    scene = inputs.require_scene()
    assert isinstance(scene, Scene) and scene.id == sid
    assert inputs.shots is inputs.shots  # parsed once, from the records the loader read
    assert inputs.state.records[(Stage.SHOTS, sid)] is state.records[(Stage.SHOTS, sid)]
    with pytest.raises(UndeclaredRead):
        inputs.frames  # noqa: B018 - the prompts loader does not read the keyframes
    # the saved film's every record parses as its model
    for rec in state.records.values():
        assert state.model(rec.stage, rec.scene_id, artifact_model(rec.stage.value)) is not None


def test_a_record_saved_with_a_field_since_removed_still_loads() -> None:
    state, _ = saved("film")
    sid = state.scene_ids[0]
    shots = state.data(Stage.SHOTS, sid) or {}
    old = edited(state, Stage.SHOTS, sid, {"retired_field": 1,
                                           "shots": [{**shots["shots"][0], "old_note": "x"}, *shots["shots"][1:]]})
    got = upstream.load(old, Stage.PROMPTS, sid).inputs.shots
    assert got is not None and got.shots[0].id == shots["shots"][0]["id"]
    assert len(got.shots) == len(shots["shots"])
    bad = edited(state, Stage.SHOTS, sid, {"shots": [{"number": None}]})
    with pytest.raises(ValidationError):
        upstream.load(bad, Stage.PROMPTS, sid).inputs.shots  # noqa: B018 - a wrong type is refused


def test_renaming_an_asset_makes_newly_saved_prompts_and_keyframes_stale() -> None:
    """The prompts name the scene's assets and the keyframes place them by kind: the fields of the
    registry they read beyond its images are watched too (from the artifact's next save on)."""
    state, _ = saved("film")
    sid = state.scene_ids[0]
    assets = state.data(Stage.ASSETS) or {}
    in_scene = next(a for a in assets["registry"]["assets"] if sid in a["scenes"] and not a.get("removed"))
    renamed_assets = {**assets, "registry": {**assets["registry"], "assets": [
        {**a, "name": "Somebody Else"} if a["id"] == in_scene["id"] else a for a in assets["registry"]["assets"]]}}
    for stage in (Stage.PROMPTS, Stage.FRAMES):
        rec = state.records[(stage, sid)]
        resaved = ProjectState(state.branch, {**state.records, (stage, sid): rec.model_copy(
            update={"upstream": graph.fingerprints(state, stage, sid)})})
        assert graph.status(resaved, stage, sid) != Status.STALE
        renamed = edited(resaved, Stage.ASSETS, None, {"registry": renamed_assets["registry"]})
        assert graph.status(renamed, stage, sid) == Status.STALE, stage
