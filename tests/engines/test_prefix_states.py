"""Saved prompt states (`engines.prefix_states`): which state a prompt gets, and what is kept.

The store's choices run everywhere; one `real` test runs the offline GGUF through llama.cpp: a
prompt that begins like one two calls back reads only what differs, and the answer fits its schema.
"""

from __future__ import annotations

import pytest

from aiuteur.engines.base import Message
from aiuteur.engines.prefix_states import PrefixStates, common_prefix
from tests.engines.test_text_llamacpp import SCENE, Cast, _offline_models_dir


def test_a_prompt_gets_the_state_that_shares_its_longest_beginning() -> None:
    states = PrefixStates(capacity=10_000, min_gain=4)
    states.remember("shots", list(range(100)), b"s" * 10)
    states.remember("scene", [*range(50), *range(500, 560)], b"c" * 10)
    prompt = [*range(80), 999]
    state, length = states.best_for(prompt, held=0)
    assert state is not None and length == 80 and state.data == b"s" * 10
    # Not worth a restore when the context already holds nearly as much.
    assert states.best_for(prompt, held=78) == (None, 78)
    assert states.best_for([7, 7, 7], held=0) == (None, 0)  # nothing in common
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2


def test_one_state_a_key_and_the_least_recently_used_goes_first() -> None:
    states = PrefixStates(capacity=30, min_gain=1)
    states.remember("a", [1, 2, 3], b"x" * 10)
    states.remember("a", [1, 2, 3, 4], b"y" * 10)  # the key's last call replaces its state
    assert len(states) == 1
    states.remember("b", [5, 6], b"z" * 10)
    states.best_for([1, 2, 3, 4, 9], held=0)  # "a" is used: "b" is now the oldest
    states.remember("c", [7, 8], b"w" * 15)  # over 30 bytes: "b" goes
    assert states.size <= 30
    assert states.best_for([5, 6, 0], held=0) == (None, 0)
    assert states.best_for([1, 2, 3, 4, 0], held=0)[1] == 4
    off = PrefixStates(capacity=0)
    off.remember("a", [1, 2], b"x")
    assert len(off) == 0
    with pytest.raises(ValueError, match="capacity"):
        PrefixStates(capacity=-1)


@pytest.mark.real
def test_a_prompt_like_one_two_calls_back_reads_only_what_differs() -> None:
    """Extraction, then another system prompt, then extraction again: with saved states the third
    call restores the first call's context and reads only its new words; without, it reads all."""
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines import usage
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    system = ("You extract the characters of a screenplay scene as JSON. Name each person who appears, "
              "once, with what they look like and what they do. ") * 4
    calls: list[list[Message]] = [
        [{"role": "system", "content": system}, {"role": "user", "content": f"Scene:\n{SCENE}\nWho is in it?"}],
        [{"role": "system", "content": "You answer briefly, as JSON."},
         {"role": "user", "content": "Name two characters of a lighthouse story."}],
        [{"role": "system", "content": system},
         {"role": "user", "content": f"Scene:\n{SCENE}\nList every character who appears, with a short description."}],
    ]
    reused = {}
    for mb in (0, 64):
        engine = LlamaCppText.from_spec({**load_profile("offline").spec("text"), "prefix_state_mb": mb}, where)
        assert (engine.states is None) == (mb == 0)
        for messages in calls[:2]:
            engine.generate(messages, Cast, seed=0, temperature=0.0)
        with usage.measure() as used:
            cast = engine.generate(calls[2], Cast, seed=0, temperature=0.0)
        assert cast.characters, cast  # an answer that fits its schema (its prose is the model's)
        reused[mb] = used.cached
        del engine
    assert reused[0] < 20  # the second call's context shares only the chat template's first tokens
    assert reused[64] > 150, reused  # the first call's system prompt and scene
