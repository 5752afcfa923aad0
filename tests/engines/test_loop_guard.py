"""The loop guard: a structured answer that starts to repeat itself is ended there and kept.

Pure checks on JSON prefixes, and one `real` test through llama.cpp with the offline GGUF (the
logits processor ends the answer at the loop; the engine closes and parses what came before).
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import Message
from aiuteur.engines.loop_guard import LoopGuard, close_json, json_strings, loop_start
from tests.engines.test_text_llamacpp import _offline_models_dir

SENTENCE = "Marisol pulls the wet coat tighter against the harbour wind."


def test_a_sentence_said_again_in_one_value_is_a_loop_and_the_cut_keeps_the_first() -> None:
    text = '{"title": "Wind", "prose": "' + SENTENCE + " She waits. " + SENTENCE + " She waits."
    at = loop_start(text)
    assert at is not None
    kept = json.loads(close_json(text[:at]))
    assert kept == {"title": "Wind", "prose": SENTENCE + " She waits."}


def test_short_sentences_and_names_may_repeat() -> None:
    text = json.dumps({"beats": [{"who": ["Marisol", "Dev"], "summary": "She runs. She runs. He waits."},
                                 {"who": ["Marisol", "Dev"], "summary": "They argue in the hall."}]})
    assert loop_start(text) is None


def test_a_line_quoted_twice_is_allowed_a_third_time_is_a_loop() -> None:
    line = "The van rolls out of the wash bay with its lights off and its doors still open"
    two = json.dumps({"scenes": [{"action": line}, {"action": "Dev hides. " + line}]})
    assert loop_start(two) is None
    three = json.dumps({"scenes": [{"action": line}, {"action": "Dev hides. " + line}, {"action": line}]})
    at = loop_start(three)
    assert at is not None and three[at:].startswith(line)
    assert json.loads(close_json(three[:at])) == {"scenes": [{"action": line}, {"action": "Dev hides. " + line},
                                                             {"action": ""}]}


def test_an_unfinished_repeat_is_not_yet_a_loop() -> None:
    text = '{"prose": "' + SENTENCE + " " + SENTENCE[:30]
    assert loop_start(text) is None


def test_strings_and_escapes_are_found_in_a_prefix() -> None:
    text = r'{"a": "say \"hi\"", "b": ["x", "unfin'
    assert [text[s:e] for s, e in json_strings(text)] == ["a", r'say \"hi\"', "b", "x", "unfin"]
    assert json.loads(close_json(text)) == {"a": 'say "hi"', "b": ["x", "unfin"]}
    assert json.loads(close_json('{"a": "line one\\n\\n')) == {"a": "line one"}
    assert json.loads(close_json('{"a": "x\\')) == {"a": "x"}


def test_the_guard_checks_every_few_tokens_after_the_prompt() -> None:
    answer = ('{"prose": "' + SENTENCE + " " + SENTENCE + '"').encode()
    calls: list[int] = []

    def detokenize(ids: list[int]) -> bytes:
        calls.append(len(ids))
        return answer[: len(ids) * 4]

    guard = LoopGuard(detokenize, every=4)
    prompt = list(range(10))
    assert guard(prompt) is False  # the first call is the prompt alone
    ids = list(prompt)
    stopped_at = None
    for t in range(200):
        ids.append(t)
        if guard(ids):
            stopped_at = len(ids) - len(prompt)
            break
    assert stopped_at is not None and stopped_at % 4 == 0
    assert calls and all(n % 4 == 0 for n in calls)
    assert guard.looped_at is not None and guard.text[guard.looped_at:].startswith(SENTENCE)


def test_a_loop_before_a_required_part_is_not_cut_the_model_writes_on() -> None:
    line = "The van rolls out of the wash bay with its lights off and its doors still open"
    answer = json.dumps({"cast": [line, line, line, "x"], "scenes": ["one"]}).encode()

    def detokenize(ids: list[int]) -> bytes:
        return answer[: len(ids) * 8]

    def usable(cut: str) -> bool:
        return "scenes" in json.loads(cut)

    guard = LoopGuard(detokenize, every=2, usable=usable)
    ids = list(range(5))
    guard(ids)
    stops = []
    for t in range(60):
        ids.append(t)
        stops.append(guard(ids))
    assert not any(stops) and guard.looped_at is None and guard.refused  # seen, refused, written on


class Story(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=2000)


@pytest.mark.real
def test_the_offline_model_is_stopped_when_it_repeats_a_sentence() -> None:
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    spec = {**load_profile("offline").spec("text"), "constraint": "llguidance"}
    engine = LlamaCppText.from_spec(spec, where)
    messages: list[Message] = [{"role": "user", "content": (
        f'Answer as JSON with a title and a text. The text is this sentence written ten times: "{SENTENCE}"')}]
    out = engine.generate(messages, Story, seed=0, temperature=0.0)
    assert out.text.count("harbour wind") == 1, out.text
