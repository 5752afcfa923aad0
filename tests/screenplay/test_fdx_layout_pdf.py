"""FDX, plain-text layout and PDF import, and the PDF export read back."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from aiuteur.domain.artifacts import ElementKind, IntExt
from aiuteur.screenplay import ScreenplayError, import_screenplay, parse_fountain, script_summary, to_pdf
from tests.screenplay.helpers import fixture, speech

# --- FDX -------------------------------------------------------------------------------------


def test_fdx_paragraph_types_dual_dialogue_and_scene_numbers():
    script = import_screenplay(fixture("dual_notes.fdx"), "dual_notes.fdx")
    assert script.title == "THE KEEPER"
    assert [s.number for s in script.scenes] == ["0", "4", "5A"]
    assert script.scenes[0].elements[0].text == "A cold open on the pier."
    assert script.scenes[1].elements[0].text == "Ada climbs the stairs."  # runs joined, ScriptNote skipped
    assert speech(script)[:4] == [
        ("parenthetical", "ADA", "CONT'D", False, "(breathless)"),
        ("dialogue", "ADA", "CONT'D", False, "Ninety-nine steps."),
        ("dialogue", "BRICK", None, False, "Screw retirement."),
        ("dialogue", "STEEL", "O.S.", True, "Screw it."),
    ]
    summary = script_summary(script)
    assert summary["characters"] == ["ADA", "BRICK", "STEEL", "MR. O'BRIEN"]
    assert summary["locations"] == ["LIGHTHOUSE", "PIER"]
    text = " ".join(e.text for s in script.scenes for e in s.elements)
    assert "NOTE" not in text


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<FinalDraft><Content><Paragraph Type="Action"><Text>&lol2;</Text></Paragraph></Content></FinalDraft>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<FinalDraft><Content><Paragraph Type="Action"><Text>&xxe;</Text></Paragraph></Content></FinalDraft>"""


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (BILLION_LAUGHS, "refused for safety"),
        (EXTERNAL, "refused for safety"),
        (b"<FinalDraft><Content><Paragraph>", "not well-formed XML"),
        (b"<?xml version='1.0'?><html><body/></html>", "not a Final Draft file"),
        (b"<FinalDraft/>", "no <Content>"),
    ],
)
def test_bad_fdx_gets_a_clear_message(data, needle):
    with pytest.raises(ScreenplayError) as info:
        import_screenplay(data, "bad.fdx")
    assert needle in str(info.value) and "bad.fdx" in str(info.value)
    assert "root:" not in str(info.value)


# --- plain text by layout --------------------------------------------------------------------


def test_layout_text_with_indentation_title_page_and_scene_numbers():
    script = import_screenplay(fixture("layout.txt"), "layout.txt")
    summary = script_summary(script)
    assert summary["title"] == "THE NIGHT FERRY"
    assert [(s["number"], s["location"], s["time_of_day"]) for s in summary["scenes"]] == [
        ("1", "HARBOUR", "NIGHT"), ("2", "FERRY - BRIDGE", "CONTINUOUS"), ("3", "HOLD", "NIGHT"),
    ]  # fmt: skip
    assert summary["characters"] == ["CAPTAIN REYES", "RADIO", "DR. MCCOY", "MR. O'BRIEN"]
    first = script.scenes[0]
    assert (
        "dialogue",
        "CAPTAIN REYES",
        None,
        False,
        "Harbour control, this is the Night Ferry. Requesting clearance.",
    ) in speech(script)
    assert first.elements[0].kind == ElementKind.TRANSITION
    assert script.scenes[1].elements[-1].text == "CUT TO:"


def test_messy_pages_more_contd_and_page_numbers_are_removed():
    script = import_screenplay(fixture("messy.txt"), "messy.txt")
    kitchen = script.scenes[0]
    anna = kitchen.dialogue[0]
    assert (anna.character, anna.extension) == ("ANNA", "ON PHONE")
    assert anna.text.endswith("not tonight, not ever. So stop calling.")
    assert ("JOHN", "CONT'D, O.S.") in [(d.character, d.extension) for d in kitchen.dialogue]
    assert script_summary(script)["characters"] == ["ANNA", "JOHN", "BOB'S VOICE"]
    text = " ".join(e.text for s in script.scenes for e in s.elements)
    assert "CONTINUED" not in text and "MORE" not in text and "3." not in text
    assert [s.int_ext for s in script.scenes] == [IntExt.INT, IntExt.INT_EXT, IntExt.INT_EXT]


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_export_reads_back_through_pdf_import():
    original = import_screenplay(fixture("features.fountain"), "features.fountain")
    pdf = to_pdf(original)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3  # title page + script
    again = import_screenplay(pdf, "features.pdf")
    want, got = script_summary(original), script_summary(again)
    assert got["title"] == "THE LAST LIGHTHOUSE"
    assert got["characters"] == want["characters"]
    assert got["scenes"][0]["heading"] == "COLD OPEN"  # the text before the first heading
    assert [s["heading"] for s in got["scenes"][1:]][:3] == [
        "INT. LIGHTHOUSE - LAMP ROOM - NIGHT", "EXT./INT. CAR - MOVING - DAY", "FLASHBACK",
    ]  # fmt: skip
    assert [s["number"] for s in got["scenes"]][:4] == ["0", "1", "2A", "3"]
    assert ("dialogue", "BEN", None, True, "Right!") in speech(again)


def test_long_speech_breaks_with_more_and_contd_and_reads_back_whole():
    words = " ".join(f"word{i}" for i in range(900))
    script = parse_fountain("INT. ROOM - DAY\n\n" + "Filler line.\n\n" * 20 + f"ANNA\n{words}\n")
    pdf = to_pdf(script)
    pages = [p.extract_text(extraction_mode="layout") for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) >= 4
    assert all("(MORE)" in page for page in pages[:-1])
    assert all("ANNA (CONT'D)" in page for page in pages[1:]) and "2." in pages[1]
    again = import_screenplay(pdf, "long.pdf")
    (anna,) = again.scenes[0].dialogue
    assert anna.character == "ANNA" and anna.text.split() == words.split()


def test_fake_pdf_is_refused():
    with pytest.raises(ScreenplayError, match="not a PDF"):
        import_screenplay(b"hello, I am text", "script.pdf")
    with pytest.raises(ScreenplayError, match="not a readable PDF"):
        import_screenplay(b"%PDF-1.7\n garbage garbage", "broken.pdf")


def test_encrypted_pdf_is_refused():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(to_pdf(parse_fountain("INT. A - DAY\n\nHello.\n")))))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ScreenplayError, match=r"password-protected|encrypted"):
        import_screenplay(out.getvalue(), "locked.pdf")


def test_image_only_pdf_is_refused():
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 100, style="F")
    with pytest.raises(ScreenplayError, match="no text layer"):
        import_screenplay(bytes(pdf.output()), "scan.pdf")
