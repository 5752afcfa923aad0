"""Stage 7's timing: lines that time the shots.

A dialogue line too long for one shot is split, before any shot is made, at sentence ends, then
at phrase marks (, ; : —), then into runs of words, never changing a word: the parts joined
with single spaces are the line. Each part is spoken in its character's voice (a take), and a
shot then lasts at least as long as its lines (one after another from the shot's start, a short
gap between) plus a pad, and at most 8 s; a shot whose lines would run past 8 s is cut at a line
boundary. Shots without dialogue keep their duration.

This module imports no other stage: `shot_list` calls it with the scene's units.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiuteur.domain import LineAudio, Shot, ShotList

MAX_SHOT_S = 8.0
MIN_SHOT_S = 1.5
PAD_S = 0.4  # after the last line of a shot
LINE_GAP_S = 0.2  # between two lines in one shot
LINE_PART_S = 6.0  # a line estimated longer than this is split
WPS = 2.5  # spoken words a second, for the estimate before a voice measures it

_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=\S)")
_PHRASE = re.compile(r"(?<=[,;:—–])\s+")


def estimate_seconds(text: str) -> float:
    """Spoken length of `text` before a voice measures it: about 2.5 words a second, plus a breath."""
    return round(len(text.split()) / WPS + 0.5, 2)


def split_line(text: str, limit_s: float = LINE_PART_S) -> list[str]:
    """A line in parts of at most `limit_s` estimated seconds, cut at sentences, then phrases, then words.

    `" ".join(split_line(t)) == " ".join(t.split())`: no word is changed, added or lost.
    """
    words_per_part = max(1, int((limit_s - 0.5) * WPS))
    flat = " ".join(text.split())
    if estimate_seconds(flat) <= limit_s:
        return [flat] if flat else [text]
    pieces: list[str] = []
    for sentence in (s for s in _SENTENCE.split(flat) if s.strip()):
        if estimate_seconds(sentence) <= limit_s:
            pieces.append(sentence.strip())
            continue
        for phrase in (p for p in _PHRASE.split(sentence) if p.strip()):
            if estimate_seconds(phrase) <= limit_s:
                pieces.append(phrase.strip())
            else:
                w = phrase.split()
                pieces.extend(" ".join(w[i:i + words_per_part]) for i in range(0, len(w), words_per_part))
    # Pack neighbours back together while they fit, so parts are as few as the limit allows.
    parts: list[str] = []
    for piece in pieces:
        if parts and estimate_seconds(parts[-1] + " " + piece) <= limit_s:
            parts[-1] = parts[-1] + " " + piece
        else:
            parts.append(piece)
    return parts


class UnitLike(Protocol):
    """What timing needs of a shot-list unit (see `shot_list.Unit`)."""

    @property
    def kind(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def dialogue_index(self) -> int | None: ...
    @property
    def part(self) -> int: ...


@dataclass(frozen=True)
class ShotTiming:
    """A shot's lines in order with their offsets from the shot's start, and the speech's length."""

    lines: list[tuple[LineAudio, float]]
    speech_s: float


def shot_timing(shot: Shot, units: Sequence[UnitLike], lines: Sequence[LineAudio]) -> ShotTiming:
    """The lines a shot holds (by its units), each placed after the one before it."""
    by_key = {(ln.dialogue, ln.part): ln for ln in lines}
    t = 0.0
    placed: list[tuple[LineAudio, float]] = []
    for u in (units[i] for i in shot.units if 0 <= i < len(units)):
        if u.kind != "dialogue" or u.dialogue_index is None:
            continue
        line = by_key.get((u.dialogue_index, u.part))
        if line is None:
            continue
        if placed:
            t += LINE_GAP_S
        placed.append((line, round(t, 3)))
        t += line.seconds
    return ShotTiming(placed, round(t, 3))


def needed_seconds(timing: ShotTiming) -> float:
    return timing.speech_s + PAD_S if timing.lines else 0.0


def fit_duration(shot: Shot, units: Sequence[UnitLike], lines: Sequence[LineAudio]) -> Shot:
    """The shot lasting at least its lines plus the pad (and its action), at most 8 s."""
    timing = shot_timing(shot, units, lines)
    if not timing.lines:
        return shot
    mine = [units[i] for i in shot.units if 0 <= i < len(units)]
    action = sum(u.seconds for u in mine if u.kind == "action")
    need = max(MIN_SHOT_S, action, needed_seconds(timing))
    seconds = min(MAX_SHOT_S, math.ceil(need * 100) / 100)
    return shot if shot.duration_s == seconds else shot.model_copy(update={"duration_s": seconds})


def cut_points(shot: Shot, units: Sequence[UnitLike], lines: Sequence[LineAudio]) -> list[int]:
    """Where (after how many of the shot's units) to cut a shot whose lines run past 8 s; [] if they fit."""
    mine = [units[i] for i in shot.units if 0 <= i < len(units)]
    by_key = {(ln.dialogue, ln.part): ln.seconds for ln in lines}
    cuts: list[int] = []
    speech = 0.0
    count = 0
    for k, u in enumerate(mine):
        if u.kind != "dialogue" or u.dialogue_index is None:
            continue
        s = by_key.get((u.dialogue_index, u.part), u.seconds)
        add = s + (LINE_GAP_S if count else 0.0)
        if count and speech + add + PAD_S > MAX_SHOT_S:
            cuts.append(k)
            speech, count = s, 1
        else:
            speech += add
            count += 1
    return cuts


def scene_line_starts(shots: ShotList, units: Sequence[UnitLike], lines: Sequence[LineAudio],
                      shot_starts: Sequence[float] | None = None) -> list[tuple[LineAudio, float, Shot]]:
    """Every line with its start in the scene (shot start + offset), in order.

    `shot_starts` are where shots start in the cut (default: the running sum of durations).
    """
    out: list[tuple[LineAudio, float, Shot]] = []
    t = 0.0
    for k, shot in enumerate(shots.shots):
        start = shot_starts[k] if shot_starts is not None else t
        for line, offset in shot_timing(shot, units, lines).lines:
            out.append((line, round(start + offset, 4), shot))
        t += shot.duration_s
    return out


__all__ = [
    "LINE_GAP_S", "LINE_PART_S", "MAX_SHOT_S", "PAD_S", "ShotTiming", "cut_points", "estimate_seconds",
    "fit_duration", "scene_line_starts", "shot_timing", "split_line",
]
