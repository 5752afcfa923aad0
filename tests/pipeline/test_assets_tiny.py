"""Stage 5 on the tiny profile's REAL image path: tiny random-weight diffusers pipeline + real u2netp.

Text comes from a responder double (the tiny text model writes noise); images and matting are the
real engines of the tiny profile, loaded through the engine registry as `run --until assets` does.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiuteur.domain import Stage
from aiuteur.engines.base import ImageRequest
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import CountedEngine, EngineCache, Engines
from aiuteur.pipeline import assets as stage
from aiuteur.pipeline.actions import Extract, ReferenceSize
from aiuteur.pipeline.headless import run_until
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder, tiny_image_models, u2netp  # noqa: F401
from tests.pipeline.assets_fixtures import (
    FINDINGS,
    ResponderText,
    by_name,
    project_with_script,
    saved_assets,
    spring_script,
)


class TinyWithScriptedText(Engines):
    """The tiny profile's engines, but extraction answers come from a responder double."""

    def __init__(self, home: DataHome, responder: ResponderText) -> None:
        super().__init__(load_profile("tiny"), home, cache=EngineCache())
        self.responder = responder

    def text(self, purpose: str = "text") -> Any:
        return CountedEngine(self.responder, purpose, self.calls, "text")

    def image(self, purpose: str = "image") -> Any:
        """The real tiny pipeline, asked for small images in 2 steps (the CPU is shared in CI)."""
        return CountedEngine(Small(self.get("image", purpose).engine), purpose, self.calls, "image")


class Small:
    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.backend = inner, inner.model_id, inner.backend

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        return self.inner.generate(replace(request, width=96, height=64, steps=2), progress=progress)


@pytest.fixture
def tiny_engines(tiny_image_models: Path, u2netp: Path, home: DataHome,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> TinyWithScriptedText:
    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_image_models))
    return TinyWithScriptedText(home, ResponderText(FINDINGS))


def test_run_until_assets_on_the_tiny_profile_makes_one_matted_reference_per_kept_asset(
        store: Store, tiny_engines: TinyWithScriptedText) -> None:
    runner = Runner(store, engines=tiny_engines)
    pid = project_with_script(runner, spring_script())
    steps = list(run_until(runner, pid, Stage.ASSETS))
    assert steps[-1].stage == Stage.ASSETS and steps[-1].what == "made", [s.what for s in steps]
    sa = saved_assets(runner, pid)
    kept = [a for a in sa.registry.assets if a.pregenerate and not a.removed]
    assert kept and all(a.master_ref and a.master_ref_white for a in kept)
    assert tiny_engines.calls["master_reference"] == len(kept)
    assert tiny_engines.calls["matting"] == len([a for a in kept if a.category != "location"])
    for a in kept:
        rgba = Image.open(io.BytesIO(store.media_path(a.master_ref or "").read_bytes()))
        white = np.asarray(Image.open(io.BytesIO(store.media_path(a.master_ref_white or "").read_bytes())))
        alpha = np.asarray(rgba.getchannel("A"))
        assert rgba.mode == "RGBA"
        assert (white[alpha == 0] == 255).all()  # where the figure is not, the white version is plain white
    # nothing changed: running again makes no extraction call and no new reference
    before = Counter(tiny_engines.calls)
    list(run_until(runner, pid, Stage.ASSETS))
    runner.run(pid, Stage.ASSETS)
    assert tiny_engines.calls["extract_assets"] == before["extract_assets"]
    assert tiny_engines.calls["master_reference"] == before["master_reference"]


def test_a_real_reference_is_transparent_exactly_where_the_u2netp_mask_is_zero(
        store: Store, tiny_engines: TinyWithScriptedText) -> None:
    runner = Runner(store, engines=tiny_engines)
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    persephone = by_name(saved_assets(runner, pid), "Persephone")
    masks: list[Image.Image] = []

    class Recording:
        calls = tiny_engines.calls

        def image(self, purpose: str) -> Any:
            return tiny_engines.image(purpose)

        def matting(self) -> Any:
            real = tiny_engines.matting()

            class Keep:
                def cutout(self, image: Image.Image) -> Any:
                    cut = real.cutout(image)
                    masks.append(cut.mask)
                    return cut
            return Keep()

    take = stage.make_reference(persephone, saved_assets(runner, pid).style, [], Recording(), seed=1,
                                put_media=store.put_media, size=ReferenceSize(steps=2, width=96, height=64))
    assert take.ok and take.output is not None, take.error
    alpha = np.asarray(Image.open(io.BytesIO(store.media_path(take.output["rgba"]).read_bytes())).getchannel("A"))
    mask = np.asarray(masks[0])
    assert alpha.shape == mask.shape and np.array_equal(alpha == 0, mask == 0)
