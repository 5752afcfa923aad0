"""Export everything: a screenplay PDF whose fonts lack a character says which, among what could not be exported."""

from __future__ import annotations

from pathlib import Path

from aiuteur.domain import InputMode, Stage, StoryInput
from aiuteur.exports import export_all
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay
from aiuteur.settings import DataHome
from aiuteur.store import Store
from tests.fakes import FakeEngines


def test_export_all_names_the_characters_the_screenplay_pdf_cannot_print(tmp_path: Path) -> None:
    runner = Runner(Store(DataHome(tmp_path / "home", "test")), engines=FakeEngines())
    pid = runner.create_project("Runes").id
    runner.save(pid, Stage.INPUT, StoryInput(mode=InputMode.SKIP_TO_SCRIPT))
    text = "INT. HALL - DAY\n\nThe rune ᚠ glows. Ελένη waits.\n\nANA\n雨が降る。\n"
    runner.save(pid, Stage.SCRIPT, import_screenplay(text.encode(), "runes.fountain"))
    written, missing = export_all(runner, pid, tmp_path / "out")
    assert {p.name for p in written} >= {"Runes_Screenplay.pdf", "Runes_Screenplay.fdx", "Runes_Screenplay.fountain"}
    notes = [m for m in missing if m.startswith("screenplay (PDF)")]
    assert notes == ["screenplay (PDF): 1 character (ᚠ) that its fonts have no glyph for; they print as empty boxes"]
