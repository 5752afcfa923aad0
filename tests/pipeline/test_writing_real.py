"""Stages 2-4 on the real offline model (Qwen2.5-Coder-1.5B through llama.cpp), where installed.

A short story nobody tuned the prompts to goes treatment -> beats -> script through the runner
with the offline profile's engines. The assertions are structural (issue 13), never about prose:
three treatments from three angles, none lost; beats that cover the whole treatment; a script
with a scene for each place of the beats, dialogue for people who speak in the story, and no
action line that begins with a heading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiuteur.domain import BeatSheet, ElementKind, InputMode, Script, SourceText, Stage, StoryInput, Treatment
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.script import same_place
from aiuteur.pipeline.treatment import copied_sentences
from aiuteur.settings import DataHome
from aiuteur.store import Store

pytestmark = pytest.mark.real

STORY = (
    "Rosa Mendez runs a tiny laundromat on a rainy street corner. At closing time a soaked boy, "
    'Felix, hides behind the dryers. "I lost my dog," he says. Rosa gives him a towel and a torch. '
    "Together they search the flooded alley behind the shop, where trash cans float and a neon "
    'sign buzzes pink. Under the fire escape they find the dog, shivering. "Her name is Biscuit," '
    "Felix says. Back in the warm laundromat, Rosa dries the dog in a basket of clean sheets while "
    "Felix laughs for the first time."
)


def test_the_offline_model_writes_treatments_beats_and_a_script(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.engines.test_text_llamacpp import _offline_models_dir

    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines import registry
    from aiuteur.engines.profiles import load_profile

    monkeypatch.setenv("AIUTEUR_MODELS", str(where))
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    home = DataHome(tmp_path / "home", "test")
    runner = Runner(Store(home), engines=registry.Engines(load_profile("offline"), home))
    pid = runner.create_project("Laundromat").id
    runner.save(pid, Stage.INPUT, StoryInput(mode=InputMode.EXPAND, sources=[SourceText(text=STORY)]))

    treatment = runner.run(pid, Stage.TREATMENT, seed=1)
    assert treatment.ok and treatment.record is not None, treatment.errors  # never nothing
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert len(t.variants) == 3 and len({v.angle for v in t.variants}) == 3
    for v in t.variants:  # a variant that copies the story is either fixed or marked, never silent
        assert len(copied_sentences(v.prose, STORY)) <= 1 or v.weak
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": 0}))

    beats = runner.run(pid, Stage.BEATS, seed=2)
    assert beats.ok, beats.errors
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    prose = t.variants[0].prose
    assert " ".join(b.source_passage for b in sheet.beats).split() == prose.split()  # the whole treatment
    assert all(b.place for b in sheet.beats)

    script_run = runner.run(pid, Stage.SCRIPT, seed=3)
    assert script_run.ok, script_run.errors
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    for b in sheet.beats:
        assert any(same_place(b.place, s.location) for s in script.scenes), f"no scene at {b.place}"
    actions = [e.text for s in script.scenes for e in s.elements if e.kind == ElementKind.ACTION]
    assert actions and not [a for a in actions if re.match(r"\s*(INT|EXT)[./ ]", a)]
    dialogue = [e for s in script.scenes for e in s.elements if e.kind == ElementKind.DIALOGUE]
    assert dialogue or any("speak" in n for n in script_run.notes)  # spoken, or marked as missing
