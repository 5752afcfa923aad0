"""Fast-forward: the tokens a JSON grammar forces are taken in one step, not sampled one by one.

A check of the processor's bookkeeping with llguidance and the tiny profile's real tokenizer
(runs everywhere), and one `real` test through llama.cpp with the offline GGUF: the forwarded
answer parses, fits the schema, and took fewer decode steps than it has tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import Message
from aiuteur.engines.schema_bounds import (
    ITEM_SEPARATOR,
    KEY_SEPARATOR,
    json_schema_of,
    llguidance_json_options,
)
from tests.engines.test_text_llamacpp import SCENE, Cast, _offline_models_dir

pytest.importorskip("llguidance", reason="llguidance is not installed")


class Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: Literal["extreme wide", "wide", "medium", "close-up"]
    lens: Literal["24mm", "35mm", "50mm", "85mm"]
    action: str = Field(min_length=1, max_length=80)


class Shots(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shots: list[Shot] = Field(min_length=1, max_length=4)


def test_the_processor_forces_keys_and_enum_tails_and_keeps_count(tiny_text_dir: Path) -> None:
    """Fed an answer token by token the way the engine does (sample one, then take what the
    grammar forces), the processor returns the forced tokens, consumes them, and what it was fed
    plus what it forced is the answer, whole; its count of tokens seen stays with the sequence."""
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    from aiuteur.engines.text_llamacpp import LLGuidanceNumpyProcessor

    tok = AutoTokenizer.from_pretrained(tiny_text_dir)
    ll = llguidance.hf.from_tokenizer(tok, n_vocab=len(tok))
    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(json_schema_of(Shots)),
                                                            defaults=llguidance_json_options())
    answer = json.dumps({"shots": [{"size": "medium", "lens": "85mm", "action": "Mara lifts the egg."},
                                   {"size": "close-up", "lens": "50mm", "action": "Her hand shakes."}]},
                        separators=(ITEM_SEPARATOR, KEY_SEPARATOR))
    import numpy as np

    proc = LLGuidanceNumpyProcessor(ll, grammar)
    prompt = [1, 2, 3]
    proc(prompt, np.zeros(len(tok), dtype=np.float32))  # the first call sees the prompt
    out: list[int] = []
    sampled = 0
    while (rest := answer[len(tok.decode(out)):]):
        token = int(tok.encode(rest, add_special_tokens=False)[0])  # what the model "samples"
        forced = proc.forced_after(token)
        sampled += 1
        out += [token, *forced]
        assert answer.startswith(tok.decode(out)), (tok.decode(out), answer)
    assert json.loads(tok.decode(out)) == json.loads(answer)
    assert proc.seen == len(prompt) + len(out)  # the next call consumes nothing twice
    assert proc.matcher.is_accepting() and not proc.matcher.is_error()
    # the keys, quotes, commas and the tails of the enum values were forced: far fewer steps
    assert sampled < 0.75 * len(out), (sampled, len(out))


@pytest.mark.real
def test_a_forwarded_answer_fits_its_schema_in_fewer_decode_steps_than_tokens() -> None:
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines import usage
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    engine = LlamaCppText.from_spec({**load_profile("offline").spec("text"), "constraint": "llguidance"}, where)
    assert engine.fast_forward  # the offline profile's default
    steps: list[int] = []
    original = engine.llm.eval

    def counted(tokens: Any) -> Any:
        steps.append(len(tokens))
        return original(tokens)

    engine.llm.eval = counted
    messages: list[Message] = [
        {"role": "system", "content": "You extract the characters of a screenplay scene as JSON."},
        {"role": "user", "content": f"Scene:\n{SCENE}\nList every character who appears, with a short description."},
    ]
    with usage.measure() as used:
        cast = engine.generate(messages, Cast, seed=0, temperature=0.0)
    assert len(cast.characters) == 3, cast
    decode_steps = len(steps) - 1  # the first eval is the prompt
    assert used.completion > 0 and decode_steps < used.completion * 0.8, (decode_steps, used)


class Quote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    who: str = Field(min_length=1, max_length=60)
    quote: str = Field(min_length=1, max_length=400)


@pytest.mark.real
def test_looked_up_guesses_save_decode_steps_and_leave_the_answer_the_models_own() -> None:
    """An answer that repeats its prompt (here a quoted passage, as a shot list repeats its scene)
    is written in fewer decode batches with prompt lookup on; every kept guess is a token the model
    sampled itself, so with greedy sampling the answer is the same as without the lookup."""
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    engine = LlamaCppText.from_spec({**load_profile("offline").spec("text"), "constraint": "llguidance",
                                     "lookup": True}, where)
    assert engine.lookup
    batches: list[int] = []
    original = engine.llm._ctx.decode

    def counted(batch: Any) -> Any:
        batches.append(1)
        return original(batch)

    engine.llm._ctx.decode = counted
    messages: list[Message] = [
        {"role": "system", "content": "You quote screenplays exactly, as JSON."},
        {"role": "user", "content": f"Scene:\n{SCENE}\nName the first character of the scene and quote the "
                                    "scene's first two sentences exactly, word for word."},
    ]
    answers, steps = [], []
    for on in (True, False):
        engine.lookup = on
        engine.llm.reset()  # the same prompt work both times
        batches.clear()
        answers.append(engine.generate(messages, Quote, seed=0, temperature=0.0))
        steps.append(len(batches))
    assert answers[0] == answers[1], answers
    assert "polishes the great lamp" in answers[0].quote
    assert steps[0] < steps[1] * 0.8, steps
