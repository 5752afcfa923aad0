"""The consistency measure on synthetic figures, with the real EfficientNet-Lite0 weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aiuteur.engines.base import Cutout
from aiuteur.engines.embedding import EfficientNetEmbedding
from aiuteur.pipeline.consistency import LOW_SCORE, AssetReference, colour_similarity, score_keyframe
from tests.engines._image_fixtures import figure

BLUE, RED = (40, 60, 200), (200, 40, 40)


class BackgroundMatting:
    """Everything that differs from the corner colour is the figure (a stand-in for u2netp)."""

    model_id = "background-difference"

    def cutout(self, image: Image.Image) -> Cutout:
        a = np.asarray(image.convert("RGB"), np.int32)
        mask = Image.fromarray(((np.abs(a - a[0, 0]).sum(-1) > 30) * 255).astype(np.uint8), "L")
        rgba = image.convert("RGBA")
        rgba.putalpha(mask)
        return Cutout(rgba=rgba, white=image.convert("RGB"), mask=mask)


@pytest.fixture(scope="module")
def embedder() -> Iterator[EfficientNetEmbedding]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on shared CI cores two threads mostly wait on each other (3-4 s vs 0.06 s)
    yield EfficientNetEmbedding()
    torch.set_num_threads(threads)


def unrelated() -> Image.Image:
    img = Image.new("RGB", (256, 256), (20, 120, 40))
    ImageDraw.Draw(img).ellipse((20, 150, 240, 250), fill=(240, 220, 40))
    return img


def score(frame: Image.Image, ref: Image.Image, embedder: Any, **kw: Any) -> float:
    got = score_keyframe(frame, [AssetReference("a", ref, key="ref")], embedding=embedder,
                         matting=BackgroundMatting(), **kw)
    assert got.score is not None
    return got.score


def test_same_figure_scores_high_a_shirt_colour_swap_clearly_lower_and_unrelated_lowest(embedder: Any) -> None:
    ref = figure(shirt=BLUE)
    same = score(figure(shirt=BLUE, dx=24), ref, embedder)
    swapped = score(figure(shirt=RED, dx=24), ref, embedder)
    other = score(unrelated(), ref, embedder)
    assert same > 0.9 and same >= LOW_SCORE
    assert swapped < LOW_SCORE and same - swapped > 0.2  # caught, although the embedding alone barely moves
    assert other < swapped - 0.2


def test_colour_measure_alone_sees_the_swap_inside_the_mask() -> None:
    mask = BackgroundMatting().cutout(figure()).mask
    assert colour_similarity(figure(shirt=BLUE), figure(shirt=BLUE), mask, mask) == pytest.approx(1.0)
    assert colour_similarity(figure(shirt=BLUE), figure(shirt=RED), mask, mask) < 0.6


def test_each_asset_is_found_in_its_part_of_a_two_figure_frame(embedder: Any) -> None:
    frame = Image.new("RGB", (512, 256), (150, 150, 150))
    frame.paste(figure(shirt=BLUE), (0, 0))
    frame.paste(figure(shirt=RED), (256, 0))
    refs = [AssetReference("blue", figure(shirt=BLUE), key="b"), AssetReference("red", figure(shirt=RED), key="r")]
    got = score_keyframe(frame, refs, embedding=embedder, matting=BackgroundMatting())
    assert set(got.assets) == {"blue", "red"} and not got.low
    assert min(got.asset_scores().values()) > 0.85
    # the red one changes costume: the frame's score is its weakest asset's, so it is flagged
    changed = frame.copy()
    changed.paste(figure(shirt=(40, 200, 40)), (256, 0))
    worse = score_keyframe(changed, refs, embedding=embedder, matting=BackgroundMatting())
    assert worse.assets["red"].score < got.assets["red"].score - 0.15 and worse.low
    assert worse.assets["blue"].score == pytest.approx(got.assets["blue"].score, abs=0.05)


def test_no_reference_means_no_score(embedder: Any) -> None:
    assert score_keyframe(figure(), [], embedding=embedder).score is None
