"""A profile caps how often a stage asks the model again (`[text] max_attempts`).

On the offline CPU profile one answer costs minutes, so it allows one re-ask; stages that would
ask three times keep their best answer after two, and say so.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationInfo, field_validator

from aiuteur.engines.profiles import load_profile
from aiuteur.pipeline.writing import ask, attempts_for
from tests.fakes import ScriptedText


class Line(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def _long(cls, v: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("check") and len(v) < 10:
            raise ValueError("too short")
        return v


def test_the_offline_profile_allows_one_re_ask() -> None:
    assert load_profile("offline").spec("text")["max_attempts"] == 2


def test_a_capped_engine_is_asked_at_most_its_cap_and_the_last_answer_comes_back() -> None:
    text = ScriptedText()
    text.max_attempts = 2  # type: ignore[attr-defined]
    text.enqueue({"text": "short"}, {"text": "tiny"}, {"text": "never asked for"})
    got = ask(text, [{"role": "user", "content": "a line"}], Line, seed=1, max_attempts=3, context={"check": True})
    assert len(text.calls) == 2 and got.attempts == 2
    assert got.value is not None and got.value.text == "tiny" and "too short" in got.error


def test_without_a_cap_the_stage_decides() -> None:
    text = ScriptedText()
    assert attempts_for(text, 3) == 3
    text.max_attempts = 5  # type: ignore[attr-defined]
    assert attempts_for(text, 3) == 3 and attempts_for(text, 1) == 1


def test_a_re_ask_is_a_fresh_request_with_the_complaint_not_the_answer_shown_back() -> None:
    """Shown its own rejected answer, the offline model wrote it again token for token; a re-ask
    is the same request with the complaint added, and a new seed."""
    text = ScriptedText()
    text.enqueue({"text": "short"}, {"text": "long enough now"})
    request = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a line"}]
    got = ask(text, request, Line, seed=1, max_attempts=3, context={"check": True})  # type: ignore[arg-type]
    assert got.ok and got.attempts == 2
    second = text.calls[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user"]
    assert second[0] == request[0] and second[1]["content"].startswith("a line")
    assert "turned down because text: too short" in second[1]["content"] and "short\"" not in second[1]["content"]
    assert text.calls[0]["seed"] != text.calls[1]["seed"]
    assert request[1]["content"] == "a line"  # the caller's messages are not changed
