"""The transformers text engine on the tiny random-weight model: constrained output always parses,
validates and terminates; truncation is detected; free text streams."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from aiuteur.engines.base import Message, TruncatedError
from aiuteur.engines.schema_bounds import UnboundedSchemaError, worst_case_bytes
from aiuteur.engines.text_transformers import TransformersText
from tests.engines import schemas as s

PROMPT: list[Message] = [
    {"role": "system", "content": "Answer with JSON only."},
    {"role": "user", "content": "A keeper, a boy and an officer in a lighthouse at night."},
]
SCHEMAS: list[type[BaseModel]] = [s.Treatment, s.Scene, s.BeatSheet, s.Grid]


def test_fifty_constrained_generations_all_parse_validate_and_terminate(tiny_text: TransformersText) -> None:
    results: list[BaseModel] = []
    for seed in range(50):
        schema = SCHEMAS[seed % len(SCHEMAS)]
        # generate() raises TruncatedError unless the model emitted end-of-sequence, and
        # InvalidOutputError unless the text parses and validates: returning is the assertion.
        out = tiny_text.generate(PROMPT, schema, seed=seed, temperature=1.0)
        assert isinstance(out, schema)
        assert len(out.model_dump_json().encode()) <= worst_case_bytes(schema)
        results.append(out)
    treatments = [r for r in results if isinstance(r, s.Treatment)]
    assert len(treatments) == 13 and all(len(t.variants) == 3 for t in treatments)
    assert all(1 <= len(r.shots) <= 3 for r in results if isinstance(r, s.Scene))
    assert len({r.model_dump_json() for r in results}) > 40  # seeds matter


def test_same_seed_gives_the_same_output(tiny_text: TransformersText) -> None:
    a = tiny_text.generate(PROMPT, s.Scene, seed=3, temperature=1.0)
    b = tiny_text.generate(PROMPT, s.Scene, seed=3, temperature=1.0)
    assert a == b


def test_greedy_decoding_works(tiny_text: TransformersText) -> None:
    assert isinstance(tiny_text.generate(PROMPT, s.BeatSheet, seed=0, temperature=0.0), s.BeatSheet)


def test_budget_cut_is_reported_as_truncated(tiny_text: TransformersText) -> None:
    with pytest.raises(TruncatedError, match="cut off after 5 tokens"):
        tiny_text.generate(PROMPT, s.Treatment, seed=0, max_tokens=5)


def test_unbounded_schema_is_refused_before_generating(tiny_text: TransformersText) -> None:
    with pytest.raises(UnboundedSchemaError, match=r"FreeString\.title"):
        tiny_text.generate(PROMPT, s.FreeString, seed=0)


def test_stream_yields_free_text(tiny_text: TransformersText) -> None:
    pieces = list(tiny_text.stream(PROMPT, seed=0, max_tokens=12))
    assert pieces and all(isinstance(p, str) for p in pieces)


def test_progress_is_reported(tiny_text: TransformersText) -> None:
    seen: list[float] = []
    tiny_text.generate(PROMPT, s.Grid, seed=1, progress=lambda f, _: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0


def test_chat_template_comes_from_the_tokenizer(tiny_text: TransformersText) -> None:
    text = tiny_text.tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")


def test_a_stopped_job_ends_the_generation_between_tokens(tiny_text: TransformersText) -> None:
    """Stop (or a caller that left) ends a running generation after the current token, also when it
    streams from its worker thread."""
    from aiuteur.engines.base import StoppedError, stop_when

    asked: list[int] = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) > 3

    with stop_when(stop_after_three), pytest.raises(StoppedError, match=r"^Stopped while writing with"):
        tiny_text.generate(PROMPT, s.Treatment, seed=0, max_tokens=400)
    assert len(asked) <= 6  # a check per token and one after: it stopped at the fourth, not at the budget of 400
    asked.clear()
    pieces: list[str] = []
    with stop_when(stop_after_three), pytest.raises(StoppedError):
        pieces.extend(tiny_text.stream(PROMPT, seed=0, max_tokens=400))
    assert len(asked) <= 6 and len(pieces) <= 5
