"""examples/client.py as a user runs it: a subprocess against the app served on the tiny profile.

The app runs in this process (temp AIUTEUR_HOME, tiny random-weight models built once into the
shared models folder, a free port on 127.0.0.1); the example drives a short Fountain screenplay
to its animatic through gradio_client and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder  # noqa: F401
from tests.engines.conftest import load_builder
from tests.serving import serve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "client.py"

SCREENPLAY = """Title: The Egg Thief

INT. KITCHEN - NIGHT

A small kitchen lit by one yellow bulb. MARA (30s, red raincoat) opens the fridge.

MARA
Just one egg.
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_models(image_models_dir: Path) -> Path:  # noqa: F811
    """The tiny profile's text, image and video models, built once into the shared folder."""
    load_builder("tiny_text").build(image_models_dir)
    builder = load_builder("tiny_image")
    builder.build_images(image_models_dir)
    builder.build_video(image_models_dir)
    return image_models_dir


@pytest.fixture
def app_url(tmp_path: Path, tiny_models: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIUTEUR_PROFILE", "tiny")
    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_models))
    demo = build_app(Store(DataHome(tmp_path / "home", "test")))
    with serve(demo, **launch_kwargs()) as url:
        yield url


def run_example(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIUTEUR_")}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_client_example_drives_a_screenplay_to_its_animatic(app_url: str, tmp_path: Path) -> None:
    script = tmp_path / "egg_thief.fountain"
    script.write_text(SCREENPLAY, encoding="utf-8")
    out = tmp_path / "out"
    done = run_example("--url", app_url, "--script", str(script), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    line = json.loads(lines[0])
    assert line["project"].startswith("pr_")
    animatic = Path(line["animatic"])
    assert animatic.is_file() and animatic.parent == out.resolve()
    assert animatic.stat().st_size > 1000
    assert animatic.read_bytes()[4:8] == b"ftyp"  # an mp4 container


def test_client_example_errors_are_one_line_and_non_zero(app_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.fountain"
    empty.write_text("", encoding="utf-8")
    done = run_example("--url", app_url, "--script", str(empty), cwd=tmp_path)
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "is empty" in done.stderr

    missing = run_example("--url", app_url, "--story", str(tmp_path / "nope.md"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
