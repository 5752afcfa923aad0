"""Stages 2-4 end to end on the tiny profile's real text engine (transformers + llguidance).

Random weights write noise, but constrained decoding and the code checks must still give three
treatments, beats quoting the chosen one, and a script that reads back as it was saved.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiuteur.domain import BeatSheet, ElementKind, Script, Stage, Treatment
from aiuteur.engines import registry
from aiuteur.pipeline.actions import WriteBeats, WriteScript, WriteTreatments
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import PROFILES_DIR, DataHome
from aiuteur.store import Store
from tests.pipeline.writing_fixtures import RULES, project_with_input

pytestmark = pytest.mark.slow

pytest.importorskip("llguidance", reason="llguidance is not installed")
pytest.importorskip("transformers", reason="transformers is not installed")


def _tiny_engines(home: DataHome) -> Any:
    """Engines of the tiny profile, by whichever constructor this version of the registry has."""
    from aiuteur.engines.profiles import load_profile

    if hasattr(registry.Engines, "from_profile"):
        try:
            return registry.Engines.from_profile("tiny", home)
        except TypeError:
            pass
    return registry.Engines(load_profile("tiny"), home)


@pytest.fixture(scope="module")
def models_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    # Copied from tests.engines.conftest (models_dir, load_builder): one shared build per session.
    path = Path(request.config.cache.mkdir("aiuteur-models"))
    before = os.environ.get("AIUTEUR_MODELS")
    os.environ["AIUTEUR_MODELS"] = str(path)
    spec = importlib.util.spec_from_file_location("aiuteur_models_tiny_text", PROFILES_DIR / "tiny_text.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    builder.build(path)
    yield path
    if before is None:
        os.environ.pop("AIUTEUR_MODELS", None)
    else:
        os.environ["AIUTEUR_MODELS"] = before


def test_tiny_profile_writes_a_valid_treatment_beats_and_script(models_dir: Path, home: DataHome,
                                                                 store: Store) -> None:
    engines = _tiny_engines(home)
    runner = Runner(store, engines=engines)
    pid = project_with_input(runner)

    treatment = runner.run(pid, Stage.TREATMENT, seed=1, action=WriteTreatments(max_attempts=1))
    assert treatment.ok, treatment.errors
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert len(t.variants) == 3 and len({v.prose for v in t.variants}) == 3
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": 0}))

    beats = runner.run(pid, Stage.BEATS, seed=2, action=WriteBeats(max_attempts=1))
    assert beats.ok, beats.errors
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert sheet.beats and all(b.source_passage and b.source_passage in t.variants[0].prose for b in sheet.beats)

    script_run = runner.run(pid, Stage.SCRIPT, seed=3, action=WriteScript(max_attempts=1))
    assert script_run.ok, script_run.errors
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    plan = script_run.takes[0].output
    assert plan is not None and len(script.scenes) == len(plan["scenes"])
    for scene, planned in zip(script.scenes, plan["scenes"], strict=True):
        cast = {" ".join(c.upper().split()) for c in planned["cast"]}
        assert scene.heading and all(e.character in cast for e in scene.elements if e.kind == ElementKind.DIALOGUE)
    from aiuteur.screenplay import parse_fountain, to_fountain

    again = parse_fountain(to_fountain(script))
    assert [s.model_dump(exclude={"id"}) for s in again.scenes] == [s.model_dump(exclude={"id"}) for s in script.scenes]
    for take in [*treatment.takes, *beats.takes, *script_run.takes]:
        assert take.engine == "transformers" and take.model_id
        if take.prompt:
            assert all(r in take.prompt[0]["content"] for r in RULES)
    assert engines.calls["treatment"] == 3 and engines.calls["beats"] == 1  # one call per treatment angle
    assert engines.calls["script"] == 1 + len(script.scenes)
