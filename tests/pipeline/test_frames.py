"""Stage 10: keyframes from the stage-9 prompts, references above style, continuity, takes."""

from __future__ import annotations

import pytest

from aiuteur.domain import Frames, InputError, Prompts, Shot, ShotList, Stage, Status
from aiuteur.pipeline import actions, graph
from aiuteur.pipeline.actions import MakeKeyframes, RegenerateFrame, RegenerateShotFrames
from aiuteur.pipeline.frames import PLACE_SCALE, REFERENCE_SCALE, choose_frame, continues
from aiuteur.pipeline.runner import Runner
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                       video=FakeVideo())


def frames_of(runner: Runner, pid: str, sid: str) -> Frames:
    return Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid))


def shots_of(runner: Runner, pid: str, sid: str) -> list[Shot]:
    return ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots


def test_every_frame_has_one_reference_per_asset_in_frame_above_the_style(runner: Runner, engines: FakeEngines) -> None:
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    result = runner.run(pid, Stage.FRAMES, sid, seed=3)
    assert result.ok and result.record is not None
    prompts = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid)).prompts
    requests = engines._image.requests
    assert len(requests) == len(frames_of(runner, pid, sid).frames) >= len(prompts)
    for p, req in zip(prompts, requests, strict=False):
        assert req.prompt == p.start_prompt
        assert sorted(r.key for r in req.references) == sorted(p.asset_refs.values())
        assert req.style is not None and 0 < req.style.scale < min(r.scale for r in req.references)
        assert {r.scale for r in req.references} <= {REFERENCE_SCALE, PLACE_SCALE}  # characters above places
    assert any(r.scale == REFERENCE_SCALE for req in requests for r in req.references)
    frames = frames_of(runner, pid, sid)
    assert all(f.image and f.chosen_take and f.consistency is not None for f in frames.frames)
    assert all(set(f.asset_scores) for f in frames.frames)
    assert graph.status(runner.view(pid).state, Stage.FRAMES, sid) == Status.DONE


def test_a_continuing_shot_starts_from_the_previous_shots_last_frame(runner: Runner, engines: FakeEngines) -> None:
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    shots = shots_of(runner, pid, sid)
    runner.run(pid, Stage.FRAMES, sid, seed=1)
    frames = frames_of(runner, pid, sid)
    prompts = {p.shot_id: p for p in Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid)).prompts}
    assets = {a["id"]: a for a in runner.view(pid).state.registry_assets()}
    from aiuteur.domain import Asset

    registry = {k: Asset.model_validate(v) for k, v in assets.items()}
    expected = [continues(shots[i - 1] if i else None, s, registry, prompts) for i, s in enumerate(shots)]
    assert expected[0] is False and any(expected), expected
    for i, shot in enumerate(shots):
        start = frames.get(shot.id, "start")
        assert start is not None
        if expected[i]:
            prev = frames.get(shots[i - 1].id, "end") or frames.get(shots[i - 1].id, "start")
            assert prev is not None and start.conditioned_on == prev.image
        else:
            assert start.conditioned_on is None
    # an explicit flag wins over the rule; a jump in time breaks continuity
    later = shots[1].model_copy(update={"action": "Hours later, the lamp is cold.", "continues": None})
    assert not continues(shots[0], later.model_copy(update={"assets": shots[0].assets}), registry)
    assert continues(shots[0], later.model_copy(update={"continues": True}), registry)


def test_regenerating_one_frame_or_one_shot_leaves_the_others_alone(runner: Runner, engines: FakeEngines) -> None:
    pid, script = film_project(runner)
    sid = script.scenes[1].id
    runner.run(pid, Stage.FRAMES, sid, seed=1)
    before = frames_of(runner, pid, sid)
    first, second = before.frames[0], before.frames[-1]
    runner.run(pid, Stage.FRAMES, sid, seed=7, action=RegenerateFrame(shot_id=first.shot_id, end=first.which == "end"))
    after = frames_of(runner, pid, sid)
    a0 = after.get(first.shot_id, first.which)
    assert a0 is not None and len(a0.takes) == 2 and a0.image != first.image
    assert [f for f in after.frames if f != a0] == [f for f in before.frames if f != first]
    # the carousel: choose the earlier take again
    take = next(t for t in runner.takes(pid, Stage.FRAMES, sid, f"frame:{first.shot_id}:{first.which}")
                if t.id == first.chosen_take)
    runner.save(pid, Stage.FRAMES, choose_frame(after, first.shot_id, first.which, take), sid)
    assert frames_of(runner, pid, sid).get(first.shot_id, first.which) == first.model_copy(
        update={"takes": a0.takes})
    # one shot: its frames only
    runner.run(pid, Stage.FRAMES, sid, seed=9, action=RegenerateShotFrames(shot_id=second.shot_id))
    last = frames_of(runner, pid, sid)
    assert second.shot_id != first.shot_id
    expected = {(f.shot_id, f.which): len(f.takes) + (f.shot_id == second.shot_id) for f in after.frames}
    assert {(f.shot_id, f.which): len(f.takes) for f in last.frames} == expected
    with pytest.raises(InputError, match="Frames has no action 'render_clip'"):
        runner.run(pid, Stage.FRAMES, sid, action=actions.parse(Stage.FRAMES, {"kind": "render_clip", "shot_id": "x"}))


def test_a_failed_generation_leaves_earlier_takes_and_choices_intact(runner: Runner, engines: FakeEngines) -> None:
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    runner.run(pid, Stage.FRAMES, sid, seed=1)
    before = runner.view(pid)
    saved = frames_of(runner, pid, sid)
    target = RegenerateShotFrames(shot_id=saved.frames[0].shot_id)
    engines._image.fail = "CUDA out of memory while denoising"
    result = runner.run(pid, Stage.FRAMES, sid, seed=2, action=target)
    assert not result.ok and result.record is None
    assert "out of memory" in result.errors[0] and "shot 1A" in result.errors[0]
    assert frames_of(runner, pid, sid) == saved  # choices and carousels untouched
    assert runner.view(pid).revision(Stage.FRAMES, sid) == before.revision(Stage.FRAMES, sid)
    takes = runner.takes(pid, Stage.FRAMES, sid, f"frame:{saved.frames[0].shot_id}:start")
    assert [t.ok for t in takes] == [True, False] and takes[1].error  # the failure is in the carousel, saying why
    # a whole-scene run that fails part-way keeps what it made before the failure and stops there
    engines._image.fail = ""
    calls = len(engines._image.requests)

    real = engines._image
    made: list[int] = []

    def generate(request, *, progress=None):  # type: ignore[no-untyped-def]
        made.append(1)
        if len(made) == 2:
            raise RuntimeError("the GPU fell off the bus")
        return FakeImage.generate(real, request)

    real.generate = generate  # type: ignore[method-assign]
    result = runner.run(pid, Stage.FRAMES, sid, seed=4)
    assert not result.ok and result.record is not None and len(result.takes) == 2
    after = frames_of(runner, pid, sid)
    assert len(after.frames[0].takes) == 2 and after.frames[1:] == saved.frames[1:]
    assert len(engines._image.requests) >= calls


def test_best_of_n_preselects_the_most_consistent_take(runner: Runner, engines: FakeEngines) -> None:
    pid, script = film_project(runner)
    sid = script.scenes[1].id
    result = runner.run(pid, Stage.FRAMES, sid, seed=5, action=MakeKeyframes(best_of=3))
    frames = frames_of(runner, pid, sid)
    assert len(result.takes) == 3 * len(frames.frames)
    for f in frames.frames:
        takes = {t.id: t for t in result.takes}
        scores = [takes[t].output["consistency"] for t in f.takes]  # type: ignore[index]
        assert len(f.takes) == 3 and f.consistency == max(scores)
    with pytest.raises(InputError, match="best_of"):
        runner.run(pid, Stage.FRAMES, sid, action=actions.parse(Stage.FRAMES, {"best_of": 99}))
