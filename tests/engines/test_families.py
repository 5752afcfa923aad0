"""The issue-17 families on tiny random-weight models loaded with `from_pretrained(local_dir)`:
multi-reference edit images (Qwen-Image-Edit, FLUX.2 klein) and keyframe video (LTX-2, Wan2.2
I2V-A14B, and Wan2.2 TI2V-5B, which ignores end frames and is refused for them).

What reaches the pipeline is read by wrapping the pipeline's own step that receives it
(`encode_prompt`, `prepare_image_latents`, `preprocess_conditions`, `prepare_latents`), so the
tests see the images in the order and at the frame positions the model gets them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from PIL import Image

from aiuteur.engines import zerogpu
from aiuteur.engines.animatic import probe
from aiuteur.engines.base import EngineError, ImageRequest, Reference, engine_notes
from aiuteur.engines.image_edit import DiffusersEditImage, plan_inputs
from aiuteur.engines.video import DiffusersVideo
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder  # noqa: F401

RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (128, 128, 128)


def _img(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _dominant(pixels: torch.Tensor) -> str:
    """'red', 'green' or 'blue': the strongest channel of an image tensor (..., C, H, W) or (C, ...)."""
    t = pixels.float()
    channel_dim = 1 if t.dim() >= 4 else 0
    means = t.transpose(0, channel_dim).reshape(t.shape[channel_dim], -1).mean(dim=1)[:3]
    return ("red", "green", "blue")[int(means.argmax())]


def _wan_last(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The colour of the `last_image` WanImageToVideoPipeline.prepare_latents got (its 11th argument)."""
    last = kwargs.get("last_image", args[9] if len(args) > 9 else None)
    return _dominant(last) if last is not None else None


def _spy(obj: Any, name: str, record: Callable[..., None]) -> None:
    """Wrap `obj.name` so each call is recorded (arguments as given) and then runs as usual."""
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)


@pytest.fixture(scope="module")
def family_models(image_models_dir: Path, tiny_image_builder: ModuleType) -> Path:  # noqa: F811
    for name in ("qwen-image-edit", "flux2-klein", "ltx2", "wan22-i2v", "wan22-ti2v"):
        tiny_image_builder.build_family(image_models_dir, name)
    return image_models_dir


def _request(**kw: Any) -> ImageRequest:
    refs = [
        Reference(_img(BLUE), name="the lighthouse", kind="location", importance=1.0, key="place"),
        Reference(_img(RED), name="Mara", kind="character", importance=3.0, key="mara"),
        Reference(_img(GREEN), name="the lantern", kind="prop", importance=2.0, key="lantern"),
    ]
    base: dict[str, Any] = {"prompt": "Mara lifts the lantern.", "width": 64, "height": 64, "steps": 2,
                            "references": refs, "style": Reference(_img(GREY), scale=0.3, key="style")}
    base.update(kw)
    return ImageRequest(**base)


# -- multi-reference images -----------------------------------------------------------------------


def test_inputs_are_ordered_by_importance_with_the_style_last_and_the_prompt_says_who_is_who() -> None:
    inputs, notes = plan_inputs(_request(), "qwen-image-edit", limit=4)
    assert [i.role for i in inputs] == ["reference", "reference", "reference", "style"]
    assert [i.image.getpixel((0, 0)) for i in inputs] == [RED, GREEN, BLUE, GREY]
    assert inputs[0].label.startswith("Picture 1 shows Mara (character)")
    assert inputs[3].label.startswith("Picture 4 is a style reference only")
    assert notes == []


def test_references_beyond_what_the_model_takes_are_left_out_by_importance_and_named() -> None:
    init = _img((10, 10, 10))
    inputs, notes = plan_inputs(_request(init_image=init), "flux2-klein", limit=3)
    assert [i.role for i in inputs] == ["init", "reference", "reference"]
    assert inputs[0].label.startswith("image 1 is the previous frame")
    assert [i.image.getpixel((0, 0)) for i in inputs[1:]] == [RED, GREEN]
    assert any("left out" in n and "the lighthouse (location)" in n for n in notes)
    assert any("style image was left out" in n for n in notes)


def test_qwen_image_edit_gets_every_reference_in_order_and_makes_the_image(family_models: Path) -> None:
    engine = DiffusersEditImage.from_spec(
        {"backend": "diffusers-edit", "family": "qwen-image-edit", "model": "tiny/qwen-image-edit"}, family_models
    )
    pipe = engine.load()
    seen: list[list[str]] = []
    prompts: list[str] = []

    def record(prompt: Any = None, image: Any = None, **kw: Any) -> None:
        if image is not None:  # the positive prompt, with the condition images for Qwen2.5-VL
            seen.append([_dominant(torch.tensor(list(im.getdata())).T.reshape(3, *im.size[::-1])) for im in image])
            prompts.append(prompt if isinstance(prompt, str) else prompt[0])

    _spy(pipe, "encode_prompt", record)
    image = engine.generate(_request(width=72, height=40))  # not multiples of 32: resized back
    assert image.size == (72, 40)
    assert seen[0] == ["red", "green", "blue"]  # Mara, the lantern, the lighthouse; style left out (3 max)
    assert prompts[0].startswith("Picture 1 shows Mara (character)")
    assert prompts[0].rstrip().endswith("Mara lifts the lantern.")
    assert any("style image was left out" in n for n in engine_notes(image))


def test_flux2_klein_gets_every_reference_in_order_with_the_style_last(family_models: Path) -> None:
    engine = DiffusersEditImage.from_spec(
        {"backend": "diffusers-edit", "family": "flux2-klein", "model": "tiny/flux2-klein", "guidance": 1.0},
        family_models,
    )
    pipe = engine.load()
    seen: list[list[str]] = []
    _spy(pipe, "prepare_image_latents",
         lambda images=None, **kw: seen.append([_dominant(im) for im in images]))  # fmt: skip
    first = engine.generate(_request())
    again = engine.generate(_request())
    assert seen[0][:3] == ["red", "green", "blue"] and len(seen[0]) == 4  # then the (grey) style image
    assert first.size == (64, 64) and list(first.getdata()) == list(again.getdata())  # seeded
    assert engine_notes(first) == []


# -- keyframe video -------------------------------------------------------------------------------


def test_ltx2_conditions_the_first_latent_frame_on_the_start_and_the_last_on_the_end(
    family_models: Path, tmp_path: Path
) -> None:
    video = DiffusersVideo.from_spec({"backend": "diffusers-ltx2", "model": "tiny/ltx2", "steps": 2,
                                      "max_side": 32}, family_models)  # fmt: skip
    assert (video.family, video.supports_end_frame) == ("ltx2", True)
    pipe = video.load()
    got: list[Any] = []
    original = pipe.preprocess_conditions

    def record(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        got.append((out, kwargs.get("num_frames", args[3] if len(args) > 3 else None)))
        return out

    pipe.preprocess_conditions = record
    out = video.render(_img(RED), _img(BLUE), "a walk", tmp_path / "c.mp4", num_frames=12, fps=8, seed=0)
    (frames, _, indices, _), num_frames = got[0]
    latent_frames = (num_frames - 1) // pipe.vae_temporal_compression_ratio + 1
    assert [_dominant(f) for f in frames] == ["red", "blue"]
    assert indices == [0, latent_frames - 1]  # the end condition is not skipped
    assert probe(out)[0] == 12


def test_wan22_i2v_gets_the_start_as_image_and_the_end_as_last_image(family_models: Path, tmp_path: Path) -> None:
    video = DiffusersVideo.from_spec({"backend": "diffusers-wan", "model": "tiny/wan22-i2v", "steps": 2,
                                      "max_side": 32, "guidance": 1.0}, family_models)  # fmt: skip
    assert (video.family, video.supports_end_frame) == ("wan2.2-i2v", True)
    pipe = video.load()
    seen: list[tuple[str, str | None]] = []
    _spy(pipe, "prepare_latents", lambda image, *a, **k: seen.append((_dominant(image), _wan_last(a, k))))
    out = video.render(_img(RED), _img(BLUE), "a walk", tmp_path / "c.mp4", num_frames=6, fps=8, seed=0)
    video.render(_img(GREEN), None, "a walk", tmp_path / "d.mp4", num_frames=6, fps=8, seed=0)
    assert seen == [("red", "blue"), ("green", None)]  # a start-only shot is plain image-to-video
    assert probe(out)[0] == 6


def test_a_family_that_ignores_the_end_frame_is_refused_before_it_starts(family_models: Path, tmp_path: Path) -> None:
    video = DiffusersVideo.from_spec({"backend": "diffusers-wan", "model": "tiny/wan22-ti2v", "steps": 2,
                                      "max_side": 32}, family_models)  # fmt: skip
    assert (video.family, video.supports_end_frame) == ("wan2.2-ti2v", False)  # read from model_index.json
    with pytest.raises(EngineError, match=r"Wan2\.2 TI2V-5B\) ignores the end frame"):
        video.render(_img(RED), _img(BLUE), "a walk", tmp_path / "c.mp4", num_frames=6, fps=8, seed=0)
    assert video.pipe is None  # refused before any weights loaded
    assert video.plan_clip(6, has_end=True).refused


def test_a_clip_longer_than_one_gpu_call_is_split_or_refused_before_it_starts(family_models: Path) -> None:
    video = DiffusersVideo.from_spec({"backend": "diffusers-ltx2", "model": "tiny/ltx2"}, family_models)
    one = video.plan_clip(121, seconds_per_frame=0.5, limit_s=300)
    assert one.segments == [121] and not one.refused
    split = video.plan_clip(121, seconds_per_frame=3.0, limit_s=300)
    assert split.split and sum(split.segments) - (len(split.segments) - 1) == 121
    assert all(8 + n * 3.0 <= 300 for n in split.segments)
    refused = video.plan_clip(121, seconds_per_frame=60.0, limit_s=300)
    assert refused.segments == [] and "more than the 300 s one GPU call may last" in refused.refused
    off = DiffusersVideo.from_spec({"backend": "diffusers-ltx2", "model": "tiny/ltx2", "split_long_clips": False},
                                   family_models)  # fmt: skip
    assert "splitting long clips is turned off" in off.plan_clip(121, seconds_per_frame=3.0, limit_s=300).refused


def test_a_split_clip_renders_in_segments_that_join_into_the_requested_frames(
    family_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIUTEUR_GPU_CALL_LIMIT_S", "40")
    monkeypatch.setattr(zerogpu.TIMINGS, "_sums", {})  # plan from the profile's figure, not earlier tests
    video = DiffusersVideo.from_spec({"backend": "diffusers-wan", "model": "tiny/wan22-i2v", "steps": 2,
                                      "max_side": 32, "guidance": 1.0, "seconds_per_frame": 2000.0},
                                     family_models)  # fmt: skip
    plan = video.plan_clip(20, 32, 32, has_end=True)
    assert plan.split
    pipe = video.load()
    ends: list[str | None] = []
    _spy(pipe, "prepare_latents", lambda image, *a, **k: ends.append(_wan_last(a, k)))
    out = video.render(_img(RED), _img(BLUE), "a walk", tmp_path / "c.mp4", num_frames=20, fps=8, seed=0)
    assert probe(out)[0] == 20
    assert ends == [None] * (len(plan.segments) - 1) + ["blue"]  # only the last segment ends on the end frame


def test_each_gpu_entry_point_asks_zerogpu_for_its_estimated_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zerogpu.TIMINGS, "_sums", {})
    monkeypatch.delenv("AIUTEUR_GPU_CALL_LIMIT_S", raising=False)
    big = ImageRequest(prompt="x", width=1024, height=1024, steps=40)
    qwen = DiffusersEditImage.from_spec({"backend": "diffusers-edit", "family": "qwen-image-edit",
                                         "model": "Qwen/Qwen-Image-Edit-2511"}, tmp_path)
    assert qwen.gpu_seconds(big) == int((60 + 30) * zerogpu.MARGIN)  # loading + the rough figure
    measured = DiffusersEditImage.from_spec({"backend": "diffusers-edit", "family": "qwen-image-edit",
                                             "model": "Qwen/Qwen-Image-Edit-2511", "seconds_per_image": 5.0}, tmp_path)
    assert measured.gpu_seconds(big) == int(65 * zerogpu.MARGIN)  # the profile's measured figure
    zerogpu.TIMINGS.add("image:Qwen/Qwen-Image-Edit-2511", 1.0, 2.0)
    assert measured.gpu_seconds(big) == int(62 * zerogpu.MARGIN)  # what this process measured wins
    monkeypatch.setenv("AIUTEUR_GPU_CALL_LIMIT_S", "50")
    assert qwen.gpu_seconds(big) == 50  # never more than one call may last
    video = DiffusersVideo.from_spec({"backend": "diffusers-ltx2", "model": "Lightricks/LTX-2.5-Diffusers",
                                      "steps": 8, "guidance": 1.0, "seconds_per_frame": 0.1}, tmp_path)
    assert video._segment_seconds(_img(RED), None, "x", 121, 24, 0, (1280, 720), None) == 50
    monkeypatch.delenv("AIUTEUR_GPU_CALL_LIMIT_S")
    assert video._segment_seconds(_img(RED), None, "x", 121, 24, 0, (1280, 720), None) == int(
        (8 + 60 + 121 * 0.1) * zerogpu.MARGIN)
