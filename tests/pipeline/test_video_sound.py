"""Stage 12's sound: the dialogue on the animatic and the cut, at the shots' starts; one line spoken
again re-mixes only the sound; SRT cues match the cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiuteur.domain import Clips, Script, ShotList, Stage
from aiuteur.engines.animatic import probe
from aiuteur.engines.soundtrack import audio_of
from aiuteur.engines.voice import read_wav
from aiuteur.pipeline import soundtrack
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderClip, RenderScene, RespeakLine
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import scene_units
from aiuteur.pipeline.timing import shot_timing
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting

FPS = 4
ANIMATIC_FPS = 8


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                       video=FakeVideo())


def made(runner: Runner) -> tuple[str, Script, str]:
    pid, script = film_project(runner)
    sid = next(s.id for s in script.scenes if s.dialogue)
    assert runner.run(pid, Stage.FRAMES, sid, seed=1, action=MakeKeyframes(score=False)).ok
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    result = runner.run(pid, Stage.VIDEO, sid, seed=2, action=RenderScene(fps=FPS, animatic_fps=ANIMATIC_FPS))
    assert result.ok, result.errors
    return pid, script, sid


def onsets(samples: np.ndarray, rate: int, starts: list[float]) -> list[float]:
    """Where sound begins at or after each expected start (searching from 60 ms before it)."""
    loud = np.abs(samples) > 0.01
    out = []
    for t in starts:
        i = max(0, round((t - 0.06) * rate))
        hit = np.flatnonzero(loud[i:])
        out.append((i + int(hit[0])) / rate if len(hit) else float("inf"))
    return out


def test_the_animatic_and_the_cut_carry_every_line_at_its_shots_start(runner: Runner, engines: FakeEngines) -> None:
    pid, script, sid = made(runner)
    scene = script.scene(sid)
    view = runner.view(pid)
    shots = ShotList.model_validate(view.data(Stage.SHOTS, sid))
    clips = Clips.model_validate(view.data(Stage.VIDEO, sid))
    assert shots.lines and all(ln.audio for ln in shots.lines)
    assert clips.soundtrack and clips.cut_soundtrack and clips.animatic_picture and clips.cut_picture
    units = scene_units(scene)
    for key, starts, fps in (
        (clips.animatic, soundtrack.animatic_starts(shots.shots), ANIMATIC_FPS),
        (clips.scene_cut, soundtrack.cut_starts([c.num_frames for c in clips.clips], FPS), FPS),
    ):
        path = runner.store.media_path(key or "")
        frames, _ = probe(path)
        sound = audio_of(path)
        assert abs(sound.seconds - frames / fps) <= 1 / fps  # as long as the video, within one frame
        expected = [start + offset for shot, start in zip(shots.shots, starts, strict=True)
                    for _, offset in shot_timing(shot, units, shots.lines).lines]
        assert len(expected) == len(shots.lines)
        got = onsets(sound.samples, sound.sample_rate, expected)
        assert all(abs(g - e) <= 0.04 for g, e in zip(got, expected, strict=True)), (got, expected)


def test_speaking_one_line_again_remixes_only_the_sound(runner: Runner, engines: FakeEngines) -> None:
    pid, script, sid = made(runner)
    before = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid))
    line = shots.lines[0]
    result = runner.run(pid, Stage.VIDEO, sid, seed=77, action=RespeakLine(line=line.key))
    assert result.ok and [t.target for t in result.takes] == [f"line:{line.key}"]
    after = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    assert [ln.key for ln in after.lines] == [line.key] and after.lines[0].take != line.take
    assert after.clips == before.clips and after.animatic_picture == before.animatic_picture
    assert after.soundtrack != before.soundtrack and after.animatic != before.animatic
    old = read_wav(runner.store.media_path(before.soundtrack or "").read_bytes()).samples
    new = read_wav(runner.store.media_path(after.soundtrack or "").read_bytes()).samples
    times = soundtrack.line_times(script.scene(sid), shots.shots, shots.lines,
                                  soundtrack.animatic_starts(shots.shots))
    rate = 24000
    for other, start, _ in times[1:]:  # every other line is sample for sample what it was
        if times[0][1] + times[0][0].seconds + 0.5 < start:
            a, b = round(start * rate), round((start + other.seconds) * rate)
            assert np.array_equal(old[a:b], new[a:b])
    assert not np.array_equal(old, new)


def test_re_rendering_one_shot_keeps_the_other_lines(runner: Runner, engines: FakeEngines) -> None:
    pid, _, sid = made(runner)
    before = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    one = before.clips[-1]
    assert runner.run(pid, Stage.VIDEO, sid, seed=9, action=RenderClip(shot_id=one.shot_id, fps=FPS)).ok
    after = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    assert after.cut_picture != before.cut_picture
    assert after.cut_soundtrack == before.cut_soundtrack  # same lines at the same places: the same track
    assert after.soundtrack == before.soundtrack and after.animatic == before.animatic


def test_srt_cues_match_the_cut() -> None:
    text = soundtrack.srt([(0.0, 1.25, "MARA: Hi."), (3.5, 4.0, "JOE: Out.")])
    assert text.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,250", "MARA: Hi."]
    assert "00:00:03,500 --> 00:00:04,000" in text


def test_srt_and_the_timelines_dialogue_track_match_the_cut(runner: Runner, engines: FakeEngines,
                                                            tmp_path: Path) -> None:
    import opentimelineio as otio

    from aiuteur.exports.subtitles import export_subtitles
    from aiuteur.exports.timeline import build_timeline

    pid, script, sid = made(runner)
    view = runner.view(pid)
    shots = ShotList.model_validate(view.data(Stage.SHOTS, sid))
    clips = Clips.model_validate(view.data(Stage.VIDEO, sid))
    scene = script.scene(sid)
    times = soundtrack.line_times(scene, shots.shots, shots.lines,
                                  soundtrack.cut_starts([c.num_frames for c in clips.clips], FPS))
    files = export_subtitles(runner, view, tmp_path, "Lamp")
    names = sorted(p.name for p in files)
    assert "Lamp_Film.srt" in names and any(n.startswith("Lamp_Sc") for n in names if n != "Lamp_Film.srt")
    scene_srt = next(p for p in files if p.name != "Lamp_Film.srt").read_text()
    blocks = [b.splitlines() for b in scene_srt.strip().split("\n\n")]
    assert len(blocks) == len(times)
    for block, (line, start, _) in zip(blocks, times, strict=True):
        assert block[1].startswith(soundtrack.srt_time(start))
        assert block[2] == f"{line.character}: {line.text}"
    timeline = build_timeline(runner, view, tmp_path, "Lamp")
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert len(audio) == 1
    heard = [c for c in audio[0] if isinstance(c, otio.schema.Clip)]
    assert len(heard) == len([ln for ln in shots.lines if ln.audio])
    for clip, (line, start, _) in zip(heard, times, strict=True):
        at = audio[0].range_of_child(clip).start_time.to_seconds()
        assert abs(at - start) < 0.002 and (tmp_path / clip.media_reference.target_url).is_file()
        assert clip.metadata["aiuteur"]["text"] == line.text


def test_the_estimate_includes_voice_time(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.domain import CostEstimate

    pid, _, sid = made(runner)
    est = CostEstimate.model_validate(runner.view(pid).data(Stage.CONFIRM, sid))
    sound = [a for a in est.assumptions if a.startswith("Sound:")]
    assert est.voice_seconds > 0 and sound and "already spoken in stage 7" in sound[0]
