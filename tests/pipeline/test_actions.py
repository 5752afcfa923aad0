"""Stage actions (aiuteur/pipeline/actions.py): typed, refused in words, and the only door into a stage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiuteur.domain import STAGE_ORDER, InputError, Stage
from aiuteur.pipeline import actions
from aiuteur.pipeline.actions import Estimate, Extract, MasterReference, RegenerateFrame, RewriteBeat
from aiuteur.pipeline.runner import STAGES, Runner
from tests.pipeline.assets_fixtures import project_with_script, spring_script

PIPELINE = Path(actions.__file__).parent


def test_every_run_stage_has_a_default_action_and_every_action_a_described_kind() -> None:
    assert set(actions.DEFAULTS) == set(actions.ACTIONS) == set(STAGES)
    assert Stage.INPUT not in STAGES and Stage.HUB not in STAGES
    for stage in STAGES:
        assert actions.check(stage, None) == actions.DEFAULTS[stage]()
        for kind in actions.kinds(stage):
            action = actions.parse(stage, {"kind": kind, **_required(stage, kind)})
            assert type(action).__doc__
            assert all(f.description for name, f in type(action).model_fields.items() if name != "kind"), kind


def _required(stage: Stage, kind: str) -> dict[str, object]:
    needs = {"asset_id": "as_x", "shot_id": "sh_x", "beat_id": "b_x", "scene_id": "sc_x", "image_key": "k.png",
             "index": 1, "line": "1.0", "text": "Mara runs.", "start": 0, "end": 4}
    model = next(m for m in actions._members(stage) if m.model_fields["kind"].default == kind)
    return {n: v for n, v in needs.items() if n in model.model_fields and model.model_fields[n].is_required()}


def test_a_bad_action_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"The Frames action's field 'best_of' is not valid: .*less than or equal to 8"):
        actions.parse(Stage.FRAMES, {"kind": "regenerate_frame", "shot_id": "s", "best_of": 9})
    with pytest.raises(InputError, match=r"field 'colour' is not valid: Extra inputs are not permitted"):
        actions.parse(Stage.ASSETS, {"kind": "master_reference", "asset_id": "a", "colour": "red"})
    with pytest.raises(InputError, match=r"field 'asset_id' is not valid: Field required"):
        actions.parse(Stage.ASSETS, {"kind": "master_reference"})
    with pytest.raises(InputError, match=r"has no action 'frobnicate'; use one of: extract, master_references"):
        actions.parse(Stage.ASSETS, {"kind": "frobnicate"})
    with pytest.raises(InputError, match=r"field 'rate_per_hour' is not valid"):
        actions.parse(Stage.CONFIRM, {"rate_per_hour": "cheap"})
    with pytest.raises(InputError, match=r"RewriteBeat: 'beat_id' is not valid"):
        actions.build(RewriteBeat, beat_id="")
    with pytest.raises(InputError, match="edited by hand"):
        actions.parse(Stage.HUB, {})
    # no kind: the stage's whole run
    assert actions.parse(Stage.CONFIRM, {"confirm": True}) == Estimate(confirm=True)


def test_the_runner_refuses_an_action_of_another_stage_before_anything_runs(runner: Runner) -> None:
    pid = project_with_script(runner, spring_script())
    with pytest.raises(InputError, match="RegenerateFrame is not an action of Style & assets"):
        runner.run(pid, Stage.ASSETS, action=RegenerateFrame(shot_id="s"))
    assert runner.takes(pid, Stage.ASSETS) == []


def test_take_labels_name_what_the_action_was_for() -> None:
    assert MasterReference(asset_id="as_a").target == "reference:as_a"
    assert RegenerateFrame(shot_id="s1", end=True).target == "frame:s1:end"
    assert Extract().target == "" and Extract(references=False).target == "extract"


def test_stages_take_typed_actions_only_and_never_import_the_runner() -> None:
    """The contract of issue 14: no string dispatch or options dict in a stage; the runner is imported
    by nothing under pipeline/ but itself, and reaches stages with no importlib."""
    for path in sorted(PIPELINE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        # (a take's stored label, `take.target`, may be read: that is history, not dispatch)
        assert not re.search(r"(?<![\w.])target\.startswith|options\.get\(|ctx\.options|ctx\.target", text), path.name
        if path.name != "runner.py":
            assert "pipeline.runner" not in text, path.name
    assert "importlib" not in (PIPELINE / "runner.py").read_text(encoding="utf-8")
    assert [s for s in STAGE_ORDER if s in STAGES] == list(STAGES)
