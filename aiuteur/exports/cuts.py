"""The moving pictures: each scene's animatic and scene cut, and every chosen clip, under the
names an editor expects (`Project_Sc01_Shot3A_v02.mp4`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from aiuteur.domain import Scene
from aiuteur.exports.material import clip_name, scene_tag, scenes

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView


def animatic_name(base: str, scene: Scene) -> str:
    return f"{base}_{scene_tag(scene)}_Animatic.mp4"


def scene_cut_name(base: str, scene: Scene) -> str:
    return f"{base}_{scene_tag(scene)}_Scene.mp4"


def _copy(runner: Runner, key: str, path: Path) -> Path:
    shutil.copyfile(runner.media_path(key), path)
    return path


def export_animatics(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    return [_copy(runner, m.clips.animatic, out / animatic_name(base, m.scene))
            for m in scenes(view) if m.clips.animatic]


def export_scene_cuts(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    return [_copy(runner, m.clips.scene_cut, out / scene_cut_name(base, m.scene))
            for m in scenes(view) if m.clips.scene_cut]


def export_clips(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    written = []
    for m in scenes(view):
        for shot in m.shots:
            clip = m.clip(shot.id)
            if clip is not None and clip.video:
                written.append(_copy(runner, clip.video, out / clip_name(base, m.scene, shot, clip)))
    return written
