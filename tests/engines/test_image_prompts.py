"""SD families: no prompt is cut silently at CLIP's 77 tokens, and two characters' references are
masked to their own regions (`ip_adapter_masks`), on the tiny SD1.5 and SDXL pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiuteur.engines.base import ImageRequest, Reference, engine_notes
from aiuteur.engines.image_diffusers import DiffusersImage
from aiuteur.pipeline.layout import regions as layout_regions
from tests.engines._image_fixtures import (  # noqa: F401
    image_models_dir,
    ip_adapter_masks,
    sd_spec,
    tiny_image_builder,
    tiny_image_models,
)

RED = Image.new("RGB", (64, 64), (200, 30, 30))
BLUE = Image.new("RGB", (64, 64), (20, 40, 210))
# The tiny CLIP tokenizer reads one token per character: this is 2 windows of 75 tokens.
HEAD = "a knight with a red cloak stands alone at the gate of a ruined old castle at dusk, "
LONG = HEAD + "rain falls, and the knight raises a lantern towards the dark road."
OTHER_END = HEAD + "snow falls, and the knight lowers a sword towards the frozen moat."


def request(**kw: Any) -> ImageRequest:
    return ImageRequest(**{"prompt": "a knight", "width": 64, "height": 64, "steps": 2, "seed": 3, **kw})


def diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.fixture(scope="module")
def sd15(tiny_image_models: Path) -> DiffusersImage:  # noqa: F811
    return DiffusersImage.from_spec(sd_spec(), tiny_image_models)


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_words_past_the_first_77_tokens_still_change_the_image(tiny_image_models: Path, family: str) -> None:  # noqa: F811
    engine = DiffusersImage.from_spec(sd_spec(family), tiny_image_models)
    assert len(LONG) > 77 and LONG[:77] == OTHER_END[:77]
    a = engine.generate(request(prompt=LONG, negative_prompt="blurry"))
    b = engine.generate(request(prompt=OTHER_END, negative_prompt="blurry"))
    assert diff(a, b) > 0.5  # cut at 77 tokens, both would be the same image
    assert any("encoded in 2 CLIP windows" in n for n in engine_notes(a))
    again = engine.generate(request(prompt=LONG, negative_prompt="blurry"))
    assert diff(a, again) == 0.0
    short = engine.generate(request(prompt="a knight"))
    assert engine_notes(short) == []


def test_past_the_window_limit_the_left_out_words_are_named(tiny_image_models: Path) -> None:  # noqa: F811
    engine = DiffusersImage.from_spec(sd_spec(max_prompt_chunks=1), tiny_image_models)
    text, dropped, windows = engine.budget_prompt(LONG)
    assert windows == 1 and LONG.startswith(text) and dropped and " ".join([text, *dropped]) == LONG
    image = engine.generate(request(prompt=LONG))
    [note] = engine_notes(image)
    assert "left out" in note and " ".join(dropped) in note


def test_two_characters_references_are_masked_to_their_regions(sd15: DiffusersImage) -> None:
    regions = layout_regions({"mara": "left", "tom": "right"}, ["mara", "tom"])
    assert regions["mara"][0] == 0.0 and regions["tom"][2] == 1.0 and regions["mara"][2] < regions["tom"][2]
    assert layout_regions({"mara": "left"}, ["mara"]) == {}
    refs = [Reference(RED, 0.9, "mara", name="Mara", kind="character", region=regions["mara"]),
            Reference(BLUE, 0.9, "tom", name="Tom", kind="character", region=regions["tom"])]
    with ip_adapter_masks(sd15.load()) as seen:
        masked = sd15.generate(request(references=refs, style=Reference(BLUE, 0.3, "style")))
        plain = sd15.generate(request(references=[Reference(RED, 0.9, "mara"), Reference(BLUE, 0.9, "tom")],
                                      style=Reference(BLUE, 0.3, "style")))
    masks = seen[0]
    assert masks is not None and len(masks) == 3 and masks[2] is None  # Mara, Tom, the style everywhere
    left, right = (m[0, 0].numpy() for m in masks[:2])
    assert left[:, :20].mean() == 1.0 and left[:, 44:].mean() == 0.0
    assert right[:, 44:].mean() == 1.0 and right[:, :20].mean() == 0.0
    assert seen[-1] is None  # no regions, no masks
    assert diff(masked, plain) > 0.0
