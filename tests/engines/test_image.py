"""DiffusersImage on tiny random-weight SD1.5/SDXL models, through the real loading code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiuteur.engines.base import EngineError, ImageRequest, Reference
from aiuteur.engines.image_diffusers import DiffusersImage, image_key
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder, tiny_image_models  # noqa: F401

RED = Image.new("RGB", (64, 64), (200, 30, 30))
BLUE = Image.new("RGB", (64, 64), (20, 40, 210))
GREEN = Image.new("RGB", (64, 64), (30, 190, 60))


def sd15_spec(weight: str = "ip-adapter_tiny.safetensors") -> dict[str, Any]:
    return {
        "backend": "diffusers",
        "family": "sd15",
        "model": "tiny/sd15",
        "ip_adapter": {"path": "tiny/ip-adapter", "subfolder": "models", "weight_name": weight},
        "controlnet": "tiny/controlnet",
    }


def request(**kw: Any) -> ImageRequest:
    base: dict[str, Any] = {"prompt": "a knight", "width": 64, "height": 64, "steps": 2, "seed": 3}
    return ImageRequest(**{**base, **kw})


def diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.fixture(scope="module")
def engine(tiny_image_models: Path) -> DiffusersImage:  # noqa: F811
    return DiffusersImage.from_spec(sd15_spec(), tiny_image_models)


def test_same_seed_gives_the_same_image_and_reports_progress(engine: DiffusersImage) -> None:
    seen: list[tuple[float, str]] = []
    a = engine.generate(request(), progress=lambda f, s: seen.append((f, s)))
    b = engine.generate(request())
    assert a.size == (64, 64) and diff(a, b) == 0.0
    assert seen and seen[-1][0] == pytest.approx(1.0) and "step" in seen[-1][1]
    assert diff(a, engine.generate(request(seed=4))) > 0


def test_no_reference_costs_nothing_and_matches_plain_diffusers(engine: DiffusersImage) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    plain = StableDiffusionPipeline.from_pretrained(
        str(engine.models_dir / "tiny/sd15"), local_files_only=True
    )
    plain.set_progress_bar_config(disable=True)
    expected = plain(
        "a knight", height=64, width=64, num_inference_steps=2, guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(3),
    ).images[0]  # fmt: skip
    assert diff(engine.generate(request()), expected) == 0.0
    # A reference at scale 0 is skipped by the adapter: same image again.
    assert diff(engine.generate(request(references=[Reference(RED, 0.0, "red")])), expected) == 0.0


def test_ip_adapter_scale_changes_the_output(engine: DiffusersImage) -> None:
    low = engine.generate(request(references=[Reference(RED, 0.3, "red")]))
    high = engine.generate(request(references=[Reference(RED, 1.0, "red")]))
    none = engine.generate(request())
    assert diff(low, high) > 0.05
    assert diff(none, high) > diff(none, low) > 0


def test_two_references_at_once_each_with_its_own_scale(engine: DiffusersImage) -> None:
    red = engine.generate(request(references=[Reference(RED, 0.8, "red")]))
    both = engine.generate(request(references=[Reference(RED, 0.8, "red"), Reference(BLUE, 0.8, "blue")]))
    swapped = engine.generate(request(references=[Reference(RED, 0.2, "red"), Reference(BLUE, 1.0, "blue")]))
    assert diff(red, both) > 0.05
    assert diff(both, swapped) > 0.05
    # The second slot shares the adapter's weights: same modules, no copy.
    unet = engine.pipe.unet
    layers = unet.encoder_hid_proj.image_projection_layers
    assert len(layers) == 2 and layers[0] is layers[1]
    # Back to one reference: the same image as before, so slots leave no trace.
    assert diff(engine.generate(request(references=[Reference(RED, 0.8, "red")])), red) == 0.0


def test_cached_reference_embedding_gives_the_same_image(tiny_image_models: Path) -> None:  # noqa: F811
    refs = [Reference(RED, 0.9, "sha256:red"), Reference(GREEN, 0.5)]
    fresh = DiffusersImage.from_spec(sd15_spec(), tiny_image_models)
    uncached = fresh.generate(request(references=refs))
    assert set(fresh.embed_cache) >= {"sha256:red", image_key(GREEN)}
    cached = fresh.generate(request(references=refs))  # served from the cache
    assert diff(uncached, cached) == 0.0
    # A fresh engine that embeds first and then generates from the cache agrees too.
    other = DiffusersImage.from_spec(sd15_spec(), tiny_image_models)
    for ref in refs:
        other.embed_reference(ref)
    assert diff(other.generate(request(references=refs)), uncached) == 0.0


def test_style_image_rides_on_style_blocks_only(engine: DiffusersImage) -> None:
    assert engine.style_scale(0.4) == {"up": {"block_0": [0.4, 0.4]}}
    ref = [Reference(RED, 0.8, "red")]
    without = engine.generate(request(references=ref))
    styled = engine.generate(request(references=ref, style=Reference(BLUE, 0.4, "blue")))
    assert diff(without, styled) > 0
    # The style slot is zero outside the style block.
    procs = engine.pipe.unet.attn_processors
    assert all(p.scale[-1] == 0.0 for n, p in procs.items() if hasattr(p, "to_k_ip") and n.startswith("down"))
    assert all(
        p.scale[-1] == 0.4 for n, p in procs.items() if hasattr(p, "to_k_ip") and n.startswith("up_blocks.0")
    )


def test_img2img_and_controlnet_share_weights_via_from_pipe(engine: DiffusersImage) -> None:
    ref = [Reference(RED, 0.8, "red")]
    text = engine.generate(request(references=ref))
    img2img = engine.generate(request(references=ref, init_image=GREEN, strength=0.7))
    control = engine.generate(request(references=ref, control_image=BLUE))
    both = engine.generate(request(references=ref, control_image=BLUE, init_image=GREEN))
    assert diff(text, img2img) > 0.5 and diff(text, control) > 0.05 and both.size == (64, 64)
    assert engine.pipes["image"].unet is engine.pipe.unet
    assert engine.pipes["control"].controlnet is engine.controlnet


def test_sdxl_with_two_references_and_a_style(tiny_image_models: Path) -> None:  # noqa: F811
    sdxl = DiffusersImage.from_spec(
        {
            "backend": "diffusers", "family": "sdxl", "model": "tiny/sdxl", "controlnet": "tiny/controlnet-sdxl",
            "ip_adapter": {"path": "tiny/ip-adapter", "subfolder": "sdxl_models",
                           "weight_name": "ip-adapter_tiny_sdxl.safetensors"},
        },
        tiny_image_models,
    )  # fmt: skip
    assert sdxl.style_scale(0.3) == {"up": {"block_0": [0.0, 0.3]}}  # attention 1 only (InstantStyle)
    refs = [Reference(RED, 0.8, "red"), Reference(BLUE, 0.6, "blue")]
    one = sdxl.generate(request(references=refs[:1]))
    two = sdxl.generate(request(references=refs, style=Reference(GREEN, 0.3, "green")))
    assert diff(one, two) > 0
    assert sdxl.generate(request(references=refs, control_image=GREEN, init_image=BLUE)).size == (64, 64)


def test_ip_adapter_plus_loads_through_load_ip_adapter(tiny_image_models: Path) -> None:  # noqa: F811
    plus = DiffusersImage.from_spec(sd15_spec("ip-adapter-plus_tiny.safetensors"), tiny_image_models)
    a = plus.generate(request(references=[Reference(RED, 1.0, "red")]))
    b = plus.generate(request(references=[Reference(RED, 1.0, "red"), Reference(BLUE, 1.0, "blue")]))
    assert (
        type(plus.pipe.unet.encoder_hid_proj.image_projection_layers[0]).__name__
        == "IPAdapterPlusImageProjection"
    )
    assert diff(a, b) > 0


def test_errors_are_readable(engine: DiffusersImage, tiny_image_models: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(EngineError, match="multiple of 8"):
        engine.generate(request(width=60))
    missing = DiffusersImage.from_spec({"family": "sd15", "model": str(tmp_path / "nope")}, tmp_path)
    with pytest.raises(EngineError, match="nope"):
        missing.generate(request())
    no_adapter = DiffusersImage.from_spec({"family": "sd15", "model": "tiny/sd15"}, tiny_image_models)
    with pytest.raises(EngineError, match="no IP-Adapter"):
        no_adapter.generate(request(references=[Reference(RED)]))
    no_control = DiffusersImage.from_spec({"family": "sd15", "model": "tiny/sd15"}, tiny_image_models)
    with pytest.raises(EngineError, match="ControlNet"):
        no_control.generate(request(control_image=RED))
