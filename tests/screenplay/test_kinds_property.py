"""Property tests over every element kind: any script the importer can produce comes back the same
through the Fountain and Final Draft writers, and line endings, tabs, notes and boneyard never
change what a screenplay says."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aiuteur.domain.artifacts import ElementKind, Scene, Script, ScriptElement
from aiuteur.screenplay import import_screenplay, to_fdx, to_fountain
from tests.screenplay.helpers import FIXTURES, shape

_WORDS = st.sampled_from(["the", "lamp", "turns", "slowly", "über", "café", "rain", "on", "glass", "Ada", "waits"])
_SENTENCE = st.lists(_WORDS, min_size=2, max_size=8).map(lambda w: " ".join(w).capitalize() + ".")
_NAME = st.sampled_from(["ADA", "BEN", "DR. McCOY", "RENÉE", "MR. O'BRIEN", "АННА"])
_EXT = st.sampled_from([None, "V.O.", "O.S.", "O.C.", "CONT'D", "ON PHONE"])
_HEADING = st.tuples(
    st.sampled_from(["INT.", "EXT.", "INT./EXT.", "I/E"]),
    st.sampled_from(["HOUSE", "CEMETERY", "BIG TOP", "CAFÉ", "PIER"]),
    st.sampled_from(["DAY", "NIGHT", "LATER", "CONTINUOUS"]),
    st.sampled_from(["", " [LATER]", " (PRESENT)"]),
).map(lambda t: f"{t[0]} {t[1]} - {t[2]}{t[3]}")


@st.composite
def _elements(draw: st.DrawFn) -> list[ScriptElement]:
    out: list[ScriptElement] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["action", "speech", "transition", "centred", "lyric", "section", "break"]))
        if kind == "action":
            out.append(ScriptElement(kind=ElementKind.ACTION, text=draw(_SENTENCE)))
        elif kind == "speech":
            name, ext = draw(_NAME), draw(_EXT)
            key = {"character": name.upper(), "extension": ext}
            if draw(st.booleans()):
                out.append(ScriptElement(kind=ElementKind.PARENTHETICAL, text="(quietly)", **key))
            out.append(ScriptElement(kind=ElementKind.DIALOGUE, text=draw(_SENTENCE), **key))
        elif kind == "transition":
            out.append(ScriptElement(kind=ElementKind.TRANSITION, text=draw(st.sampled_from(["CUT TO:", "DISSOLVE TO:"]))))
        elif kind == "centred":
            out.append(ScriptElement(kind=ElementKind.CENTERED, text="THE END"))
        elif kind == "lyric":
            out.append(ScriptElement(kind=ElementKind.LYRIC, text=draw(_SENTENCE)))
        elif kind == "section":
            out.append(ScriptElement(kind=ElementKind.SECTION, text="Act " + draw(st.sampled_from(["one", "two"]))))
        else:
            out.append(ScriptElement(kind=ElementKind.PAGE_BREAK, text=""))
    return out


@st.composite
def _scripts(draw: st.DrawFn) -> Script:
    scenes = [Scene(number=str(i + 1), heading=draw(_HEADING), elements=[
        ScriptElement(kind=ElementKind.ACTION, text=draw(_SENTENCE)), *draw(_elements())])
        for i in range(draw(st.integers(1, 4)))]
    text = to_fountain(Script(title="Prop", scenes=scenes))
    return import_screenplay(text.encode(), "prop.fountain")  # the importer's own reading


@settings(max_examples=60, deadline=None)
@given(_scripts())
def test_every_kind_round_trips_through_fountain_and_final_draft(script: Script) -> None:
    for again in (import_screenplay(to_fountain(script).encode(), "a.fountain"), import_screenplay(to_fdx(script), "a.fdx")):
        assert shape(again) == shape(script)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(p.name for p in (FIXTURES / "corpus").glob("*.fountain"))))
def test_line_endings_tabs_notes_and_boneyard_change_nothing(rnd: random.Random, name: str) -> None:
    text = (FIXTURES / "corpus" / name).read_bytes().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    want = shape(import_screenplay(text.encode(), name))
    lines = []
    open_boneyard = False  # Fountain's boneyards do not nest: never insert one inside another
    for line in text.split("\n"):
        open_boneyard = (open_boneyard or line.lstrip().startswith("/*")) and not line.rstrip().endswith("*/")
        if line and line[0].islower() is False and line.endswith(".") and not line.isupper() and rnd.random() < 0.5:
            line = "\t" + line  # an indented action line
        if line.endswith(".") and not line.isupper() and rnd.random() < 0.3:
            line += " [[a note]]"
        lines.append(line)
        if not line and not open_boneyard and rnd.random() < 0.2:
            lines += ["/* boneyard", "INT. NOWHERE - DAY", "", "GHOST", "Boo.", "*/", ""]
    noisy, last = "", ""
    for line in lines:  # after a lone CR an empty line may not end in LF: CR LF would be one break
        last = rnd.choice(["\r\n", "\r"] if last == "\r" and not line else ["\n", "\r\n", "\r"])
        noisy += line + last
    assert shape(import_screenplay(noisy.encode(), name)) == want
