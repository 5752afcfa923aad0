"""What the film deliverables are made from: per scene its shots, chosen keyframes and clips,
read once from a project view, plus the file names an editor expects.

Clip files are named `<Project>_Sc<scene>_Shot<shot>_v<version>.mp4` (`The_Lamp_Sc01_Shot1A_v02.mp4`):
the scene number padded to two digits, the shot number as shown in the shot list, and the
version the position of the chosen take in the shot's carousel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiuteur.domain import Clip, Clips, Frames, LineAudio, Scene, Script, Shot, ShotList, Stage

if TYPE_CHECKING:
    from aiuteur.pipeline.work import ProjectView


@dataclass(frozen=True)
class SceneMaterial:
    """One scene's shots, frames and clips as saved (any of them may be empty)."""

    scene: Scene
    shots: list[Shot]
    frames: Frames
    clips: Clips
    lines: list[LineAudio] = field(default_factory=list)  # spoken in stage 7, re-spoken in stage 12 on top

    def clip(self, shot_id: str) -> Clip | None:
        return next((c for c in self.clips.clips if c.shot_id == shot_id), None)


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", text)


def scene_tag(scene: Scene) -> str:
    """'Sc01' for scene 1, 'Sc12A' for scene 12A."""
    m = re.match(r"(\d+)(.*)", scene.number.strip())
    if m:
        return f"Sc{int(m.group(1)):02d}{_clean(m.group(2))}"
    return f"Sc{_clean(scene.number) or '00'}"


def clip_version(clip: Clip) -> int:
    """1-based version of the chosen take in the carousel."""
    if clip.chosen_take and clip.chosen_take in clip.takes:
        return clip.takes.index(clip.chosen_take) + 1
    return max(1, len(clip.takes))


def clip_name(base: str, scene: Scene, shot: Shot, clip: Clip) -> str:
    """`Project_Sc01_Shot3A_v02.mp4`."""
    return f"{base}_{scene_tag(scene)}_Shot{_clean(shot.number) or '0'}_v{clip_version(clip):02d}.mp4"


def scenes(view: ProjectView) -> Iterator[SceneMaterial]:
    """Every scene of the master script, with what stages 7, 10 and 12 saved for it."""
    data = view.data(Stage.SCRIPT)
    if not data:
        return
    for scene in Script.model_validate(data).scenes:
        shots = view.data(Stage.SHOTS, scene.id)
        frames = view.data(Stage.FRAMES, scene.id)
        clips = view.data(Stage.VIDEO, scene.id)
        shot_list = ShotList.model_validate(shots) if shots else ShotList()
        made = Clips.model_validate(clips) if clips else Clips()
        newer = {ln.key: ln for ln in made.lines}
        # Copied from aiuteur.pipeline.soundtrack.scene_lines
        lines = [newer[ln.key] if ln.key in newer and newer[ln.key].text == ln.text else ln for ln in shot_list.lines]
        yield SceneMaterial(
            scene=scene,
            shots=shot_list.shots,
            frames=Frames.model_validate(frames) if frames else Frames(),
            clips=made,
            lines=lines,
        )


_LATIN1_FIX = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "--", "…": "...", "\u00a0": " ", "×": "x"}
)


def latin1(text: str) -> str:
    """Text the PDF core fonts can draw (curly quotes and dashes made plain; anything else '?')."""
    return text.translate(_LATIN1_FIX).encode("latin-1", "replace").decode("latin-1")
