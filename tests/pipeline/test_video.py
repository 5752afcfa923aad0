"""Stage 12: one clip per shot, the scene cut, the animatic; one shot re-rendered and re-joined."""

from __future__ import annotations

import pytest

from aiuteur.domain import Clips, InputError, ShotList, Stage, Status
from aiuteur.engines.animatic import probe
from aiuteur.pipeline import graph
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderClip, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.video import ANIMATIC_ONLY, shot_markers
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting

FPS = 4


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                       video=FakeVideo())


def ready(runner: Runner, scene: int = 1) -> tuple[str, str]:
    pid, script = film_project(runner)
    sid = script.scenes[scene].id
    assert runner.run(pid, Stage.FRAMES, sid, seed=1, action=MakeKeyframes(score=False)).ok
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    return pid, sid


def clips_of(runner: Runner, pid: str, sid: str) -> Clips:
    return Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))


def test_one_clip_per_shot_joined_into_the_scene_cut_and_the_animatic(runner: Runner, engines: FakeEngines) -> None:
    pid, sid = ready(runner)
    result = runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=FPS, animatic_fps=8))
    assert result.ok, result.errors
    clips = clips_of(runner, pid, sid)
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots
    assert [c.shot_id for c in clips.clips] == [s.id for s in shots]
    assert all(c.video and c.num_frames == max(2, round(s.duration_s * FPS)) and c.machine
               for c, s in zip(clips.clips, shots, strict=True))
    total = sum(c.num_frames for c in clips.clips)
    frames, seconds = probe(runner.store.media_path(clips.scene_cut or ""))
    assert frames == total and seconds == pytest.approx(total / FPS, abs=0.3)
    a_frames, _ = probe(runner.store.media_path(clips.animatic or ""))
    assert a_frames == round(sum(s.duration_s for s in shots) * 8)
    assert graph.status(runner.view(pid).state, Stage.VIDEO, sid) == Status.DONE
    assert [t.target for t in result.takes] == [*(f"clip:{s.id}" for s in shots), "scene_cut", "animatic"]
    assert shot_markers(shots)[0] == (0.0, shots[0].number)


def test_re_rendering_one_shot_joins_the_cut_again_and_touches_nothing_else(runner: Runner,
                                                                             engines: FakeEngines) -> None:
    pid, sid = ready(runner)
    runner.run(pid, Stage.VIDEO, sid, seed=1, action=RenderScene(fps=FPS, animatic_fps=4))
    before = clips_of(runner, pid, sid)
    one = before.clips[-1]
    runner.run(pid, Stage.VIDEO, sid, seed=50, action=RenderClip(shot_id=one.shot_id, fps=FPS))
    after = clips_of(runner, pid, sid)
    changed = [c for c in after.clips if c != before.clips[after.clips.index(c)]]
    assert [c.shot_id for c in changed] == [one.shot_id] and len(changed[0].takes) == 2
    assert after.scene_cut != before.scene_cut and after.animatic == before.animatic
    assert len(engines._video.calls) == len(before.clips) + 1


def test_a_failed_render_keeps_the_earlier_clips(runner: Runner, engines: FakeEngines) -> None:
    pid, sid = ready(runner)
    runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=FPS, animatic_fps=4))
    before = clips_of(runner, pid, sid)
    engines._video.fail = "Out of GPU memory while rendering"
    result = runner.run(pid, Stage.VIDEO, sid, action=RenderClip(shot_id=before.clips[0].shot_id, fps=FPS))
    assert not result.ok and "Out of GPU memory" in result.errors[0]
    assert clips_of(runner, pid, sid) == before


def test_an_animatic_only_profile_says_so_and_makes_the_animatic(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.engines.video import AnimaticOnly

    engines._video = AnimaticOnly()
    pid, sid = ready(runner, scene=0)
    assert runner.run(pid, Stage.VIDEO, sid, action=RenderScene(animatic_fps=4)).ok
    clips = clips_of(runner, pid, sid)
    assert clips.animatic and clips.scene_cut is None and not any(c.video for c in clips.clips)
    assert clips.note == ANIMATIC_ONLY and "no video model" in clips.note
    assert graph.status(runner.view(pid).state, Stage.VIDEO, sid) == Status.DONE
    with pytest.raises(InputError, match="no video model"):
        runner.run(pid, Stage.VIDEO, sid, action=RenderClip(shot_id=clips.clips[0].shot_id))
