"""The sound track: lines mixed at their times, muxed without touching the pictures; a video
model's own sound is kept under the dialogue."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from aiuteur.engines.animatic import concat_clips, ffmpeg_exe, probe
from aiuteur.engines.base import EngineError
from aiuteur.engines.soundtrack import Placement, audio_of, has_audio, mix, mux
from aiuteur.engines.voice import Speech


def clip_with_sound(path: Path, hz: int, seconds: float = 1.0) -> Path:
    """A small clip whose own sound is a sine (what a video model with audio would give)."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc=size=64x48:rate=8:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency={hz}:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def test_mix_places_lines_and_never_clips() -> None:
    beep = Speech(np.full(800, 0.8, dtype=np.float32), 8000)
    track = mix([Placement(beep, 0.5), Placement(beep, 0.55)], 2.0, sample_rate=8000)
    assert len(track.samples) == 16000
    assert np.flatnonzero(track.samples)[0] == 4000
    assert float(np.abs(track.samples).max()) <= 0.981
    with pytest.raises(EngineError, match="positive length"):
        mix([], 0)


def test_a_video_models_own_sound_stays_under_the_dialogue(tmp_path: Path) -> None:
    parts = [clip_with_sound(tmp_path / f"c{k}.mp4", hz) for k, hz in enumerate((440, 660))]
    cut = concat_clips(parts, tmp_path / "cut.mp4")
    assert has_audio(cut)
    frames, seconds = probe(cut)
    line = Speech((0.5 * np.sin(np.arange(8000) * 2 * np.pi * 2000 / 16000)).astype(np.float32), 16000)
    out = mux(cut, mix([Placement(line, 1.0)], seconds), tmp_path / "out.mp4", duration_s=seconds)
    assert probe(out)[0] == frames  # pictures copied, not re-encoded or cut
    heard = audio_of(out, 16000).samples
    spectrum = np.abs(np.fft.rfft(heard[16000:24000]))
    freqs = np.fft.rfftfreq(8000, 1 / 16000)
    near = lambda f: spectrum[np.abs(freqs - f) < 20].max()  # noqa: E731
    assert near(660) > 10 * np.median(spectrum) and near(2000) > 10 * np.median(spectrum)
