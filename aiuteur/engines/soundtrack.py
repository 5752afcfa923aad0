"""The sound track: spoken lines mixed onto one track at their times, and muxed into a video.

`mix` places each line at its start (seconds) on a silent track of exactly the video's length
and sums them (lines may overlap; the sum is scaled down only if it would clip). `mux` puts the
track into an mp4 with the bundled ffmpeg, copying the video stream (no re-encode); a video that
already has sound (a video model with audio) keeps it, with the dialogue mixed over it.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiuteur.engines.animatic import ffmpeg_exe
from aiuteur.engines.base import EngineError
from aiuteur.engines.voice import Speech, resample, wav_bytes

SAMPLE_RATE = 24000


@dataclass(frozen=True)
class Placement:
    """One line on the track: its audio, where it starts and how loud it is."""

    speech: Speech
    start_s: float
    volume: float = 1.0


def to_rate(speech: Speech, sample_rate: int) -> np.ndarray:
    """The samples at `sample_rate` (linear interpolation)."""
    if speech.sample_rate == sample_rate:
        return speech.samples.astype(np.float32)
    return resample(speech.samples, speech.sample_rate / sample_rate)


def mix(placements: Sequence[Placement], total_s: float, sample_rate: int = SAMPLE_RATE) -> Speech:
    """One track of `total_s` seconds with every placement added at its start (cut at the end).

    Raises:
        EngineError: a negative length or a placement before 0 s.
    """
    if total_s <= 0:
        raise EngineError(f"A sound track needs a positive length, not {total_s} s.")
    track = np.zeros(round(total_s * sample_rate), dtype=np.float32)
    for p in placements:
        if p.start_s < 0:
            raise EngineError(f"A line cannot start before the film does ({p.start_s} s).")
        samples = to_rate(p.speech, sample_rate) * p.volume
        at = round(p.start_s * sample_rate)
        end = min(len(track), at + len(samples))
        if end > at:
            track[at:end] += samples[: end - at]
    peak = float(np.abs(track).max(initial=0.0))
    if peak > 0.98:
        track *= 0.98 / peak
    return Speech(track, sample_rate)


def has_audio(video: Path) -> bool:
    """Whether the file has an audio stream (read from ffmpeg's description of it)."""
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(video)], capture_output=True, text=True,
                          check=False)
    return "Audio:" in done.stderr


def mux(video: Path, track: Speech, out: Path, *, duration_s: float | None = None, keep_own: bool = True) -> Path:
    """`video` with `track` as its sound (mixed over the video's own sound when it has some).

    The video stream is copied, not re-encoded, so re-mixing a line never touches the pictures.

    Raises:
        EngineError: ffmpeg failing, with its last words.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    own = keep_own and has_audio(video)
    with tempfile.TemporaryDirectory(prefix="aiuteur-mux-") as tmp:
        wav = Path(tmp) / "track.wav"
        wav.write_bytes(wav_bytes(track))
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-i", str(wav)]
        if own:
            cmd += ["-filter_complex", "[0:a][1:a]amix=inputs=2:duration=first:normalize=0[a]",
                    "-map", "0:v", "-map", "[a]"]
        else:
            cmd += ["-map", "0:v", "-map", "1:a"]
        if duration_s is not None:
            cmd += ["-t", f"{duration_s:.4f}"]
        cmd += ["-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"ffmpeg could not add the sound track to {out.name}: {done.stderr.strip()[-300:]}")
    return out


def audio_of(video: Path, sample_rate: int = SAMPLE_RATE) -> Speech:
    """The decoded sound of a video, mono (empty when it has none)."""
    done = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-vn", "-ac", "1", "-ar",
                           str(sample_rate), "-f", "f32le", "-"], capture_output=True, check=False)
    if done.returncode != 0:
        return Speech(np.zeros(0, dtype=np.float32), sample_rate)
    return Speech(np.frombuffer(done.stdout, dtype=np.float32).copy(), sample_rate)


__all__ = ["SAMPLE_RATE", "Placement", "audio_of", "has_audio", "mix", "mux", "to_rate"]
