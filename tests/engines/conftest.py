"""Engine test fixtures: tiny models are built ONCE per test session into a shared cache folder.

`AIUTEUR_MODELS` points every data folder of the session at `.pytest_cache/.../aiuteur-models`,
so the random-weight builds (seconds) are reused across tests and across runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from aiuteur.settings import PROFILES_DIR


def load_builder(name: str) -> ModuleType:
    """Load `models/<name>.py` by path (models/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"aiuteur_models_{name}", PROFILES_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def models_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The shared models folder for this session (AIUTEUR_MODELS is set while it lives)."""
    path = Path(request.config.cache.mkdir("aiuteur-models"))
    before = os.environ.get("AIUTEUR_MODELS")
    os.environ["AIUTEUR_MODELS"] = str(path)
    yield path
    if before is None:
        os.environ.pop("AIUTEUR_MODELS", None)
    else:
        os.environ["AIUTEUR_MODELS"] = before


@pytest.fixture(scope="session")
def tiny_text_dir(models_dir: Path) -> Path:
    """The tiny random-weight text model, built once (idempotent across runs)."""
    return Path(load_builder("tiny_text").build(models_dir))


@pytest.fixture(scope="session")
def tiny_text(tiny_text_dir: Path, models_dir: Path) -> object:
    """The tiny profile's text engine, loaded once for the session."""
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_transformers import TransformersText

    return TransformersText.from_spec(load_profile("tiny").spec("text"), models_dir)
