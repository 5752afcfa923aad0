"""The animatic encoder: holds, crossfades and burned-in dialogue, through the bundled ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aiuteur.engines.animatic import (
    AnimaticShot,
    burn_caption,
    concat_clips,
    probe,
    read_rgb_frames,
    video_meta,
    write_animatic,
)
from aiuteur.engines.base import EngineError

RED = Image.new("RGB", (96, 64), (220, 0, 0))
BLUE = Image.new("RGB", (96, 64), (0, 0, 220))
GREEN = Image.new("RGB", (96, 64), (0, 220, 0))


def frames_of(path: Path) -> list[np.ndarray]:
    (w, h), frames = read_rgb_frames(path)
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in frames]


def test_animatic_has_the_expected_frame_count_and_duration(tmp_path: Path) -> None:
    shots = [AnimaticShot(RED, 1.0), AnimaticShot(BLUE, 0.5, end=GREEN), AnimaticShot(GREEN, 0.75)]
    out = write_animatic(shots, tmp_path / "a" / "animatic.mp4", fps=12, crossfade_s=0.5)
    assert probe(out) == (27, pytest.approx(2.25))


def test_holds_and_crossfades(tmp_path: Path) -> None:
    out = write_animatic([AnimaticShot(RED, 1.0), AnimaticShot(BLUE, 1.0)], tmp_path / "x.mp4", fps=10)
    frames = frames_of(out)
    red_then_blue = [int(f[32, 48, 0]) - int(f[32, 48, 2]) for f in frames]
    assert red_then_blue[0] > 200 and red_then_blue[-1] < -200  # holds at both ends
    assert red_then_blue == sorted(red_then_blue, reverse=True)  # a monotone dissolve
    assert abs(red_then_blue[9]) < 120 and abs(red_then_blue[10]) < 120  # mid-dissolve at the cut
    cut = write_animatic(
        [AnimaticShot(RED, 1.0), AnimaticShot(BLUE, 1.0)], tmp_path / "c.mp4", fps=10, crossfade_s=0
    )
    assert [int(f[32, 48, 0]) > 128 for f in frames_of(cut)] == [True] * 10 + [False] * 10


def test_dialogue_is_burned_in_at_the_bottom(tmp_path: Path) -> None:
    captioned = np.asarray(burn_caption(GREEN, "Where were you last night?"), np.int16)
    plain = np.asarray(GREEN, np.int16)
    assert np.abs(captioned[-12:] - plain[-12:]).max() > 100 and (captioned[:20] == plain[:20]).all()
    out = write_animatic([AnimaticShot(GREEN, 0.5, caption="Where were you?")], tmp_path / "d.mp4", fps=8)
    assert np.abs(frames_of(out)[0][-10:].astype(int) - plain[-10:]).max() > 100


def test_other_shapes_are_letterboxed_to_the_requested_size(tmp_path: Path) -> None:
    tall = Image.new("RGB", (40, 80), (220, 220, 220))
    path = tmp_path / "tall.png"
    tall.save(path)
    out = write_animatic(
        [AnimaticShot(RED, 0.5), AnimaticShot(path, 0.5)], tmp_path / "l.mp4", fps=8, size=(97, 64)
    )
    last = frames_of(out)[-1]
    assert last.shape == (64, 96, 3) and last[32, 2].max() < 30 and last[32, 48].min() > 180


def test_concat_clips_joins_end_to_end(tmp_path: Path) -> None:
    a = write_animatic([AnimaticShot(RED, 1.0)], tmp_path / "a.mp4", fps=8)
    b = write_animatic(
        [AnimaticShot(Image.new("RGB", (48, 32), (0, 0, 200)), 0.5)], tmp_path / "b.mp4", fps=8
    )
    out = concat_clips([a, b], tmp_path / "scene.mp4")
    assert probe(out) == (12, pytest.approx(1.5))


def test_bad_input_is_refused_plainly(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no shots"):
        write_animatic([], tmp_path / "x.mp4")
    with pytest.raises(EngineError, match="positive duration"):
        write_animatic([AnimaticShot(RED, 0)], tmp_path / "x.mp4")
    with pytest.raises(EngineError, match="missing"):
        concat_clips([tmp_path / "nope.mp4"], tmp_path / "y.mp4")


def test_video_meta_reads_size_and_rate_and_refuses_a_non_video_plainly(tmp_path: Path) -> None:
    out = write_animatic([AnimaticShot(RED, 0.5)], tmp_path / "m.mp4", fps=8)
    assert video_meta(out) == ((96, 64), 8.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(EngineError, match="Cannot read the video"):
        video_meta(junk)
