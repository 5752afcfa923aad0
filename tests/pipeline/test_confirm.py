"""Stage 11: the estimate (measured here, else a table), its money and assumptions, and the gate."""

from __future__ import annotations

import pytest

from aiuteur.domain import CostEstimate, InputError, ShotList, Stage, Status
from aiuteur.pipeline import actions, graph
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.confirm import confirm_estimate
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.video import clip_frames
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting


class WanLike(FakeVideo):
    model_id = "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers"
    backend = "diffusers-wan"


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                       video=WanLike())


def with_frames(runner: Runner) -> tuple[str, str]:
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    assert runner.run(pid, Stage.FRAMES, sid, seed=1, action=MakeKeyframes(score=False)).ok
    return pid, sid


def estimate_of(runner: Runner, pid: str, sid: str) -> CostEstimate:
    return CostEstimate.model_validate(runner.view(pid).data(Stage.CONFIRM, sid))


def test_without_timings_the_table_is_used_and_every_assumption_is_said(runner: Runner, engines: FakeEngines,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIUTEUR_GPU_RATE", raising=False)
    pid, sid = with_frames(runner)
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=False, rate_per_hour=3.0)).ok
    est = estimate_of(runner, pid, sid)
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots
    assert set(est.per_shot_seconds) == {s.id for s in shots} and not any(est.measured.values())
    for s in shots:  # Wan at 16 fps, about 11 s of GPU per frame
        assert est.per_shot_seconds[s.id] == pytest.approx(clip_frames(s, 16) * 11.0)
    assert est.total_seconds == pytest.approx(sum(est.per_shot_seconds.values()))
    assert est.total_cost == pytest.approx(est.total_seconds / 3600 * 3.0)
    words = " ".join(est.assumptions)
    assert "rough figure" in words and "Wan2.1 FLF2V 14B" in words and "3.00 USD per GPU hour" in words
    assert not est.confirmed and graph.status(runner.view(pid).state, Stage.CONFIRM, sid) == Status.DRAFT
    # a headless run does not confirm hours of GPU by itself
    runner.run(pid, Stage.CONFIRM, sid)
    assert not estimate_of(runner, pid, sid).confirmed
    assert "Waiting for your confirmation" in estimate_of(runner, pid, sid).assumptions[-1]
    # the rate from the environment
    monkeypatch.setenv("AIUTEUR_GPU_RATE", "10")
    runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=False))
    assert estimate_of(runner, pid, sid).rate_per_hour == 10.0
    with pytest.raises(InputError, match="rate_per_hour"):
        runner.run(pid, Stage.CONFIRM, sid, action=actions.parse(Stage.CONFIRM, {"rate_per_hour": "cheap"}))


def test_nothing_is_rendered_before_the_estimate_is_confirmed(runner: Runner, engines: FakeEngines) -> None:
    pid, sid = with_frames(runner)
    with pytest.raises(InputError):  # no estimate at all
        runner.run(pid, Stage.VIDEO, sid)
    runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=False))
    with pytest.raises(InputError, match="Confirm"):
        runner.run(pid, Stage.VIDEO, sid)
    # even called directly, the stage refuses before touching the engine
    from aiuteur.pipeline import video
    from aiuteur.pipeline.stage import StageContext

    view = runner.view(pid)
    ctx = StageContext(state=view.state, project=view.project, scene_id=sid, engines=engines, seed=0)
    with pytest.raises(InputError, match="nothing was rendered"):
        video.run(ctx)
    assert engines._video.calls == [] and engines.calls["video"] == 0
    # the filmmaker confirms (at a new rate): now it renders
    runner.save(pid, Stage.CONFIRM, confirm_estimate(estimate_of(runner, pid, sid), rate_per_hour=1.5), sid)
    assert graph.status(runner.view(pid).state, Stage.CONFIRM, sid) == Status.DONE
    result = runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=4, animatic_fps=4))
    assert result.ok and engines._video.calls


def test_timings_measured_on_this_machine_replace_the_table(runner: Runner, engines: FakeEngines) -> None:
    pid, sid = with_frames(runner)
    runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True))
    assert runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=4, animatic_fps=4)).ok
    runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=False, fps=4))
    est = estimate_of(runner, pid, sid)
    assert all(est.measured.values())
    assert "measured on this machine" in " ".join(est.assumptions)
    clips = runner.view(pid).data(Stage.VIDEO, sid)["clips"]  # type: ignore[index]
    per_frame = sum(c["render_seconds"] for c in clips) / sum(c["num_frames"] for c in clips)
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots
    for s in shots:
        assert est.per_shot_seconds[s.id] == pytest.approx(clip_frames(s, 4) * per_frame, rel=0.02, abs=0.01)


def test_an_animatic_only_profile_costs_nothing_and_confirms_itself(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.engines.video import AnimaticOnly

    engines._video = AnimaticOnly()
    pid, sid = with_frames(runner)
    runner.run(pid, Stage.CONFIRM, sid)
    est = estimate_of(runner, pid, sid)
    assert est.animatic_only and est.confirmed and est.total_seconds == 0
    assert "no video model" in est.assumptions[0]
