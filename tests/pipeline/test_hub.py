"""Stage 6: the scene list with derived statuses, defer, and opening a scene where it was left."""

from __future__ import annotations

import pytest

from aiuteur.domain import Stage, Status
from aiuteur.pipeline import graph
from aiuteur.pipeline.hub import hub_state, scene_rows
from aiuteur.pipeline.runner import Runner
from aiuteur.store.store import Tx
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import project_with_script, registry_for

CAM = {"size": "medium", "angle": "eye level", "movement": "static", "lens": "35mm"}


def test_rows_show_status_places_people_and_where_each_scene_stands(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    rows = scene_rows(runner.view(pid).state)
    assert [r.number for r in rows] == ["1", "2", "3", "4"]
    assert rows[0].characters == ["PERSEPHONE", "DEMETER"] and rows[0].locations == ["Meadow"]  # before stage 5
    registry_for(runner, pid, script)
    engines.scripted.enqueue({"shots": [{"units": [1], **CAM, "in_frame": []}, {"units": [2, 3], **CAM, "in_frame": []}]})
    runner.run(pid, Stage.SHOTS, script.scenes[0].id)
    rows = scene_rows(runner.view(pid).state)
    first = rows[0]
    assert first.characters == ["Persephone", "Demeter"] and first.locations == ["Meadow"]
    # worked on at stage 7 (the run left the filmmaker there): it stands where it was left
    assert first.shots == 2 and first.stands_at == Stage.SHOTS and first.where == "Stage 7 · Shot list"
    assert first.statuses[Stage.SHOTS] == Status.DONE and first.status == Status.DONE
    assert rows[1].where == "Stage 7 · Shot list"
    # never worked on: the first unfinished per-scene stage
    runner.save(pid, Stage.HUB, {"deferred": [], "scene_positions": {}})
    assert graph.scene_stage(runner.view(pid).state, first.scene_id) == Stage.ASSET_STATES


def test_defer_marks_the_scene_skipped_and_back(runner: Runner) -> None:
    pid, script = project_with_script(runner)
    sid = script.scenes[1].id
    runner.set_deferred(pid, sid, True)
    state = runner.view(pid).state
    assert graph.status(state, Stage.SHOTS, sid) == Status.SKIPPED
    row = scene_rows(state)[1]
    assert row.deferred and row.where == "Deferred" and row.status == Status.SKIPPED
    runner.set_deferred(pid, sid, False)
    assert hub_state(runner.view(pid).state).deferred == []


def test_opening_a_scene_lands_where_it_was_left(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    s1, s2 = script.scenes[0].id, script.scenes[1].id
    # never worked on: land on the first unfinished per-scene stage
    pos = runner.open_scene(pid, s1)
    assert (pos.stage, pos.scene_id) == (Stage.SHOTS, s1)
    # working on scene 1's prompts, then opening scene 2 remembers scene 1's place
    runner.visit(pid, Stage.PROMPTS, s1)
    assert runner.open_scene(pid, s2).stage == Stage.SHOTS
    assert runner.view(pid).branch.scene_positions == {s1: Stage.PROMPTS, s2: Stage.SHOTS}
    runner.visit(pid, Stage.HUB)
    pos = runner.open_scene(pid, s1)
    assert (pos.stage, pos.scene_id) == (Stage.PROMPTS, s1)
    # a per-scene tab noting its stage keeps the branch position there (the save does not move it)
    runner.note_position(pid, Stage.ASSET_STATES, s2)
    assert runner.open(pid).stage == Stage.ASSET_STATES and runner.open(pid).scene_id == s2
    assert runner.open_scene(pid, s2).stage == Stage.ASSET_STATES


def test_every_per_scene_stage_is_remembered_per_scene_stages_10_to_12_included(runner: Runner) -> None:
    pid, script = project_with_script(runner)
    s1, s2 = script.scenes[0].id, script.scenes[1].id
    for stage in (Stage.FRAMES, Stage.CONFIRM, Stage.VIDEO):
        runner.visit(pid, stage, s1)
        runner.open_scene(pid, s2)
        runner.visit(pid, Stage.HUB)
        assert runner.open_scene(pid, s1).stage == stage
        assert next(r for r in scene_rows(runner.view(pid).state) if r.scene_id == s1).stands_at == stage
    # the scene picker shows scene 2 at the same stage without moving where scene 2 was left
    runner.visit(pid, Stage.VIDEO, s2, remember=False)
    assert runner.view(pid).branch.scene_positions[s2] == Stage.SHOTS
    # a project from before kept positions in the hub's state: still honoured
    runner.save(pid, Stage.HUB, {"deferred": [], "scene_positions": {script.scenes[2].id: Stage.PROMPTS.value}})
    assert runner.open_scene(pid, script.scenes[2].id).stage == Stage.PROMPTS


def test_opening_a_deferred_scene_takes_it_up_again_in_one_locked_change(runner: Runner,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pid, script = project_with_script(runner)
    s1, s3 = script.scenes[0].id, script.scenes[2].id
    runner.set_deferred(pid, s3, True)
    runner.visit(pid, Stage.PROMPTS, s1)
    commits: list[int] = []
    real_commit = Tx.commit
    monkeypatch.setattr(Tx, "commit", lambda self: (commits.append(1), real_commit(self))[1])
    pos = runner.open_scene(pid, s3)
    # where it stands once taken up again, not "skipped to the last stage"
    assert (pos.stage, pos.scene_id) == (Stage.SHOTS, s3) and len(commits) == 1
    view = runner.view(pid)
    assert hub_state(view.state).deferred == [] and view.branch.scene_positions[s1] == Stage.PROMPTS
    assert runner.open_scene(pid, s3) == pos and len(commits) == 1  # nothing changed: nothing written
