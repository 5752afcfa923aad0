"""Consistency score of a keyframe: does each asset in frame still look like its reference?

Pure and engine-injected: the embedding engine (EfficientNet-Lite0, real weights on every
profile) and the matting engine are passed in, so tests and `bench/consistency.py` run the very
same measure.

For each asset in frame, the crop of the frame that stands for it (the whole frame for a shot
with one asset; for several, the window of the frame most like that asset's reference) is
compared with the asset's reference, inside the figure's matting mask:

* **shape**: cosine of the masked EfficientNet-Lite0 embeddings. It is shape-dominated and
  nearly colour-blind (a shirt that turns from blue to red still scores about 0.97);
* **colour**: intersection of masked hue/saturation histograms (grey pixels by brightness), so
  the same shirt in another colour scores clearly lower.

The asset score is their weighted mean; the keyframe's score is its weakest asset's, so one
character in the wrong costume is enough to flag the frame. Places are compared outside the
figures (their background), without a mask on the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

#: Weights of the two measures in an asset's score (they sum to 1).
SHAPE_WEIGHT = 0.5
COLOUR_WEIGHT = 0.5
#: Scores below this are flagged in the UI as a likely continuity break.
LOW_SCORE = 0.8
#: A mask covering less than this share of a window is treated as "no figure here".
MIN_MASK_SHARE = 0.02

HUE_BINS = 12
SAT_EDGES = (50, 150)  # below 50: grey (binned by value); 50-150 and above 150: two saturation bins
VALUE_BINS = 4
HIST_SIZE = 64  # images are reduced to this side before the histogram


class Embedder(Protocol):
    def embed(self, image: Image.Image, mask: Image.Image | None = None) -> list[float]: ...


class Matter(Protocol):
    def cutout(self, image: Image.Image) -> Any: ...


@dataclass(frozen=True)
class AssetReference:
    """One asset in frame and the image it should look like."""

    asset_id: str
    image: Image.Image
    is_place: bool = False
    key: str = ""  # content hash, to cache the reference's embedding and mask


@dataclass(frozen=True)
class Similarity:
    score: float
    shape: float
    colour: float


@dataclass
class KeyframeScore:
    """The keyframe's score (its weakest asset's) and each asset's."""

    score: float | None
    assets: dict[str, Similarity] = field(default_factory=dict)

    @property
    def low(self) -> bool:
        return self.score is not None and self.score < LOW_SCORE

    def asset_scores(self) -> dict[str, float]:
        return {a: round(s.score, 4) for a, s in self.assets.items()}


# --- colour ---------------------------------------------------------------------------------------


def _mask_array(mask: Image.Image | None, size: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    return np.asarray(mask.convert("L").resize(size, Image.Resampling.BILINEAR), np.float32) / 255.0


def colour_histogram(image: Image.Image, mask: Image.Image | None = None) -> np.ndarray:
    """A normalised hue×saturation histogram (grey pixels binned by brightness), weighted by the mask."""
    small = image.convert("RGB").resize((HIST_SIZE, HIST_SIZE), Image.Resampling.BILINEAR)
    hsv = np.asarray(small.convert("HSV"), np.int32).reshape(-1, 3)
    weights = np.ones(len(hsv), np.float32)
    m = _mask_array(mask, (HIST_SIZE, HIST_SIZE))
    if m is not None:
        weights = m.reshape(-1)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    grey = (s < SAT_EDGES[0]) | (v < 40)
    hue_bin = np.minimum(h * HUE_BINS // 256, HUE_BINS - 1)
    sat_bin = (s >= SAT_EDGES[1]).astype(np.int32)
    colour_idx = hue_bin * 2 + sat_bin
    grey_idx = HUE_BINS * 2 + np.minimum(v * VALUE_BINS // 256, VALUE_BINS - 1)
    idx = np.where(grey, grey_idx, colour_idx)
    hist = np.bincount(idx, weights=weights, minlength=HUE_BINS * 2 + VALUE_BINS).astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else hist


def colour_similarity(a: Image.Image, b: Image.Image, mask_a: Image.Image | None = None,
                      mask_b: Image.Image | None = None) -> float:
    """Histogram intersection (0: no colour in common, 1: the same colours in the same shares)."""
    ha, hb = colour_histogram(a, mask_a), colour_histogram(b, mask_b)
    if ha.sum() == 0 or hb.sum() == 0:
        return 0.0
    return float(np.minimum(ha, hb).sum())


# --- shape ----------------------------------------------------------------------------------------


def shape_similarity(ea: Sequence[float], eb: Sequence[float]) -> float:
    """Cosine of two L2-normalised embeddings, clipped to 0..1."""
    return float(max(0.0, min(1.0, float(np.dot(np.asarray(ea), np.asarray(eb))))))


def similarity(a: Image.Image, b: Image.Image, embedding: Embedder, mask_a: Image.Image | None = None,
               mask_b: Image.Image | None = None) -> Similarity:
    """The consistency measure between two images (inside their masks when given)."""
    shape = shape_similarity(embedding.embed(a, mask_a), embedding.embed(b, mask_b))
    colour = colour_similarity(a, b, mask_a, mask_b)
    return Similarity(SHAPE_WEIGHT * shape + COLOUR_WEIGHT * colour, shape, colour)


# --- keyframes ------------------------------------------------------------------------------------


def figure_mask(image: Image.Image, matting: Matter | None) -> Image.Image | None:
    """The figure's mask: the alpha channel of an RGBA cut-out, else the matting engine's, else None."""
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        extrema: Any = alpha.getextrema()
        lo, hi = int(extrema[0]), int(extrema[1])
        if lo < 250:  # a real cut-out, not an opaque RGBA
            return alpha if hi > 0 else None
    if matting is None:
        return None
    mask: Image.Image = matting.cutout(image.convert("RGB")).mask
    return mask if _share(mask) >= MIN_MASK_SHARE else None


def _share(mask: Image.Image) -> float:
    return float(np.asarray(mask.convert("L"), np.float32).mean() / 255.0)


def windows(size: tuple[int, int], count: int) -> list[tuple[int, int, int, int]]:
    """Crops to search for an asset: the whole frame, and its halves (two figures) or thirds (more)."""
    w, h = size
    boxes = [(0, 0, w, h)]
    if count > 1:
        n = 2 if count == 2 else 3
        boxes += [(round(i * w / n), 0, round((i + 1) * w / n), h) for i in range(n)]
    return boxes


def _invert(mask: Image.Image | None) -> Image.Image | None:
    if mask is None:
        return None
    inv = Image.eval(mask.convert("L"), lambda p: 255 - p)
    return inv if _share(inv) >= MIN_MASK_SHARE else None


def _crop_mask(mask: Image.Image | None, box: tuple[int, int, int, int]) -> Image.Image | None:
    if mask is None:
        return None
    part = mask.crop(box)
    return part if _share(part) >= MIN_MASK_SHARE else None


def score_keyframe(frame: Image.Image, references: Sequence[AssetReference], *, embedding: Embedder,
                   matting: Matter | None = None, cache: dict[str, Any] | None = None) -> KeyframeScore:
    """Score a keyframe against the references of the assets in frame.

    Args:
        frame: the keyframe.
        references: one per asset in frame that has a reference image.
        embedding: the embedding engine (EfficientNet-Lite0).
        matting: the matting engine, for figure masks (None: whole images).
        cache: reference key -> (embedding, mask), shared across keyframes of a run.
    Returns:
        A KeyframeScore whose score is None when no asset in frame has a reference.
    """
    if not references:
        return KeyframeScore(None)
    cache = cache if cache is not None else {}
    rgb = frame.convert("RGB")
    figures = [r for r in references if not r.is_place]
    frame_mask = figure_mask(rgb, matting) if figures else None
    boxes = windows(rgb.size, len(figures))
    crops: dict[int, tuple[Image.Image, Image.Image | None, list[float]]] = {}

    def crop(i: int) -> tuple[Image.Image, Image.Image | None, list[float]]:
        if i not in crops:
            image = rgb.crop(boxes[i])
            mask = _crop_mask(frame_mask, boxes[i])
            crops[i] = (image, mask, embedding.embed(image, mask))
        return crops[i]

    out: dict[str, Similarity] = {}
    for ref in references:
        ck = f"{ref.key or id(ref.image)}:{ref.is_place}"
        if ck not in cache:
            ref_mask = None if ref.is_place else figure_mask(ref.image, matting)
            ref_rgb = ref.image.convert("RGB")
            cache[ck] = (ref_rgb, ref_mask, embedding.embed(ref_rgb, ref_mask))
        ref_rgb, ref_mask, ref_emb = cache[ck]
        if ref.is_place:
            bg = _invert(frame_mask)
            shape = shape_similarity(embedding.embed(rgb, bg), ref_emb)
            colour = colour_similarity(rgb, ref_rgb, bg, None)
            out[ref.asset_id] = Similarity(SHAPE_WEIGHT * shape + COLOUR_WEIGHT * colour, shape, colour)
            continue
        best: Similarity | None = None
        for i in range(len(boxes) if len(figures) > 1 else 1):
            image, mask, emb = crop(i)
            shape = shape_similarity(emb, ref_emb)
            colour = colour_similarity(image, ref_rgb, mask, ref_mask)
            s = Similarity(SHAPE_WEIGHT * shape + COLOUR_WEIGHT * colour, shape, colour)
            if best is None or s.score > best.score:
                best = s
        assert best is not None
        out[ref.asset_id] = best
    return KeyframeScore(min(s.score for s in out.values()), out)


__all__ = [
    "LOW_SCORE", "AssetReference", "KeyframeScore", "Similarity", "colour_histogram", "colour_similarity",
    "figure_mask", "score_keyframe", "shape_similarity", "similarity", "windows",
]
