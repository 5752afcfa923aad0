"""Stage 4: everyone who speaks in the story speaks in the written script. A story speaker no scene
gave a line to says their own lines of the story in the scene that tells them, and the take says so."""

from __future__ import annotations

import json
from pathlib import Path

from aiuteur.domain import ElementKind, InputMode, Scene, Script, ScriptElement, SourceText, Stage, StoryInput
from aiuteur.evals import metrics
from aiuteur.evals.corpus import load_corpus
from aiuteur.evals.mending import remend
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.script import heard_story_speakers
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import project_with_input

REPO = Path(__file__).resolve().parents[2]

HARBOUR = StoryInput(mode=InputMode.SKIP_TO_STAGE4, sources=[SourceText(text=(
    "Martha keeps the lighthouse on the harbour wall with her grandson Leo. Old Abel Crane mends nets in the "
    "boathouse below.\n\n"
    "One stormy night the lamp went out.\n\n"
    '"We must climb," said Martha.\n\n'
    "Down in the boathouse, Abel Crane put down his needle and watched the dark tower through the window.\n\n"
    '"That lamp has not failed in forty years," said Abel. "Somebody is climbing to it."\n\n'
    "At the top of the tower Martha relit the lamp and the light swept the black water."))])


def _plan() -> dict[str, object]:
    return {"title": "The Lamp", "characters": [
        {"name": "Martha", "look": "A woman of 70 in a yellow oilskin."},
        {"name": "Leo", "look": "A boy of ten in a red jumper."},
        {"name": "Old Abel Crane", "look": "A net-mender in a brown smock."}], "scenes": [
        {"int_ext": "EXT", "location": "Harbour wall", "time_of_day": "NIGHT",
         "summary": "Martha and Leo see the lamp go out.", "cast": ["Martha", "Leo"]},
        {"int_ext": "INT", "location": "Boathouse", "time_of_day": "NIGHT",
         "summary": "In the boathouse the needle is put down and the dark tower watched through the window.",
         "cast": ["Leo"]},
        {"int_ext": "INT", "location": "Lamp room", "time_of_day": "NIGHT",
         "summary": "Martha relights the lamp at the top of the tower.", "cast": ["Martha", "Leo"]}]}


def _scene(action: str, *lines: tuple[str, str]) -> dict[str, object]:
    return {"elements": [{"kind": "action", "text": action},
                         *({"kind": "dialogue", "speaker": who, "parenthetical": "", "text": text} for who, text in lines)]}


def test_a_story_speaker_no_scene_heard_says_their_own_lines_where_the_story_tells_them(
        runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner, HARBOUR)
    engines.scripted.enqueue(
        _plan(),
        _scene("Wind howls along the harbour wall. Martha points at the dark tower.", ("MARTHA", "We must climb.")),
        _scene("Inside the boathouse, a needle lies on a heap of nets. Through the window the dark tower stands "
               "against the storm.", ("LEO", "Somebody is climbing to it.")),
        _scene("At the top of the tower Martha relights the lamp; the light sweeps the black water."))
    result = runner.run(pid, Stage.SCRIPT)
    assert result.ok, result.errors
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    said = [[(e.character, e.text) for e in s.elements if e.kind == ElementKind.DIALOGUE] for s in script.scenes]
    # Abel's lines go to the boathouse scene, which tells his paragraph, after the action line that
    # matches it (Leo's copy of one of them went: it is Abel's, and Abel was not cast there).
    assert said[1] == [("OLD ABEL CRANE", "That lamp has not failed in forty years."),
                       ("OLD ABEL CRANE", "Somebody is climbing to it.")], said
    boathouse = [e.kind.value for e in script.scenes[1].elements if e.kind != ElementKind.SYNOPSIS]
    assert boathouse[:3] == ["action", "dialogue", "dialogue"], boathouse
    assert said[0] == [("MARTHA", "We must climb.")] and said[2] == []  # no line said twice
    notes = " ".join(t.note for t in result.takes)
    assert "OLD ABEL CRANE speaks in the story but nowhere in the script (a story speaker nobody heard), so scene 2 " \
           "gives them 2 lines of their own from the story; OLD ABEL CRANE joins the scene." in notes


def test_nobody_is_given_a_line_when_everyone_already_speaks_or_the_line_is_said() -> None:
    def scene(*elements: ScriptElement) -> Scene:
        return Scene(number="1", heading="INT. BOATHOUSE - NIGHT", location="BOATHOUSE", elements=list(elements))

    text = HARBOUR.sources[0].text
    names = ["Martha", "Leo", "Abel Crane"]
    heard = [scene(ScriptElement(kind=ElementKind.DIALOGUE, character="MARTHA", text="We must climb."),
                   ScriptElement(kind=ElementKind.DIALOGUE, character="ABEL", text="Forty years, and never out."))]
    assert heard_story_speakers(heard, text, names) == (heard, [])  # "ABEL" is Abel Crane
    taken = [scene(ScriptElement(kind=ElementKind.DIALOGUE, character="MARTHA", text="We must climb."),
                   ScriptElement(kind=ElementKind.DIALOGUE, character="LEO",
                                 text="That lamp has not failed in forty years! Somebody is climbing to it."))]
    assert heard_story_speakers(taken, text, names) == (taken, [])  # never a line twice, even to its owner


def test_the_saved_real_mapmaker_script_re_mended_lets_ozias_speak() -> None:
    """The real run at 7cba731: Master Ozias Fell speaks in the story but not in the script (his
    scenes' passages never held his lines). Re-mended, he says his own lines in scene 4, where the
    map shop scene tells his paragraph, and everyone of the story speaks."""
    run = json.loads((REPO / "evals/runs/offline-7cba731-mapmaker-three-tier-salt.json").read_text(encoding="utf-8"))
    saved = run["stories"][0]["artifacts"]["script"]
    story = load_corpus(only=["the-mapmakers-apprentice"])[0]
    assert metrics.speakers(story.labels, saved)["missing"] == ["Ozias Fell"]
    mended, counts = remend(saved, story.text, [c.name for c in story.labels.characters])
    assert counts["story speakers nobody heard"] == 1
    now = metrics.speakers(story.labels, mended.model_dump(mode="json"))
    assert now["speaking"] == 3 and now["missing"] == []
    ozias = [(i, e.text) for i, s in enumerate(mended.scenes) for e in s.elements if e.character == "OZIAS FELL"]
    assert ozias == [(3, "You cannot."), (3, "To redraw a river you must walk all of it, source to sea, and measure "
                                               "every bend.")]
