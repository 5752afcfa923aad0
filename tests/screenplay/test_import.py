"""Dispatch, bad input, and the heading and cue helpers on real-world spellings."""

from __future__ import annotations

import pytest

from aiuteur.domain.artifacts import IntExt
from aiuteur.domain.errors import InputError
from aiuteur.screenplay import ScreenplayError, import_screenplay, script_summary
from aiuteur.screenplay.cues import split_cue
from aiuteur.screenplay.headings import parse_heading


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [
        (b"", "empty.fountain", "is empty"),
        (b"   \n\r\n\t ", "blank.fountain", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 50, "photo.fountain", "not a text file"),
        (bytes(range(1, 32)) * 100, "controls.txt", "does not read as text"),
        # zeros in every other byte, as UTF-16 text has, but binary: it decodes to control characters
        (b"\x00\x01\x02\xff" * 100, "zeros.fountain", "does not read as text"),
        (b"\x01\x00\xff\x02" * 100, "zeros-le.txt", "does not read as text"),
        (b"just some words", "script.docx", "unsupported file type"),
        (b"\n\n[[only a note]]\n\n/* and boneyard */\n", "notes.fountain", "no screenplay text"),
    ],
)
def test_bad_files_get_one_clear_line(data, name, needle):
    with pytest.raises(ScreenplayError) as info:
        import_screenplay(data, name)
    message = str(info.value)
    assert needle in message and name in message and "\n" not in message


def test_a_50_mb_upload_is_refused_before_parsing():
    with pytest.raises(ScreenplayError, match=r"50\.0 MB, over the 20 MB limit"):
        import_screenplay(b"A" * (50 * 1024 * 1024), "huge.fountain")


def test_error_is_an_input_error():
    assert issubclass(ScreenplayError, InputError)


def test_legacy_encodings_decode():
    data = "INT. CAFÉ - DAY\n\nRENÉE\nBonjour – ça va?\n".encode("cp1252")
    script = import_screenplay(data, "cafe.fountain")
    assert script.scenes[0].location == "CAFÉ"
    assert script_summary(script)["characters"] == ["RENÉE"]
    bom = "\ufeffINT. A - DAY\n\nBOB\nHi.\n".encode()
    assert script_summary(import_screenplay(bom, "a.fountain"))["characters"] == ["BOB"]
    utf16 = "INT. A - DAY\n\nBOB\nHi.\n".encode("utf-16")
    assert script_summary(import_screenplay(utf16, "a.txt"))["characters"] == ["BOB"]


@pytest.mark.parametrize(
    ("line", "int_ext", "location", "time", "number"),
    [
        ("INT. HOUSE - KITCHEN - NIGHT", IntExt.INT, "HOUSE - KITCHEN", "NIGHT", None),
        ("EXT./INT. CAR - MOVING - DAY", IntExt.INT_EXT, "CAR - MOVING", "DAY", None),
        ("I/E TRUCK - CONTINUOUS", IntExt.INT_EXT, "TRUCK", "CONTINUOUS", None),
        ("INT HOUSE NIGHT", IntExt.INT, "HOUSE", "NIGHT", None),
        ("1 INT. HOUSE - DAY 1", IntExt.INT, "HOUSE", "DAY", "1"),
        ("12A EXT. BEACH - MOMENTS LATER 12A", IntExt.EXT, "BEACH", "MOMENTS LATER", "12A"),
        ("INT. DINER - LATER", IntExt.INT, "DINER", "LATER", None),
        ("EXT. ROAD -- NIGHT", IntExt.EXT, "ROAD", "NIGHT", None),
        ("INT. 7-ELEVEN - DAY", IntExt.INT, "7-ELEVEN", "DAY", None),
        ("EST. CITY - DAWN", IntExt.EXT, "CITY", "DAWN", None),
        ("INT. HOUSE", IntExt.INT, "HOUSE", "", None),
    ],
)
def test_headings(line, int_ext, location, time, number):
    heading = parse_heading(line)
    assert (heading.int_ext, heading.location, heading.time_of_day, heading.number) == (
        int_ext,
        location,
        time,
        number,
    )


@pytest.mark.parametrize(
    ("cue", "name", "extension"),
    [
        ("DR. McCOY", "DR. MCCOY", None),
        ("MR. O'BRIEN (V.O.)", "MR. O'BRIEN", "V.O."),
        ("ANNA (ON PHONE)", "ANNA", "ON PHONE"),
        ("JOHN (CONT'D) (O.S.)", "JOHN", "CONT'D, O.S."),
        ("JOHN (CONT’D)", "JOHN", "CONT'D"),
        ("JOHN (cont.)", "JOHN", "CONT'D"),
        ("BOB'S VOICE", "BOB'S VOICE", None),
        ("STEEL ^", "STEEL", None),
        ("@McCLANE", "MCCLANE", None),
    ],
)
def test_cues(cue, name, extension):
    assert split_cue(cue) == (name, extension)


def test_utf16_without_a_byte_order_mark_is_read_as_text() -> None:
    text = "INT. KITCHEN - NIGHT\n\nMara opens the fridge.\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        script = import_screenplay(text.encode(encoding), "notepad.fountain")
        assert script.scenes and script.scenes[0].heading.startswith("INT. KITCHEN")
