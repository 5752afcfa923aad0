"""The screenplay PDF against the layout rules: US Letter, 12-pt Courier (Courier Prime, embedded) at 6 lines an inch,
action at 1.5 in (60 characters wide), cues at 3.7 in, parentheticals at 3.1 in, dialogue at
2.5 in (35 characters wide), transitions ending at 7.5 in, page numbers "2." top right from page
two, 1-in top and bottom margins, and "(MORE)" / "NAME (CONT'D)" when a speech crosses pages."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict

from pypdf import PdfReader

from aiuteur.screenplay import fonts, import_screenplay, parse_fountain, to_pdf
from aiuteur.screenplay.pdf import render_pdf

PT = 72.0  # points per inch


def _runs(pdf: bytes) -> list[list[tuple[str, float, float, str, float]]]:
    """Per page: (text, x in inches, y in inches from the top, font, size) for every text run."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        runs: list[tuple[str, float, float, str, float]] = []

        def visit(text, cm, tm, font, size, runs=runs):
            if text.strip():
                x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
                runs.append((text.strip(), x / PT, 11 - y / PT, str(font.get("/BaseFont")) if font else "", size))

        page.extract_text(visitor_text=visit)
        pages.append(runs)
    return pages


_ACTION = "Ada climbs the spiral stairs, counting every one of them under her breath as the storm builds outside."
_SCRIPT = """Title: Layout

INT. LIGHTHOUSE - NIGHT

{action}

ADA
(breathless)
Ninety-nine steps. Every night, ninety-nine steps, and not one of them gets any shorter for all the years.

CUT TO:

EXT. PIER - DAWN

BEN
{long}
"""


def test_every_element_sits_at_its_standard_position_in_12pt_courier():
    words = " ".join(f"word{i}" for i in range(700))
    pdf = to_pdf(parse_fountain(_SCRIPT.format(action=_ACTION, long=words)))
    reader = PdfReader(io.BytesIO(pdf))
    assert all((float(p.mediabox.width), float(p.mediabox.height)) == (612, 792) for p in reader.pages)  # US Letter
    pages = _runs(pdf)
    script = [r for page in pages[1:] for r in page]  # page 0 is the title page
    assert {(font.split("+")[-1], size) for _, _, _, font, size in script} == {("CourierPrimeLight", 12)}
    x: dict[str, set[float]] = defaultdict(set)
    for text, left, _, _, _ in script:
        kind = ("heading" if text.startswith(("INT.", "EXT.")) else "cue" if text in ("ADA", "BEN", "BEN (CONT'D)")
                else "paren" if text.startswith("(") and text != "(MORE)" else "more" if text == "(MORE)"
                else "transition" if text == "CUT TO:" else "action" if text in _ACTION
                else "page" if text.rstrip(".").isdigit() else "dialogue")
        x[kind].add(round(left, 2))
    assert x["heading"] == x["action"] == {1.5}
    assert x["cue"] == x["more"] == {3.7}
    assert x["paren"] == {3.1}
    assert x["dialogue"] == {2.5}
    assert x["transition"] == {round(7.5 - len("CUT TO:") * 0.1, 2)}  # right edge at 7.5 in
    lines = {text: len(text) for text, *_ in script}
    assert max(n for t, n in lines.items() if t.startswith("word") or t.startswith("Ninety")) <= 35
    assert max(n for t, n in lines.items() if t in _ACTION) <= 60


def test_margins_line_spacing_page_numbers_and_more_contd():
    words = " ".join(f"word{i}" for i in range(900))
    pages = _runs(to_pdf(parse_fountain(f"INT. ROOM - DAY\n\nANNA\n{words}\n")))
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        body = [r for r in page if not r[0].rstrip(".").isdigit()]
        tops = sorted({round(y * 6, 2) for _, _, y, _, _ in body})  # in lines of 1/6 in
        assert tops[0] >= 6 and tops[-1] <= 60  # 1-in top and bottom margins
        steps = {round(b - a, 2) for a, b in itertools.pairwise(tops)}
        assert steps <= {1.0, 2.0, 3.0}  # 6 lines an inch, blank lines whole
        numbers = [(t, x, y) for t, x, y, _, _ in page if t.rstrip(".").isdigit() and y < 1.0]
        if number == 1:
            assert numbers == []  # no number on page one
        else:
            assert [t for t, _, _ in numbers] == [f"{number}."]
            t, x, _ = numbers[0]
            assert abs(x + len(t) * 0.1 - 7.5) < 0.01  # flush with the right margin
        texts = [t for t, *_ in page]
        if number < len(pages):
            assert texts[-1] == "(MORE)"
        if number > 1:
            assert "ANNA (CONT'D)" in texts[:3]


def test_every_script_prints_on_the_ten_per_inch_grid_whatever_its_alphabet():
    """Greek and Cyrillic keep one column a character, CJK takes two (so a line of Japanese
    dialogue wraps at 17 characters, not 35), each run drawn in the first font that has it."""
    script = parse_fountain("INT. ΦΑΡΟΣ - NIGHT\n\nЖ" + "x" * 9 + "λ\n\nYUKI\n" + "東京" * 20 + "\n")
    pdf, missing = render_pdf(script)
    assert missing == []
    runs = _runs(pdf)[0]
    heading, action = ([(round(x, 2), text, font.split("+")[-1]) for text, x, y, font, _ in runs
                        if abs(y - (1 + line / 6 + 0.125)) < 0.01] for line in (0, 2))
    assert heading[2:] == [(1.5, "INT.", "CourierPrimeLight"), (2.0, "ΦΑΡΟΣ", "LiberationMono"),
                           (2.5, "- NIGHT", "CourierPrimeLight")]
    assert action == [(1.5, "Ж", "LiberationMono"), (1.6, "xxxxxxxxx", "CourierPrimeLight"),
                      (2.5, "λ", "LiberationMono")]
    japanese = [(text, x) for text, x, _, font, _ in runs if "WenQuanYi" in font]
    assert japanese and all(abs(x - 2.5) < 0.01 for _, x in japanese)
    assert max(fonts.width(t) for t, _ in japanese) <= 35 and sum(len(t) for t, _ in japanese) == 40


def test_a_character_no_font_has_is_reported_not_printed_as_a_question_mark():
    script = parse_fountain("INT. HALL - DAY\n\nThe rune ᚠ and the sign 𓀀 glow.\n")
    pdf, missing = render_pdf(script)
    assert missing == ["ᚠ", "𓀀"]
    sentence = fonts.missing_sentence(missing)
    assert "2 characters" in sentence and "ᚠ 𓀀" in sentence and "empty boxes" in sentence
    assert "?" not in import_screenplay(pdf, "again.pdf").scenes[0].elements[0].text


def test_the_characters_a_pdf_cannot_print_are_known_without_rendering_it():
    from aiuteur.screenplay.pdf import printed_text

    for text in ("INT. HALL - DAY\n\nThe rune ᚠ and the sign 𓀀 glow.\n\nANA\nΓειά σου 𓀀.\n",
                 "Title: ᚠ Saga\n\nINT. HALL - DAY\n\n= A synopsis with ᛟ is not printed.\n\nAda waits.\n"):
        script = parse_fountain(text)
        assert fonts.missing(printed_text(script)) == render_pdf(script)[1]
