"""Where each character of a shot stands across the frame, and what that gives the image models.

A shot's `layout` maps in-frame asset ids to one of `FRAME_POSITIONS` (left, centre-left, centre,
centre-right, right, as the camera sees it). The shot list fills it when it makes a shot
(`default_layout`) and the filmmaker edits it in the shot table (`parse_layout`); edits of the
shot keep every position of an asset still in frame. A character in frame without a position
(a shot made before layouts existed, one added by an edit) is placed when it is needed
(`effective_layout`), from the action:

- words that place someone ("Mara, on the left, ...", "Joe stands screen right", "in the middle
  of the frame") put that person there;
- the others go left to right in the order the action first names them (unnamed ones after),
  spread over the positions nobody took: two characters left and right, three left, centre and
  right.

The frames stage turns the layout into one region per character (`regions`) for the SD
families' IP-Adapter masks, so two faces do not blend, and into words for the multi-reference
edit families ("Mara (character), on the left of the frame").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from itertools import pairwise

from aiuteur.domain import FRAME_POSITIONS, Asset, AssetCategory, InputError, Shot
from aiuteur.domain.names import asset_forms, first_named, is_called, spans

#: Horizontal centre of each position (0 = the frame's left edge, 1 = its right edge).
CENTRES: dict[str, float] = {"left": 0.2, "centre-left": 0.35, "centre": 0.5, "centre-right": 0.65, "right": 0.8}
#: The positions n characters are spread over, left to right.
SPREAD: dict[int, tuple[str, ...]] = {
    1: ("centre",), 2: ("left", "right"), 3: ("left", "centre", "right"),
    4: ("left", "centre-left", "centre-right", "right"), 5: FRAME_POSITIONS,
}
#: How far each character's region reaches into its neighbours' (fractions of the frame width).
REGION_OVERLAP = 0.08
#: Words of the shot table and of the action for each position.
_ALIASES: dict[str, str] = {
    "left": "left", "l": "left", "screen left": "left", "frame left": "left",
    "centre-left": "centre-left", "center-left": "centre-left", "centre left": "centre-left",
    "center left": "centre-left", "left of centre": "centre-left", "left of center": "centre-left",
    "centre": "centre", "center": "centre", "middle": "centre", "c": "centre",
    "centre-right": "centre-right", "center-right": "centre-right", "centre right": "centre-right",
    "center right": "centre-right", "right of centre": "centre-right", "right of center": "centre-right",
    "right": "right", "r": "right", "screen right": "right", "frame right": "right",
}
_PLACE_WORDS = re.compile(
    r"\b(?:(?:on|at|to|in|from|stage|screen|frame)\s+(?:the\s+)?(?:far\s+)?(?:screen\s+|frame\s+)?"
    r"(?P<side>left|right|centre|center|middle)(?!\s+(?:hand|arm|leg|foot|eye|ear|shoulder|side of (?:his|her|their)))"
    r"|(?P<side2>left|right)\s+of\s+(?:the\s+)?(?:frame|screen))\b",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[.;!?]+")


def placed_by_words(action: str, characters: Sequence[Asset]) -> dict[str, str]:
    """Characters the action itself places ("Mara, on the left, ..."): each place phrase goes to the
    nearest character named before it in the same sentence (else the first named after it)."""
    out: dict[str, str] = {}
    for clause in _CLAUSE.split(unicodedata.normalize("NFC", action)):  # the offsets `spans` gives
        named = sorted((start, a.id) for a in characters
                       for start, _ in spans(clause, asset_forms(a, characters), proper=True))
        for m in _PLACE_WORDS.finditer(clause):
            side = _ALIASES[(m.group("side") or m.group("side2")).lower()]
            before = [i for p, i in named if p < m.start() and i not in out]
            after = [i for p, i in named if p > m.start() and i not in out]
            who = before[-1] if before else (after[0] if after else None)
            if who is not None:
                out[who] = side
    return out


def default_layout(action: str, characters: Sequence[Asset], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """Positions for `characters` that `taken` does not place yet (see the module docstring)."""
    taken = dict(taken or {})
    todo = [a for a in characters if a.id not in taken]
    if not todo:
        return {}
    out = placed_by_words(action, todo)
    rest = [a for a in todo if a.id not in out]
    rank = {a.id: i for i, a in enumerate(characters)}
    rest.sort(key=lambda a: (m if (m := first_named(action, a, characters)) is not None else 10**6, rank[a.id]))
    if not rest:
        return out
    used = set(taken.values()) | set(out.values())
    free = [p for p in SPREAD[min(5, len(taken) + len(todo))] if p not in used]
    if len(free) < len(rest):
        free = [p for p in FRAME_POSITIONS if p not in used]
    if len(free) < len(rest):  # more people than places: share them, left to right
        free = [FRAME_POSITIONS[round(i * 4 / max(1, len(rest) - 1))] for i in range(len(rest))]
    if len(rest) == 1:  # one more person: the free place nearest the centre
        picks = [min(free, key=lambda p: abs(CENTRES[p] - 0.5))]
    else:  # spread evenly over the free places, left to right
        picks = [free[round(i * (len(free) - 1) / (len(rest) - 1))] for i in range(len(rest))]
    out.update({a.id: p for a, p in zip(rest, picks, strict=True)})
    return out


def effective_layout(shot: Shot, assets: Mapping[str, Asset]) -> dict[str, str]:
    """The shot's positions for what is in frame: its own, then the action's for characters without one."""
    here = {k: v for k, v in shot.layout.items() if k in shot.assets}
    characters = [assets[a] for a in shot.assets if a in assets and assets[a].category == AssetCategory.CHARACTER]
    return {**here, **default_layout(shot.action, characters, here)}


def regions(layout: Mapping[str, str], characters: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """Each character's region of the frame (x0, y0, x1, y1 in 0..1), when two or more share it.

    Characters are taken left to right by position (ties keep their order, a little apart); the
    frame is cut half-way between neighbours, and each region reaches `REGION_OVERLAP` into the
    next. One character (or none) gets no region: its reference applies everywhere.
    """
    if len(characters) < 2:
        return {}
    centres = [(CENTRES.get(layout.get(c, ""), 0.5), i, c) for i, c in enumerate(characters)]
    centres.sort()
    xs: list[float] = []
    for x, _, _ in centres:  # ties (two characters both "left") are nudged apart
        xs.append(max(x, xs[-1] + 0.1) if xs else x)
    cuts = [(a + b) / 2 for a, b in pairwise(xs)]
    out: dict[str, tuple[float, float, float, float]] = {}
    for k, (_, _, c) in enumerate(centres):
        x0 = 0.0 if k == 0 else max(0.0, cuts[k - 1] - REGION_OVERLAP)
        x1 = 1.0 if k == len(centres) - 1 else min(1.0, cuts[k] + REGION_OVERLAP)
        out[c] = (round(x0, 4), 0.0, round(x1, 4), 1.0)
    return out


def format_layout(layout: Mapping[str, str], order: Sequence[str], names: Mapping[str, str]) -> str:
    """The shot table's text: 'Mara: left; Joe: right', in frame order."""
    return "; ".join(f"{names.get(a, a)}: {layout[a]}" for a in order if a in layout)


def parse_layout(text: str, shot: Shot, assets: Sequence[Asset]) -> dict[str, str]:
    """The shot table's layout text as positions by asset id; a bad entry is one clear sentence."""
    out: dict[str, str] = {}
    in_frame = [a for a in assets if a.id in shot.assets]
    for part in re.split(r"[;\n]+", text or ""):
        part = part.strip().rstrip(".")
        if not part:
            continue
        name, sep, where = part.rpartition(":")
        if not sep:
            raise InputError(f"Shot {shot.number}: write each position as 'name: left' (or centre-left, centre, "
                             f"centre-right, right), separated by ';' — not {part!r}.")
        key = " ".join(where.lower().split())
        if key not in _ALIASES:
            raise InputError(f"Shot {shot.number}: {where.strip()!r} is not a position; use left, centre-left, "
                             "centre, centre-right or right.")
        hit = next((a for a in in_frame if is_called(name, asset_forms(a, in_frame))), None)
        if hit is None:
            raise InputError(f"Shot {shot.number}: {name.strip()!r} is not in frame in this shot; put them in frame "
                             "first, or take them out of the layout.")
        if hit.category == AssetCategory.LOCATION:
            raise InputError(f"Shot {shot.number}: {hit.name} is a place and fills the frame; only characters and "
                             "props have a position.")
        out[hit.id] = _ALIASES[key]
    return out


__all__ = ["CENTRES", "REGION_OVERLAP", "SPREAD", "default_layout", "effective_layout", "format_layout",
           "parse_layout", "placed_by_words", "regions"]
