"""Caps refused with one sentence, text before the first heading kept in place, FDX written and read back."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest

from aiuteur.domain.artifacts import ElementKind
from aiuteur.screenplay import (
    ScreenplayError,
    import_screenplay,
    parse_fountain,
    script_summary,
    to_fdx,
    to_fountain,
    to_pdf,
)
from tests.screenplay.helpers import FIXTURES, fixture, shape


def _scenes(n: int) -> bytes:
    return "".join(f"INT. ROOM {i} - DAY\n\nAda waits.\n\n" for i in range(n)).encode()


def test_scene_cap_is_one_sentence_and_raisable():
    with pytest.raises(ScreenplayError, match=r"^big\.fountain has more than 50 scenes, the limit") as caught:
        import_screenplay(_scenes(51), "big.fountain", max_scenes=50)
    assert "\n" not in str(caught.value)
    assert len(import_screenplay(_scenes(51), "big.fountain", max_scenes=51).scenes) == 51
    fdx = to_fdx(import_screenplay(_scenes(51), "big.fountain"))
    with pytest.raises(ScreenplayError, match="more than 50 scenes"):
        import_screenplay(fdx, "big.fdx", max_scenes=50)


def test_pdf_page_cap_is_checked_before_reading_text():
    pdf = to_pdf(import_screenplay(_scenes(80), "a.fountain"))
    with pytest.raises(ScreenplayError, match=r"^a\.pdf has \d+ pages, over the 2-page limit"):
        import_screenplay(pdf, "a.pdf", max_pdf_pages=2)


def test_byte_cap():
    with pytest.raises(ScreenplayError, match=r"over the 1 MB limit"):
        import_screenplay(b"x" * (1_048_576 + 1), "a.fountain", max_bytes=1_048_576)


def test_title_page_lines_before_the_first_heading_are_the_title_page_not_a_scene():
    text = "THE LONG NIGHT\n\nwritten by\n\nMara Quill\n\nmara@example.com\n\nINT. HOUSE - NIGHT\n\nAda sits.\n"
    script = import_screenplay(text.encode(), "a.txt")
    assert [s.heading for s in script.scenes] == ["INT. HOUSE - NIGHT"]
    assert script.title == "THE LONG NIGHT"
    assert (script.title_page["author"], script.title_page["notes"]) == ("Mara Quill", "mara@example.com")


def test_cold_open_is_a_headed_scene_and_its_speaker_is_in_the_cast():
    text = "THE LONG NIGHT\n\nby Mara Quill\n\nA phone rings in the dark.\n\nNARRATOR (V.O.)\nIt began with a call.\n\nINT. HOUSE - NIGHT\n\nADA\nHello?\n"
    script = import_screenplay(text.encode(), "a.fountain")
    assert [(s.number, s.heading) for s in script.scenes] == [("0", "COLD OPEN"), ("1", "INT. HOUSE - NIGHT")]
    assert script_summary(script)["characters"] == ["NARRATOR", "ADA"]
    assert script.title_page["author"] == "Mara Quill"
    again = import_screenplay(to_fountain(script).encode(), "b.fountain")
    assert shape(again) == shape(script)
    assert not to_fountain(script).count("COLD OPEN")  # written as it was: no invented heading


def test_fade_in_stays_before_the_first_heading_in_every_writer():
    script = parse_fountain("FADE IN:\n\nINT. HOUSE - DAY\n\nAda sits.\n\nFADE OUT.\n")
    assert [s.heading for s in script.scenes] == ["INT. HOUSE - DAY"]
    fountain = to_fountain(script)
    assert fountain.index("FADE IN:") < fountain.index("INT. HOUSE")
    root = ET.fromstring(to_fdx(script))
    types = [(p.get("Type"), "".join(t.text or "" for t in p.findall("Text"))) for p in root.find("Content")]
    assert types[:2] == [("Transition", "FADE IN:"), ("Scene Heading", "INT. HOUSE - DAY")]
    from pypdf import PdfReader

    first = PdfReader(io.BytesIO(to_pdf(script))).pages[0].extract_text()
    assert first.index("FADE IN:") < first.index("INT. HOUSE")
    for again in (import_screenplay(fountain.encode(), "a.fountain"), import_screenplay(to_fdx(script), "a.fdx")):
        assert shape(again) == shape(script)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".fountain", ".fdx")))
def test_fdx_round_trip_keeps_every_scene_cue_and_line(name):
    script = import_screenplay(fixture(name), name)
    fdx = to_fdx(script)
    again = import_screenplay(fdx, "again.fdx")
    assert shape(again) == shape(script)
    assert to_fdx(again) == fdx  # stable


def test_fdx_has_what_final_draft_writes():
    script = import_screenplay(fixture("features.fountain"), "features.fountain")
    root = ET.fromstring(to_fdx(script))
    assert (root.tag, root.get("DocumentType"), root.get("Version")) == ("FinalDraft", "Script", "5")
    types = {p.get("Type") for p in root.iter("Paragraph")}
    assert {"Scene Heading", "Action", "Character", "Dialogue", "Parenthetical", "Transition"} <= types
    settings = {e.get("Type") for e in root.findall("ElementSettings")}
    assert types - {None, "Title"} <= settings  # every type used is defined in the file
    dual = root.find(".//DualDialogue")
    assert dual is not None and [p.get("Type") for p in dual][:2] == ["Character", "Dialogue"]
    heading = next(p for p in root.iter("Paragraph") if p.get("Type") == "Scene Heading")
    assert heading.get("Number") and heading.find("SceneProperties") is not None
    assert root.find("TitlePage/Content/Paragraph/Text").text == "The Last Lighthouse"


def test_fdx_revisions_scene_properties_and_styled_runs_are_read():
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<FinalDraft DocumentType="Script" Template="No" Version="5">
 <Content>
  <Paragraph Number="7" Type="Scene Heading"><SceneProperties Length="1 2/8" Page="3" Title="Pier">
   <Summary><Paragraph Type="General"><Text>Ada finds the key.</Text></Paragraph></Summary></SceneProperties>
   <Text Revision="2">EXT. PIER - </Text><Text>NIGHT [LATER]</Text></Paragraph>
  <Paragraph Type="Action"><Text Style="Bold+Underline">Ada</Text><Text Revision="1"> runs.</Text></Paragraph>
  <Paragraph Type="Action" Alignment="Center"><Text>THE END</Text></Paragraph>
  <Paragraph Type="Character" StartsNewPage="Yes"><Text>ADA (cont.)</Text></Paragraph>
  <Paragraph Type="Dialogue"><Text AdornmentStyle="0" Font="Courier Final Draft">Got it.</Text></Paragraph>
 </Content>
 <Revisions ActiveSet="1"><Revision Color="Blue" ID="1" Mark="*" Name="Blue"/></Revisions>
</FinalDraft>"""
    scene = import_screenplay(data, "a.fdx").scenes[0]
    assert (scene.number, scene.location, scene.time_of_day, scene.synopsis) == ("7", "PIER", "NIGHT", "Ada finds the key.")
    kinds = [(e.kind, e.text, e.extension) for e in scene.elements]
    assert kinds == [
        (ElementKind.SYNOPSIS, "Ada finds the key.", None),
        (ElementKind.ACTION, "Ada runs.", None),
        (ElementKind.CENTERED, "THE END", None),
        (ElementKind.PAGE_BREAK, "", None),
        (ElementKind.DIALOGUE, "Got it.", "CONT'D"),
    ]
