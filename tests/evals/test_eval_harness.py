"""`python -m aiuteur eval` end to end: the tiny profile (junk, recorded not crashed) and the real offline model."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiuteur.cli import main
from aiuteur.engines import usage
from aiuteur.evals.harness import EVAL_STAGES, read_json
from aiuteur.evals.report import compare, markdown, write_markdown
from aiuteur.settings import PROFILES_DIR, REPO_ROOT

STORY = "tuba-audition"


@pytest.fixture(scope="module")
def tiny_models(request: pytest.FixtureRequest) -> Iterator[Path]:
    # Copied from tests.pipeline.test_writing_tiny (models_dir): one shared build per session.
    path = Path(request.config.cache.mkdir("aiuteur-models"))
    before = os.environ.get("AIUTEUR_MODELS")
    os.environ["AIUTEUR_MODELS"] = str(path)
    spec = importlib.util.spec_from_file_location("aiuteur_models_tiny_text", PROFILES_DIR / "tiny_text.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    builder.build(path)
    yield path
    if before is None:
        os.environ.pop("AIUTEUR_MODELS", None)
    else:
        os.environ["AIUTEUR_MODELS"] = before


@pytest.mark.slow
def test_eval_command_runs_a_story_on_the_tiny_profile_and_records_what_happened(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("llguidance", reason="llguidance is not installed")
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    out, md = tmp_path / "run.json", tmp_path / "evals.md"
    md.write_text("# Evals\n\nHand-written notes stay.\n", encoding="utf-8")
    # One attempt per stage and only the first stage: random weights write the whole token budget
    # on every call, so the tiny model is slow; the full stage 2-9 path runs in the real test.
    rc = main(["eval", "--profile", "tiny", "--stories", STORY, "--label", "tiny smoke", "--until", "treatment",
               "--attempts", "1", "--prompt-version", "treatment=v1", "--out", str(out), "--markdown", str(md),
               "--quiet"])
    assert rc == 0
    doc = read_json(out)
    assert doc["run"]["profile"] == "tiny" and doc["run"]["prompt_versions"] == {"treatment": "v1"}
    assert doc["run"]["stages"] == ["treatment"] and doc["run"]["attempts"] == 1
    [row] = doc["stories"]
    assert "crashed" not in row, row.get("crashed")
    # Random weights write junk: whatever happened, every stage that ran is on record with its cost.
    assert row["stages"], "no stage was recorded"
    first = row["stages"]["treatment"]
    assert first["calls"] >= 1 and first["completion_tokens"] > 0 and first["seconds"] > 0
    assert first["templates"] and all(t.endswith(".v1") for t in first["templates"]), first["templates"]
    assert set(row["stages"]) == {"treatment"}
    for name, rec in row["stages"].items():
        assert rec["ok"] or rec["status"].startswith("failed"), (name, rec)
    if not row["complete"]:
        assert row["failed_stage"] and row["failed_why"]
    m = row["metrics"]
    assert m["characters"]["labelled"] == 4 and m["looks"]["labelled"] == 1 and m["places"]["labelled"] == 4
    assert set(doc["summary"]["stages"]) == {s.value for s in EVAL_STAGES}
    assert m["treatments"]["count"] in (0, 3)
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Evals\n\nHand-written notes stay.") and f"| {STORY} |" in text
    assert "<!-- eval:tiny smoke begin -->" in text
    printed = capsys.readouterr().out
    assert f"| {STORY} |" in printed
    # The table is rebuilt from the JSON alone, and the section is replaced, not repeated.
    assert main(["eval", "--report", str(out), "--markdown", str(md)]) == 0
    assert md.read_text(encoding="utf-8").count("<!-- eval:tiny smoke begin -->") == 1


def _doc(label: str, reached: str, chars: int) -> dict[str, Any]:
    stage = {"ok": True, "status": "made", "seconds": 1.0, "calls": 1, "prompt_tokens": 10, "completion_tokens": 5,
             "runs": 1, "failed_takes": 0, "templates": [], "errors": []}
    row = {"slug": STORY, "reached": reached, "complete": reached == "prompts", "seconds": 60,
           "stages": {s.value: stage for s in EVAL_STAGES},
           "metrics": {"characters": {"extracted": chars, "labelled": 4}}}
    return {"schema": "aiuteur-eval/1", "stories": [row],
            "run": {"id": label, "label": label, "profile": "offline", "prompt_versions": {}},
            "summary": {"stories": 1, "characters": [chars, 4], "stages": {}}}


def test_compare_puts_two_runs_side_by_side_and_marks_what_changed(tmp_path: Path) -> None:
    a, b = _doc("v1", "prompts", 2), _doc("v2", "prompts", 4)
    table = compare(a, b)
    assert "| characters | 2/4 | 4/4 |" in table
    assert "| chars | 2/4 | 4/4 ← |" in table and "| reached | prompts | prompts |" in table
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a)), pb.write_text(json.dumps(b))
    assert main(["eval", "--compare", str(pa), str(pb)]) == 0
    md = tmp_path / "evals.md"
    write_markdown(a, md)
    write_markdown(b, md)
    assert "### v1" in md.read_text() and "### v2" in md.read_text() and "chars" in markdown(a)


def test_a_result_file_that_is_not_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert main(["eval", "--report", str(bad)]) == 2
    assert "not an eval result" in capsys.readouterr().err


def test_the_openai_engine_reports_the_servers_token_usage() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    from aiuteur.engines.text_openai import OpenAIText

    class Name(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(max_length=20)

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": '{"name": "Ines"}'}, "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 42, "completion_tokens": 7}})

    engine = OpenAIText("http://server/v1", "m", transport=httpx.MockTransport(reply))
    with usage.measure() as used:
        assert engine.generate([{"role": "user", "content": "x"}], Name, seed=0, max_tokens=20).name == "Ines"
    assert (used.prompt, used.completion, used.calls) == (42, 7, 1)
    assert (used.cached, used.reading_s, used.writing_s) == (0, 0.0, 0.0)  # this server said no more


def test_a_servers_cached_tokens_and_timings_explain_where_the_time_went() -> None:
    """llama.cpp's server reports the prompt tokens it reused and its milliseconds reading and
    writing; OpenAI reports cached tokens. They reach the measurement, and a run's stage table
    shows them beside the seconds."""
    from pydantic import BaseModel, ConfigDict, Field

    from aiuteur.engines.text_openai import OpenAIText

    class Name(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(max_length=20)

    replies = [
        {"usage": {"prompt_tokens": 900, "completion_tokens": 40},
         "timings": {"cache_n": 600, "prompt_ms": 5500.0, "predicted_ms": 1750.0}},
        {"usage": {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 64}}},
    ]

    def reply(request: httpx.Request) -> httpx.Response:
        extra = replies.pop(0)
        return httpx.Response(200, json={"choices": [{"message": {"content": '{"name": "Ines"}'},
                                                      "finish_reason": "stop"}], **extra})

    engine = OpenAIText("http://server/v1", "m", transport=httpx.MockTransport(reply))
    with usage.measure() as outer:
        with usage.measure() as used:
            engine.generate([{"role": "user", "content": "x"}], Name, seed=0, max_tokens=20)
        engine.generate([{"role": "user", "content": "y"}], Name, seed=0, max_tokens=20)
    assert (used.cached, used.reading_s, used.writing_s) == (600, 5.5, 1.75)
    assert (outer.prompt, outer.cached, outer.calls) == (1000, 664, 2)

    doc = _doc("timed", "prompts", 4)
    doc["summary"]["stages"] = {"script": {"runs": 1, "valid": 1, "seconds": 8.0, "calls": 2, "prompt_tokens": 1000,
                                           "completion_tokens": 45, "cached_tokens": 664, "reading_seconds": 5.5,
                                           "writing_seconds": 1.8}}
    table = markdown(doc)
    assert "| script | 1/1 | 8 | 2 | 1000 (664) | 45 | 17.8 | 6 · 2 |" in table, table
    assert "| beats | 0/0 | 0 | 0 | 0 | 0 | – | – |" in table  # a stage nobody timed says so


# The real offline model takes a corpus story through stages 2-9 in tests/pipeline/test_writing_real.py
# (AIUTEUR_REAL_EVAL=1): the same harness, asserting the structural numbers.


def test_a_saved_run_is_rescored_from_its_artifacts_after_a_label_is_corrected(tmp_path: Path) -> None:
    """The real run at 1f049c7 counted three-tier's look change as missed ("early": Adaeze baking
    read as covered in cake, by the loose keyword "cake"); `eval --report --rescore` measures its
    saved artifacts again with today's labels and metrics, and the table says it was rescored."""
    saved = REPO_ROOT / "evals/runs/offline-1f049c7-corpus8.json"
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert doc["summary"]["looks"] == [8, 9]
    out, md = tmp_path / "rescored.json", tmp_path / "evals.md"
    assert main(["eval", "--report", str(saved), "--rescore", "--out", str(out), "--markdown", str(md)]) == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    row = next(r for r in again["stories"] if r["slug"] == "three-tier-disaster")
    assert row["metrics"]["looks"]["caught"] == 1 and row["metrics"]["looks"]["changes"][0]["early"] == []
    assert again["summary"]["looks"] == [9, 9] and again["summary"]["speakers"] == doc["summary"]["speakers"]
    assert again["run"]["rescored"] and "metrics rescored from its saved artifacts at" in md.read_text(encoding="utf-8")
    assert [r["seconds"] for r in again["stories"]] == [r["seconds"] for r in doc["stories"]]  # the run is the run
