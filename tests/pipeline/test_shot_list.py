"""Stage 7: shots of at most 8 s that never rewrite the approved script."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiuteur.domain import ElementKind, InputError, Scene, ScriptElement, ShotList, Stage, Status
from aiuteur.engines.schema_bounds import check_bounded
from aiuteur.pipeline import graph
from aiuteur.pipeline.actions import RegenerateShot
from aiuteur.pipeline.prompts import load_template
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import (
    MAX_SHOT_S,
    VARIABLES,
    CameraDraft,
    ShotListDraft,
    add_shot,
    check_shots,
    delete_shot,
    fallback_shot_list,
    make_shot_list,
    merge_shots,
    move_shot,
    scene_units,
    shot_lines,
    split_shot,
    update_shot,
)
from aiuteur.screenplay import import_screenplay
from tests.fakes import FakeEngines, ScriptedText
from tests.pipeline.phase_b_fixtures import project_with_script, registry_for

FIXTURES = Path(__file__).parents[1] / "fixtures" / "screenplays"
CAM = {"size": "medium", "angle": "eye level", "movement": "static", "lens": "35mm"}


def draft(*groups: list[int], **cam: Any) -> dict[str, Any]:
    return {"shots": [{"units": g, **CAM, **cam, "in_frame": []} for g in groups]}


def lines_of(shots: ShotList, scene: Scene) -> list[str]:
    """Each line as the shots say it; a long line split across shots is its parts joined by spaces."""
    units = scene_units(scene)
    joined: dict[int, list[str]] = {}
    for s in shots.shots:
        mine = [units[i] for i in s.units if units[i].kind == "dialogue"]
        assert shot_lines(s, scene) == [f"{u.character}: {u.text}" for u in mine]
        for u in mine:
            assert u.dialogue_index is not None
            joined.setdefault(u.dialogue_index, []).append(u.text)
    return [f"{scene.dialogue[i].character}: {' '.join(parts)}" for i, parts in joined.items()]


def scene_lines(scene: Scene) -> list[str]:
    return [f"{e.character}: {e.text}" for e in scene.dialogue]


def assert_never_rewrites(shots: ShotList, scene: Scene) -> None:
    """Every dialogue line verbatim, in order, exactly once; all action text is the scene's."""
    check_shots(shots, scene)
    assert lines_of(shots, scene) == scene_lines(scene)
    units = scene_units(scene)
    assert [u for s in shots.shots for u in s.units] == list(range(len(units)))
    action = " ".join(e.text for e in scene.elements if e.kind in (ElementKind.ACTION, ElementKind.CENTERED,
                                                                   ElementKind.LYRIC) and e.text.strip())
    shot_words = " ".join(s.action for s in shots.shots if s.action).split()
    # all action text is the scene's, in order; only headings, transitions and empty fragments written
    # into the action ("INT.", "THE END", "CUT TO:") are left out (issue 13), never prose
    assert shot_words == " ".join(u.text for u in units if u.kind == "action").split()
    left_out = iter(action.split())
    assert all(any(w == x for x in left_out) for w in shot_words)
    assert all(0 < s.duration_s <= MAX_SHOT_S for s in shots.shots)


def test_generation_schemas_are_bounded() -> None:
    check_bounded(ShotListDraft)
    check_bounded(CameraDraft)


def test_a_scene_of_n_units_gets_at_most_n_shots_of_units_1_to_n() -> None:
    """Every unit goes in exactly one shot, so the schema a scene's shot list is written to holds at
    most as many shots as the scene has units, each naming units of the scene: a constrained
    decoder ends the list there instead of repeating shots (the wash bay: 3,085 tokens, 105 s)."""
    from pydantic import ValidationError

    from aiuteur.engines.schema_bounds import json_schema_of
    from aiuteur.pipeline.shot_list import shot_list_schema

    three = shot_list_schema(3)
    assert issubclass(three, ShotListDraft) and shot_list_schema(3) is three
    check_bounded(three)
    shot = {**CAM, "in_frame": []}
    ok = three.model_validate({"shots": [{"units": [1], **shot}, {"units": [2, 3], **shot}]})
    assert [s.units for s in ok.shots] == [[1], [2, 3]]
    for bad in ({"shots": [{"units": [k], **shot} for k in (1, 2, 3, 3)]}, {"shots": [{"units": [4], **shot}]}):
        with pytest.raises(ValidationError):
            three.model_validate(bad)
    schema = json.dumps(json_schema_of(three))
    assert '"maxItems": 3' in schema and '"maximum": 3' in schema


def test_templates_use_exactly_the_declared_variables() -> None:
    for role, names in VARIABLES.items():
        assert load_template(role).variables == set(names), role


def test_shot_list_groups_units_and_copies_the_script(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    scene = script.scenes[2]
    engines.scripted.enqueue(draft([1, 2], [3], [4], [5], size="wide"))
    result = runner.run(pid, Stage.SHOTS, scene.id, seed=3)
    assert result.ok and result.takes[0].purpose == "shot_list"
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    assert [s.number for s in shots.shots] == ["3A", "3B", "3C", "3D"]
    assert_never_rewrites(shots, scene)
    assert shots.shots[0].action == "Persephone enters in a black gown, her daisies gone. Hades offers her a pomegranate."
    # in frame: the hall always, the people named or speaking, the prop named
    assert shots.shots[0].assets == ["as_persephone", "as_hades", "as_hall"]
    assert shots.shots[2].assets == ["as_persephone", "as_hall"]
    assert "as_crown" in shots.shots[3].assets
    # story rules and the numbered units reach the model
    msgs = engines.scripted.calls[0]["messages"]
    assert "All characters are eggs." in msgs[0]["content"]
    assert "[4] LINE" in msgs[1]["content"] and "PERSEPHONE: Six seeds. No more." in msgs[1]["content"]
    assert graph.status(runner.view(pid).state, Stage.SHOTS, scene.id) == Status.DONE


def test_a_bad_grouping_is_repaired_by_code_and_says_so(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    scene = script.scenes[2]
    engines.scripted.enqueue(draft([1, 2], [4], [5], size="wide"))  # unit 3 in no shot
    result = runner.run(pid, Stage.SHOTS, scene.id)
    take = result.takes[0]
    assert result.ok and take.purpose == "shot_list" and take.attempts == 1 and len(engines.scripted.calls) == 1
    assert "Code repaired the model's grouping of scene 3" in take.note and "units [3] are in no shot" in take.note
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    assert [s.units for s in shots.shots] == [[0, 1, 2], [3], [4]]  # the missing unit joins the shot before it
    assert_never_rewrites(shots, scene)


def test_grouping_repairs_keep_the_model_cameras_in_script_order() -> None:
    from aiuteur.pipeline.shot_list import ShotListDraft, repair_grouping

    twice_and_out_of_order = ShotListDraft.model_validate(draft([3, 1], [2, 3], [9], size="close-up"))
    fixed = repair_grouping(twice_and_out_of_order, [1.0, 1.0, 1.0])
    assert fixed is not None and [d.units for d in fixed.shots] == [[1], [2], [3]]
    assert all(d.size == "close-up" for d in fixed.shots)
    assert repair_grouping(ShotListDraft.model_validate(draft([7])), [1.0, 1.0]) is None  # nothing usable


def test_a_shot_past_eight_seconds_is_split_between_units() -> None:
    scene = import_screenplay(b"INT. ROOM - DAY\n\nA. B. C.\n\nANNA\n" + b"word " * 30 + b"\n\nBEN\nYes.\n",
                              "x.fountain").scenes[0]
    text = ScriptedText()
    n = len(scene_units(scene))
    text.enqueue(draft(list(range(1, n + 1))))
    take = make_shot_list(scene, [], text, seed=1)
    assert take.ok and take.purpose == "shot_list" and len(text.calls) == 1
    assert "shots are at most 8 s" in take.note
    shots = ShotList.model_validate(take.output)
    assert len(shots.shots) >= 2  # cut between units, never inside one
    assert_never_rewrites(shots, scene)


def test_a_model_error_falls_back_and_never_fails(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.engines.base import EngineError

    pid, script = project_with_script(runner)
    engines.scripted.enqueue(EngineError("out of memory"))
    result = runner.run(pid, Stage.SHOTS, script.scenes[0].id)
    assert result.ok and result.takes[0].purpose == "shot_list_fallback"
    assert_never_rewrites(ShotList.model_validate(result.record.data if result.record else {}), script.scenes[0])


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.is_file()))
def test_dialogue_is_verbatim_on_real_screenplays(name: str) -> None:
    script = import_screenplay((FIXTURES / name).read_bytes(), name)
    for scene in script.scenes:
        assert_never_rewrites(fallback_shot_list(scene, []), scene)
        # a model that puts every unit in its own shot, reversed camera and all
        n = len(scene_units(scene))
        if n:
            text = ScriptedText()
            text.enqueue(draft(*[[k] for k in range(1, n + 1)], size="close-up"))
            take = make_shot_list(scene, [], text, seed=0)
            assert take.purpose == "shot_list"
            assert_never_rewrites(ShotList.model_validate(take.output), scene)


# --- the property: whatever the model answers, the script is never rewritten ----------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé'", min_size=1, max_size=9)
SENTENCE = st.lists(WORD, min_size=1, max_size=30).map(lambda w: " ".join(w).capitalize() + ".")
ELEMENT = st.one_of(
    st.builds(lambda t: ScriptElement(kind=ElementKind.ACTION, text=t),
              st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join)),
    st.builds(lambda who, t: ScriptElement(kind=ElementKind.DIALOGUE, character=who, text=t),
              st.sampled_from(["ANNA", "BEN", "DR. McCOY"]), st.lists(SENTENCE, min_size=1, max_size=3).map(" ".join)),
    st.just(ScriptElement(kind=ElementKind.PARENTHETICAL, text="(quietly)")),
    st.just(ScriptElement(kind=ElementKind.TRANSITION, text="CUT TO:")),
)
SCENES = st.builds(lambda els: Scene(number="7", heading="INT. ROOM - DAY", elements=els),
                   st.lists(ELEMENT, min_size=0, max_size=10))


@st.composite
def scene_and_answers(draw: st.DrawFn) -> tuple[Scene, list[dict[str, Any]]]:
    scene = draw(SCENES)
    n = max(1, len(scene_units(scene)))
    answers = []
    for _ in range(3):
        kind = draw(st.sampled_from(["valid", "random"]))
        if kind == "valid":
            cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)))
            bounds = [0, *[c for c in cuts if c < n], n]
            groups = [list(range(a + 1, b + 1)) for a, b in pairwise(bounds) if b > a]
        else:  # adversarial: duplicates, gaps, out of order, out of range
            groups = draw(st.lists(st.lists(st.integers(1, n + 2), min_size=1, max_size=10), min_size=1, max_size=8))
        answers.append(draft(*[g[:10] for g in groups][:40]))
    return scene, answers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene_and_answers())
def test_property_any_answer_keeps_every_line_verbatim_in_order(case: tuple[Scene, list[dict[str, Any]]]) -> None:
    scene, answers = case
    text = ScriptedText()
    text.enqueue(*answers)
    take = make_shot_list(scene, [], text, seed=0)
    assert take.ok
    assert_never_rewrites(ShotList.model_validate(take.output), scene)


# --- edits ---------------------------------------------------------------------------------------------


def _scene3() -> tuple[Scene, ShotList]:
    from tests.pipeline.phase_b_fixtures import FOUR

    scene = import_screenplay(FOUR.encode(), "s.fountain").scenes[2]
    text = ScriptedText()
    text.enqueue(draft([1, 2, 3], [4, 5]))
    return scene, ShotList.model_validate(make_shot_list(scene, [], text, seed=0).output)


def test_split_and_merge_add_no_story_content() -> None:
    scene, shots = _scene3()
    split = split_shot(shots, scene, shots.shots[0].id, at=2)
    assert [s.number for s in split.shots] == ["3A", "3B", "3C"]
    assert [s.units for s in split.shots] == [[0, 1], [2], [3, 4]]
    assert split.shots[0].id == shots.shots[0].id
    assert_never_rewrites(split, scene)
    merged = merge_shots(split, scene, split.shots[0].id)
    assert [s.units for s in merged.shots] == [[0, 1, 2], [3, 4]]
    assert_never_rewrites(merged, scene)
    with pytest.raises(InputError, match="at most 8 s"):
        merge_shots(merged, scene, merged.shots[0].id)
    single = split_shot(split, scene, split.shots[2].id)
    with pytest.raises(InputError, match="cannot be split"):
        split_shot(single, scene, single.shots[1].id)


def test_add_delete_reorder_and_edit_keep_the_dialogue() -> None:
    scene, shots = _scene3()
    added = add_shot(shots, scene, shots.shots[0].id, action="Close on the pomegranate.", duration_s=2)
    assert [s.number for s in added.shots] == ["3A", "3B", "3C"] and added.shots[1].dialogue == []
    moved = move_shot(added, scene, added.shots[1].id, +1)
    assert moved.shots[2].action == "Close on the pomegranate."
    gone = delete_shot(moved, scene, moved.shots[2].id)
    assert len(gone.shots) == 2
    with pytest.raises(InputError, match="merge it"):
        delete_shot(gone, scene, gone.shots[0].id)
    with pytest.raises(InputError, match="out of the script's order"):
        move_shot(gone, scene, gone.shots[1].id, -1)
    edited = update_shot(gone, scene, gone.shots[0].id, size="close-up", duration_s=5)
    assert edited.shots[0].size == "close-up"
    with pytest.raises(InputError, match="Only"):
        update_shot(gone, scene, gone.shots[0].id, dialogue=[1, 0])
    with pytest.raises(InputError):
        update_shot(gone, scene, gone.shots[0].id, duration_s=12)
    bad = ShotList(shots=[gone.shots[0].model_copy(update={"dialogue": [1, 0]}), gone.shots[1]])
    with pytest.raises(InputError):
        check_shots(bad, scene)


def test_regenerate_one_shot_with_guidance_keeps_the_rest(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    scene = script.scenes[1]
    engines.scripted.enqueue(draft([1, 2], [3], [4]))
    runner.run(pid, Stage.SHOTS, scene.id)
    before = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    target = before.shots[1]
    engines.scripted.enqueue({"size": "close-up", "angle": "low angle", "movement": "dolly in", "lens": "85mm",
                              "in_frame": ["Hades", "Cerberus"]})
    result = runner.run(pid, Stage.SHOTS, scene.id, action=RegenerateShot(shot_id=target.id), guidance="make him loom")
    assert result.ok and result.takes[0].target == f"shot:{target.id}"
    after = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    assert after.shots[0] == before.shots[0] and after.shots[2] == before.shots[2]
    new = after.shots[1]
    assert (new.size, new.angle, new.movement, new.lens) == ("close-up", "low angle", "dolly in", "85mm")
    assert new.units == target.units and new.dialogue == target.dialogue and new.action == target.action
    assert new.unregistered == ["Cerberus"]
    assert "make him loom" in engines.scripted.calls[-1]["messages"][1]["content"]


def test_user_edits_are_saved_through_the_runner(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    scene = script.scenes[0]
    engines.scripted.enqueue(draft([1], [2, 3]))
    runner.run(pid, Stage.SHOTS, scene.id)
    view = runner.view(pid)
    shots = ShotList.model_validate(view.data(Stage.SHOTS, scene.id))
    new = split_shot(shots, scene, shots.shots[1].id)
    rec = runner.save(pid, Stage.SHOTS, new, scene.id, base_revision=view.revision(Stage.SHOTS, scene.id))
    assert rec.revision == 2 and len(rec.data["shots"]) == 3


def test_a_model_that_frames_shots_alike_is_not_kept_and_one_repeat_is_reframed_by_code() -> None:
    from aiuteur.pipeline.shot_list import ShotListDraft, from_draft

    scene = import_screenplay(b"INT. ROOM - DAY\n\nAnna stands.\n\nANNA\nWhere is it?\n\nBEN\nGone.\n\n"
                              b"Ben looks away.\n\nANNA\nThen we go.\n", "x.fountain").scenes[0]
    n = len(scene_units(scene))
    runs = {"shots": [{"units": [u], "size": "wide", "angle": "low angle", "movement": "dolly in", "lens": "50mm",
                       "in_frame": []} for u in range(1, n + 1)]}
    runs["shots"][-1] = {**runs["shots"][-1], "size": "close-up"}  # four of five cuts join the same framing
    shots = from_draft(ShotListDraft.model_validate(runs), scene, []).shots
    framings = [(s.size, s.angle, s.movement) for s in shots]
    assert all(a != b for a, b in pairwise(framings)) and ("wide", "low angle", "dolly in") not in framings[1:]
    varied = [("wide", "eye level", "static"), ("medium", "eye level", "static"), ("medium", "eye level", "static"),
              ("close-up", "high angle", "static"), ("two shot", "eye level", "pan")]
    mostly = {"shots": [{"units": [u], "size": z, "angle": a, "movement": m, "lens": "50mm", "in_frame": []}
                        for u, (z, a, m) in zip(range(1, n + 1), varied, strict=True)]}
    kept = [(s.size, s.angle, s.movement) for s in from_draft(ShotListDraft.model_validate(mostly), scene, []).shots]
    assert [kept[i] for i in (0, 1, 3, 4)] == [varied[i] for i in (0, 1, 3, 4)]  # the model's choices stay
    assert kept[2] != kept[1]  # the repeat is framed by code from its content


def test_the_code_camera_looks_up_at_what_rises_and_down_at_what_is_low() -> None:
    """Angles vary with the action (issue 13): a figure looked up at, on a stage or lifting
    something is shot from below; someone kneeling, sitting or asleep from above; the rest at eye
    level. The real model's shot lists were all eye level (tuba-audition, docs/evals.md)."""
    from aiuteur.pipeline.shot_list import Unit, choose_camera

    def angle(text: str) -> str:
        unit = Unit(index=0, kind="action", element=0, text=text)
        return choose_camera([unit], [], first=False, exchange=False, exterior=False).angle

    assert angle("Maestra Brandt looks up from her clipboard at the tall man in the short suit.") == "low angle"
    assert angle("On the stage, he lifts the tuba.") == "low angle"
    assert angle("Clem is asleep in a deckchair with the racing pages over his face.") == "high angle"
    assert angle("I am kneeling on the floor with both arms around the bottom tier.") == "high angle"
    assert angle("Ines hands the ticket to the attendant.") == "eye level"
