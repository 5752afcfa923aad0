"""Property tests for the kinds of input the other property tests leave out: text before the first
heading (title page, FADE IN:, a cold open), synopses, cue extensions however they are spelled,
non-English headings and characters (through the PDF too), and Final Draft's revisions, scene
properties, styled runs and DualDialogue. Derandomized: the same examples on every run."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiuteur.domain.artifacts import IntExt
from aiuteur.screenplay import import_screenplay, parse_heading, script_summary, to_fdx, to_fountain
from aiuteur.screenplay.cues import join_cue, split_cue
from aiuteur.screenplay.pdf import render_pdf
from tests.screenplay.helpers import shape

_FAST = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

_WORDS = st.sampled_from(["the", "bell", "rings", "slowly", "über", "café", "rain", "on", "deck", "Ana", "waits"])
_SENTENCE = st.lists(_WORDS, min_size=2, max_size=7).map(lambda w: " ".join(w).capitalize() + ".")
_NAME = st.sampled_from(["ANA", "BOB", "DR. McCOY", "RENÉE", "MR. O'BRIEN", "АННА", "ΕΛΕΝΗ"])
_PLACE = st.sampled_from(["FERRY", "DECK", "CAFÉ", "PIER", "ENGINE ROOM"])


@st.composite
def _opening(draw: st.DrawFn) -> tuple[dict[str, str], bool, list[tuple[str, str | None, str | None]], str]:
    """A title page (some keys), FADE IN: or not, a cold open (action and speech) or none, and the
    Fountain text of all that followed by two headed scenes with a synopsis each."""
    page: dict[str, str] = {}
    for key, value in (("Title", draw(st.sampled_from(["Night Ferry", "Ferry", "Über Wasser"]))),
                       ("Credit", "Written by"), ("Author", draw(st.sampled_from(["Ana Ruiz", "Jo Ek"]))),
                       ("Draft date", "1 May 2026")):
        if key == "Title" or draw(st.booleans()):
            page[key] = value
    fade_in = draw(st.booleans())
    cold: list[tuple[str, str | None, str | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            cold.append(("action", None, draw(_SENTENCE)))
        else:
            cold.append(("speech", draw(_NAME), draw(_SENTENCE)))
    blocks = ["\n".join(f"{k}: {v}" for k, v in page.items())]
    if fade_in:
        blocks.append("FADE IN:")
    for kind, name, text in cold:
        blocks.append(f"{name} (V.O.)\n{text}" if kind == "speech" else text or "")
    for n in (1, 2):
        blocks += [f"INT. {draw(_PLACE)} - NIGHT", f"= Synopsis {n}.", draw(_SENTENCE), f"ANA\n{draw(_SENTENCE)}"]
    return page, fade_in, cold, "\n\n".join(blocks) + "\n"


@_FAST
@given(_opening())
def test_text_before_the_first_heading_is_title_page_fade_in_and_a_cold_open(opening) -> None:
    page, fade_in, cold, text = opening
    script = import_screenplay(text.encode(), "a.fountain")
    assert script.title == page["Title"]
    assert {k: script.title_page.get(k.lower()) for k in page} == page
    assert all(s.heading for s in script.scenes)  # never an empty-headed scene
    headed = script.scenes[1:] if cold else script.scenes
    assert [s.number for s in headed] == ["1", "2"] and [s.synopsis for s in headed] == ["Synopsis 1.", "Synopsis 2."]
    if cold:
        assert (script.scenes[0].number, script.scenes[0].heading) == ("0", "COLD OPEN")
        speakers = [(name or "").upper() for kind, name, _ in cold if kind == "speech"]
        assert set(speakers) <= set(script_summary(script)["characters"])  # nobody is lost
    fountain = to_fountain(script)
    if fade_in:
        assert fountain.index("FADE IN:") < fountain.index("INT. ")
        assert script.scenes[0].elements[0].text == "FADE IN:"
    for again in (import_screenplay(fountain.encode(), "b.fountain"), import_screenplay(to_fdx(script), "b.fdx")):
        assert shape(again) == shape(script)
        assert again.title_page == script.title_page


_EXTENSIONS = st.sampled_from([
    ("CONT'D", "CONT'D"), ("CONT’D", "CONT'D"), ("cont.", "CONT'D"), ("CONTINUED", "CONT'D"), ("contd", "CONT'D"),
    ("V.O.", "V.O."), ("v.o.", "V.O."), ("O.S.", "O.S."), ("O.C.", "O.C."), ("ON PHONE", "ON PHONE"),
])


@_FAST
@given(_NAME, st.lists(_EXTENSIONS, max_size=3), st.sampled_from(["", " ^", ":"]), st.sampled_from(["", "@"]))
def test_a_cue_gives_its_name_and_canonical_extensions_however_they_are_spelled(name, extensions, tail, force):
    cue = force + name + "".join(f" ({written})" for written, _ in extensions) + tail
    got_name, got_ext = split_cue(cue)
    assert got_name == name.upper()
    assert got_ext == (", ".join(canonical for _, canonical in extensions) or None)
    assert split_cue(join_cue(got_name, got_ext)) == (got_name, got_ext)  # stable once written


_PREFIXES = st.sampled_from([
    ("INT.", IntExt.INT), ("EXT.", IntExt.EXT), ("INNEN.", IntExt.INT), ("AUSSEN.", IntExt.EXT),
    ("ИНТ.", IntExt.INT), ("НАТ.", IntExt.EXT), ("ΕΣΩΤ.", IntExt.INT), ("ΕΞΩΤ.", IntExt.EXT),
    ("INT./EXT.", IntExt.INT_EXT), ("I/E", IntExt.INT_EXT),
])
_PLACES = st.sampled_from(["CAFÉ", "КУХНЯ", "ΦΑΡΟΣ", "東京のアパート", "부산 항구", "ÉCOLE", "BAHNHOF", "北京 站"])
_TIMES = st.sampled_from(["DAY", "NIGHT", "JOUR", "NACHT", "ДЕНЬ", "НОЧЬ", "ΜΕΡΑ", "ΝΥΧΤΑ", "MORNING"])


@_FAST
@given(_PREFIXES, _PLACES, _TIMES, st.sampled_from(["", " [LATER]", " #4B#"]))
def test_a_non_english_heading_gives_its_place_and_time(prefix, place, time, tail):
    heading = parse_heading(f"{prefix[0]} {place} - {time}{tail}")
    assert (heading.int_ext, heading.location, heading.time_of_day) == (prefix[1], place, time)


_SPEAKERS = st.sampled_from(["ANA", "RENÉE", "АННА", "ΕΛΕΝΗ", "ユキ", "민준", "王芳"])
_LINES = st.sampled_from(["Ticket, please.", "Très bien.", "Садись.", "Έρχεται καταιγίδα.", "明日、灯台へ行きます。",
                          "어서 와요.", "我们走吧。"])


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_PREFIXES, _PLACES, _TIMES, st.lists(st.tuples(_SPEAKERS, _LINES), min_size=1, max_size=3)),
                min_size=1, max_size=3))
def test_a_script_in_any_alphabet_prints_every_character_and_reads_back_from_its_pdf(scenes) -> None:
    text = "\n\n".join(
        f"{p[0]} {place} - {time}\n\n" + "\n\n".join(f"@{who}\n{line}" for who, line in speech)
        for p, place, time, speech in scenes) + "\n"
    script = import_screenplay(text.encode(), "a.fountain")
    pdf, missing = render_pdf(script)
    assert missing == []  # accented, Cyrillic, Greek, CJK and Hangul all have a glyph
    again = import_screenplay(pdf, "a.pdf")
    want, got = script_summary(script), script_summary(again)
    assert [s["heading"] for s in got["scenes"]] == [s["heading"].upper() for s in want["scenes"]]
    assert got["characters"] == want["characters"]


def _styled(fdx: bytes, rnd: random.Random) -> bytes:
    """The same script as Final Draft writes it after editing: every text split into runs with
    styles, fonts and revision marks, scene properties on every heading, a revision set."""
    root = ET.fromstring(fdx)
    for paragraph in root.iter("Paragraph"):
        texts = paragraph.findall("Text")
        if paragraph.get("Type") == "Scene Heading":
            props = paragraph.find("SceneProperties")
            if props is None:  # the writer puts a synopsis there; Final Draft adds one to every scene
                props = ET.Element("SceneProperties")
                paragraph.insert(0, props)
            props.attrib.update(Length="1/8", Page=str(rnd.randint(1, 9)), Title="")
        for text in texts:
            value, at = text.text or "", list(paragraph).index(text)
            cuts = sorted({rnd.randint(0, len(value)) for _ in range(rnd.randint(0, 3))})
            pieces = [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True) if value[a:b]] or [value]
            paragraph.remove(text)
            for k, piece in enumerate(pieces):
                run = ET.Element("Text", {**({"Style": rnd.choice(["Bold", "Italic", "Underline", "Bold+Italic"])}
                                             if rnd.random() < 0.5 else {}),
                                          **({"Revision": str(rnd.randint(1, 3))} if rnd.random() < 0.4 else {}),
                                          **({"Font": "Courier Final Draft"} if rnd.random() < 0.3 else {})})
                run.text = piece
                paragraph.insert(at + k, run)
    revisions = ET.SubElement(root, "Revisions", ActiveSet="1")
    ET.SubElement(revisions, "Revision", Color="Blue", ID="1", Mark="*", Name="Blue")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@st.composite
def _dual_scripts(draw: st.DrawFn) -> str:
    scenes = []
    for n in range(draw(st.integers(1, 3))):
        blocks = [f"INT. {draw(_PLACE)} - NIGHT", draw(_SENTENCE)]
        for _ in range(draw(st.integers(1, 3))):
            a, b = draw(_NAME), draw(_NAME)
            paren = draw(st.sampled_from(["", "(beat)\n"]))
            blocks.append(f"@{a}\n{paren}{draw(_SENTENCE)}")
            if draw(st.booleans()):
                blocks.append(f"@{b} ^\n{draw(_SENTENCE)}")
        if draw(st.booleans()):
            blocks.insert(1, f"= Scene {n + 1} in short.")
        scenes.append("\n\n".join(blocks))
    return "\n\n".join(scenes) + "\n"


@_FAST
@given(_dual_scripts(), st.randoms(use_true_random=False))
def test_final_draft_revisions_scene_properties_styled_runs_and_dual_dialogue_change_nothing(text, rnd) -> None:
    script = import_screenplay(text.encode(), "a.fountain")
    fdx = to_fdx(script)
    assert shape(import_screenplay(_styled(fdx, rnd), "edited.fdx")) == shape(script)
