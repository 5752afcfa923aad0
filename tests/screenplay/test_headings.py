"""The one scene-heading parser: location, time of day, notes, INT/EXT and number, in any order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiuteur.domain.artifacts import IntExt
from aiuteur.screenplay import parse_heading


@pytest.mark.parametrize(
    ("line", "int_ext", "location", "time", "notes"),
    [
        ("EXT. CEMETERY - DAY [LATER]", IntExt.EXT, "CEMETERY", "DAY", ("LATER",)),
        ("INT. BIG TOP - NIGHT [CONTINUOUS]", IntExt.INT, "BIG TOP", "NIGHT", ("CONTINUOUS",)),
        ("INT. GUEST ROOM - NIGHT [PRESENT]", IntExt.INT, "GUEST ROOM", "NIGHT", ("PRESENT",)),
        ("INT. BLOOM HOUSE - (PRESENT) DAY", IntExt.INT, "BLOOM HOUSE", "DAY", ("PRESENT",)),
        ("INT. CAR (MOVING) - NIGHT (1985)", IntExt.INT, "CAR", "NIGHT", ("MOVING", "1985")),
        ("INT. HOUSE [[a writer's note]] - DAY", IntExt.INT, "HOUSE", "DAY", ()),
        ("INT. HOSPITAL - DAY ROOM - NIGHT", IntExt.INT, "HOSPITAL - DAY ROOM", "NIGHT", ()),
        ("INT. DAY CARE - DAY", IntExt.INT, "DAY CARE", "DAY", ()),
        ("INT. HOUSE - LATER THAT NIGHT", IntExt.INT, "HOUSE", "LATER THAT NIGHT", ()),
        ("EXT. FARM - DAY 2", IntExt.EXT, "FARM", "DAY 2", ()),
        ("INT./EXT. VAN -NIGHT", IntExt.INT_EXT, "VAN", "NIGHT", ()),
        ("I/E VAN - DAWN", IntExt.INT_EXT, "VAN", "DAWN", ()),
        (".OPENING TITLES", IntExt.NONE, "", "", ()),
        (".SNIPER SCOPE POV", IntExt.NONE, "", "", ()),
        (".MONTAGE - ADA TRAINS", IntExt.NONE, "", "", ()),
        (".BRICK'S GARAGE - NIGHT", IntExt.NONE, "BRICK'S GARAGE", "NIGHT", ()),
        (".HOSPITAL ROOF", IntExt.NONE, "HOSPITAL ROOF", "", ()),
        ("INT. CUISINE - JOUR", IntExt.INT, "CUISINE", "JOUR", ()),
        ("EXT. CALLE - NOCHE", IntExt.EXT, "CALLE", "NOCHE", ()),
        ("AUSSEN. STRASSE - NACHT", IntExt.EXT, "STRASSE", "NACHT", ()),
        ("ИНТ. КУХНЯ - ДЕНЬ", IntExt.INT, "КУХНЯ", "ДЕНЬ", ()),
    ],
)
def test_location_never_carries_time_or_notes(line, int_ext, location, time, notes):
    heading = parse_heading(line)
    assert (heading.int_ext, heading.location, heading.time_of_day, heading.notes) == (
        int_ext,
        location,
        time,
        notes,
    )


def test_numbers_come_off_the_heading():
    assert parse_heading("EXT. CEMETERY - DAY [LATER] #12#").number == "12"
    numbered = parse_heading("12A INT. HOUSE - DAY 12A")
    assert (numbered.number, numbered.text, numbered.location) == ("12A", "INT. HOUSE - DAY", "HOUSE")


_WORD = st.sampled_from(["HOUSE", "CEMETERY", "BIG", "TOP", "ROOF", "KITCHEN", "O'HARA'S", "7-ELEVEN", "CAFÉ",
                         "STATION", "ROOM", "GUEST", "BLOOM", "HALL", "NO.", "9", "ÉCOLE", "КУХНЯ"])
_TIME = st.sampled_from(["DAY", "NIGHT", "MORNING", "LATER", "CONTINUOUS", "MOMENTS LATER", "DUSK",
                         "LATER THAT NIGHT", "THE NEXT DAY", "SAME", "DAY 2"])
_NOTE = st.sampled_from(["LATER", "PRESENT", "FLASHBACK", "1985", "CONTINUOUS", "RAIN", "DREAM"])
_PREFIX = st.sampled_from([("INT.", IntExt.INT), ("EXT.", IntExt.EXT), ("INT./EXT.", IntExt.INT_EXT),
                           ("I/E", IntExt.INT_EXT), ("EXT/INT", IntExt.INT_EXT), ("int.", IntExt.INT)])


@settings(max_examples=200, deadline=None)
@given(
    _PREFIX,
    st.lists(_WORD, min_size=1, max_size=4).map(" ".join),
    st.lists(_WORD, max_size=3).map(" ".join),
    _TIME,
    st.lists(st.tuples(_NOTE, st.sampled_from(["[]", "()"]), st.sampled_from(["before", "after"])), max_size=2),
    st.sampled_from(["", " #12#", " #3A#"]),
    st.sampled_from([" - ", " -- ", " – ", " — "]),
)
def test_any_heading_gives_its_place_time_and_notes(prefix, place, area, time, notes, number, dash):
    location = f"{place} - {area}" if area else place
    before = "".join(f"{o}{n}{c} " for n, (o, c), where in notes if where == "before")
    after = "".join(f" {o}{n}{c}" for n, (o, c), where in notes if where == "after")
    line = f"{prefix[0]} {location.replace(' - ', dash)}{dash}{before}{time}{after}{number}"
    heading = parse_heading(line)
    assert heading.int_ext == prefix[1]
    assert heading.location == location
    assert heading.time_of_day == time
    assert heading.notes == tuple(n for n, _, w in notes if w == "before") + tuple(n for n, _, w in notes if w == "after")
    assert heading.number == (number.strip(" #") or None)
