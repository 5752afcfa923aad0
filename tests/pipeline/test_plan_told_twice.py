"""Stage 4's plan after code's own scenes: a part of the story told by two scenes is told once, by
the scene set where the story puts it (three-tier-disaster at 72acc67 told the piping bag at
BAKERY KITCHEN and FLAT, and the van on the ring road again at the car park), while scenes at
places of the story, and scenes that only share words, all stay."""

from __future__ import annotations

import json
from pathlib import Path

from aiuteur.domain import InputMode, Script, SourceText, Stage, StoryInput
from aiuteur.domain.names import named_in
from aiuteur.evals.corpus import CORPUS_DIR, load_corpus
from aiuteur.pipeline.places import story_places
from aiuteur.pipeline.roster import story_people
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.screen_words import same_place
from aiuteur.pipeline.script import ScriptPlanDraft, Writer, add_story_places, without_paragraphs_told_twice
from tests.fakes import FakeEngines, ScriptedText
from tests.pipeline.writing_fixtures import project_with_input, scene_out

REPO = Path(__file__).resolve().parents[2]

REGATTA = (
    "In the boathouse, Ingrid oiled the oars while Tomas mended the torn sail by lamplight.\n\n"
    "At the regatta tent, Ingrid pinned the race numbers to the canvas wall and Tomas counted the life jackets "
    "twice, muttering about the wind.\n\n"
    "On the river, Ingrid and Tomas rowed the old skiff past the judges and crossed the finish line last, laughing.")


def _plan(scenes: list[tuple[str, str, str]], names: list[str]) -> ScriptPlanDraft:
    return ScriptPlanDraft.model_validate({
        "title": "T", "characters": [{"name": n, "look": ""} for n in names],
        "scenes": [{"int_ext": ie, "location": loc, "time_of_day": "DAY", "summary": summary,
                    "cast": named_in(summary, names)} for ie, loc, summary in scenes]})


def _regatta_plan() -> dict[str, object]:
    """The model's plan: the regatta tent's paragraph told in the boathouse, where the story is not."""
    return {"title": "T", "characters": [{"name": "Ingrid", "look": "yellow oilskin"},
                                         {"name": "Tomas", "look": "flat cap"}],
            "scenes": [
                {"int_ext": "INT", "location": "BOATHOUSE", "time_of_day": "DAY",
                 "summary": "Ingrid oils the oars while Tomas mends the torn sail by lamplight.", "cast": ["Ingrid", "Tomas"]},
                {"int_ext": "INT", "location": "BOATHOUSE", "time_of_day": "DAY",
                 "summary": "Ingrid pins the race numbers to the canvas wall and Tomas counts the life jackets.",
                 "cast": ["Ingrid", "Tomas"]},
                {"int_ext": "EXT", "location": "RIVER", "time_of_day": "DAY",
                 "summary": "Ingrid and Tomas row the old skiff past the judges and cross the finish line last, laughing.",
                 "cast": ["Ingrid", "Tomas"]}]}


def test_the_writers_plan_tells_a_paragraph_once_where_the_story_puts_it() -> None:
    """The model's second boathouse scene tells the regatta tent's paragraph: code sets it at the
    regatta tent, where the story puts that paragraph (`add_story_places`; before, code added a
    tent scene from the story's paragraph and the told-twice check merged the boathouse one into it),
    and the note says so."""
    text = ScriptedText()
    text.enqueue(_regatta_plan())
    take, plan = Writer(text=text, story=StoryInput(sources=[SourceText(text=REGATTA)])).plan("THE MATERIAL", "x")
    assert plan is not None
    assert [s.location for s in plan.scenes] == ["BOATHOUSE", "REGATTA TENT", "RIVER"], take.note
    tent = plan.scenes[1]
    assert tent.summary.startswith("Ingrid pins the race numbers") and tent.int_ext == "INT"
    assert sorted(tent.cast) == ["Ingrid", "Tomas"]
    assert "so code set scene 2 at REGATTA TENT." in take.note, take.note


def test_through_the_stage_the_script_tells_the_regatta_tent_once(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner, StoryInput(mode=InputMode.SKIP_TO_STAGE4, sources=[SourceText(text=REGATTA)]))
    engines.scripted.enqueue(_regatta_plan(), *(scene_out(i, ("INGRID", "TOMAS")) for i in (1, 2, 3)))
    result = runner.run(pid, Stage.SCRIPT)
    assert result.ok, result.errors
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    assert [s.location for s in script.scenes] == ["BOATHOUSE", "REGATTA TENT", "RIVER"]
    assert "code set scene 2 at REGATTA TENT" in result.takes[0].note


def test_the_only_scene_at_a_place_stays_and_tells_what_happens_there() -> None:
    """A school hall scene retelling the bus stop: the hall is a place of the story and no other
    scene is set there, so the scene stays and tells the hall's own paragraph."""
    story = ("At the bus stop, Priya and her brother Dev waited in the rain with the cake tin between them, "
             "arguing about whose turn it was to carry it.\n\n"
             "In the school hall, the headmistress announced the bake-off winners, and Priya's lemon cake came "
             "last because Dev had sat on it.")
    plan = _plan([("EXT", "BUS STOP", "Priya and Dev wait in the rain with the cake tin between them, arguing about "
                                      "whose turn it is to carry it."),
                  ("INT", "SCHOOL HALL", "Priya and Dev wait in the rain with the cake tin, arguing whose turn "
                                         "it is to carry it.")], ["Priya", "Dev"])
    kept, merged = without_paragraphs_told_twice(plan, story)
    assert [s.location for s in kept.scenes] == ["BUS STOP", "SCHOOL HALL"]
    assert kept.scenes[1].summary.startswith("In the school hall, the headmistress announced the bake-off winners")
    assert sorted(kept.scenes[1].cast) == ["Dev", "Priya"]
    assert merged == ["what scene 2 (INT. SCHOOL HALL - DAY) retold into scene 1 (EXT. BUS STOP - DAY), and gave "
                      "scene 2 story paragraph 2, which the story sets there"]
    assert without_paragraphs_told_twice(kept, story) == (kept, [])  # once is enough


def test_scenes_that_share_words_but_tell_other_paragraphs_stay() -> None:
    """The piano loaded at the garage and unloaded at the church: the same people and things,
    two events at two places of the story."""
    story = ("In the garage, Otto and Mina loaded the old piano onto the trailer, straps creaking, while the "
             "neighbours watched from their windows.\n\n"
             "At the church, Otto and Mina unloaded the old piano from the trailer and wheeled it up the aisle "
             "while the choir watched from the stalls.")
    plan = _plan([("INT", "GARAGE", "Otto and Mina load the old piano onto the trailer while the neighbours watch."),
                  ("INT", "CHURCH", "Otto and Mina unload the old piano from the trailer and wheel it up the aisle "
                                    "while the choir watches.")], ["Otto", "Mina"])
    assert without_paragraphs_told_twice(plan, story) == (plan, [])
    assert without_paragraphs_told_twice(plan, "") == (plan, [])


def _saved_plans() -> list[tuple[str, str, ScriptPlanDraft, str]]:
    """Every saved run's script read back as its plan (headings, synopses as summaries, casts by name)."""
    corpus = {c.slug: c for c in load_corpus(CORPUS_DIR)}
    out = []
    for path in sorted((REPO / "evals/runs").glob("*.json")):
        for row in json.loads(path.read_text(encoding="utf-8")).get("stories") or []:
            saved = (row.get("artifacts") or {}).get("script")
            c = corpus.get(str(row.get("slug")))
            if not saved or c is None:
                continue
            names = [ch.name for ch in c.labels.characters]
            plan = _plan([(s["int_ext"], s["location"], s["synopsis"][:400]) for s in saved["scenes"]], names)
            out.append((path.name, c.slug, plan, c.text))
    return out


def test_on_the_saved_runs_the_story_s_places_all_keep_a_scene() -> None:
    """Measured on every saved script: three-tier at 72acc67 tells the van once, and its car park scene
    tells the car park (the cake landing on the bridesmaid);
    the wash bay's police yard and the salt crown's plea (which share words with other scenes) stay;
    no story place loses its last scene."""
    merged_in: dict[tuple[str, str], list[str]] = {}
    for run, slug, plan, text in _saved_plans():
        kept, merged = without_paragraphs_told_twice(plan, text)
        merged_in[run, slug] = merged
        people = [c.name for c in plan.characters] + [n for p in story_people(text) for n in (p.name, *p.forms)]
        for place in story_places(text, people):
            had = any(same_place(place.head, s.location) for s in plan.scenes)
            assert not had or any(same_place(place.head, s.location) for s in kept.scenes), (run, slug, place.head)
        if run == "offline-72acc67-corpus7.json" and slug == "three-tier-disaster":
            assert len(kept.scenes) == len(plan.scenes)  # the car park is a place of the story: it stays
            assert sum("kneeling on the floor" in s.summary for s in kept.scenes) == 1
            van = next(s for s in kept.scenes if "kneeling on the floor" in s.summary)
            assert van.location == "BACK OF THE VAN ON THE RING ROAD" and "licence" in van.summary
            park = next(s for s in kept.scenes if s.location.startswith("CAR PARK"))
            assert "The van stopped. The cake did not." in park.summary
    assert len(merged_in["offline-72acc67-corpus7.json", "three-tier-disaster"]) == 1
    assert merged_in["offline-72acc67-corpus7.json", "the-wash-bay"] == []  # the police yard stays
    assert merged_in["offline-72acc67-corpus7.json", "the-salt-crown"] == []  # the goat's plea stays


def test_three_tier_s_piping_bag_is_not_given_a_flat_of_its_own_again() -> None:
    """The piping bag's second scene at 72acc67 was code's: "Mr. Abiodun from the flat upstairs" read
    as a place where somebody is, so `add_story_places` set a scene at FLAT. "From" after a person
    is where he lives: the saved plan without that scene gets no FLAT back."""
    _, _, plan, text = next(p for p in _saved_plans()
                           if p[:2] == ("offline-72acc67-corpus7.json", "three-tier-disaster"))
    assert [s.location for s in plan.scenes].count("FLAT") == 1
    without = plan.model_copy(update={"scenes": [s for s in plan.scenes if s.location != "FLAT"]})
    placed, changed = add_story_places(without, text)
    assert "FLAT" not in [s.location for s in placed.scenes], changed
    assert sum("piping bag" in s.summary for s in placed.scenes) == 1
