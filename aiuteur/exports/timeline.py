"""The cut as an OpenTimelineIO timeline an editor can open (`.otio`; other formats through
otio's adapters).

One video track, scene after scene: a scene with a clip for every shot contributes its clips
(`Project_Sc01_Shot1A_v01.mp4`), one per shot; a scene with only an animatic contributes the
animatic. Under it a "Dialogue" audio track holds one clip per spoken line
(`Project_Sc01_Line03_MARA.wav`) where it is heard in the cut (see exports/subtitles.py). Every shot gets a marker named after it. Media are `ExternalReference`s to the
exported files by name, relative to the `.otio` (keep them in one folder); a referenced file
that is not in the folder yet is copied there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiuteur.engines.animatic import probe
from aiuteur.exports.cuts import animatic_name
from aiuteur.exports.material import SceneMaterial, clip_name, scenes

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView


def _media(runner: Runner, key: str, out: Path, name: str) -> tuple[Path, int, float]:
    """The exported file (copied if missing), its frame count and its frame rate."""
    path = out / name
    if not path.is_file():
        shutil.copyfile(runner.media_path(key), path)
    frames, seconds = probe(path)
    rate = round(frames / seconds) if seconds > 0 else 24
    return path, frames, float(rate)


def _range(otio: Any, start: float, duration: float, rate: float) -> Any:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))


def _marker(otio: Any, name: str, start: float, duration: float, rate: float, meta: dict[str, Any]) -> Any:
    return otio.schema.Marker(name=name, marked_range=_range(otio, start, duration, rate), color="GREEN",
                              metadata={"aiuteur": meta})


def _scene_items(otio: Any, runner: Runner, m: SceneMaterial, out: Path, base: str) -> list[Any]:
    shots = [s for s in m.shots if m.frames.get(s.id, "start") is not None] or m.shots
    items: list[Any] = []
    clips = [m.clip(s.id) for s in shots]
    if shots and all(c is not None and c.video for c in clips):
        for shot, clip in zip(shots, clips, strict=True):
            assert clip is not None and clip.video
            name = clip_name(base, m.scene, shot, clip)
            _, frames, rate = _media(runner, clip.video, out, name)
            meta = {"scene": m.scene.number, "shot": shot.number, "shot_id": shot.id, "take": clip.chosen_take}
            item = otio.schema.Clip(
                name=f"{m.scene.number} / {shot.number}",
                media_reference=otio.schema.ExternalReference(target_url=name,
                                                              available_range=_range(otio, 0, frames, rate)),
                source_range=_range(otio, 0, frames, rate), metadata={"aiuteur": meta})
            item.markers.append(_marker(otio, f"Shot {shot.number}", 0, 1, rate,
                                        {**meta, "size": shot.size, "movement": shot.movement}))
            items.append(item)
        return items
    if m.clips.animatic:
        name = animatic_name(base, m.scene)
        _, frames, rate = _media(runner, m.clips.animatic, out, name)
        item = otio.schema.Clip(
            name=f"{m.scene.number} animatic",
            media_reference=otio.schema.ExternalReference(target_url=name, available_range=_range(otio, 0, frames, rate)),
            source_range=_range(otio, 0, frames, rate),
            metadata={"aiuteur": {"scene": m.scene.number, "animatic": True}})
        t = 0.0
        for shot in shots:
            at = min(round(t * rate), max(0, frames - 1))
            item.markers.append(_marker(otio, f"Shot {shot.number}", at, 1, rate,
                                        {"scene": m.scene.number, "shot": shot.number, "shot_id": shot.id,
                                         "size": shot.size, "movement": shot.movement}))
            t += shot.duration_s
        items.append(item)
    return items


def build_timeline(runner: Runner, view: ProjectView, out: Path, base: str) -> Any:
    """The otio Timeline of the film's cut so far (None when no scene has a clip or an animatic)."""
    import opentimelineio as otio

    track = otio.schema.Track(name="Video", kind=otio.schema.TrackKind.Video)
    for m in scenes(view):
        for item in _scene_items(otio, runner, m, out, base):
            track.append(item)
    if not len(track):
        return None
    timeline = otio.schema.Timeline(name=view.project.title, metadata={"aiuteur": {"project": view.project.id}})
    timeline.tracks.append(track)
    dialogue = _dialogue_track(otio, runner, view, out, base)
    if dialogue is not None:
        timeline.tracks.append(dialogue)
    return timeline


AUDIO_RATE = 48000.0


def _dialogue_track(otio: Any, runner: Runner, view: ProjectView, out: Path, base: str) -> Any:
    """An audio track with one clip per spoken line (its wav beside the .otio), at its place in the cut."""
    from aiuteur.exports.subtitles import film_sound, line_name

    track = otio.schema.Track(name="Dialogue", kind=otio.schema.TrackKind.Audio)
    placed: list[tuple[float, float, Any]] = []  # (start, end, clip) in film seconds
    offset = 0.0
    for s in film_sound(runner, view):
        for line, start, shot in s.lines:
            if not line.audio:
                continue
            name = line_name(base, s.material, line)
            path = out / name
            if not path.is_file():
                shutil.copyfile(runner.media_path(line.audio), path)
            n = round(line.seconds * AUDIO_RATE)
            meta = {"scene": s.material.scene.number, "shot": shot.number, "line": line.dialogue + 1,
                    "part": line.part + 1, "parts": line.parts, "character": line.character, "text": line.text,
                    "take": line.take, "lip_sync": line.lip_sync}
            clip = otio.schema.Clip(
                name=f"{line.character}: {line.text[:40]}",
                media_reference=otio.schema.ExternalReference(target_url=name,
                                                              available_range=_range(otio, 0, n, AUDIO_RATE)),
                source_range=_range(otio, 0, n, AUDIO_RATE), metadata={"aiuteur": meta})
            placed.append((offset + start, offset + start + line.seconds, clip))
        offset += s.seconds
    if not placed:
        return None
    cursor = 0
    for k, (start, _end, clip) in enumerate(placed):
        at = round(start * AUDIO_RATE)
        if at > cursor:
            track.append(otio.schema.Gap(source_range=_range(otio, 0, at - cursor, AUDIO_RATE)))
            cursor = at
        nxt = round(placed[k + 1][0] * AUDIO_RATE) if k + 1 < len(placed) else None
        length = round(clip.source_range.duration.value)
        if nxt is not None and cursor + length > nxt:  # a line running into the next one's start is trimmed
            length = max(1, nxt - cursor)
            clip.source_range = _range(otio, 0, length, AUDIO_RATE)
        track.append(clip)
        cursor += length
    return track


def export_timeline(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    import opentimelineio as otio

    timeline = build_timeline(runner, view, out, base)
    if timeline is None:
        return []
    path = out / f"{base}_Timeline.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return [path]
