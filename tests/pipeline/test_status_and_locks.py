"""Derived status, staleness, lock rules, branches and open-where-left-off, through the runner."""

from __future__ import annotations

import pytest

from aiuteur.domain import (
    BeatSheet,
    InputMode,
    LockError,
    NeedsChoiceError,
    Scene,
    Script,
    ScriptElement,
    SourceText,
    Stage,
    Status,
    StoryInput,
    Treatment,
    TreatmentVariant,
)
from aiuteur.domain.artifacts import ElementKind
from aiuteur.pipeline.runner import Runner

STORY = StoryInput(sources=[SourceText(text="A lighthouse keeper and her grandson relight the lamp.")])
TREATMENT = Treatment(variants=[TreatmentVariant(title=f"T{i}", logline="l", prose="p") for i in range(3)], chosen=0)
BEATS = BeatSheet.model_validate({"beats": [{"title": "Opening", "summary": "Martha polishes the lamp."}]})


def _script(n: int = 2) -> Script:
    return Script(title="Lamp", scenes=[
        Scene(number=str(i + 1), heading=f"INT. LIGHTHOUSE - NIGHT {i}", elements=[
            ScriptElement(kind=ElementKind.ACTION, text="Martha polishes the lamp."),
            ScriptElement(kind=ElementKind.DIALOGUE, character="MARTHA", text="Hold the light."),
        ]) for i in range(n)])


def _through_script(runner: Runner) -> str:
    pid = runner.create_project("Lamp").id
    runner.save(pid, Stage.INPUT, STORY)
    runner.save(pid, Stage.TREATMENT, TREATMENT)
    runner.save(pid, Stage.BEATS, BEATS)
    runner.save(pid, Stage.SCRIPT, _script())
    return pid


def test_a_new_project_is_empty_everywhere(runner: Runner) -> None:
    pid = runner.create_project("Lamp").id
    assert set(runner.view(pid).statuses.values()) == {Status.EMPTY}


def test_statuses_follow_the_data(runner: Runner) -> None:
    pid = _through_script(runner)
    st = runner.view(pid).statuses
    assert st[Stage.INPUT] == st[Stage.TREATMENT] == st[Stage.BEATS] == st[Stage.SCRIPT] == Status.DONE
    assert st[Stage.ASSETS] == Status.EMPTY
    assert st[Stage.HUB] == Status.DONE  # the scene list exists
    assert st[Stage.SHOTS] == Status.EMPTY


def test_a_treatment_without_a_chosen_variant_is_a_draft(runner: Runner) -> None:
    pid = runner.create_project("Lamp").id
    runner.save(pid, Stage.INPUT, STORY)
    runner.save(pid, Stage.TREATMENT, TREATMENT.model_copy(update={"chosen": None}))
    assert runner.view(pid).statuses[Stage.TREATMENT] == Status.DRAFT


def test_editing_upstream_marks_dependants_stale_and_regenerates_nothing(runner: Runner) -> None:
    pid = _through_script(runner)
    runner.save(pid, Stage.TREATMENT, TREATMENT.model_copy(update={"chosen": 1}))
    v = runner.view(pid)
    assert v.statuses[Stage.BEATS] == Status.STALE
    assert v.data(Stage.BEATS) == BEATS.model_dump(mode="json")  # untouched
    assert v.statuses[Stage.SCRIPT] == Status.DONE  # made from beats, which did not change
    runner.accept_upstream(pid, Stage.BEATS)  # "keep as is"
    assert runner.view(pid).statuses[Stage.BEATS] == Status.DONE


def test_skip_to_script_marks_treatment_and_beats_skipped(runner: Runner) -> None:
    pid = runner.create_project("Lamp").id
    runner.save(pid, Stage.INPUT, STORY.model_copy(update={"mode": InputMode.SKIP_TO_SCRIPT}))
    runner.save(pid, Stage.SCRIPT, _script())
    st = runner.view(pid).statuses
    assert st[Stage.TREATMENT] == st[Stage.BEATS] == Status.SKIPPED
    runner.lock(pid, Stage.INPUT)
    runner.lock(pid, Stage.SCRIPT)  # skipped stages count as satisfied
    assert runner.view(pid).statuses[Stage.SCRIPT] == Status.LOCKED


def test_locking_needs_the_previous_stage_locked_and_says_so_plainly(runner: Runner) -> None:
    pid = _through_script(runner)
    with pytest.raises(LockError) as e:
        runner.lock(pid, Stage.BEATS)
    msg = str(e.value)
    assert msg == "Can't lock Beat sheet yet: lock Treatment first (it is done)."
    assert "{" not in msg
    runner.lock(pid, Stage.INPUT)
    runner.lock(pid, Stage.TREATMENT)
    runner.lock(pid, Stage.BEATS)
    assert runner.view(pid).statuses[Stage.BEATS] == Status.LOCKED


def test_a_draft_cannot_be_locked(runner: Runner) -> None:
    pid = runner.create_project("Lamp").id
    runner.save(pid, Stage.INPUT, StoryInput())
    with pytest.raises(LockError, match="draft"):
        runner.lock(pid, Stage.INPUT)


def test_locked_work_is_read_only(runner: Runner) -> None:
    pid = _through_script(runner)
    runner.lock(pid, Stage.INPUT)
    with pytest.raises(LockError, match="locked and read-only"):
        runner.save(pid, Stage.INPUT, STORY.model_copy(update={"transform_target": "noir"}))


def _lock_through_script(runner: Runner, pid: str) -> None:
    for s in (Stage.INPUT, Stage.TREATMENT, Stage.BEATS, Stage.SCRIPT):
        runner.lock(pid, s)


def test_unlock_with_locked_work_downstream_asks_for_a_choice(runner: Runner) -> None:
    pid = _through_script(runner)
    _lock_through_script(runner, pid)
    with pytest.raises(NeedsChoiceError) as e:
        runner.unlock(pid, Stage.TREATMENT)
    assert e.value.options == ["branch", "here"]
    assert "Beat sheet, Master script" in str(e.value)


def test_unlock_in_a_new_branch_keeps_the_approved_branch_intact(runner: Runner) -> None:
    pid = _through_script(runner)
    _lock_through_script(runner, pid)
    main = runner.view(pid).branch
    new = runner.unlock(pid, Stage.TREATMENT, mode="branch")
    v = runner.view(pid)
    assert v.branch.id == new.id and new.parent == main.id
    assert v.statuses[Stage.INPUT] == Status.LOCKED
    assert v.statuses[Stage.TREATMENT] == v.statuses[Stage.SCRIPT] == Status.DONE
    runner.save(pid, Stage.TREATMENT, TREATMENT.model_copy(update={"chosen": 2}))
    assert runner.view(pid).statuses[Stage.BEATS] == Status.STALE
    # the approved branch is untouched
    runner.switch_branch(pid, main.id)
    v = runner.view(pid)
    assert all(v.statuses[s] == Status.LOCKED for s in (Stage.INPUT, Stage.TREATMENT, Stage.BEATS, Stage.SCRIPT))
    assert v.data(Stage.TREATMENT)["chosen"] == 0
    assert {b.name for b in v.branches} == {"main", new.name}
    runner.rename_branch(pid, new.id, "noir ending")
    assert {b.name for b in runner.view(pid).branches} == {"main", "noir ending"}


def test_unlock_here_unlocks_downstream_and_edits_make_it_stale(runner: Runner) -> None:
    pid = _through_script(runner)
    _lock_through_script(runner, pid)
    runner.unlock(pid, Stage.TREATMENT, mode="here")
    runner.save(pid, Stage.TREATMENT, TREATMENT.model_copy(update={"chosen": 2}))
    st = runner.view(pid).statuses
    assert st[Stage.INPUT] == Status.LOCKED
    assert st[Stage.BEATS] == Status.STALE
    assert len(runner.view(pid).branches) == 1


def test_per_scene_status_and_aggregate(runner: Runner) -> None:
    pid = _through_script(runner)
    v = runner.view(pid)
    s1, s2 = v.state.scene_ids
    runner.save(pid, Stage.SHOTS, {"shots": [{"number": "1A", "action": "Martha polishes."}]}, s1)
    v = runner.view(pid)
    assert v.scene_statuses(s1)[Stage.SHOTS] == Status.DONE
    assert v.scene_statuses(s2)[Stage.SHOTS] == Status.EMPTY
    assert v.statuses[Stage.SHOTS] == Status.DRAFT
    runner.save(pid, Stage.HUB, {"deferred": [s2]})
    v = runner.view(pid)
    assert v.scene_statuses(s2)[Stage.SHOTS] == Status.SKIPPED
    assert v.statuses[Stage.SHOTS] == Status.DONE
    # editing scene 1 in the script makes only scene 1's shot list stale
    script = v.data(Stage.SCRIPT)
    script["scenes"][0]["elements"][0]["text"] = "Martha polishes the great lamp."
    runner.save(pid, Stage.SCRIPT, script)
    v = runner.view(pid)
    assert v.scene_statuses(s1)[Stage.SHOTS] == Status.STALE


def test_reopening_lands_exactly_where_the_user_left_off(runner: Runner) -> None:
    pid = _through_script(runner)
    v = runner.view(pid)
    s2 = v.state.scene_ids[1]
    runner.visit(pid, Stage.BEATS)
    assert runner.open(pid).stage == Stage.BEATS  # not one ahead, even though later stages are done
    runner.visit(pid, Stage.ASSET_STATES, s2)
    pos = runner.open(pid)
    assert (pos.stage, pos.scene_id) == (Stage.ASSET_STATES, s2)
    card = runner.store.list_projects()[0]
    assert card.scene_label == "Scene 2 · Stage 8"


def test_a_conflicting_edit_is_refused_and_the_text_kept(runner: Runner) -> None:
    from aiuteur.domain import ConflictError

    pid = _through_script(runner)
    base = runner.view(pid).revision(Stage.BEATS)
    runner.save(pid, Stage.BEATS, BEATS.model_copy(update={"beats": BEATS.beats * 2}), base_revision=base)
    mine = {"beats": [{"title": "Mine", "summary": "My text."}]}
    with pytest.raises(ConflictError) as e:
        runner.save(pid, Stage.BEATS, mine, base_revision=base)
    assert e.value.yours["beats"][0]["summary"] == "My text."
    assert len(runner.view(pid).data(Stage.BEATS)["beats"]) == 2
