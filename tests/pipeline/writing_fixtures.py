"""Inputs and scripted model outputs shared by the stage 2-4 tests."""

from __future__ import annotations

from typing import Any

from aiuteur.domain import Brief, InputMode, SourceRole, SourceText, Stage, StoryInput
from aiuteur.pipeline.runner import Runner
from tests.fakes import Several

RULES = ["All characters are eggs.", "The story is set in 1600s Europe."]

IDEA = StoryInput(
    mode=InputMode.EXPAND,
    sources=[
        SourceText(text="A lighthouse keeper and her grandson relight the lamp during a storm."),
        SourceText(role=SourceRole.CHARACTER_NOTES, name="notes", text="Martha is 70, stubborn; Leo is 10."),
    ],
    story_rules=RULES,
)

STORY = (
    "Ines keeps the ferry office at the end of the pier. Every night she waits for Tomas to bring the boat in. "
    "Tonight the storm breaks the radio and Ines cannot reach him. She lights the old signal lamp on the roof. "
    "Out on the water Tomas sees the light and turns the boat toward it. At dawn Ines and Tomas drink coffee "
    "on the wet pier. Tomas says the lamp saved him."
)

PROSE = [
    "Martha climbs the tower in the storm. Leo follows her with the lantern. Together they relight the lamp.",
    "Leo wakes to a dark tower. He finds Martha asleep at the desk. He relights the lamp alone and she smiles.",
    "A ship is lost at sea. On the shore, Martha and Leo argue about the lamp. At dawn they make peace.",
]


def treatment_out(prefix: str = "") -> Several:
    """The three treatment calls' answers (one call per angle)."""
    return Several({"title": f"{prefix}Title {i}", "logline": f"Logline {i}.", "prose": p} for i, p in enumerate(PROSE))


def variant_out(prose: str = "Martha and Leo build a new lamp from driftwood. The ships come home.") -> dict[str, Any]:
    return {"title": "Driftwood", "logline": "They build a lamp.", "prose": prose}


def beats_out(prose: str = PROSE[0]) -> dict[str, Any]:
    """One beat per part of the prose (its sentences, when there are few), as the beats call answers."""
    s = [x.strip() + "." for x in prose.split(".") if x.strip()]
    return {"beats": [{"title": f"Beat {i}", "summary": f"Summary {i}.", "place": "the harbour wall"}
                      for i, _ in enumerate(s)]}


def beat_out(passage: str) -> dict[str, Any]:
    """One rewritten beat, quoting its passage (the single-beat rewrite)."""
    return {"title": "The lantern", "summary": "Leo lifts the lantern high.", "source_passage": passage}


def plan_out(n: int = 2) -> dict[str, Any]:
    scenes = [
        {"int_ext": "EXT", "location": "Harbour wall", "time_of_day": "NIGHT",
         "summary": "Martha and Leo fight the wind to reach the tower.", "cast": ["Martha", "Leo"]},
        {"int_ext": "INT", "location": "Lamp room", "time_of_day": "NIGHT",
         "summary": "Martha relights the lamp while Leo holds the lantern.", "cast": ["Martha", "Leo"]},
        {"int_ext": "EXT", "location": "Beach", "time_of_day": "DAWN",
         "summary": "Leo watches the ships come home.", "cast": ["Leo"]},
    ]
    return {"title": "The Lamp", "characters": [
        {"name": "Martha", "look": "A 70-year-old egg in a yellow oilskin coat."},
        {"name": "Leo", "look": "A small egg of ten in a red knitted jumper."},
    ], "scenes": scenes[:n]}


def scene_out(i: int = 1, speakers: tuple[str, ...] = ("MARTHA", "LEO")) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [
        {"kind": "action", "text": f"Rain lashes the stone. Martha, a 70-year-old egg in a yellow oilskin, "
                                   f"drags Leo, in a red jumper, up the wet steps. (scene {i})"},
    ]
    for n, sp in enumerate(speakers):
        elements.append({"kind": "dialogue", "speaker": sp, "parenthetical": "shouting" if n == 0 else "",
                         "text": f"Line {n} of scene {i}, hold on!"})
    elements.append({"kind": "action", "text": "The lamp flickers, then blazes gold across the black water."})
    return {"elements": elements}


def project_with_input(runner: Runner, story: StoryInput = IDEA) -> str:
    pid = runner.create_project("Lamp").id
    runner.save(pid, Stage.INPUT, story)
    return pid


def brief_only() -> StoryInput:
    return StoryInput(brief=Brief(plot="Two eggs relight a lighthouse.", story_rules="Nobody cracks."),
                      story_rules=RULES)
