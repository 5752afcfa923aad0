"""Stage 8: per-scene asset states with continuity (the rearview mirror), takes and suggestions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from aiuteur.domain import (
    AssetCategory,
    AssetStates,
    InputError,
    Script,
    ShotList,
    Stage,
    Status,
    StyleAndAssets,
    Take,
)
from aiuteur.engines.base import EngineError
from aiuteur.engines.schema_bounds import InvalidOutputError, check_bounded
from aiuteur.pipeline import graph
from aiuteur.pipeline.actions import SceneInstance
from aiuteur.pipeline.asset_states import (
    REFERENCE_SCALE,
    VARIABLES,
    AssetStatesDraft,
    add_asset,
    assets_in_scene,
    choose_instance,
    current_reference,
    dismiss_suggestion,
    prefill,
    rearview,
    scene_image,
    set_description,
    set_reference,
    state_of,
    use_master,
)
from aiuteur.pipeline.prompts import load_template
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import scene_units
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import FakeImage, project_with_script, registry_for, states_out

CAM = {"size": "medium", "angle": "eye level", "movement": "static", "lens": "35mm"}


@pytest.fixture
def image() -> FakeImage:
    return FakeImage()


@pytest.fixture
def engines(image: FakeImage) -> FakeEngines:
    return FakeEngines(image=image)


def make_shots(runner: Runner, engines: FakeEngines, pid: str, script: Script, k: int,
               in_frame: list[str] | None = None) -> ShotList:
    scene = script.scenes[k]
    n = len(scene_units(scene))
    engines.scripted.enqueue({"shots": [{"units": [u], **CAM, "in_frame": in_frame or []} for u in range(1, n + 1)]})
    runner.run(pid, Stage.SHOTS, scene.id)
    return ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))


def n_assets(runner: Runner, pid: str, script: Script, k: int) -> list[str]:
    view = runner.view(pid)
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS))
    shots = ShotList.model_validate(view.data(Stage.SHOTS, script.scenes[k].id))
    return [a.id for a in assets_in_scene(bundle, script.scenes[k].id, shots)]


def states(runner: Runner, pid: str, scene_id: str) -> AssetStates:
    return AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, scene_id))


def infer(runner: Runner, engines: FakeEngines, pid: str, script: Script, k: int, **kw: Any) -> AssetStates:
    ids = n_assets(runner, pid, script, k)
    engines.scripted.enqueue(states_out(len(ids), **kw))
    result = runner.run(pid, Stage.ASSET_STATES, script.scenes[k].id)
    assert result.ok, result.errors
    return states(runner, pid, script.scenes[k].id)


def instance_takes(runner: Runner, pid: str, scene_id: str, asset_id: str) -> list[Take]:
    return runner.takes(pid, Stage.ASSET_STATES, scene_id, f"instance:{asset_id}")


def test_schema_is_bounded_and_templates_match() -> None:
    check_bounded(AssetStatesDraft)
    for role, names in VARIABLES.items():
        assert load_template(role).variables == set(names), role


def test_four_scene_costume_change_carries_into_scene_four(runner: Runner, engines: FakeEngines,
                                                           image: FakeImage) -> None:
    """The tiny-profile scenario: Persephone changes costume in scene 3; scene 4 starts from it."""
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    s1, s2, s3, s4 = (sc.id for sc in script.scenes)
    for k in range(4):
        make_shots(runner, engines, pid, script, k)
    persephone = bundle.registry.get("as_persephone")

    # scene 1: the states are inferred (not the master copied), the reference is the master
    st1 = infer(runner, engines, pid, script, 0, description="Green tunic, daisies, basket of berries")
    p1 = state_of(st1, "as_persephone")
    assert p1 is not None and p1.reference == persephone.master_ref_white and p1.reference_from == "master"
    assert "Scene 1: state described as" in p1.audit[0]
    prompt = engines.scripted.calls[-1]["messages"]
    # scene 1's prompt has the story rules, and not scene 3's change, which has not happened yet
    assert "In a black gown" not in prompt[1]["content"] and "All characters are eggs." in prompt[0]["content"]

    # scene 3: she changes into black (shot 3E: puts on the crown); two takes, the second chosen
    ids3 = n_assets(runner, pid, script, 2)
    at = ids3.index("as_persephone") + 1
    infer(runner, engines, pid, script, 2, description="In a black gown",
          changes=[{"shot": "3E", "description": "In a black gown with the iron crown"}], at=at)
    assert "In a black gown" in engines.scripted.calls[-1]["messages"][1]["content"]  # the registry's change here
    shots3 = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, s3))
    p3 = state_of(states(runner, pid, s3), "as_persephone")
    assert p3 is not None and p3.changes[0].shot_id == shots3.shots[4].id
    result = runner.run(pid, Stage.ASSET_STATES, s3, seed=5,
                        action=SceneInstance(asset_id="as_persephone", takes=2))
    assert result.ok and len(result.takes) == 2
    req = image.requests[-1]
    assert req.references[0].key == persephone.master_ref_white
    assert req.references[0].scale == REFERENCE_SCALE and req.style is not None
    assert req.references[0].scale > req.style.scale  # the reference dominates the style
    assert req.init_image is not None and "In a black gown" in req.prompt and "eggs" in req.prompt
    takes = instance_takes(runner, pid, s3, "as_persephone")
    assert len(takes) == 2 and all(t.media for t in takes)
    p3 = state_of(states(runner, pid, s3), "as_persephone")
    assert p3 is not None and p3.chosen_take == takes[0].id  # the first take is chosen when none was
    label = "Scene 3"
    chosen = choose_instance(states(runner, pid, s3), "as_persephone", takes[1], label)
    runner.save(pid, Stage.ASSET_STATES, chosen, s3)
    p3 = state_of(states(runner, pid, s3), "as_persephone")
    assert p3 is not None and p3.image == takes[1].media[0]
    assert p3.audit[-1] == "Scene 3: chose scene-instance image 2 of 2"

    # scene 4: the default reference is scene 3's chosen image, and the mirror lists it
    st4 = infer(runner, engines, pid, script, 3)
    p4 = state_of(st4, "as_persephone")
    assert p4 is not None and p4.reference == takes[1].media[0] and p4.reference_from == f"scene:{s3}"
    assert "reference is Scene 3's image" in p4.audit[0]
    state = runner.view(pid).state
    mirror = rearview(state, s4, persephone)
    assert [m.label for m in mirror] == ["Master reference", "Scene 1", "Scene 3"]  # scene 2 has no states yet
    assert mirror[-1].image == takes[1].media[0] and mirror[-1].source == f"scene:{s3}"
    assert any("chose scene-instance image 2 of 2" in m for m in mirror[-1].modifications)
    # the crown, a prop of scenes 3-4 without an instance image, still defaults to its master
    crown = bundle.registry.get("as_crown")
    assert current_reference(state, s4, crown, state_of(st4, "as_crown")) == (crown.master_ref_white, "master")
    # proceeding needs no image for every asset
    assert graph.status(state, Stage.ASSET_STATES, s4) == Status.DONE
    assert s1 and s2


def test_default_reference_follows_a_new_choice_upstream_until_pinned(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    s2, s3 = script.scenes[1].id, script.scenes[2].id
    for k in (1, 2):
        make_shots(runner, engines, pid, script, k)
    infer(runner, engines, pid, script, 1)
    st3 = infer(runner, engines, pid, script, 2)
    hades = bundle.registry.get("as_hades")
    runner.run(pid, Stage.ASSET_STATES, s2, action=SceneInstance(asset_id="as_hades"), seed=1)
    state = runner.view(pid).state
    img2 = state_of(AssetStates.model_validate(state.data(Stage.ASSET_STATES, s2)), "as_hades")
    assert img2 is not None and img2.image
    # scene 3 was inferred before scene 2 had an image: its default follows without a re-run
    assert current_reference(state, s3, hades, state_of(st3, "as_hades")) == (img2.image, f"scene:{s2}")
    # pinning the master from the mirror keeps it, and says so in words
    mirror = rearview(state, s3, hades)
    pinned = set_reference(st3, "as_hades", mirror[0].image, mirror[0].source, "Scene 3", "the master reference")
    h = state_of(pinned, "as_hades")
    assert h is not None and h.pinned and h.audit[-1] == "Scene 3: reference set to the master reference"
    assert current_reference(state, s3, hades, h) == (hades.master_ref_white, "master")
    again = set_reference(st3, "as_hades", img2.image, f"scene:{s2}", "Scene 3", "Scene 2's image")
    assert state_of(again, "as_hades").audit[-1] == "Scene 3: reference set to Scene 2's image"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="no image"):
        set_reference(st3, "as_hades", None, "scene:x", "Scene 3", "Scene 1's image")


def test_use_master_as_is_skips_generation_and_the_mirror(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    s1 = script.scenes[0].id
    make_shots(runner, engines, pid, script, 0)
    make_shots(runner, engines, pid, script, 1)
    st1 = infer(runner, engines, pid, script, 0)
    runner.run(pid, Stage.ASSET_STATES, s1, action=SceneInstance(asset_id="as_persephone"))
    st1 = states(runner, pid, s1)
    on = use_master(st1, "as_persephone", True, "Scene 1")
    runner.save(pid, Stage.ASSET_STATES, on, s1)
    state = runner.view(pid).state
    p = bundle.registry.get("as_persephone")
    assert scene_image(state, s1, p, state_of(on, "as_persephone")) == (p.master_ref_white, "master")
    assert state_of(on, "as_persephone").audit[-1] == "Scene 1: uses the master reference as is"  # type: ignore[union-attr]
    # a scene that used the master as is passes no instance image on
    st2 = infer(runner, engines, pid, script, 1)
    assert state_of(st2, "as_persephone").reference_from == "master"  # type: ignore[union-attr]


def test_a_failed_model_call_falls_back_to_the_registry_state_changes(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    make_shots(runner, engines, pid, script, 2)
    engines.scripted.enqueue(EngineError("timed out"))
    result = runner.run(pid, Stage.ASSET_STATES, script.scenes[2].id)
    assert result.ok and result.takes[0].purpose == "asset_states_fallback"
    st = states(runner, pid, script.scenes[2].id)
    p = state_of(st, "as_persephone")
    assert p is not None and p.description == "In a black gown, her daisies gone."
    state = runner.view(pid).state
    assert prefill(state, script.scenes[0].id, bundle.registry.get("as_persephone")).startswith("A young woman")


def test_copying_the_master_description_means_unchanged_and_is_not_reasked(runner: Runner,
                                                                           engines: FakeEngines) -> None:
    """A state that is its master word for word says "no change here": one call (re-asked, the
    offline model copied it back every time), and the asset keeps its last known look, which in a
    later scene is the change an earlier scene made, never the master again."""
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    make_shots(runner, engines, pid, script, 2)
    ids = n_assets(runner, pid, script, 2)
    state = runner.view(pid).state
    last_known = {a: prefill(state, script.scenes[2].id, bundle.registry.get(a)) for a in ids}
    assert last_known["as_persephone"] != bundle.registry.get("as_persephone").description  # changed earlier
    copied = {"states": [{"number": k + 1, "description": bundle.registry.get(a).description, "changes": []}
                         for k, a in enumerate(ids)]}
    engines.scripted.enqueue(copied)
    before = len(engines.scripted.calls)
    result = runner.run(pid, Stage.ASSET_STATES, script.scenes[2].id)
    take = result.takes[0]
    assert result.ok and take.attempts == 1 and take.purpose == "asset_states" and not take.note
    assert len(engines.scripted.calls) == before + 1
    st = states(runner, pid, script.scenes[2].id)
    assert {a: state_of(st, a).description for a in ids} == last_known  # type: ignore[union-attr]


def test_a_partly_wrong_answer_keeps_its_good_states_and_fills_the_rest(runner: Runner, engines: FakeEngines) -> None:
    """Asked once (a profile that allows no re-ask), an answer that numbers one asset wrong keeps
    every state it got right; the asset it missed gets its registry look, and the take says so."""
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    make_shots(runner, engines, pid, script, 2)
    ids = n_assets(runner, pid, script, 2)
    assert len(ids) >= 2
    answer = states_out(len(ids), description="Soaked through")
    answer["states"][0]["number"] = 9  # asset 1 numbered wrong
    engines.scripted.max_attempts = 1  # type: ignore[attr-defined]
    # The schema makes a wrong number impossible for a constrained decoder; an engine that does
    # not constrain answers it anyway, and reports it as engines do (InvalidOutputError, with the text).
    engines.scripted.enqueue(InvalidOutputError("The model's output does not fit AssetStatesDraft2", json.dumps(answer)))
    before = len(engines.scripted.calls)
    result = runner.run(pid, Stage.ASSET_STATES, script.scenes[2].id)
    take = result.takes[0]
    assert result.ok and take.purpose == "asset_states" and len(engines.scripted.calls) == before + 1
    assert f"kept {len(ids) - 1} of {len(ids)} states" in take.note
    st = states(runner, pid, script.scenes[2].id)
    kept = [state_of(st, a) for a in ids]
    assert all(k is not None for k in kept)
    assert [k.description for k in kept[1:]] == [f"Soaked through ({n})" for n in range(2, len(ids) + 1)]  # type: ignore[union-attr]
    assert not kept[0].description.startswith("Soaked through")  # type: ignore[union-attr]


def test_the_schema_gives_each_asset_exactly_one_state_in_order() -> None:
    """The grammar a constrained decoder follows: state k is numbered k, n of them, no more."""
    from aiuteur.pipeline.asset_states import states_schema

    schema = states_schema(3)
    ok = {"states": [{"number": k, "description": f"look {k}"} for k in (1, 2, 3)]}
    assert [s.number for s in schema.model_validate(ok).states] == [1, 2, 3]
    for bad in ([2, 1, 3], [1, 2], [1, 2, 3, 4], [1, 1, 3]):
        with pytest.raises(ValidationError):
            schema.model_validate({"states": [{"number": k, "description": "x"} for k in bad]})
    assert issubclass(schema, AssetStatesDraft) and states_schema(3) is schema
    check_bounded(states_schema(24))


def test_edits_write_the_audit_trail_in_words(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    make_shots(runner, engines, pid, script, 2)
    st = infer(runner, engines, pid, script, 2)
    new = set_description(st, "as_persephone", "in black", "Scene 3")
    assert state_of(new, "as_persephone").audit[-1] == "Scene 3: description changed to 'in black'"  # type: ignore[union-attr]
    assert set_description(new, "as_persephone", "in black", "Scene 3") == new
    with pytest.raises(InputError):
        choose_instance(new, "as_persephone", Take(stage=Stage.ASSET_STATES, purpose="x", inputs_hash="h"), "Scene 3")


def test_suggested_assets_are_kept_until_accepted_or_dismissed(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    s2 = script.scenes[1].id
    make_shots(runner, engines, pid, script, 1, in_frame=["Hades", "black chariot", "Cerberus"])
    st = infer(runner, engines, pid, script, 1)
    assert st.suggested == ["black chariot", "Cerberus"]
    # dismissed stays dismissed when the states are inferred again
    st = dismiss_suggestion(st, "Cerberus")
    runner.save(pid, Stage.ASSET_STATES, st, s2)
    st = infer(runner, engines, pid, script, 1)
    assert st.suggested == ["black chariot"] and st.dismissed == ["Cerberus"]
    # accepting creates a real registry asset of this scene, with its state here
    view = runner.view(pid)
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS))
    new_bundle, new_states, asset = add_asset(bundle, st, view.state, s2, "black chariot", AssetCategory.PROP,
                                              "A chariot of black iron.")
    runner.save(pid, Stage.ASSETS, new_bundle)
    runner.save(pid, Stage.ASSET_STATES, new_states, s2)
    runner.accept_upstream(pid, Stage.ASSET_STATES, s2)
    view = runner.view(pid)
    saved = StyleAndAssets.model_validate(view.data(Stage.ASSETS)).registry.get(asset.id)
    assert saved.origin == "scene" and saved.scenes == [s2]
    st = states(runner, pid, s2)
    assert st.suggested == [] and state_of(st, asset.id) is not None
    assert graph.status(view.state, Stage.ASSET_STATES, s2) == Status.DONE
    with pytest.raises(InputError, match="already in the asset registry"):
        add_asset(new_bundle, st, view.state, s2, "Black Chariot", AssetCategory.PROP)


def test_the_prompt_tells_each_line_of_the_scene_once(runner: Runner, engines: FakeEngines) -> None:
    """The shot list holds every line of its scene, so stage 8's prompt gives the lines there and
    not a second time as the scene's text (the prompt's reading is most of stage 8's time on a CPU);
    a line the shot list lacks is still given, as the scene's text."""
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    scene = script.scenes[2]
    make_shots(runner, engines, pid, script, 2)
    infer(runner, engines, pid, script, 2, description="In a black gown")
    user = engines.scripted.calls[-1]["messages"][1]["content"]
    lines = [e.text for e in scene.elements if e.kind.value == "action" and e.text.strip()]
    before, shot_list = user.split("THE SHOT LIST", 1)
    assert "(every line of the scene is in the shot list below)" in before
    for line in lines:  # each sentence of the scene is told by the shot list, and only there
        for sentence in line.split(". "):
            assert sentence.strip(". ") in shot_list and sentence.strip(". ") not in before, (sentence, user)

    # an asset whose last known look is its master gets the master once
    assert "Hades (character). Master, also its last known look: A tall pale man in a smoke-grey robe." in user
    assert user.count("A tall pale man in a smoke-grey robe.") == 1
    assert "Last known look: In a black gown, her daisies gone." in user  # a look that differs is still given

    # without a shot list, the scene's text is all the model gets
    from aiuteur.pipeline.asset_states import _scene_text, _shots_text

    assert _scene_text(scene, "") == "\n".join(
        f"{e.character}: {e.text}" if e.kind.value == "dialogue" else e.text
        for e in scene.elements if e.text.strip() and e.kind.value in ("action", "dialogue", "parenthetical",
                                                                        "centered", "lyric"))
    # a line the shot list does not tell stays, and only that one
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    told = _shots_text(shots, scene, {})
    missing = lines[-1]  # told whole by shot 3E
    assert _scene_text(scene, told.replace(missing, "")) == missing
