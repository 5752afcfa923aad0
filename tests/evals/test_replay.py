"""`python -m aiuteur eval --replay`: stages 5 and 8 again on an earlier run's saved script and shot lists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aiuteur.domain import Stage
from aiuteur.evals.corpus import load_story
from aiuteur.evals.harness import SCHEMA, collect_artifacts, read_json
from aiuteur.evals.replay import ReplayConfig, replay, replay_story
from aiuteur.pipeline.actions import Extract
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import FakeImage, FakeMatting
from tests.pipeline.test_story_looks import STORY, SmallModel, _story_project

LABELS = {"title": "The Carousel Mare", "genre": "comedy", "characters": [
    {"name": "Wilhelmina Osei", "aliases": ["Wilhelmina"], "speaks": False},
    {"name": "Bartholomew", "speaks": True}, {"name": "Florence", "speaks": True}],
    "places": [{"name": "the fairground", "aliases": ["fairground"]}],
    "look_changes": [{"character": "Wilhelmina Osei", "change": "covered in red enamel",
                      "keywords": ["enamel"], "place": ["fairground"]}]}


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(text=SmallModel(), image=FakeImage(), matting=FakeMatting())


@pytest.fixture
def source(runner: Runner, tmp_path: Path) -> Path:
    """A result JSON as the harness writes it, of a run whose stage 5 missed the change (its
    registry has no state change) and whose stage 8 gave the teller's look to Bartholomew."""
    pid = _story_project(runner)
    assert runner.run(pid, Stage.ASSETS, action=Extract(references=False)).ok
    for sid in runner.view(pid).state.scene_ids:
        assert runner.run(pid, Stage.SHOTS, sid).ok
    artifacts = collect_artifacts(runner, pid)
    for a in artifacts["assets"]["registry"]["assets"]:
        a["state_changes"] = []
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "carousel-mare.md").write_text(STORY, encoding="utf-8")
    (corpus / "carousel-mare.json").write_text(json.dumps(LABELS), encoding="utf-8")
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"schema": SCHEMA, "run": {"git": "abc1234"}, "stories": [
        {"slug": "carousel-mare", "artifacts": artifacts}]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("start", [Stage.ASSETS, Stage.ASSET_STATES])
def test_a_replay_keeps_the_saved_script_and_shots_and_measures_again(
        source: Path, store: Store, engines: FakeEngines, start: Stage) -> None:
    saved = read_json(source)["stories"][0]
    story = load_story(source.parent / "corpus" / "carousel-mare.md")
    row = replay_story(Runner(store, engines=engines), story, saved, start=start, seed=0, examples=set(),
                       say=lambda line: None)
    a = row["artifacts"]
    assert a["script"]["scenes"] == saved["artifacts"]["script"]["scenes"]
    # the same shots, their asset ids those of the registry the replay has
    ids = {x["id"] for x in a["assets"]["registry"]["assets"]}
    for sid, shots in a["shots"].items():
        assert [s["number"] for s in shots["shots"]] == [s["number"] for s in saved["artifacts"]["shots"][sid]["shots"]]
        assert all(aid in ids for s in shots["shots"] for aid in s["assets"])
    assert set(row["stages"]) == ({"assets", "asset_states"} if start == Stage.ASSETS else {"asset_states"})
    # From stage 5 the story's change is read again and caught in the fairground; from stage 8
    # on the saved registry (which missed it) it is not.
    looks = row["metrics"]["looks"]
    assert (looks["labelled"], looks["caught"]) == (1, 1 if start == Stage.ASSETS else 0)


def test_a_replay_needs_a_saved_script(tmp_path: Path) -> None:
    from aiuteur.domain import InputError

    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"schema": SCHEMA, "run": {}, "stories": [{"slug": "x", "artifacts": {}}]}))
    with pytest.raises(InputError, match="no story with a saved script"):
        replay(ReplayConfig(source=path))


def test_the_replay_command_writes_a_result_the_report_reads(source: Path, tmp_path: Path, engines: FakeEngines,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`replay` as the CLI calls it: its own scratch projects, the profile's engines (here the
    small-model double), one row per story, a result `--report` prints."""
    import aiuteur.engines.registry as registry
    from aiuteur.evals.report import markdown

    monkeypatch.setattr(registry, "Engines", lambda profile, home: engines)
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    out = tmp_path / "replayed.json"
    doc = replay(ReplayConfig(source=source, start=Stage.ASSETS, profile="tiny", corpus=source.parent / "corpus",
                              out=out))
    assert read_json(out)["run"]["replay"] == {"source": str(source), "source_git": "abc1234", "from": "assets"}
    [row] = doc["stories"]
    assert "crashed" not in row, row.get("crashed")
    assert row["metrics"]["looks"]["caught"] == 1 and row["complete"]
    assert "carousel-mare" in markdown(doc)


def test_a_replay_pins_prompt_versions_and_records_them(source: Path, tmp_path: Path, engines: FakeEngines,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--replay X --prompt-version asset_states=v1`: stage 8 is asked with its v1 prompts (so two
    prompt versions are compared on the very same scripts), the run says so, and the pin is gone after."""
    import aiuteur.engines.registry as registry
    from aiuteur.pipeline.prompts import PROMPT_VERSIONS_ENV

    monkeypatch.setattr(registry, "Engines", lambda profile, home: engines)
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(PROMPT_VERSIONS_ENV, raising=False)
    doc = replay(ReplayConfig(source=source, start=Stage.ASSET_STATES, profile="tiny", corpus=source.parent / "corpus",
                              out=tmp_path / "v1.json", prompt_versions={"asset_states": 1}))
    assert doc["run"]["prompt_versions"] == {"asset_states": "v1"}
    [row] = doc["stories"]
    assert row["stages"]["asset_states"]["templates"] == ["asset_states/system.v1+asset_states/user.v1"]
    assert PROMPT_VERSIONS_ENV not in os.environ
