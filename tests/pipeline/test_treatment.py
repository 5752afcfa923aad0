"""Stage 2: three treatments through the runner, with a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiuteur.domain import InputError, InputMode, SourceText, Stage, Status, StoryInput, Treatment
from aiuteur.engines.base import EngineError, TruncatedError
from aiuteur.pipeline.actions import RewriteVariant
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.treatment import (
    VariantDraft,
    copied_sentences,
    cut_copies,
    min_prose_words,
    named_characters,
    too_close,
)
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import (
    IDEA,
    PROSE,
    RULES,
    STORY,
    brief_only,
    project_with_input,
    treatment_out,
    variant_out,
)


def _prompt_text(take) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(m["content"] for m in take.prompt)


def test_treatment_makes_exactly_three_variants_and_records_the_call(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    result = runner.run(pid, Stage.TREATMENT, seed=5)
    assert result.ok
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert [v.prose for v in t.variants] == PROSE and t.chosen is None
    take = result.takes[0]
    assert take.purpose == "treatment" and take.seed == 5 and take.attempts == 1
    assert take.template.startswith("treatment/system.v2+treatment/user.v2") and take.template_hash.startswith("sha256:")
    assert take.engine == "scripted" and take.model_id == "scripted" and take.inputs_hash.startswith("sha256:")
    assert result.record is not None and result.record.take_id == take.id
    assert runner.view(pid).statuses[Stage.TREATMENT] == Status.DRAFT  # nothing chosen yet
    text = _prompt_text(take)
    assert all(r in text for r in RULES)
    assert "Martha is 70" in text  # tagged context sources are used too
    # Each treatment is written with the story as what not to copy (the engine's copy guard).
    guarded = [c["avoid_copying"] for c in engines.scripted.calls if c.get("schema") is not None]
    assert len(guarded) == 3 and all(len(g) == 1 and "Martha" in g[0] for g in guarded), guarded


def test_generation_schema_is_bounded() -> None:
    from aiuteur.engines.schema_bounds import check_bounded

    check_bounded(VariantDraft)  # one variant a call: three calls, one per angle


@pytest.mark.parametrize(("story", "expect"), [
    (IDEA, "Expand it into a complete short film"),
    (IDEA.model_copy(update={"mode": InputMode.CONDENSE}), "Condense it into a short film"),
    (IDEA.model_copy(update={"mode": InputMode.TRANSFORM, "transform_target": "a western"}), "Retell it as: a western"),
    (brief_only(), "only the filmmaker's brief"),
])
def test_each_input_mode_has_its_own_instruction(runner: Runner, engines: FakeEngines, story: StoryInput,
                                                 expect: str) -> None:
    pid = project_with_input(runner, story)
    engines.scripted.enqueue(treatment_out())
    take = runner.run(pid, Stage.TREATMENT).takes[0]
    assert take.ok and expect in _prompt_text(take)
    assert "Nobody cracks." in _prompt_text(take) or story is not brief_only()


def test_identical_variants_are_re_asked_with_the_reason(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    first = {"title": "A", "logline": "L.", "prose": PROSE[0]}
    engines.scripted.enqueue(first, first, *treatment_out()[1:])
    take = runner.run(pid, Stage.TREATMENT).takes[0]
    assert take.ok and take.attempts == 2 and not take.note
    assert len(engines.scripted.calls) == 4  # only the repeated treatment was asked again
    reask = engines.scripted.calls[2]["messages"][-1]["content"]
    assert "tell the same story" in reask and "treatment 1" in reask
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert [v.prose for v in t.variants] == PROSE and not any(v.weak for v in t.variants)


def test_a_treatment_with_another_ones_logline_is_re_asked_for_its_own(runner: Runner, engines: FakeEngines) -> None:
    """The real model's three ferry treatments came back with one logline shared by two (3216825):
    two different tellings under one label. The second is asked again, naming the first."""
    pid = project_with_input(runner)
    one, two, three = ({"title": f"T{i}", "logline": f"Logline {i}.", "prose": p} for i, p in enumerate(PROSE))
    engines.scripted.enqueue(one, {**two, "logline": "logline 0"}, two, three)
    take = runner.run(pid, Stage.TREATMENT).takes[0]
    assert take.ok and take.attempts == 2 and not take.note
    reask = engines.scripted.calls[2]["messages"][-1]["content"]
    assert "word for word the logline of treatment 1" in reask
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert [v.logline for v in t.variants] == ["Logline 0.", "Logline 1.", "Logline 2."]


def test_each_treatment_is_its_own_call_from_its_own_angle(runner: Runner, engines: FakeEngines) -> None:
    story = IDEA.model_copy(update={"sources": [SourceText(text=STORY)]})
    pid = project_with_input(runner, story)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    calls = engines.scripted.calls
    assert len(calls) == 3 and all(c["schema"] is VariantDraft for c in calls)
    asked = [c["messages"][-1]["content"] for c in calls]
    assert "Structure." in asked[0] and "through the eyes of Ines" in asked[1] and "Tone and atmosphere." in asked[2]
    assert len({a.split("THE ANGLE OF TREATMENT")[1] for a in asked}) == 3
    assert "Title 0" in asked[2] and "Title 1" in asked[2]  # later calls see the treatments before them
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert [v.angle for v in t.variants] == ["structure", "point of view: Ines", "tone and atmosphere"]


def test_a_treatment_copying_the_story_is_re_asked_then_kept_and_marked(runner: Runner, engines: FakeEngines) -> None:
    story = IDEA.model_copy(update={"sources": [SourceText(text=STORY)]})
    pid = project_with_input(runner, story)
    copied = {"title": "Copy", "logline": "Ines waits.", "prose": STORY}
    engines.scripted.enqueue(treatment_out()[0], copied, copied, copied, treatment_out()[2])
    result = runner.run(pid, Stage.TREATMENT)
    assert result.ok and result.record is not None  # the stage never ends with nothing
    take = result.takes[0]
    assert "word for word" in engines.scripted.calls[2]["messages"][-1]["content"]
    assert "Treatment 2 is weak" in take.note and "word for word" in take.note
    assert "Treatment 2 is weak" in result.notes[0]
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert t.variants[1].prose == STORY and "word for word" in t.variants[1].weak
    assert not t.variants[0].weak and not t.variants[2].weak
    # Every sentence is the story's: cutting all but one would leave 11 words, under the 18 a
    # treatment of this story needs, so code leaves it whole (weak, marked) and says why.
    assert "code left the copied sentences in: without them it would be 11 words, under the 18" in take.note


def test_a_failed_call_is_tried_again_for_that_treatment_only(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    out = treatment_out()
    engines.scripted.enqueue(out[0], TruncatedError("cut off"), out[1], out[2])
    take = runner.run(pid, Stage.TREATMENT).takes[0]
    assert take.ok and take.attempts == 2


def test_story_checks_find_copies_and_near_repeats() -> None:
    assert copied_sentences("Tomas rows out. " + STORY.split(". ")[0] + ".", STORY)
    assert not copied_sentences("Ines waits at the pier while the rain comes down hard.", STORY)
    assert too_close(PROSE[0], PROSE[0] + " The end.") and not too_close(PROSE[0], PROSE[1])
    assert named_characters(STORY)[:2] == ["Tomas", "Ines"]  # most named first


def test_regenerating_one_variant_keeps_the_other_two(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    before = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    runner.save(pid, Stage.TREATMENT, before.model_copy(update={"chosen": 0}))
    engines.scripted.enqueue(variant_out())
    result = runner.run(pid, Stage.TREATMENT, action=RewriteVariant(index=1), guidance="make it about driftwood")
    assert result.ok
    take = result.takes[0]
    assert take.target == "variant:1" and "make it about driftwood" in _prompt_text(take)
    assert all(r in _prompt_text(take) for r in RULES)
    after = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert after.variants[0] == before.variants[0] and after.variants[2] == before.variants[2]
    assert after.variants[1].title == "Driftwood" and after.chosen == 0
    assert after.variant_takes[1] == take.id


def test_a_rewritten_variant_that_repeats_another_is_re_asked(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    engines.scripted.enqueue(variant_out(PROSE[2]), variant_out())
    take = runner.run(pid, Stage.TREATMENT, action=RewriteVariant(index=0)).takes[0]
    assert take.ok and take.attempts == 2


@pytest.mark.parametrize("error", [EngineError("out of memory"), TruncatedError("cut off after 10 tokens")])
def test_engine_failure_gives_a_failed_take_and_keeps_saved_work(runner: Runner, engines: FakeEngines,
                                                                 error: Exception) -> None:
    pid = project_with_input(runner)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    saved = runner.view(pid).data(Stage.TREATMENT)
    tries = 3 if isinstance(error, TruncatedError) else 1  # a cut-off answer is tried again; out of memory is not
    engines.scripted.enqueue(*[error] * tries)
    result = runner.run(pid, Stage.TREATMENT)
    assert not result.ok and result.record is None
    assert str(error) in result.errors[0] and "treatments" in result.errors[0]
    assert result.takes[0].prompt  # the failed take still says what was asked
    assert runner.view(pid).data(Stage.TREATMENT) == saved
    engines.scripted.enqueue(*[error] * tries)
    assert not runner.run(pid, Stage.TREATMENT, action=RewriteVariant(index=2)).ok
    assert runner.view(pid).data(Stage.TREATMENT) == saved


def test_missing_inputs_say_what_to_add(runner: Runner) -> None:
    pid = project_with_input(runner, StoryInput(sources=[SourceText(text="   ")]))
    with pytest.raises(InputError, match=r"Add a story, an idea or a brief plot before writing a treatment\."):
        from aiuteur.pipeline.treatment import make_treatment
        from tests.fakes import ScriptedText

        make_treatment(StoryInput(), ScriptedText(), seed=0)
    with pytest.raises(InputError):
        runner.run(pid, Stage.TREATMENT)


def test_transform_without_a_target_asks_for_one(runner: Runner) -> None:
    pid = project_with_input(runner, IDEA.model_copy(update={"mode": InputMode.TRANSFORM}))
    with pytest.raises(InputError, match="transform the story into"):
        runner.run(pid, Stage.TREATMENT)


def test_a_project_override_is_used_and_recorded(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_input(runner)
    runner.set_prompt_override(pid, "treatment/system", "Write three. Rules: $story_rules")
    engines.scripted.enqueue(treatment_out())
    take = runner.run(pid, Stage.TREATMENT).takes[0]
    assert take.template.startswith("treatment/system.v2.override+")
    assert take.prompt[0]["content"].startswith("Write three. Rules: - All characters are eggs.")


def test_a_looping_treatment_is_re_asked_and_its_loop_never_saved() -> None:
    from aiuteur.pipeline.treatment import _variant
    from aiuteur.pipeline.writing import cut_loops

    loop = "The town is small and grey all year. Ines finds the tuba. " * 4 + "The town is small and gr"
    assert cut_loops(loop) == "The town is small and grey all year. Ines finds the tuba."
    assert cut_loops("One.\n\nTwo is here. Three") == "One.\n\nTwo is here."  # paragraphs stay; the cut end goes
    assert cut_loops("Go. Go. Go.") == "Go. Go. Go."  # short sentences may repeat
    with pytest.raises(ValueError, match="again and again"):
        VariantDraft.model_validate({"title": "T", "logline": "L", "prose": loop}, context={"story": "x"})
    saved = _variant(VariantDraft(title="T", logline="L", prose=loop))
    assert saved.prose == "The town is small and grey all year. Ines finds the tuba."


def test_a_headless_run_chooses_the_first_treatment_not_marked_weak() -> None:
    from aiuteur.pipeline.headless import DEFAULT_CHOICES

    choose = DEFAULT_CHOICES[Stage.TREATMENT]
    v = {"title": "T", "logline": "L", "prose": "P"}
    assert choose({"variants": [{**v, "weak": "loops"}, v, v]})["chosen"] == 1
    assert choose({"variants": [{**v, "weak": "x"}] * 3})["chosen"] == 0
    assert choose({"variants": [v, v, v], "chosen": 2})["chosen"] == 2


def test_a_re_ask_is_a_fresh_answer_with_a_note_and_the_best_answer_is_kept(runner: Runner,
                                                                            engines: FakeEngines) -> None:
    story = IDEA.model_copy(update={"sources": [SourceText(text=STORY)]})
    pid = project_with_input(runner, story)
    stub = {"title": "None", "logline": "Rejected.", "prose": "No suitable treatment was written."}
    copied = {"title": "Copy", "logline": "Ines waits.", "prose": STORY}
    engines.scripted.enqueue(treatment_out()[0], stub, copied, stub, treatment_out()[2])
    result = runner.run(pid, Stage.TREATMENT)
    assert result.ok
    retry = engines.scripted.calls[2]["messages"]
    # the rejected answer is never shown back; the complaint is a note on the same request
    assert [m["role"] for m in retry] == ["system", "user"] and "words long" in retry[-1]["content"]
    assert "earlier answer was turned down" in retry[-1]["content"]
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert t.variants[1].prose == STORY and "word for word" in t.variants[1].weak  # more of the film than the stub


#: A treatment that tells the film in its own words but copies three of STORY's sentences.
OWN = ("Rain hammers the office windows while Ines counts the minutes past midnight and listens to static. "
       "She climbs to the roof with matches, her coat soaked through, and coaxes a flame into the glass.")
COPIES = [STORY.split(". ")[1] + ".", STORY.split(". ")[2] + ".", "Tomas says the lamp saved him."]
COPYING = {"title": "Lamp", "logline": "Ines lights the lamp.",
           "prose": f"{COPIES[0]} {OWN} {COPIES[1]} The boat groans toward the pier. {COPIES[2]}"}


def test_a_treatment_that_keeps_copying_is_told_every_copy_then_mended_by_code(runner: Runner,
                                                                                 engines: FakeEngines) -> None:
    """The salt crown's third treatment (72acc67) copied 2 sentences after every try and was kept
    so. The re-ask names each copied sentence; when the tries run out, code cuts all but the first."""
    story = IDEA.model_copy(update={"sources": [SourceText(text=STORY)]})
    pid = project_with_input(runner, story)
    engines.scripted.enqueue(treatment_out()[0], COPYING, COPYING, COPYING, treatment_out()[2])
    result = runner.run(pid, Stage.TREATMENT)
    assert result.ok
    reask = engines.scripted.calls[2]["messages"][-1]["content"]
    assert "copies 3 sentences word for word" in reask
    assert all(f'"{c}"' in reask for c in COPIES), reask  # each one, not only the first
    take = result.takes[0]
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    kept = t.variants[1]
    assert len(copied_sentences(kept.prose, STORY)) == 1 and not kept.weak
    assert kept.prose == f"{COPIES[0]} {OWN} The boat groans toward the pier."
    assert ("Treatment 2 copied 3 sentences of the story word for word after every try; code removed 2 of them: "
            '"Tonight the storm breaks the radio and Ines…"; "Tomas says the lamp saved him."') in take.note
    assert "code removed 2" in result.notes[0] and "weak" not in take.note


def test_a_rewritten_variant_that_keeps_copying_is_mended_too(runner: Runner, engines: FakeEngines) -> None:
    story = IDEA.model_copy(update={"sources": [SourceText(text=STORY)]})
    pid = project_with_input(runner, story)
    engines.scripted.enqueue(treatment_out())
    runner.run(pid, Stage.TREATMENT)
    engines.scripted.enqueue(COPYING, COPYING, COPYING)
    take = runner.run(pid, Stage.TREATMENT, action=RewriteVariant(index=0)).takes[0]
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert len(copied_sentences(t.variants[0].prose, STORY)) == 1 and not t.variants[0].weak
    assert "Treatment 1 copied 3 sentences" in take.note and "code removed 2 of them" in take.note


def test_copies_are_cut_only_where_what_is_left_reads_as_whole_sentences() -> None:
    quoted = 'Ines keeps the ferry office at the end of the pier. "Every night she waits for Tomas to bring the boat in."'
    said = f"{quoted} Then she sleeps. 'Her eyes close. Tomas says the lamp saved him.' She wakes."
    cut = cut_copies(said, quoted + " Tomas says the lamp saved him.")
    # a whole quotation goes with its marks; a sentence inside one leaves the quotation closed
    assert cut.whole and cut.prose == "Ines keeps the ferry office at the end of the pier. Then she sleeps. 'Her eyes close.' She wakes."
    assert cut.removed == ['"Every night she waits for Tomas to bring the boat in."', "Tomas says the lamp saved him."]
    opened = f"{COPIES[0]}\n\n'Tomas says the lamp saved him. Come in.' She nods."
    assert cut_copies(opened, STORY).prose == f"{COPIES[0]}\n\n'Come in.' She nods."  # the quotation stays open
    # a "sentence" split off after an abbreviation is no sentence: nothing is cut
    broken = cut_copies(f"{COPIES[0]} Mr. tomas says the lamp saved him. Ines runs.", STORY)
    assert not broken.whole and broken.removed == []


def test_the_salt_crowns_kept_treatments_copy_one_sentence_at_most_once_mended() -> None:
    """The saved real run (72acc67, seven stories): the salt crown's third treatment was kept with
    2 copied sentences; cut, it has 1 and stays a treatment, and nothing else changes."""
    run = json.loads(Path("evals/runs/offline-72acc67-corpus7.json").read_text(encoding="utf-8"))
    before, after = {}, {}
    for s in run["stories"]:
        story = Path(f"evals/corpus/{s['slug']}.md").read_text(encoding="utf-8")
        for i, v in enumerate(s["artifacts"]["treatment"]["variants"]):
            cut = cut_copies(v["prose"], story)
            before[s["slug"], i] = len(copied_sentences(v["prose"], story))
            after[s["slug"], i] = len(copied_sentences(cut.prose, story))
            assert cut.whole and cut.words >= min_prose_words(story)
            assert cut.prose == v["prose"] or before[s["slug"], i] > 1
    assert len(before) == 21 and sum(before.values()) == 3 and max(before.values()) == 2
    assert before["the-salt-crown", 2] == 2 and after["the-salt-crown", 2] == 1
    assert max(after.values()) == 1 and sum(after.values()) == 2
