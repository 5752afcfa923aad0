"""The cut for editors: the same timeline as the `.otio`, as Final Cut Pro 7 XML (Premiere,
Resolve, Avid through a converter) and CMX 3600 EDLs, written by OpenTimelineIO's maintained
adapters (`otio-fcp-adapter`, `otio-cmx3600-adapter`).

Built from `timeline.build_timeline`, so whatever that timeline holds (the picture track, the
"Dialogue" audio track when lines were voiced, a marker per shot) flows into every format. Two
things the adapters need are done here, on a copy:

- **A timecode rate.** Video models make 16 fps (or 2 fps on the tiny profile) and dialogue is
  timed in samples; SMPTE timecode, which both formats write, exists only for 24, 25, 30, 48,
  50 and 60 fps (and NTSC rates). Every item is put on the first of those that is a whole
  multiple of the picture's rate (16 fps -> 48, 2 fps -> 24), positions rounded from the start
  of the track so nothing drifts: picture durations stay frame-exact.
- **Reel names.** The EDL adapter truncates file names to 8 characters, which gives every clip
  of a scene the same reel; each clip gets its own short reel (`S01S1A`), and the file name
  stays in the `* FROM CLIP:` comment for relinking.

Media are referenced by file name, relative to the exported file, and sit in the same folder:
in the editor, relink the offline media to that folder.

The CMX 3600 adapter writes one track per file: `<base>_Timeline.edl` holds the picture and,
when there is dialogue, `<base>_Dialogue.edl` holds the dialogue as audio events.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView

TIMECODE_RATES = (24, 25, 30, 48, 50, 60)


def edit_rate(timeline: Any) -> int:
    """The timecode rate for the timeline: the first standard rate that every picture rate divides."""
    import opentimelineio as otio

    rates = {
        Fraction(item.source_range.duration.rate).limit_denominator(1001)
        for track in timeline.tracks
        if track.kind == otio.schema.TrackKind.Video
        for item in track
        if item.source_range is not None
    }
    for rate in TIMECODE_RATES:
        if all((rate / r).denominator == 1 for r in rates if r > 0):
            return rate
    return 24


def on_rate(timeline: Any, rate: int) -> Any:
    """A deep copy of `timeline` with every item's times on `rate` frames per second.

    Item boundaries are rounded from their absolute place in the track, so a track of many
    short items does not drift; media available ranges are rounded the same way.
    """
    import opentimelineio as otio

    def rt(value: float) -> Any:
        return otio.opentime.RationalTime(value, rate)

    copy = timeline.deepcopy()
    for track in copy.tracks:
        position = Fraction(0)
        cursor = 0
        for item in list(track):
            if item.source_range is None:  # pragma: no cover - our timelines always set it
                continue
            source = item.source_range
            seconds = Fraction(source.duration.value) / Fraction(source.duration.rate)
            position += seconds
            end = round(position * rate)
            frames = max(0, end - cursor)
            cursor += frames
            start = round(Fraction(source.start_time.value) / Fraction(source.start_time.rate) * rate)
            item.source_range = otio.opentime.TimeRange(rt(start), rt(frames))
            ref = getattr(item, "media_reference", None)
            available = getattr(ref, "available_range", None)
            if ref is not None and available is not None:
                total = round(Fraction(available.duration.value) / Fraction(available.duration.rate) * rate)
                ref.available_range = otio.opentime.TimeRange(rt(0), rt(max(total, start + frames)))
            for marker in getattr(item, "markers", []):
                m = marker.marked_range
                at = round(Fraction(m.start_time.value) / Fraction(m.start_time.rate) * rate)
                length = max(1, round(Fraction(m.duration.value) / Fraction(m.duration.rate) * rate))
                marker.marked_range = otio.opentime.TimeRange(rt(min(at, max(0, frames - 1))), rt(length))
    return copy


def _reel(clip: Any, index: int) -> str:
    meta = clip.metadata.get("aiuteur", {})
    scene, shot, line = meta.get("scene"), meta.get("shot"), meta.get("line")
    if line is not None:
        raw = f"L{index:03d}"
    elif scene is not None and shot is not None:
        raw = f"S{scene}S{shot}"
    elif scene is not None:
        raw = f"S{scene}AN"
    else:
        raw = f"R{index:03d}"
    reel = re.sub(r"[^A-Za-z0-9]", "", str(raw)).upper()
    return reel[:8] if len(reel) <= 8 else f"R{index:03d}"


def _with_reels(timeline: Any) -> Any:
    import opentimelineio as otio

    seen: set[str] = set()
    for track in timeline.tracks:
        for index, clip in enumerate(track.find_clips(), start=1):
            reel = _reel(clip, index)
            while reel in seen:
                reel = f"R{len(seen):03d}"[:8]
            seen.add(reel)
            clip.metadata.setdefault("cmx_3600", {})["reel"] = reel
            assert isinstance(clip, otio.schema.Clip)
    return timeline


def fcp_xml(timeline: Any) -> str:
    """The timeline as Final Cut Pro 7 XML (xmeml), through otio-fcp-adapter."""
    import opentimelineio as otio

    text: str = otio.adapters.write_to_string(on_rate(timeline, edit_rate(timeline)), "fcp_xml")
    return text


def edls(timeline: Any) -> tuple[str, str | None]:
    """(picture EDL, dialogue EDL or None) in CMX 3600, through otio-cmx3600-adapter."""
    import opentimelineio as otio

    rate = edit_rate(timeline)
    ready = _with_reels(on_rate(timeline, rate))
    video = [t for t in ready.tracks if t.kind == otio.schema.TrackKind.Video]
    audio = [t for t in ready.tracks if t.kind == otio.schema.TrackKind.Audio and len(t.find_clips())]
    picture = otio.schema.Timeline(name=ready.name)
    picture.tracks.append(video[0].deepcopy())
    picture_edl: str = otio.adapters.write_to_string(picture, "cmx_3600", rate=rate)
    if not audio:
        return picture_edl, None
    # The adapter writes the first track of a timeline with exactly one picture track: put the
    # dialogue first and an empty picture track after it.
    sound = otio.schema.Timeline(name=f"{ready.name} - Dialogue")
    sound.tracks.append(audio[0].deepcopy())
    sound.tracks.append(otio.schema.Track(name="Video", kind=otio.schema.TrackKind.Video))
    dialogue_edl: str = otio.adapters.write_to_string(sound, "cmx_3600", rate=rate)
    return picture_edl, dialogue_edl


def export_editor_cuts(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    """`<base>_Timeline.xml` (FCP7 XML) and `<base>_Timeline.edl` (+ `_Dialogue.edl`) beside the media."""
    import opentimelineio as otio

    from aiuteur.exports.timeline import build_timeline

    written_otio = out / f"{base}_Timeline.otio"
    if written_otio.is_file():  # export_all wrote the timeline just before: the same object, read back
        timeline = otio.adapters.read_from_file(str(written_otio))
    else:
        timeline = build_timeline(runner, view, out, base)
    if timeline is None:
        return []
    xml_path = out / f"{base}_Timeline.xml"
    xml_path.write_text(fcp_xml(timeline), encoding="utf-8")
    picture, dialogue = edls(timeline)
    edl_path = out / f"{base}_Timeline.edl"
    edl_path.write_text(picture, encoding="ascii", errors="replace")
    written = [xml_path, edl_path]
    if dialogue is not None:
        sound_path = out / f"{base}_Dialogue.edl"
        sound_path.write_text(dialogue, encoding="ascii", errors="replace")
        written.append(sound_path)
    return written
