"""Dashboard, shell and input handlers called directly over a real store in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiuteur.domain import ConflictError, InputError, LockError, Stage, Status, StoryInput
from aiuteur.pipeline.runner import Runner
from aiuteur.store.store import StoreError
from aiuteur.ui import dashboard, input_tab, project, views


def _input_done(runner: Runner, pid: str, text: str = "A thief plans one last job.") -> int:
    _, on_screen, _ = input_tab.saved_input(runner, pid)  # a user saves over the revision their tab shows
    rev, _ = input_tab.save_form(runner, pid, {"primary": text}, on_screen)
    return rev


def test_create_rename_duplicate_delete(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    assert dashboard.rename_project(runner, p.id, "Eggs II").title == "Eggs II"
    copy = dashboard.duplicate_project(runner, p.id)
    assert copy.title == "Eggs II (copy)"
    assert "cannot be undone" in dashboard.delete_question(runner, p.id)
    assert [c.id for c in dashboard.listing(runner).cards] and runner.store.exists(p.id)  # asking deletes nothing
    dashboard.delete_project(runner, p.id)
    assert [c.title for c in dashboard.listing(runner).cards] == ["Eggs II (copy)"]
    with pytest.raises(InputError, match="title"):
        dashboard.create_project(runner, "  ")


def test_search_by_title(runner: Runner) -> None:
    dashboard.create_project(runner, "Persephone")
    dashboard.create_project(runner, "Hamlet Huevo")
    assert [c.title for c in dashboard.listing(runner, "huevo").cards] == ["Hamlet Huevo"]


def test_folders_move_and_refuse_to_delete_non_empty(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    dashboard.create_folder(runner, "Shorts")
    fid = runner.store.folders()[0].id
    assert dashboard.move_project(runner, p.id, fid) == "Moved into “Shorts”."
    assert [c.id for c in dashboard.listing(runner, folder=fid).cards] == [p.id]
    with pytest.raises(StoreError, match="move them out"):
        dashboard.delete_folder(runner, fid)
    assert dashboard.rename_folder(runner, fid, "Longs") == "Folder renamed to “Longs”."
    dashboard.move_project(runner, p.id, views.NO_FOLDER)
    assert dashboard.delete_folder(runner, fid) == "Folder deleted."
    with pytest.raises(InputError):
        dashboard.create_folder(runner, " ")


def test_open_lands_where_the_user_left_off(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    runner.visit(p.id, Stage.BEATS)
    pid, position, message = dashboard.open_project(runner, p.id)
    assert (pid, position.stage, position.scene_id) == (p.id, Stage.BEATS, None)
    assert "Stage 3 · Beat sheet" in message


def test_lock_refusal_is_shown_as_is_and_overlay_follows(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    with pytest.raises(LockError, match="nothing has been made yet"):
        project.lock_stage(runner, p.id, Stage.INPUT, None)
    _input_done(runner, p.id)
    with pytest.raises(LockError, match="lock Input first"):
        project.lock_stage(runner, p.id, Stage.TREATMENT, None)
    assert project.lock_stage(runner, p.id, Stage.INPUT, None) == "🔒 Input is locked."
    view = runner.view(p.id)
    assert project.stage_status(view, Stage.INPUT, None) == Status.LOCKED
    out = project.unlock_stage(runner, p.id, Stage.INPUT, None)
    assert out.question == "" and "unlocked" in out.message


def test_unlock_with_locked_work_downstream_asks_then_branches(runner: Runner) -> None:
    from aiuteur.domain import Treatment, TreatmentVariant

    p = dashboard.create_project(runner, "Eggs")
    _input_done(runner, p.id)
    runner.lock(p.id, Stage.INPUT)
    variant = TreatmentVariant(title="t", logline="l", prose="p")
    runner.save(p.id, Stage.TREATMENT, Treatment(variants=[variant] * 3, chosen=0))
    runner.lock(p.id, Stage.TREATMENT)
    ask = project.unlock_stage(runner, p.id, Stage.INPUT, None)
    assert "reopens approved work after it (Treatment)" in ask.question and not ask.message
    assert runner.view(p.id).statuses[Stage.INPUT] == Status.LOCKED  # asking changed nothing
    out = project.unlock_stage(runner, p.id, Stage.INPUT, None, "branch")
    view = runner.view(p.id)
    assert out.new_branch == view.branch.id and len(view.branches) == 2
    assert view.statuses[Stage.INPUT] == Status.DONE
    runner.switch_branch(p.id, next(b.id for b in view.branches if b.id != out.new_branch))
    assert runner.view(p.id).statuses[Stage.TREATMENT] == Status.LOCKED  # approved work kept intact


def test_unlock_asks_when_locked_work_is_downstream(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiuteur.domain import NeedsChoiceError

    p = dashboard.create_project(runner, "Eggs")
    calls: list[str | None] = []

    def fake_unlock(pid: str, stage: Stage, scene: str | None = None, mode: str | None = None, seen: object = None) -> object:
        calls.append(mode)
        if mode is None:
            raise NeedsChoiceError("Unlocking Input reopens approved work after it (Treatment).", ["branch", "here"])
        return runner.view(pid).branch
    monkeypatch.setattr(runner, "unlock", fake_unlock)
    out = project.unlock_stage(runner, p.id, Stage.INPUT, None)
    assert out.question.startswith("Unlocking Input reopens approved work")
    assert "new branch" in project.unlock_stage(runner, p.id, Stage.INPUT, None, "branch").message
    assert calls == [None, "branch"]


def test_input_form_round_trip_keeps_extra_sources(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    rev = _input_done(runner, p.id, "first")
    rev = input_tab.add_source(runner, p.id, input_tab.SourceText(name="world.md", role="world", text="Eggland"), rev)
    form = input_tab.form_from_input(input_tab.saved_input(runner, p.id)[0])
    form.update(primary="second", genres=["Comedy"], aspect_ratio="2.39:1", story_rules="All are eggs.\n\n Brown eggs too.",
                mode="transform", transform_target="noir")
    rev2, msg = input_tab.save_form(runner, p.id, form, rev)
    si = StoryInput.model_validate(runner.view(p.id).data(Stage.INPUT))
    assert msg == f"Saved (revision {rev2})."
    assert si.primary is not None and si.primary.text == "second"
    assert [s.name for s in si.sources if s.role == "world"] == ["world.md"]
    assert si.story_rules == ["All are eggs.", "Brown eggs too."]
    assert (si.params.aspect_ratio, si.transform_target, si.params.genres) == ("2.39:1", "noir", ["Comedy"])
    # saving the same form again writes nothing new
    assert input_tab.save_form(runner, p.id, form, rev2)[0] == rev2


def test_stale_revision_is_a_conflict_and_bad_range_is_a_plain_error(runner: Runner) -> None:
    p = dashboard.create_project(runner, "Eggs")
    rev = _input_done(runner, p.id, "one")
    now = _input_done(runner, p.id, "two")  # someone else saved meanwhile
    with pytest.raises(ConflictError, match="changed by someone else"):
        input_tab.save_form(runner, p.id, {"primary": "mine"}, rev)
    # with the revision on screen (a form with none counts as "nothing seen", so it would conflict first)
    with pytest.raises(InputError, match="reversed"):
        input_tab.save_form(runner, p.id, {"primary": "x", "min_minutes": 5, "max_minutes": 2}, now)


def test_uploads(tmp_path: Path) -> None:
    txt = tmp_path / "idea.txt"
    txt.write_text("Café eggs", encoding="utf-8")
    assert input_tab.read_upload(txt) == "Café eggs"
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\x00\x00\x01")
    with pytest.raises(InputError, match="not a text file"):
        input_tab.read_upload(binary)
    utf16 = tmp_path / "notepad.txt"  # UTF-16 saved without a byte-order mark is text, not "binary"
    utf16.write_bytes("Café eggs".encode("utf-16-le"))
    assert input_tab.read_upload(utf16) == "Café eggs"
    zeros = tmp_path / "zeros.txt"  # binary with zeros in every other byte decodes as UTF-16 to control characters
    zeros.write_bytes(b"\x00\x01\x02\xff" * 100)
    with pytest.raises(InputError, match="does not read as text"):
        input_tab.read_upload(zeros)
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(input_tab.MAX_UPLOAD_BYTES + 1)
    with pytest.raises(InputError, match="up to 20 MB"):
        input_tab.read_upload(big)
    fountain = tmp_path / "s.fountain"
    fountain.write_text("INT. KITCHEN - DAY\n\nAn egg wobbles.\n\nHAMLET\nTo boil or not to boil.\n", encoding="utf-8")
    out = input_tab.read_upload(fountain)
    assert "INT. KITCHEN - DAY" in out and "HAMLET" in out


def test_brief_template_round_trip() -> None:
    text = input_tab.brief_template().replace("## Plot\n", "## Plot\nAn egg falls.\n").replace(
        "## Script (Y/N)\n", "## Script (Y/N)\nNo\n")
    fields = input_tab.parse_brief(text)
    assert fields["plot"] == "An egg falls." and fields["has_script"] == "no"
    assert set(fields) == {f for f, _ in input_tab.BRIEF_FIELDS}
