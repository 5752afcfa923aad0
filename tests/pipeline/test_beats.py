"""Stage 3: beats from the chosen treatment, each quoting its treatment passage exactly."""

from __future__ import annotations

import pytest

from aiuteur.domain import BeatSheet, InputError, Stage, Treatment
from aiuteur.engines.base import EngineError
from aiuteur.pipeline.beats import best_sentence, locate
from aiuteur.pipeline.runner import Runner
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import PROSE, RULES, beats_out, project_with_input, treatment_out


def _with_treatment(runner: Runner, engines: FakeEngines, chosen: int | None = 0) -> str:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": chosen}))
    return pid


def test_beats_come_from_the_chosen_variant_with_exact_passages(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines, chosen=0)
    engines.scripted.enqueue(beats_out())
    result = runner.run(pid, Stage.BEATS, seed=3)
    assert result.ok
    take = result.takes[0]
    assert take.purpose == "beats" and take.template.startswith("beats/system.v1+beats/user.v1")
    prompt = "\n".join(m["content"] for m in take.prompt)
    assert PROSE[0] in prompt and PROSE[1] not in prompt
    assert all(r in prompt for r in RULES)
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert len(sheet.beats) == 3 and all(b.source_passage in PROSE[0] for b in sheet.beats)


def test_a_misquoted_passage_is_re_asked_with_the_validator_message(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines)
    bad = beats_out()
    bad["beats"][1]["source_passage"] = "Leo follows her, carrying a lantern."
    engines.scripted.enqueue(bad, beats_out())
    take = runner.run(pid, Stage.BEATS).takes[0]
    assert take.ok and take.attempts == 2
    reask = engines.scripted.calls[-1]["messages"][-1]["content"]
    assert "beats.1.source_passage" in reask and "copied exactly" in reask


def test_after_the_last_attempt_a_misquote_falls_back_to_the_best_sentence(runner: Runner,
                                                                             engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines)
    bad = beats_out()
    bad["beats"][1]["source_passage"] = "Leo follows her, carrying a lantern."
    engines.scripted.enqueue(bad, bad, bad)
    take = runner.run(pid, Stage.BEATS).takes[0]
    assert take.ok and take.attempts == 3
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert sheet.beats[1].source_passage == "Leo follows her with the lantern."


def test_locate_tolerates_whitespace_but_returns_the_exact_span() -> None:
    prose = "Martha climbs.\nLeo   follows her."
    assert locate("Leo follows her.", prose) == "Leo   follows her."
    assert locate("Leo leads her.", prose) is None
    assert best_sentence(prose, "who follows") == "Leo   follows her."


def test_regenerating_one_beat_keeps_its_id_and_the_others(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines)
    engines.scripted.enqueue(beats_out())
    runner.run(pid, Stage.BEATS)
    before = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    target = before.beats[1]
    engines.scripted.enqueue({"title": "The lantern", "summary": "Leo lifts the lantern high.",
                              "source_passage": "Leo follows her with the lantern."})
    result = runner.run(pid, Stage.BEATS, target=f"beat:{target.id}", guidance="more light")
    assert result.ok and result.takes[0].target == f"beat:{target.id}"
    assert "more light" in result.takes[0].prompt[-1]["content"]
    assert all(r in result.takes[0].prompt[0]["content"] for r in RULES)
    after = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert [b.id for b in after.beats] == [b.id for b in before.beats]
    assert after.beats[0] == before.beats[0] and after.beats[2] == before.beats[2]
    assert after.beats[1].title == "The lantern"


def test_failures_leave_the_beat_sheet_unchanged(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines)
    engines.scripted.enqueue(beats_out())
    runner.run(pid, Stage.BEATS)
    saved = runner.view(pid).data(Stage.BEATS)
    engines.scripted.enqueue(EngineError("the server hung up"))
    result = runner.run(pid, Stage.BEATS)
    assert not result.ok and "the server hung up" in result.errors[0]
    assert runner.view(pid).data(Stage.BEATS) == saved


def test_beats_need_a_chosen_treatment(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines, chosen=None)
    with pytest.raises(InputError, match=r"finish it first|Choose one of the three treatments"):
        runner.run(pid, Stage.BEATS)
