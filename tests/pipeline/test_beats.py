"""Stage 3: beats from the chosen treatment, each quoting its treatment passage exactly."""

from __future__ import annotations

import pytest

from aiuteur.domain import BeatSheet, InputError, Stage, Treatment, TreatmentVariant
from aiuteur.engines.base import EngineError
from aiuteur.pipeline.actions import RewriteBeat
from aiuteur.pipeline.beats import beat_count, best_sentence, locate, sentences
from aiuteur.pipeline.runner import Runner
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import (
    IDEA,
    PROSE,
    RULES,
    STORY,
    beat_out,
    beats_out,
    project_with_input,
    treatment_out,
)


def _with_treatment(runner: Runner, engines: FakeEngines, chosen: int | None = 0) -> str:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": chosen}))
    return pid


def _with_beats(runner: Runner, engines: FakeEngines) -> str:
    pid = _with_treatment(runner, engines)
    engines.scripted.enqueue(beats_out())
    runner.run(pid, Stage.BEATS)
    return pid


def test_beats_come_from_the_chosen_variant_with_exact_passages(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_treatment(runner, engines, chosen=0)
    engines.scripted.enqueue(beats_out())
    result = runner.run(pid, Stage.BEATS, seed=3)
    assert result.ok
    take = result.takes[0]
    assert take.purpose == "beats" and take.template.startswith("beats/system.v2+beats/user.v2")
    prompt = "\n".join(m["content"] for m in take.prompt)
    assert all(sentence in prompt for sentence in sentences(PROSE[0])) and PROSE[1] not in prompt
    assert all(r in prompt for r in RULES)
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert len(sheet.beats) == 3 and all(b.source_passage in PROSE[0] for b in sheet.beats)


def test_beats_cover_the_whole_treatment_part_by_part(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    long = Treatment(variants=[TreatmentVariant(title="Ferry", logline="L.", prose=STORY)] * 3, chosen=0)
    runner.save(pid, Stage.TREATMENT, long)
    n = beat_count(IDEA)
    engines.scripted.enqueue({"beats": [{"title": f"B{i}", "summary": f"S{i}.", "place": f"Place {i}"} for i in range(n)]})
    take = runner.run(pid, Stage.BEATS).takes[0]
    call = engines.scripted.calls[-1]
    assert call["schema"].model_json_schema()["properties"]["beats"]["minItems"] == n  # the count is in the grammar
    assert f"PART {n}" in call["messages"][-1]["content"]
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert take.ok and len(sheet.beats) == n
    assert " ".join(b.source_passage for b in sheet.beats).split() == STORY.split()  # every part, in order, once
    assert sheet.beats[-1].source_passage.endswith("Tomas says the lamp saved him.")
    assert [b.place for b in sheet.beats] == [f"Place {i}" for i in range(n)]


def test_a_misquoted_passage_is_re_asked_with_the_validator_message(runner: Runner, engines: FakeEngines) -> None:
    pid = _with_beats(runner, engines)
    target = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS)).beats[1]
    engines.scripted.enqueue(beat_out("Leo follows her, carrying a lantern."), beat_out("Leo follows her with the lantern."))
    take = runner.run(pid, Stage.BEATS, action=RewriteBeat(beat_id=target.id)).takes[0]
    assert take.ok and take.attempts == 2
    reask = engines.scripted.calls[-1]["messages"][-1]["content"]
    assert "source_passage" in reask and "copied exactly" in reask


def test_after_the_last_attempt_a_misquote_falls_back_to_the_best_sentence(runner: Runner,
                                                                             engines: FakeEngines) -> None:
    pid = _with_beats(runner, engines)
    target = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS)).beats[1]
    bad = beat_out("Leo follows her, carrying a lantern.")
    engines.scripted.enqueue(bad, bad, bad)
    take = runner.run(pid, Stage.BEATS, action=RewriteBeat(beat_id=target.id)).takes[0]
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
    result = runner.run(pid, Stage.BEATS, action=RewriteBeat(beat_id=target.id), guidance="more light")
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
