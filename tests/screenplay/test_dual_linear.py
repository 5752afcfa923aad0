"""Dual dialogue through our linear pass over fountain-py: pairs as the Fountain spec says."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiuteur.screenplay import parse_fountain
from tests.screenplay.helpers import speech

_NAMES = st.sampled_from(["ADA", "BEN", "CY", "DOT"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_NAMES, _NAMES, st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_every_caret_cue_pairs_with_the_cue_before_it(pairs):
    """Scenes of speeches; a `^` cue right after another speech is its dual partner, else plain."""
    blocks, want = ["INT. ROOM - DAY"], []
    for i, (left, right, dual, paren, action_between) in enumerate(pairs):
        blocks.append(f"{left}\n" + ("(softly)\n" if paren else "") + f"Left {i}.")
        want.append(("dialogue", left, None, False, f"Left {i}."))
        if action_between:
            blocks.append(f"They pause {i}.")
        blocks.append(f"{right}{' ^' if dual else ''}\nRight {i}.")
        want.append(("dialogue", right, None, dual and not action_between, f"Right {i}."))
    got = [line for line in speech(parse_fountain("\n\n".join(blocks) + "\n")) if line[0] == "dialogue"]
    assert got == want
