"""The corpus (tests/fixtures/screenplays/corpus): each screenplay imports to what a reader sees,
and comes back whole through Fountain, Final Draft and the screenplay PDF."""

from __future__ import annotations

import json

import pytest

from aiuteur.screenplay import fonts, import_screenplay, script_summary, to_fdx, to_fountain
from aiuteur.screenplay.pdf import render_pdf
from tests.screenplay.helpers import FIXTURES, shape

CORPUS = FIXTURES / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_the_corpus_has_fifteen_or_more_screenplays_each_with_a_licence_note():
    files = [p for p in CORPUS.iterdir() if p.suffix in (".fountain", ".fdx", ".txt", ".md") and p.name != "README.md"]
    assert len(files) >= 15 and sorted(p.name for p in files) == sorted(EXPECTED)
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert all(f"| {p.name} |" in readme and "Apache-2.0" in readme.split(f"| {p.name} |")[1].split("\n")[0]
               for p in files)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_imports_as_a_reader_sees_it(name):
    script = import_screenplay((CORPUS / name).read_bytes(), name)
    summary = script_summary(script)
    want = EXPECTED[name]
    assert summary["title"] == want["title"]
    assert summary["characters"] == want["characters"]
    got = [[s["number"], s["heading"], s["location"], s["int_ext"], s["time_of_day"]] for s in summary["scenes"]]
    assert got == want["scenes"]
    assert [s.synopsis for s in script.scenes] == want["synopses"]
    assert all(s.heading for s in script.scenes)  # no empty-headed scene


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_round_trips_through_fountain_and_final_draft(name):
    script = import_screenplay((CORPUS / name).read_bytes(), name)
    for again in (import_screenplay(to_fountain(script).encode(), "again.fountain"),
                  import_screenplay(to_fdx(script), "again.fdx")):
        assert shape(again) == shape(script)
        assert again.title == script.title


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_screenplay_pdf_reads_back_with_every_scene_and_speaker(name):
    """Accented, Cyrillic, Greek, Japanese and Korean text prints in the embedded fonts (none is
    missing) and reads back from the PDF as written."""
    assert [f.name for f in fonts.faces()][:3] == ["CourierPrime", "LiberationMono", "WenQuanYiMicroHei"], (
        "the screenplay fonts are not installed; scripts/test.sh installs them (Debian packages)")
    script = import_screenplay((CORPUS / name).read_bytes(), name)
    pdf, missing = render_pdf(script)
    assert missing == []
    again = import_screenplay(pdf, "again.pdf")
    want, got = script_summary(script), script_summary(again)
    assert [s["heading"] for s in got["scenes"]] == [s["heading"].upper() for s in want["scenes"]]
    assert got["characters"] == want["characters"]
    assert got["title"] == want["title"].upper()
