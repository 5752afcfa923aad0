"""Stage 12's sound: the scene's spoken lines, each at its shot's start, mixed onto the animatic and
the scene cut.

Lines come from the shot list (spoken in stage 7) with any line re-spoken in stage 12 on top
(target `line:<line>.<part>`). A line is placed at its shot's start in the video it goes on:
the animatic's shots start at the running sum of their durations; the cut's at the running sum
of its clips' frames. Re-speaking one line re-mixes the track and re-muxes it onto the existing
videos without re-encoding a frame; every other line's audio is the same file as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiuteur.domain import Clips, LineAudio, Scene, Shot, ShotList, Take
from aiuteur.engines.animatic import probe
from aiuteur.engines.soundtrack import Placement, mix, mux
from aiuteur.engines.voice import Speech, read_wav, wav_bytes
from aiuteur.pipeline import timing

log = logging.getLogger(__name__)


def scene_lines(shots: ShotList, clips: Clips | None = None) -> list[LineAudio]:
    """The scene's lines: the shot list's, with any re-spoken in stage 12 (same words) on top."""
    newer = {ln.key: ln for ln in (clips.lines if clips is not None else [])}
    out = []
    for ln in shots.lines:
        again = newer.get(ln.key)
        out.append(again if again is not None and again.text == ln.text else ln)
    return out


def animatic_starts(shots: Sequence[Shot]) -> list[float]:
    """Where each shot starts in the animatic (the sum of the durations before it)."""
    t, out = 0.0, []
    for s in shots:
        out.append(round(t, 4))
        t += s.duration_s
    return out


def cut_starts(frame_counts: Sequence[int], fps: int) -> list[float]:
    """Where each clip starts in the scene cut (the frames before it at `fps`)."""
    t, out = 0, []
    for n in frame_counts:
        out.append(round(t / fps, 4))
        t += n
    return out


def line_times(scene: Scene, shots: Sequence[Shot], lines: Sequence[LineAudio],
               starts: Sequence[float]) -> list[tuple[LineAudio, float, Shot]]:
    """Every line of these shots with its start in the video (shot start + its place in the shot)."""
    from aiuteur.pipeline.shot_list import scene_units

    return timing.scene_line_starts(ShotList(shots=list(shots)), scene_units(scene), lines, starts)


def track(read_media: Callable[[str], bytes], times: Sequence[tuple[LineAudio, float, Shot]],
          total_s: float) -> Speech:
    """The mixed dialogue of `times` on a track of `total_s` seconds (silent lines add nothing)."""
    placements = []
    for line, start, _ in times:
        if not line.audio:
            continue
        data = read_media(line.audio)
        if not data:
            log.warning("the audio of line %s is missing from the store", line.key)
            continue
        placements.append(Placement(read_wav(data), start))
    return mix(placements, total_s)


def with_sound(video: Path, sound: Speech, out: Path, duration_s: float) -> Path:
    """The video with the sound track muxed in (the pictures copied as they are)."""
    return mux(video, sound, out, duration_s=duration_s, keep_own=True)


def srt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt(cues: Sequence[tuple[float, float, str]]) -> str:
    """SubRip text of (start, end, text) cues, numbered from 1."""
    blocks = [f"{n}\n{srt_time(a)} --> {srt_time(max(b, a + 0.001))}\n{text}\n"
              for n, (a, b, text) in enumerate(cues, 1)]
    return "\n".join(blocks)


def cues(times: Sequence[tuple[LineAudio, float, Shot]], offset_s: float = 0.0) -> list[tuple[float, float, str]]:
    """Subtitle cues of placed lines: from the line's start for as long as it is spoken."""
    return [(offset_s + start, offset_s + start + max(0.3, line.seconds), f"{line.character}: {line.text}")
            for line, start, _ in times]




# --- stage 12: putting the sound on ----------------------------------------------------------------------


def add_sound(ctx: Any, scene: Scene, shots: Sequence[Shot], lines: Sequence[LineAudio], picture_key: str,
              starts: Sequence[float], tmp: Path, name: str) -> tuple[str, str | None, str]:
    """Mux the mixed lines of `shots` into the stored video `picture_key`.

    Returns (video key, sound track key or None when no line has audio, a note in words).
    A failure leaves the picture as it was and the note says why.
    """
    times = line_times(scene, shots, lines, starts)
    if not any(line.audio for line, _, _ in times):
        spoken = {u for s in shots for u in s.dialogue}
        if spoken and not lines:
            return picture_key, None, ("The shot list was made before lines were spoken, so the video is silent; "
                                       "make the shot list again in stage 7 to hear the dialogue.")
        return picture_key, None, ""
    video = tmp / f"{name}_picture.mp4"
    video.write_bytes(ctx.read_media(picture_key))
    _, seconds = probe(video)
    try:
        sound = track(ctx.read_media, times, seconds)
        out = with_sound(video, sound, tmp / f"{name}.mp4", seconds)
    except Exception as e:
        return picture_key, None, f"The dialogue could not be mixed into the {name.replace('_', ' ')}: {e}"
    return ctx.put_media(out.read_bytes(), "mp4"), ctx.put_media(wav_bytes(sound), "wav"), ""


def respeak(ctx: Any, scene: Scene, shots: ShotList, clips: Clips, key: str) -> tuple[Take, Clips]:
    """Speak one line part again (a new take, new seed) and keep it in the clips' lines."""
    from aiuteur.domain import AssetRegistry, InputError, Script, Stage
    from aiuteur.pipeline.shot_list import scene_units
    from aiuteur.pipeline.voices import LineRequest, cast_voices, load_voice, speak_line

    lines = {ln.key: ln for ln in scene_lines(shots, clips)}
    if key not in lines:
        raise InputError(f"There is no spoken line {key!r} in this scene; make the shot list in stage 7 first.")
    old = lines[key]
    unit = next(u for u in scene_units(scene) if u.kind == "dialogue" and (u.dialogue_index, u.part) ==
                (old.dialogue, old.part))
    chosen = load_voice(ctx.engines)
    if chosen.engine is None:
        raise InputError(chosen.note + " The line keeps its earlier audio.")
    bundle = ctx.inputs.assets
    registry = bundle.registry if bundle is not None else AssetRegistry()
    cast = cast_voices(ctx.inputs.script or Script(), registry, chosen.engine.voices())
    req = LineRequest(old.dialogue, old.part, old.parts, old.character, unit.text, unit.parenthetical,
                      unit.extension)
    take, line = speak_line(req, cast[old.character], chosen.engine, seed=ctx.seed, stage=Stage.VIDEO,
                            scene_id=scene.id, put_media=ctx.put_media,
                            max_seconds=timing.MAX_SHOT_S - timing.PAD_S)
    if not take.ok:
        return take, clips
    kept = [ln for ln in clips.lines if ln.key != key]
    return take, clips.model_copy(update={"lines": [*kept, line]})


__all__ = ["add_sound", "animatic_starts", "cues", "cut_starts", "line_times", "respeak", "scene_lines", "srt",
           "srt_time", "track", "with_sound"]
