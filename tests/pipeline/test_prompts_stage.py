"""Stage 9: prompts built by code, every asset in frame with its reference, edits kept until stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiuteur.domain import AssetStates, InputError, Prompts, ShotList, Stage, Status, StyleAndAssets
from aiuteur.pipeline import graph
from aiuteur.pipeline.actions import RebuildPrompt, SceneInstance
from aiuteur.pipeline.asset_states import assets_in_scene, scene_image, set_description, state_of
from aiuteur.pipeline.headless import run_until
from aiuteur.pipeline.prompts_stage import NO_CHANGE, edit_prompt
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import scene_units
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import (
    FOUR,
    DownText,
    FakeImage,
    FakeMatting,
    project_with_script,
    registry_for,
    states_out,
)

CAM = {"size": "medium", "angle": "eye level", "movement": "static", "lens": "35mm"}


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(image=FakeImage())


def produce(runner: Runner, engines: FakeEngines, pid: str, scene_id: str, n_units: int, *,
            movement: str = "static", changes: list[dict[str, str]] | None = None) -> None:
    engines.scripted.enqueue({"shots": [{"units": [u], **{**CAM, "movement": movement if u == 2 else "static"},
                                         "in_frame": []} for u in range(1, n_units + 1)]})
    assert runner.run(pid, Stage.SHOTS, scene_id).ok
    view = runner.view(pid)
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS))
    n = len(assets_in_scene(bundle, scene_id, ShotList.model_validate(view.data(Stage.SHOTS, scene_id))))
    engines.scripted.enqueue(states_out(n, description="Seen in this scene", changes=changes, at=1))
    assert runner.run(pid, Stage.ASSET_STATES, scene_id).ok


def test_every_asset_in_frame_has_its_reference_attached(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    for sc in script.scenes:
        produce(runner, engines, pid, sc.id, len(scene_units(sc)))
    sid = script.scenes[2].id
    runner.run(pid, Stage.ASSET_STATES, sid, action=SceneInstance(asset_id="as_persephone"))
    calls_before = sum(engines.calls.values())
    for sc in script.scenes:
        assert runner.run(pid, Stage.PROMPTS, sc.id).ok
    assert sum(engines.calls.values()) == calls_before  # built by code: no model call
    state = runner.view(pid).state
    bundle = StyleAndAssets.model_validate(state.data(Stage.ASSETS))
    for sc in script.scenes:
        shots = ShotList.model_validate(state.data(Stage.SHOTS, sc.id))
        prompts = Prompts.model_validate(state.data(Stage.PROMPTS, sc.id))
        states = AssetStates.model_validate(state.data(Stage.ASSET_STATES, sc.id))
        assert [p.shot_id for p in prompts.prompts] == [s.id for s in shots.shots]
        for shot, p in zip(shots.shots, prompts.prompts, strict=True):
            assert shot.assets, shot.number
            assert set(shot.assets) <= set(p.asset_refs) and not p.missing
            for aid in shot.assets:
                expected = scene_image(state, sc.id, bundle.registry.get(aid), state_of(states, aid))[0]
                assert p.asset_refs[aid] == expected and expected in p.references
    # scene 3's chosen instance image is what scene 3 attaches for Persephone
    p3 = Prompts.model_validate(state.data(Stage.PROMPTS, sid)).prompts[0]
    chosen = state_of(AssetStates.model_validate(state.data(Stage.ASSET_STATES, sid)), "as_persephone")
    assert chosen is not None and p3.asset_refs["as_persephone"] == chosen.image


def test_prompts_carry_shot_states_style_and_rules(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    scene = script.scenes[2]
    produce(runner, engines, pid, scene.id, 5, movement="dolly in",
            changes=[{"shot": "3E", "description": "Wearing the iron crown"}])
    runner.run(pid, Stage.PROMPTS, scene.id)
    state = runner.view(pid).state
    prompts = Prompts.model_validate(state.data(Stage.PROMPTS, scene.id)).prompts
    first, moving, speech, last = prompts[0], prompts[1], prompts[3], prompts[4]
    # the shot's action first, then its camera (issue 13: the action was last and cut from every frame)
    assert first.start_prompt.startswith("Persephone enters in a black gown, her daisies gone.")
    assert "shot, eye level" in first.start_prompt.split(".")[1]
    assert "Underworld Hall (Seen in this scene" in first.start_prompt
    assert "Persephone enters in a black gown" in first.start_prompt
    assert "stop-motion, handmade clay" in first.start_prompt and "All characters are eggs." in first.start_prompt
    assert first.end_prompt is None and first.end_reason == NO_CHANGE
    assert moving.end_prompt is not None and "finished its dolly in" in moving.end_prompt
    assert 'PERSEPHONE says: "Six seeds. No more."' in speech.video_prompt
    # the change recorded at shot 3E shows in its end frame only
    assert last.end_prompt is not None and "Wearing the iron crown" in last.end_prompt
    assert "Wearing the iron crown" not in last.start_prompt


def test_an_edited_prompt_is_kept_until_upstream_changes(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    scene = script.scenes[0]
    produce(runner, engines, pid, scene.id, 3)
    runner.run(pid, Stage.PROMPTS, scene.id)
    view = runner.view(pid)
    prompts = Prompts.model_validate(view.data(Stage.PROMPTS, scene.id))
    shot_id = prompts.prompts[0].shot_id
    edited = edit_prompt(prompts, shot_id, start="My own start frame.", end="My own end frame.")
    runner.save(pid, Stage.PROMPTS, edited, scene.id, base_revision=view.revision(Stage.PROMPTS, scene.id))
    assert graph.status(runner.view(pid).state, Stage.PROMPTS, scene.id) == Status.DONE
    # running again keeps the edit
    runner.run(pid, Stage.PROMPTS, scene.id)
    again = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, scene.id))
    assert again.prompts[0].start_prompt == "My own start frame." and again.prompts[0].edited
    # an upstream change (a state description) makes the prompts stale
    states = AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, scene.id))
    runner.save(pid, Stage.ASSET_STATES, set_description(states, "as_persephone", "muddy", "Scene 1"), scene.id)
    assert graph.status(runner.view(pid).state, Stage.PROMPTS, scene.id) == Status.STALE
    # rebuilding that one shot drops the edit
    runner.run(pid, Stage.PROMPTS, scene.id, action=RebuildPrompt(shot_id=shot_id))
    rebuilt = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, scene.id)).prompts[0]
    assert not rebuilt.edited and "muddy" in rebuilt.start_prompt
    with pytest.raises(InputError, match="empty"):
        edit_prompt(again, shot_id, start="  ")
    no_end = edit_prompt(again, shot_id, no_end=True).prompts[0]
    assert no_end.end_prompt is None and no_end.end_reason


def test_an_asset_without_any_image_is_listed_as_missing(runner: Runner, engines: FakeEngines) -> None:
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script, with_refs=False)
    scene = script.scenes[0]
    produce(runner, engines, pid, scene.id, 3)
    runner.run(pid, Stage.PROMPTS, scene.id)
    p = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, scene.id)).prompts[0]
    assert p.references == [] and "as_meadow" in p.missing


def test_run_until_prompts_headless_from_a_saved_script_and_registry(runner: Runner, engines: FakeEngines) -> None:
    """Every scene through stages 6-9 with no answers queued: fallbacks never stop the run."""
    from aiuteur.engines.base import EngineError

    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    engines.scripted.enqueue(*[EngineError("no model")] * 8)
    steps = list(run_until(runner, pid, Stage.PROMPTS))
    assert not [s for s in steps if s.failed], [(s.stage, s.what) for s in steps]
    state = runner.view(pid).state
    for sc in script.scenes:
        assert graph.status(state, Stage.PROMPTS, sc.id) == Status.DONE


def test_cli_run_until_prompts_works_headless(tmp_path: Path, home: object, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m aiuteur run --script FILE --until prompts --json`, with no text model at all: stage 5
    keeps what code can make and says what failed; resuming runs stages 6-9 on their fallbacks."""
    import aiuteur.cli as cli
    from aiuteur.store import open_store

    engines = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting())
    monkeypatch.setattr(cli, "_runner", lambda: Runner(open_store(), engines=engines))
    f = tmp_path / "seeds.fountain"
    f.write_text(FOUR, encoding="utf-8")
    rc = cli.main(["run", "--script", str(f), "--until", "prompts", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    if rc != 0:  # stage 5 reported its failed model calls; its artifact is saved, so resume
        assert out["stopped"]["stage"] == "assets" and out["stages"]["assets"] == "done"
        rc = cli.main(["run", "--project", out["project"], "--until", "prompts", "--json", "--quiet"])
        out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["stages"]["prompts"] == "done" and out["shots"] >= 4 and "stopped" not in out


def test_master_references_and_keyframes_describe_the_style_identically() -> None:
    """One style text: a master reference and a shot's frames and clip name the style in the same
    words, "in the manner of …" included (one copy dropped it, so the two described it differently)."""
    from aiuteur.domain import Asset, AssetCategory, Scene, Shot, VisualStyle
    from aiuteur.pipeline.assets import reference_prompt
    from aiuteur.pipeline.prompts_stage import LONG_BUDGET, build_prompt
    from aiuteur.pipeline.visual_style import style_words

    style = VisualStyle(medium="stop-motion", look="handmade clay", palette="ochre and teal", era="1920s",
                        references="Ladislas Starevich")
    words = style_words(style)
    assert "in the manner of Ladislas Starevich" in words
    ada = Asset(name="Ada", category=AssetCategory.CHARACTER, description="A clockmaker in a grey coat")
    scene = Scene(number="1", heading="INT. WORKSHOP - NIGHT")
    shot = Shot(number="1A", action="Ada winds the clock.", assets=[ada.id], movement="dolly in")
    prompt = build_prompt(shot, scene, {ada.id: ada}, None, {ada.id: None}, style, [], budget=LONG_BUDGET)
    reference, _, _ = reference_prompt(ada, style, [])
    said = f"Style: {words}."
    assert said in reference
    assert said in prompt.start_prompt and prompt.end_prompt is not None and said in prompt.end_prompt
    assert said in prompt.video_prompt


@pytest.mark.parametrize(("action", "start"), [
    ("Mr. Abiodun is in the passenger seat with his eyes shut. He prays.", "Mr. Abiodun is in the passenger seat with his eyes shut."),
    ("At 11 a.m. the van leaves the yard. Rain.", "At 11 a.m. the van leaves the yard."),
    ("B. Moyo checks the faces. She stops.", "B. Moyo checks the faces."),
    ('"Stop. Now." Dov runs for the door.', '"Stop. Now."'),
])
def test_a_start_frame_is_the_actions_first_whole_sentence(action: str, start: str) -> None:
    """The real model's three-tier-disaster shot 'Mr. Abiodun is in the passenger seat …' became a
    start frame of 'Mr.' and an end frame of the rest: a title, an initial or 'a.m.' ends no sentence."""
    from aiuteur.pipeline.prompts_stage import _sentences

    first, rest = _sentences(action)
    assert first == start and (first + " " + rest).strip() == " ".join(action.split())
