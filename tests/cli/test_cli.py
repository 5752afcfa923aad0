"""The command line, as a user runs it: clear output, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiuteur.cli import main

FOUNTAIN = """Title: The Lamp

INT. LIGHTHOUSE - NIGHT

Old keeper MARTHA polishes the great lamp.

MARTHA
Hold the light, Leo.

LEO (V.O.)
I'm trying!

EXT. HARBOR - DAY

DANIEL waits with a lantern.
"""


@pytest.fixture
def script_file(tmp_path: Path) -> Path:
    p = tmp_path / "lamp.fountain"
    p.write_text(FOUNTAIN)
    return p


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "aiuteur", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("serve", "doctor", "projects", "run", "import-script", "export", "models"):
        assert cmd in out.stdout


def test_import_script_prints_the_summary(script_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-script", str(script_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["characters"] == ["MARTHA", "LEO"]
    assert out["locations"] == ["LIGHTHOUSE", "HARBOR"]
    assert out["scenes"][0] == {"number": "1", "heading": "INT. LIGHTHOUSE - NIGHT", "location": "LIGHTHOUSE",
                                "int_ext": "INT", "time_of_day": "NIGHT", "characters": ["MARTHA", "LEO"]}


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff" * 100])
def test_bad_files_exit_non_zero_with_one_line(tmp_path: Path, content: bytes, home: object) -> None:
    bad = tmp_path / "bad.fountain"
    bad.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "aiuteur", "import-script", str(bad), "--json"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_run_reports_stage_statuses_as_json(script_file: Path, home: object, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--script", str(script_file), "--until", "script", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert set(out) >= {"project", "stages", "scenes", "assets", "shots", "frames", "model_calls", "outputs"}
    assert out["stages"]["treatment"] == out["stages"]["beats"] == "skipped"
    assert out["stages"]["input"] == "done"
    assert main(["projects", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in cards] == [out["project"]]


def test_run_with_an_unknown_stage_says_which_are_valid(script_file: Path, home: object,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--script", str(script_file), "--until", "editing"]) == 2
    err = capsys.readouterr().err
    assert "Unknown stage 'editing'" in err and "shots" in err


def test_run_story_as_screenplay_is_refused(script_file: Path, home: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--story", str(script_file), "--until", "treatment"]) == 2
    assert "--script" in capsys.readouterr().err


def test_doctor_reports_profile_and_data_folder(home: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["python"].startswith("3.11")
    assert "data_folder" in rep and "profile" in rep


def test_export_all_writes_the_bundle_and_lists_what_is_missing(script_file: Path, home: object, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--script", str(script_file), "--until", "script", "--json", "--quiet"])
    pid = json.loads(capsys.readouterr().out)["project"]
    assert main(["export", pid, "--all", str(tmp_path / "out")]) == 0
    cap = capsys.readouterr()
    assert any(line.endswith("_bundle.zip") for line in cap.out.splitlines())
    assert "not built in this version yet" not in cap.err and "nothing to export yet" in cap.err


def test_run_prints_nothing_but_its_json_on_stdout(script_file: Path, home: object) -> None:
    """Libraries that print (efficientnet's loader) must not break `--json` for scripts."""
    import os

    env = dict(os.environ, AIUTEUR_HOME=str(home.path))  # type: ignore[attr-defined]
    r = subprocess.run([sys.executable, "-c", "from aiuteur.engines.embedding import EfficientNetEmbedding as E;"
                        "from pathlib import Path; E.from_spec({}, Path('.')).load()"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
