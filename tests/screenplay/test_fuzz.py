"""Fuzz: whatever bytes arrive, the importers raise ScreenplayError or return a Script."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiuteur.domain.artifacts import Script
from aiuteur.screenplay import ScreenplayError, import_screenplay, parse_fountain, to_fountain
from tests.screenplay.helpers import fixture, shape

_PIECES = [
    "INT. ", "EXT. ", "I/E ", "HOUSE", " - ", "NIGHT", "\n", "\n\n", "\r\n", "\t", "  ", "ADA", "DR. McCOY",
    "(V.O.)", "(CONT'D)", "(MORE)", "^", "@", "!", ".", ">", "<", "~", "=", "===", "#", "#1#", "[[", "]]",
    "/*", "*/", "*", "_", "\\", "Title:", "CUT TO:", "(beat)", "Hello.", "2.", "CONTINUED:", "\f", "\x00",
    "é", "“", "<FinalDraft>", "<Content>", "<Paragraph Type=\"Character\">", "<Text>", "</Text>", "&lol;",
    "<!DOCTYPE x [<!ENTITY lol \"a\">]>", "%PDF-1.4", "\ufeff",
]  # fmt: skip
_TEXT = st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=40).map("".join)
_NAMES = st.sampled_from(["a.fountain", "a.txt", "a.fdx", "a.pdf", "a.md", "a.spmd", "a"])
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_screenplay_errors(data: bytes, name: str) -> None:
    try:
        result = import_screenplay(data, name)
    except ScreenplayError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(result, Script)


@_SETTINGS
@given(_TEXT, _NAMES)
def test_text_importers_raise_only_screenplay_error(text: str, name: str) -> None:
    _only_screenplay_errors(text.encode("utf-8", "surrogatepass"), name)


@_SETTINGS
@given(st.binary(max_size=400), _NAMES)
def test_random_bytes_raise_only_screenplay_error(data: bytes, name: str) -> None:
    _only_screenplay_errors(data, name)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=2000))
def test_damaged_pdf_raises_only_screenplay_error(noise: bytes, at: int) -> None:
    pdf = bytearray(fixture_pdf())
    pdf[at : at + len(noise)] = noise
    _only_screenplay_errors(bytes(pdf), "damaged.pdf")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=32), st.integers(min_value=0, max_value=2500))
def test_damaged_fdx_raises_only_screenplay_error(noise: bytes, at: int) -> None:
    data = bytearray(fixture("dual_notes.fdx"))
    data[at : at + len(noise)] = noise
    _only_screenplay_errors(bytes(data), "damaged.fdx")


_WORDS = st.lists(
    st.sampled_from(["Ada", "runs", "the", "door", "OPENS", "*", "quiet", "night", "—", "é", "42"]),
    min_size=1,
    max_size=8,
).map(" ".join)
_NAME = st.sampled_from(["ADA", "DR. McCOY", "BOB'S VOICE", "R2-D2", "MR. O'BRIEN"])
_EXT = st.sampled_from([None, "V.O.", "O.S.", "CONT'D", "ON PHONE, CONT'D"])


@st.composite
def _scene_text(draw: st.DrawFn) -> str:
    blocks = [draw(st.sampled_from(["INT. HOUSE - DAY", "EXT./INT. CAR - MOVING - NIGHT", ".MONTAGE"]))]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["action", "speech", "transition", "lyric", "centered"]))
        if kind == "action":
            blocks.append("!" + draw(_WORDS))
        elif kind == "speech":
            ext = draw(_EXT)
            cue = "@" + draw(_NAME) + (f" ({ext})" if ext else "") + draw(st.sampled_from(["", " ^"]))
            paren = draw(st.sampled_from(["", "(beat)\n"]))
            blocks.append(f"{cue}\n{paren}{draw(_WORDS)}")
        elif kind == "transition":
            blocks.append("> " + draw(_WORDS))
        elif kind == "lyric":
            blocks.append("~" + draw(_WORDS))
        else:
            blocks.append("> " + draw(_WORDS) + " <")
    return "\n\n".join(blocks)


@_SETTINGS
@given(st.lists(_scene_text(), min_size=1, max_size=4).map("\n\n".join))
def test_fountain_writer_round_trips_what_it_imports(text: str) -> None:
    script = parse_fountain(text)
    assert shape(parse_fountain(to_fountain(script))) == shape(script)


_PDF: list[bytes] = []


def fixture_pdf() -> bytes:
    if not _PDF:
        from aiuteur.screenplay import to_pdf

        _PDF.append(to_pdf(parse_fountain(fixture("features.fountain").decode())))
    return _PDF[0]
