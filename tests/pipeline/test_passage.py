"""Highlight a passage, give an instruction: only that passage changes; every other byte stays."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiuteur.domain import InputError, Stage
from aiuteur.pipeline import passage
from aiuteur.pipeline.prompts import all_templates, load_template
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.script_tab import selected_span
from tests.fakes import FakeEngines, ScriptedText

FOUNTAIN = """Title: The Egg Thief

INT. KITCHEN - NIGHT

A small kitchen lit by one yellow bulb. MARA (30s, red raincoat) opens the fridge.

MARA
Just one egg. Nobody will notice.

She lifts a white egg 🥚 and holds it to the light.
"""


def test_rewriting_a_passage_keeps_the_rest_byte_identical() -> None:
    text = ScriptedText()
    text.enqueue({"text": "MARA\n(whispering)\nOne egg. Only one. Forgive me."})
    old = "MARA\nJust one egg. Nobody will notice."
    start = FOUNTAIN.index(old)
    out = passage.rewrite_passage(FOUNTAIN, start, start + len(old), "make her guilty", text,
                                  stage=Stage.SCRIPT, seed=3, rules=["all characters are eggs"])
    assert out.text[:start] == FOUNTAIN[:start]
    assert out.text[out.end:] == FOUNTAIN[start + len(old):]
    assert out.text[out.start:out.end] == "MARA\n(whispering)\nOne egg. Only one. Forgive me."
    # the model saw the passage, the instruction, the context and the story rules
    prompt = "\n".join(m["content"] for m in text.calls[0]["messages"])
    assert "make her guilty" in prompt and "INT. KITCHEN - NIGHT" in prompt and "all characters are eggs" in prompt
    assert out.take.template.startswith("passage/system.v1") and out.take.ok and out.take.seed == 3


def test_the_passage_keeps_its_own_surrounding_whitespace() -> None:
    text = ScriptedText()
    text.enqueue({"text": "  She drops the egg.  \n"})
    old = "\nShe lifts a white egg 🥚 and holds it to the light.\n"
    start = FOUNTAIN.index(old)
    out = passage.rewrite_passage(FOUNTAIN, start, start + len(old), "clumsier", text, stage=Stage.SCRIPT, seed=0)
    assert out.text == FOUNTAIN[:start] + "\nShe drops the egg.\n"


@given(st.text(min_size=1, max_size=60), st.integers(0, 59), st.integers(1, 60), st.text(min_size=1, max_size=20))
def test_splice_never_touches_outside_the_span(base: str, a: int, b: int, new: str) -> None:
    start, end = sorted((min(a, len(base)), min(b, len(base))))
    if start == end:
        return
    out, s, e = passage.splice(base, start, end, new)
    assert out[:start] == base[:start] and out[e:] == base[end:] and s == start


def test_refusals_are_one_plain_sentence() -> None:
    text = ScriptedText()
    with pytest.raises(InputError, match="Highlight a passage"):
        passage.rewrite_passage(FOUNTAIN, 5, 5, "x", text, stage=Stage.SCRIPT, seed=0)
    with pytest.raises(InputError, match="Say how to change"):
        passage.rewrite_passage(FOUNTAIN, 0, 5, "  ", text, stage=Stage.SCRIPT, seed=0)
    with pytest.raises(InputError, match="only blank space"):
        passage.rewrite_passage(FOUNTAIN, FOUNTAIN.index("\n\n"), FOUNTAIN.index("\n\n") + 2, "x", text,
                                stage=Stage.SCRIPT, seed=0)
    assert text.calls == []


def test_rewrite_in_project_uses_the_projects_rules_and_engine(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.domain import StoryInput

    pid = runner.create_project("Eggs").id
    runner.save(pid, Stage.INPUT, StoryInput(story_rules=["all characters are eggs"]))
    engines.scripted.enqueue({"text": "A new line."})
    start = FOUNTAIN.index("A small")
    out = runner.rewrite_passage(pid, Stage.TREATMENT, FOUNTAIN, start, start + 10, "shorter")
    assert out.text.startswith(FOUNTAIN[:start] + "A new line.")
    assert "all characters are eggs" in engines.scripted.calls[0]["messages"][0]["content"]
    assert "prose treatment" in engines.scripted.calls[0]["messages"][0]["content"]



def test_a_passage_rewrite_is_a_take_in_the_stage_history(runner: Runner, engines: FakeEngines) -> None:
    """The rewrite runs through the runner like any stage action: its take (prompt, model, seed, old
    and new passage) is kept in the stage's history, and a failed call is a failed take that says why;
    the saved artifact is not changed (the filmmaker saves the editor)."""
    from aiuteur.domain import StoryInput

    pid = runner.create_project("Eggs").id
    runner.save(pid, Stage.INPUT, StoryInput(story_rules=["all characters are eggs"]))
    engines.scripted.enqueue({"text": "A new line."})
    start = FOUNTAIN.index("A small")
    out = runner.rewrite_passage(pid, Stage.TREATMENT, FOUNTAIN, start, start + 10, "shorter", seed=7)
    takes = runner.takes(pid, Stage.TREATMENT)
    assert [t.id for t in takes] == [out.take.id]
    kept = takes[0]
    assert kept.ok and kept.purpose == "passage" and kept.target == "passage" and kept.seed == 7
    assert kept.template.startswith("passage/system.v1") and kept.model_id
    assert kept.output == {"passage": FOUNTAIN[start:start + 10], "text": "A new line."}
    assert runner.view(pid).data(Stage.TREATMENT) is None  # nothing saved over the artifact
    from aiuteur.engines.base import EngineError

    engines.scripted.enqueue(EngineError("the model server went away"))
    with pytest.raises(InputError, match="went away"):
        runner.rewrite_passage(pid, Stage.TREATMENT, FOUNTAIN, start, start + 10, "shorter")
    failed = runner.takes(pid, Stage.TREATMENT)
    assert len(failed) == 2 and [t.ok for t in failed].count(False) == 1
    assert "went away" in next(t.error for t in failed if not t.ok)


def test_the_templates_use_exactly_the_declared_variables() -> None:
    on_disk = [t for t in all_templates() if t.startswith("passage/")]
    assert sorted(on_disk) == sorted(passage.VARIABLES)
    for role in on_disk:
        assert load_template(role).variables == passage.VARIABLES[role]


def test_a_browser_selection_maps_to_python_indexes() -> None:
    egg = FOUNTAIN.index("and holds")
    # the browser counts the emoji as two UTF-16 units, so its offsets are one further on
    assert selected_span(FOUNTAIN, [egg + 1, egg + 10], "and holds") == (egg, egg + 9)
    assert selected_span(FOUNTAIN, [0, 6], "Title:") == (0, 6)
    assert selected_span(FOUNTAIN, None, "x") is None
