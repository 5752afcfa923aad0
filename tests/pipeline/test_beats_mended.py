"""Stage 3 mends the model's beat sheet in code: a beat that retells an earlier one is dropped, and
each beat is set where the story itself puts what it tells; the take's note says what changed."""

from __future__ import annotations

import json
from pathlib import Path

from aiuteur.domain import BeatSheet, SourceText, Stage, StoryInput, Treatment, TreatmentVariant
from aiuteur.evals.beat_mending import prose_of, remend
from aiuteur.evals.corpus import CORPUS_DIR, load_corpus
from aiuteur.pipeline.actions import RewriteBeat
from aiuteur.pipeline.runner import Runner
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import RULES, project_with_input

#: Seven sentences, one paragraph each: the first names no place, then the pier, the roof, the wet pier.
FERRY = "\n\n".join([
    "Every winter the storms come in from the west.",
    "Ines keeps the ferry office at the end of the pier.",
    "Tonight the storm breaks the radio and Ines cannot reach Tomas.",
    "She lights the old signal lamp on the roof.",
    "Out on the water Tomas sees the light and turns the boat toward it.",
    "At dawn Ines and Tomas drink coffee on the wet pier.",
    "Tomas says the lamp saved him.",
])
#: (summary, place) the fake model answers for each part: beat 5 tells beat 4 again, beat 4 is set far away.
ANSWER = [
    ("Storms come every winter from the west.", "the coast"),
    ("Ines keeps the ferry office at the end of the pier.", "the pier"),
    ("The storm breaks the radio and Ines cannot reach Tomas.", "the pier"),
    ("Ines lights the old signal lamp on the roof of the office.", "Lisbon"),
    ("Ines lights the old signal lamp on the roof.", "the roof"),
    ("At dawn Ines and Tomas drink coffee on the wet pier.", "the wet pier"),
    ("Tomas says the lamp saved him.", "the wet pier"),
]


def _ferry(runner: Runner, engines: FakeEngines, answer: list[tuple[str, str]] = ANSWER) -> tuple[str, Runner]:
    pid = project_with_input(runner, StoryInput(sources=[SourceText(text=FERRY)], story_rules=RULES))
    runner.save(pid, Stage.TREATMENT, Treatment(variants=[TreatmentVariant(title="Ferry", logline="L.", prose=FERRY)] * 3,
                                                chosen=0))
    engines.scripted.enqueue({"beats": [{"title": f"Beat {i}", "summary": s, "place": p}
                                        for i, (s, p) in enumerate(answer, start=1)]})
    return pid, runner


def test_a_retold_beat_is_dropped_and_a_misplaced_one_set_where_the_story_puts_it(runner: Runner,
                                                                                  engines: FakeEngines) -> None:
    pid, _ = _ferry(runner, engines)
    result = runner.run(pid, Stage.BEATS)
    take = result.takes[0]
    assert take.ok and len(engines.scripted.calls) == 1  # mended in code, never re-asked
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert [b.title for b in sheet.beats] == ["Beat 1", "Beat 2", "Beat 3", "Beat 4", "Beat 6", "Beat 7"]
    # the beat before the dropped one tells its passage too: the sheet still covers the whole treatment
    assert " ".join(sheet.beats[3].source_passage.split()) == (
        "She lights the old signal lamp on the roof. Out on the water Tomas sees the light and turns the boat toward it.")
    assert " ".join(b.source_passage for b in sheet.beats).split() == FERRY.split()
    # the story puts the lamp on the roof; where the story names no place, the model's place stays
    assert [b.place for b in sheet.beats] == ["the coast", "the pier", "the pier", "the roof", "the wet pier",
                                              "the wet pier"]
    assert "dropped beat 5 (Beat 5, which retells beat 4)" in take.note
    assert "set beat 4 at the roof (not Lisbon)" in take.note


def test_never_fewer_than_two_beats(runner: Runner, engines: FakeEngines) -> None:
    same = ("Ines lights the old signal lamp on the roof.", "the roof")
    pid, _ = _ferry(runner, engines, [same] * 7)
    take = runner.run(pid, Stage.BEATS).takes[0]
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert take.ok and len(sheet.beats) == 7 and "dropped" not in take.note


def test_a_beat_the_user_rewrote_is_never_dropped(runner: Runner, engines: FakeEngines) -> None:
    pid, _ = _ferry(runner, engines)
    runner.run(pid, Stage.BEATS)
    before = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    engines.scripted.enqueue({"title": "Again", "summary": before.beats[1].summary,
                              "source_passage": "Tomas says the lamp saved him."})
    take = runner.run(pid, Stage.BEATS, action=RewriteBeat(beat_id=before.beats[-1].id)).takes[0]
    after = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    assert take.ok and len(after.beats) == len(before.beats) and after.beats[-1].title == "Again"


def test_the_saved_three_tier_and_mapmaker_beat_sheets() -> None:
    run = json.loads(Path("evals/runs/offline-7cba731-mapmaker-three-tier-salt.json").read_text(encoding="utf-8"))
    corpus = {c.slug: c for c in load_corpus(CORPUS_DIR)}
    got = {}
    for row in run["stories"]:
        artifacts = row["artifacts"]
        got[row["slug"]] = remend(artifacts["beats"], prose_of(artifacts["treatment"]), corpus[row["slug"]].text)
    sheet, dropped, _ = got["three-tier-disaster"]
    assert [d.split(" (")[0] for d in dropped] == ["beat 6", "beat 7"] and "retells beat 3" in dropped[0]
    assert sum("ring Road to the wedding reception hall" in b.summary for b in sheet.beats) == 1
    sheet, dropped, moved = got["the-mapmakers-apprentice"]
    assert len(sheet.beats) == 5 and sum("took it out of the water" in b.summary for b in sheet.beats) == 0
    assert any(b.place == "the reed marsh" for b in sheet.beats) and moved
    sheet, _, moved = got["the-salt-crown"]
    assert "town square" not in [b.place for b in sheet.beats]
