"""Fountain import: every syntax feature of the spec, messy whitespace, and the writer's round trip."""

from __future__ import annotations

from aiuteur.domain.artifacts import ElementKind, IntExt
from aiuteur.screenplay import import_screenplay, parse_fountain, script_summary, to_fountain
from tests.screenplay.helpers import fixture, shape, speech


def _features():
    return import_screenplay(fixture("features.fountain"), "features.fountain")


def test_title_page_is_read_with_multiline_values():
    script = _features()
    assert script.title == "The Last Lighthouse"
    assert script.title_page["author"] == "Mara Quill"
    assert script.title_page["contact"] == "Mara Quill\nmara@example.com"


def test_headings_give_int_ext_location_time_and_forced_numbers():
    scenes = _features().scenes
    lamp = scenes[1]
    assert (lamp.number, lamp.heading, lamp.int_ext, lamp.location, lamp.time_of_day) == (
        "1", "INT. LIGHTHOUSE - LAMP ROOM - NIGHT", IntExt.INT, "LIGHTHOUSE - LAMP ROOM", "NIGHT",
    )  # fmt: skip
    car = scenes[2]
    assert (car.number, car.int_ext, car.location, car.time_of_day) == (
        "2A",
        IntExt.INT_EXT,
        "CAR - MOVING",
        "DAY",
    )
    assert [s.number for s in scenes] == ["0", "1", "2A", "3", "4", "5", "6"]
    truck = scenes[4]
    assert (truck.int_ext, truck.location, truck.time_of_day) == (IntExt.INT_EXT, "TRUCK", "CONTINUOUS")


def test_forced_heading_has_no_location():
    flashback = _features().scenes[3]
    assert (flashback.heading, flashback.int_ext, flashback.location) == ("FLASHBACK", IntExt.NONE, "")


def test_cold_open_before_first_heading_is_kept_in_scene_zero():
    prologue = _features().scenes[0]
    assert prologue.heading == "COLD OPEN" and prologue.number == "0" and prologue.location == ""
    assert [e.kind for e in prologue.elements] == [
        ElementKind.SECTION, ElementKind.SYNOPSIS, ElementKind.TRANSITION, ElementKind.ACTION,
    ]  # fmt: skip


def test_cue_extensions_are_split_from_names():
    lines = speech(_features())
    assert ("dialogue", "ADA", "CONT'D", False, "Nobody else will.") in lines
    assert ("dialogue", "RADIO", "V.O.", False, "Keeper, come in.") in lines
    assert ("dialogue", "MR. O'BRIEN", "O.S.", False, "Ada! Open up!") in lines
    assert ("dialogue", "BOB'S VOICE", "ON PHONE, CONT'D", False, "Is anyone there?") in lines


def test_dual_dialogue_forced_and_mc_cues():
    lines = speech(_features())
    assert ("dialogue", "DR. MCCOY", None, False, "Left!") in lines
    assert ("dialogue", "BEN", None, True, "Right!") in lines
    assert ("dialogue", "MCCLANE", None, False, "Yippee.") in lines


def test_parentheticals_carry_their_speaker():
    kitchen = _features().scenes[-1]
    assert [(e.kind.value, e.character, e.text) for e in kitchen.elements[:4]] == [
        ("parenthetical", "ADA", "(whispering)"),
        ("dialogue", "ADA", "Tea?"),
        ("parenthetical", "ADA", "(beat)"),
        ("dialogue", "ADA", "Or not."),
    ]


def test_notes_and_boneyard_are_ignored():
    script = _features()
    text = " ".join(e.text for s in script.scenes for e in s.elements)
    assert "gull budget" not in text and "[[" not in text
    assert "I could" not in text and "BEN" not in [s.characters for s in script.scenes][1]
    assert script.scenes[0].elements[-1].text == "A gull wheels over black water."


def test_lyrics_centred_forced_action_transitions_and_page_break():
    script = _features()
    kinds = {(e.kind, e.text) for s in script.scenes for e in s.elements}
    assert (ElementKind.LYRIC, "Row, row, row the boat\nGently down the stream") in kinds
    assert (ElementKind.CENTERED, "THE END OF THE BEGINNING") in kinds
    assert (ElementKind.ACTION, "INT. THIS IS ACTION, NOT A HEADING") in kinds
    assert (ElementKind.TRANSITION, "SMASH CUT TO:") in kinds
    assert (ElementKind.TRANSITION, "FADE OUT.") in kinds
    assert (ElementKind.PAGE_BREAK, "") in kinds


def test_sections_and_synopses():
    script = _features()
    assert script.scenes[0].elements[0].text == "ACT ONE"
    assert script.scenes[1].synopsis == "Ada tends the lamp."


def test_crlf_tabs_and_odd_whitespace_are_tolerated():
    script = import_screenplay(fixture("crlf_tabs.fountain"), "crlf_tabs.fountain")
    assert script.title == "Tabs and Returns"
    assert [s.heading for s in script.scenes] == [
        "INT. HOUSE - KITCHEN - NIGHT",
        "EXT./INT. CAR - MOVING - DAY",
    ]
    first = script.scenes[0]
    assert first.elements[0].text == "Ada waits by the stove."
    assert speech(script) == [
        ("parenthetical", "ADA", "V.O.", False, "(softly)"),
        ("dialogue", "ADA", "V.O.", False, "Is it late?"),
        ("dialogue", "BEN", None, False, "No."),
    ]


def test_crlf_gives_the_same_script_as_lf():
    lf = fixture("features.fountain").decode()
    assert shape(parse_fountain(lf)) == shape(parse_fountain(lf.replace("\n", "\r\n")))
    assert shape(parse_fountain(lf)) == shape(parse_fountain(lf.replace("\n", "\r")))


def test_summary_shape_for_cli():
    summary = script_summary(_features())
    assert set(summary) == {"title", "scenes", "characters", "locations"}
    assert set(summary["scenes"][1]) == {
        "number",
        "heading",
        "location",
        "int_ext",
        "time_of_day",
        "characters",
    }
    assert summary["characters"] == [
        "ADA",
        "RADIO",
        "MR. O'BRIEN",
        "BOB'S VOICE",
        "DR. MCCOY",
        "BEN",
        "MCCLANE",
    ]
    assert summary["locations"] == ["LIGHTHOUSE - LAMP ROOM", "CAR - MOVING", "TRUCK", "BEACH", "KITCHEN"]


def test_fountain_round_trips_through_import():
    script = _features()
    again = parse_fountain(to_fountain(script))
    assert shape(again) == shape(script)
    assert again.title_page == script.title_page


def test_writer_forces_what_would_be_misread():
    text = to_fountain(
        parse_fountain("INT. A - DAY\n\n!BANG\nThe door.\n\n>NOT A TRANSITION\n\n@McCOY\nHi.\n")
    )
    assert "!BANG" in text and "> NOT A TRANSITION" in text
    again = parse_fountain(text)
    assert [e.kind.value for e in again.scenes[0].elements] == ["action", "transition", "dialogue"]


def test_fountain_inside_a_txt_file_is_read_as_fountain():
    script = import_screenplay(fixture("flush.txt"), "flush.txt")
    assert script_summary(script)["characters"] == ["SAM", "VOICE"]
