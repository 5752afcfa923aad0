"""Stage 4's mending of written scenes, applied again to the scripts saved in eval runs.

A saved run keeps the master script as the code of its day left it. This reads each saved scene
back as the model's typed elements and runs today's code over it, in the order a run does
(`without_prompt_labels` with today's scene prompt, `script.mend_scene`: speech written as action,
formula sentences; then `to_elements`,
`not_said_before`, `only_action_here` and `without_synopsis_copy`; a plan's repeated scenes first, `without_repeated_scenes`;
after every scene, `heard_story_speakers`), so
a rule is measured on every script the real model has written: what it changes, and what the
loop metrics say before and after. The plan's casts are not saved: a scene's cast is read as who
speaks in it and whom its action names (among the story's labelled characters and the script's
speakers).

    python -m aiuteur.evals.mending evals/runs/*.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from aiuteur.domain import IntExt, Scene, Script
from aiuteur.domain.names import name_key, named_in
from aiuteur.evals import metrics
from aiuteur.evals.corpus import CORPUS_DIR, load_corpus
from aiuteur.pipeline.script import (
    ActionLine,
    DialogueLine,
    SceneDraft,
    ScenePlanDraft,
    ScriptPlanDraft,
    TransitionLine,
    _spoken,
    cues_as_dialogue,
    heard_story_speakers,
    not_said_before,
    only_action_here,
    to_elements,
    without_formula_copies,
    without_prompt_labels,
    without_repeated_scenes,
    without_synopsis_copy,
)
from aiuteur.pipeline.writing import default_templates

Data = dict[str, Any]
RULES = ("repeated scenes", "prompt labels", "speech as action made dialogue", "speech as action of someone absent",
         "summary copies", "formula sentences", "only action kept where needed", "story speakers nobody heard")


def scene_draft(scene: Data) -> SceneDraft:
    """A saved scene's elements as the typed elements a scene call returns (a parenthetical joins its line)."""
    out: list[Any] = []
    paren = ""
    for e in scene.get("elements") or []:
        kind, text = e.get("kind"), str(e.get("text") or "")
        if kind == "action":
            out.append(ActionLine(kind="action", text=text[:700] or "."))
        elif kind == "parenthetical":
            paren = text.strip("()")
        elif kind == "dialogue":
            speaker = str(e.get("character") or "SOMEONE")
            if e.get("extension"):
                speaker = f"{speaker} ({e['extension']})"
            out.append(DialogueLine.model_construct(kind="dialogue", speaker=speaker, parenthetical=paren, text=text))
            paren = ""
        elif kind == "transition" and text in ("CUT TO:", "DISSOLVE TO:", "SMASH CUT TO:", "MATCH CUT TO:", "FADE OUT."):
            out.append(TransitionLine(kind="transition", text=text))
    return SceneDraft.model_construct(elements=out)


def _plan(scenes: list[Data]) -> ScriptPlanDraft:
    return ScriptPlanDraft.model_construct(title="", characters=[], scenes=[
        ScenePlanDraft.model_construct(int_ext=s.get("int_ext") or "INT", location=s.get("location") or "SOMEWHERE",
                                       time_of_day=s.get("time_of_day") or "DAY", summary=s.get("synopsis") or "",
                                       cast=[]) for s in scenes])


def remend(script: Data, story: str = "", names: list[str] | None = None) -> tuple[Script, Counter[str]]:
    """The saved script as today's code would leave it, and how many times each rule changed it."""
    counts: Counter[str] = Counter({r: 0 for r in RULES})
    saved = list(script.get("scenes") or [])
    plan, dropped = without_repeated_scenes(_plan(saved))
    counts["repeated scenes"] += len(dropped)
    keep = [i for i, s in enumerate(saved) if not any(d.startswith(f"scene {i + 1} ") for d in dropped)]
    prompt = "\n".join(default_templates(f"script/{role}").text for role in ("scene_system", "scene_user"))
    speakers = [str(e["character"]) for s in saved for e in s.get("elements") or [] if e.get("character")]
    people = list(dict.fromkeys([*(names or []), *speakers]))
    scenes: list[Scene] = []
    for i in keep:
        s = saved[i]
        draft, labels = without_prompt_labels(scene_draft(s), prompt)
        counts["prompt labels"] += sum(1 for e in scene_draft(s).elements if isinstance(e, ActionLine)
                                       and any(e.text.startswith(f"{label}:") for label in labels))
        narration = " ".join(line for e in draft.elements if isinstance(e, ActionLine)
                             for line in e.text.split("\n") if not _spoken(line.strip()))
        cast = list(dict.fromkeys([*(e.speaker for e in draft.elements if isinstance(e, DialogueLine)),
                                   *named_in(narration, people)]))
        draft, made, gone = cues_as_dialogue(draft, cast, people)
        counts["speech as action made dialogue"] += len(made)
        counts["speech as action of someone absent"] += len(gone)
        draft, formulas = without_formula_copies(draft, people)
        counts["formula sentences"] += len(formulas)
        heading = str(s.get("heading") or "")
        elements = not_said_before(to_elements(draft, heading, cast), scenes, story)
        elements, scenes, shared = only_action_here(elements, scenes, str(s.get("synopsis") or ""))
        counts["only action kept where needed"] += bool(shared)
        elements, copied = without_synopsis_copy(elements, str(s.get("synopsis") or ""))
        counts["summary copies"] += copied
        scenes.append(Scene(number=str(len(scenes) + 1), heading=heading, int_ext=IntExt(s.get("int_ext") or "INT"),
                            location=str(s.get("location") or ""), time_of_day=str(s.get("time_of_day") or ""),
                            synopsis=str(s.get("synopsis") or ""), elements=elements))
    assert len(plan.scenes) == len(scenes)
    once: dict[str, str] = {}
    for p in people:  # a labelled name and its cue ("Wren Halloway", "WREN HALLOWAY") are one person
        once.setdefault(name_key(p), p)
    scenes, heard = heard_story_speakers(scenes, story, list(once.values()))
    counts["story speakers nobody heard"] += len(heard)
    return Script(title=str(script.get("title") or ""), scenes=scenes), counts


def script_loops(script: Data, story: str = "") -> Data:
    """The eval's loop metrics of a script, as the harness counts them (`harness.measure`)."""
    scenes = metrics.scenes_of(script)
    actions = [str(e.get("text") or "") for s in scenes for e in metrics.elements(s, "action")]
    wholes = [" ".join(str(e.get("text") or "") for e in metrics.elements(s, "action")) for s in scenes]
    return {"script": metrics.loops(actions, wholes=wholes), "dialogue": metrics.dialogue_loops(scenes, story)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    corpus = {c.slug: c for c in load_corpus(CORPUS_DIR)}
    total: Counter[str] = Counter()
    for path in args.runs:
        for row in json.loads(path.read_text(encoding="utf-8")).get("stories") or []:
            saved = (row.get("artifacts") or {}).get("script")
            if not saved:
                continue
            c = corpus.get(str(row.get("slug")))
            story = c.text if c else ""
            names = [ch.name for ch in (c.labels.characters if c else [])]
            mended, counts = remend(saved, story, names)
            before, after = script_loops(saved, story), script_loops(mended.model_dump(mode="json"), story)
            heard = ""
            if c is not None:
                was, now = metrics.speakers(c.labels, saved), metrics.speakers(c.labels, mended.model_dump(mode="json"))
                heard = f", speakers {was['speaking']}->{now['speaking']} of {now['labelled']}"
            total.update(counts)
            print(f"{path.name} {row.get('slug')}: " + ", ".join(f"{r} {counts[r]}" for r in RULES)
                  + f"; action loops {before['script']['looping']}->{after['script']['looping']}, repeated lines "
                  f"{before['script']['repeated_lines']}->{after['script']['repeated_lines']}, dialogue repeats "
                  f"{before['dialogue']['repeated_lines']}->{after['dialogue']['repeated_lines']}{heard}")
    print("all: " + ", ".join(f"{r} {total[r]}" for r in RULES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
