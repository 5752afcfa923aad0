"""One decoder for uploaded text: the screenplay importer and the story upload read bytes the same way
and refuse what is not text with the same sentence, ending in each one's own advice."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiuteur.domain.errors import InputError
from aiuteur.screenplay import ScreenplayError, import_screenplay
from aiuteur.screenplay.text import decode_text
from aiuteur.ui import input_tab

WORDS = "Renée’s café — ça va? Наташа, 美咲"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (WORDS.encode(), WORDS),
        (b"\xef\xbb\xbf" + WORDS.encode(), WORDS),  # UTF-8 with a BOM: the BOM is not text
        (WORDS.encode("utf-16"), WORDS),  # with a BOM, either byte order
        (WORDS.encode("utf-16-le"), WORDS),  # Notepad's "Unicode" without a BOM
        (WORDS.encode("utf-16-be"), WORDS),
        ("Renée’s café — ça va?".encode("cp1252"), "Renée’s café — ça va?"),
        (b"caf\xe9 \x81ok", "café \x81ok"),  # a byte cp1252 leaves undefined: Latin-1, nothing replaced
    ],
)
def test_every_reader_decodes_the_same_text(data: bytes, expected: str, tmp_path: Path) -> None:
    assert decode_text(data, "a.txt", advice="x", other_formats="y") == expected
    path = tmp_path / "story.txt"
    path.write_bytes(data)
    assert input_tab.read_upload(path) == expected


def test_the_refusal_ends_with_the_callers_advice() -> None:
    with pytest.raises(ScreenplayError) as nul:
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00", "photo.txt", advice="upload a story", other_formats="z")
    assert str(nul.value) == ("photo.txt holds NUL bytes, so it is not a text file (an image, a Word .docx, a zip?); "
                              "upload a story.")
    with pytest.raises(ScreenplayError) as controls:
        decode_text(bytes(range(1, 32)) * 10, "noise.md", advice="z", other_formats="paste it instead")
    assert str(controls.value) == ("noise.md does not read as text in UTF-8 or Windows-1252 (too many control "
                                   "characters); save it as UTF-8 plain text, or paste it instead.")
    assert isinstance(controls.value, InputError)


@pytest.mark.parametrize("data", [b"\xff\xfe" + b"\x01\x00\x02\x00" * 100, b"\x00\x01\x02\xff" * 100])
def test_binary_that_decodes_as_utf16_is_refused_by_both_readers(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(ScreenplayError, match=r"^zeros\.txt does not read as text .*import a Fountain, FDX or PDF "
                                              r"screenplay\.$"):
        import_screenplay(data, "zeros.txt")
    path = tmp_path / "zeros.txt"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"^zeros\.txt does not read as text .*upload a \.fountain, \.fdx or \.pdf "
                                         r"file\.$"):
        input_tab.read_upload(path)
