"""Subtitles and the dialogue's place in the cut: SRT per scene and for the film, and where each
line sits, for the timeline's audio track.

A scene's dialogue is timed against the video the timeline uses for it: the scene cut when every
shot has a clip (shots start where the clips before them end), else the animatic (shots start at
the sum of the durations before them). The film SRT lays the scenes end to end in the same order
and with the same lengths as the timeline, so its cues fall where the lines are heard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiuteur.domain import LineAudio, Shot
from aiuteur.engines.animatic import probe
from aiuteur.exports.material import SceneMaterial, scene_tag, scenes
from aiuteur.pipeline.shot_list import scene_units
from aiuteur.pipeline.soundtrack import animatic_starts, cues, cut_starts, srt
from aiuteur.pipeline.timing import scene_line_starts

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView


@dataclass(frozen=True)
class SceneSound:
    """One scene as the timeline shows it: its length, and every line with its start in the scene."""

    material: SceneMaterial
    seconds: float
    lines: list[tuple[LineAudio, float, Shot]]
    uses_cut: bool


def scene_sound(runner: Runner, m: SceneMaterial) -> SceneSound | None:
    """Where the scene's lines fall in the video the timeline uses for it (None: no video yet)."""
    from aiuteur.domain import ShotList

    shots = [s for s in m.shots if m.frames.get(s.id, "start") is not None] or m.shots
    clips = [m.clip(s.id) for s in shots]
    units = scene_units(m.scene)
    if shots and all(c is not None and c.video for c in clips):
        counts = [c.num_frames if c is not None else 0 for c in clips]
        rate = m.clips.fps
        starts = cut_starts(counts, rate)
        placed = scene_line_starts(ShotList(shots=shots), units, m.lines, starts)
        return SceneSound(m, sum(counts) / rate, placed, True)
    if m.clips.animatic:
        _, seconds = probe(runner.media_path(m.clips.animatic))
        placed = scene_line_starts(ShotList(shots=shots), units, m.lines, animatic_starts(shots))
        return SceneSound(m, seconds, placed, False)
    return None


def film_sound(runner: Runner, view: ProjectView) -> list[SceneSound]:
    """Every scene that has a video, in script order."""
    return [s for m in scenes(view) if (s := scene_sound(runner, m)) is not None]


def export_subtitles(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    """One SRT per scene (timed to its cut or animatic) and one for the film."""
    written: list[Path] = []
    film: list[tuple[float, float, str]] = []
    offset = 0.0
    for s in film_sound(runner, view):
        if s.lines:
            path = out / f"{base}_{scene_tag(s.material.scene)}.srt"
            path.write_text(srt(cues(s.lines)), encoding="utf-8")
            written.append(path)
        film += cues(s.lines, offset)
        offset += s.seconds
    if film:
        path = out / f"{base}_Film.srt"
        path.write_text(srt(film), encoding="utf-8")
        written.append(path)
    return written


def line_name(base: str, m: SceneMaterial, line: LineAudio) -> str:
    """`Project_Sc01_Line03b_MARA.wav` (b, c … for the parts of a split line)."""
    part = chr(ord("a") + line.part) if line.parts > 1 and line.part < 26 else ""
    who = "".join(ch for ch in line.character if ch.isalnum()) or "Line"
    return f"{base}_{scene_tag(m.scene)}_Line{line.dialogue + 1:02d}{part}_{who}.wav"


__all__ = ["SceneSound", "export_subtitles", "film_sound", "line_name", "scene_sound"]
