"""Stage 4's plan: scenes that retell another's passage are written once, and the scenes follow
the beats they tell (the real model's salt crown plan at 7cba731, replayed by code)."""

from __future__ import annotations

import json
from pathlib import Path

from aiuteur.domain import BeatSheet, Script, Stage, Treatment
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.script import ScriptPlanDraft, in_material_order, without_retold_scenes
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import (
    IDEA,
    beats_out,
    plan_out,
    project_with_input,
    scene_out,
    treatment_out,
)

REPO = Path(__file__).resolve().parents[2]


def _salt_crown() -> tuple[ScriptPlanDraft, list[str]]:
    """The plan as the saved run wrote it (each scene's heading, synopsis and cast), and its beats."""
    run = json.loads((REPO / "evals/runs/offline-7cba731-mapmaker-three-tier-salt.json").read_text(encoding="utf-8"))
    story = next(s for s in run["stories"] if s["slug"] == "the-salt-crown")
    names = ["Oriel", "Brannock", "Vessaly"]
    scenes = [{"int_ext": sc["int_ext"], "location": sc["location"], "time_of_day": sc["time_of_day"],
               "summary": sc["synopsis"][:400], "cast": [n for n in names if n in sc["synopsis"]]}
              for sc in story["artifacts"]["script"]["scenes"]]
    plan = ScriptPlanDraft.model_validate({"title": "The Salt Crown", "scenes": scenes,
                                           "characters": [{"name": n, "look": ""} for n in names]})
    return plan, [b["summary"] for b in story["artifacts"]["beats"]["beats"]]


def test_scenes_that_retell_one_passage_are_written_once() -> None:
    plan, _ = _salt_crown()
    kept, dropped = without_retold_scenes(plan)
    walks = [s for s in kept.scenes if "sugared cake" in s.summary]
    assert len(walks) == 1 and walks[0].location == "HESSOCK MINE"  # scenes 1, 4 and 5 told it; the first stays
    assert dropped[:2] == ["scene 4 (EXT. HESSOCK MINE - DUSK, which retells scene 1)",
                           "scene 5 (INT. WHITE TUNNELS - DUSK, which retells scene 1)"]
    assert len(kept.scenes) == len(plan.scenes) - len(dropped)
    assert "Brannock" in walks[0].cast
    # Scenes about other things, even at one place, all stay.
    other = ScriptPlanDraft.model_validate(plan_out(3))
    assert without_retold_scenes(other) == (other, [])


def test_the_scenes_follow_the_beats_they_tell() -> None:
    plan, beats = _salt_crown()
    plan, _ = without_retold_scenes(plan)
    ordered, order = in_material_order(plan, beats)
    summaries = [s.summary for s in ordered.scenes]
    crowned = next(i for i, s in enumerate(summaries) if s.startswith("At once the salt climbs down"))
    plea = next(i for i, s in enumerate(summaries) if "talking one" in s)
    assert plea < crowned, [s[:40] for s in summaries]
    assert order and order[0] != "2"
    assert sorted(order, key=int) == [str(i) for i in range(1, len(plan.scenes) + 1)]  # every scene kept
    # A plan already in the beats' order, or one no beat clearly tells, is left as it is.
    assert in_material_order(ordered, beats) == (ordered, [])
    lamp = ScriptPlanDraft.model_validate(plan_out(3))
    assert in_material_order(lamp, ["The storm.", "The lamp.", "The ships."]) == (lamp, [])


def test_through_the_stage_the_plan_note_says_what_code_changed(runner: Runner, engines: FakeEngines) -> None:
    """Beats telling the tower, the lamp, then the beach: a plan giving the beach first, and the
    tower twice, is written in the beats' order, once each, and its take says so."""
    pid = project_with_input(runner, IDEA)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": 0}))
    told = ["Martha and Leo fight the wind along the harbour wall to reach the lighthouse tower.",
            "Martha relights the great lamp in the lamp room while Leo holds the lantern steady.",
            "At dawn Leo watches the fishing ships come home to the beach."]
    engines.scripted.enqueue(beats_out())
    assert runner.run(pid, Stage.BEATS).ok
    sheet = BeatSheet.model_validate(runner.view(pid).data(Stage.BEATS))
    beats = [b.model_copy(update={"summary": s}) for b, s in zip(sheet.beats, told, strict=False)]
    runner.save(pid, Stage.BEATS, sheet.model_copy(update={"beats": beats}))
    plan = plan_out(3)
    wall, lamp, beach = plan["scenes"]
    beach["summary"] = "Leo watches the fishing ships come home to the beach at dawn."
    wall["summary"] = "Martha and Leo fight the wind on the harbour wall to reach the lighthouse tower."
    again = dict(wall, location="Harbour steps", summary="Leo and Martha fight the wind to reach the lighthouse tower.")
    plan["scenes"] = [beach, wall, again, lamp]
    engines.scripted.enqueue(plan, scene_out(1), scene_out(2), scene_out(3, ("LEO",)))
    result = runner.run(pid, Stage.SCRIPT)
    assert result.ok, result.errors
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    assert [s.location for s in script.scenes] == ["HARBOUR WALL", "LAMP ROOM", "BEACH"]
    note = result.takes[0].note
    assert "code dropped scene 3 (EXT. HARBOUR STEPS - NIGHT, which retells scene 2)" in note, note
    assert "so code put them in its order (planned scenes 2, 3, 1)" in note, note
