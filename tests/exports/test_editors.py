"""The cut for editors: FCP7 XML and CMX 3600 EDL through OpenTimelineIO's adapters, read back with them."""

from __future__ import annotations

from typing import Any

import pytest

otio = pytest.importorskip("opentimelineio")

from aiuteur.exports.editors import edit_rate, edls, fcp_xml, on_rate  # noqa: E402


def _range(start: float, duration: float, rate: float) -> Any:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))


def _timeline(frames: list[int], rate: float, lines: list[tuple[float, float]]) -> Any:
    """Shots like build_timeline makes them, and a dialogue track timed in samples."""
    timeline = otio.schema.Timeline(name="The Lamp Keeper")
    video = otio.schema.Track(name="Video", kind=otio.schema.TrackKind.Video)
    for i, n in enumerate(frames, start=1):
        name = f"The_Lamp_Keeper_Sc01_Shot{i}A_v01.mp4"
        clip = otio.schema.Clip(
            name=f"1 / {i}A",
            media_reference=otio.schema.ExternalReference(target_url=name, available_range=_range(0, n, rate)),
            source_range=_range(0, n, rate),
            metadata={"aiuteur": {"scene": "1", "shot": f"{i}A"}},
        )
        clip.markers.append(otio.schema.Marker(name=f"Shot {i}A", marked_range=_range(0, 1, rate), color="GREEN"))
        video.append(clip)
    timeline.tracks.append(video)
    if lines:
        audio = otio.schema.Track(name="Dialogue", kind=otio.schema.TrackKind.Audio)
        cursor = 0.0
        for k, (start, seconds) in enumerate(lines, start=1):
            if start > cursor:
                audio.append(otio.schema.Gap(source_range=_range(0, round((start - cursor) * 48000), 48000)))
            n = round(seconds * 48000)
            audio.append(otio.schema.Clip(
                name=f"ADA: line {k}",
                media_reference=otio.schema.ExternalReference(target_url=f"The_Lamp_Keeper_Sc01_Line{k:02d}_ADA.wav",
                                                              available_range=_range(0, n, 48000)),
                source_range=_range(0, n, 48000), metadata={"aiuteur": {"scene": "1", "line": k}}))
            cursor = start + seconds
        timeline.tracks.append(audio)
    return timeline


def _clips(track: Any) -> list[Any]:
    return [c for c in track if isinstance(c, otio.schema.Clip)]


@pytest.mark.parametrize(("rate", "edit"), [(24, 24), (16, 48), (2, 24), (25, 25)])
def test_fcp_xml_reads_back_with_the_same_clips_order_durations_names_and_markers(rate, edit):
    frames = [33, 17, 48, 5]
    timeline = _timeline(frames, rate, [(0.5, 1.25), (2.0, 0.8)])
    assert edit_rate(timeline) == edit
    back = otio.adapters.read_from_string(fcp_xml(timeline), "fcp_xml")
    video = next(t for t in back.tracks if t.kind == otio.schema.TrackKind.Video)
    clips = _clips(video)
    assert [c.name for c in clips] == ["1 / 1A", "1 / 2A", "1 / 3A", "1 / 4A"]
    assert [c.media_reference.target_url.split("/")[-1] for c in clips] == [
        f"The_Lamp_Keeper_Sc01_Shot{i}A_v01.mp4" for i in range(1, 5)
    ]
    assert [c.source_range.duration.value for c in clips] == [n * edit // rate for n in frames]  # frame-exact
    assert {c.source_range.duration.rate for c in clips} == {edit}
    assert [m.name for c in clips for m in c.markers] == ["Shot 1A", "Shot 2A", "Shot 3A", "Shot 4A"]
    audio = [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]
    said = [c for t in audio for c in _clips(t)]
    assert [c.name for c in said] == ["ADA: line 1", "ADA: line 2"]
    starts = [video.range_of_child(c).start_time.value for c in _clips(video)]
    assert starts == [sum(n * edit // rate for n in frames[:i]) for i in range(4)]


@pytest.mark.parametrize(("rate", "edit"), [(24, 24), (16, 48)])
def test_edl_reads_back_with_the_same_clips_order_durations_and_names(rate, edit):
    frames = [33, 17, 48, 5]
    picture, dialogue = edls(_timeline(frames, rate, [(0.5, 1.25)]))
    back = otio.adapters.read_from_string(picture, "cmx_3600", rate=edit)
    clips = _clips(back.tracks[0])
    assert [c.name for c in clips] == ["1 / 1A", "1 / 2A", "1 / 3A", "1 / 4A"]
    assert [c.source_range.duration.value for c in clips] == [n * edit // rate for n in frames]
    assert len({c.metadata["cmx_3600"]["reel"] for c in clips}) == 4  # one reel per clip, for relinking
    assert [m.name for c in clips for m in c.markers] == ["SHOT 1A", "SHOT 2A", "SHOT 3A", "SHOT 4A"]
    assert "* FROM CLIP: The_Lamp_Keeper_Sc01_Shot1A_v01.mp4" in picture
    assert dialogue is not None
    sound = otio.adapters.read_from_string(dialogue, "cmx_3600", rate=edit)
    lines = [c for t in sound.tracks if t.kind == otio.schema.TrackKind.Audio for c in _clips(t)]
    assert [c.name for c in lines] == ["ADA: line 1"]
    assert lines[0].source_range.duration.value == round(1.25 * edit)


def test_no_dialogue_gives_no_dialogue_edl():
    assert edls(_timeline([10, 12], 24, []))[1] is None


def test_on_rate_does_not_drift_over_many_short_items():
    timeline = _timeline([1] * 500, 16, [])
    moved = on_rate(timeline, 48)
    assert moved.tracks[0].duration().value == 1500
    assert timeline.tracks[0].duration().rate == 16  # the original is left alone
