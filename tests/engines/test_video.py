"""Start+end-frame video on tiny LTX and Wan pipelines, and the animatic-only engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aiuteur.engines.animatic import probe
from aiuteur.engines.base import EngineError
from aiuteur.engines.video import AnimaticOnly, DiffusersVideo, valid_frame_count
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder, tiny_video_models  # noqa: F401

START = Image.new("RGB", (64, 64), (200, 30, 30))
END = Image.new("RGB", (64, 64), (20, 40, 210))


@pytest.mark.parametrize(("backend", "model"), [("diffusers-ltx", "tiny/ltx"), ("diffusers-wan", "tiny/wan")])
def test_start_and_end_frame_clip_has_the_requested_frames_and_duration(
    tiny_video_models: Path,  # noqa: F811
    tmp_path: Path,
    backend: str,
    model: str,
) -> None:
    video = DiffusersVideo.from_spec({"backend": backend, "model": model, "steps": 2}, tiny_video_models)
    seen: list[float] = []
    out = video.render(
        START, END, "a fox runs", tmp_path / "clip.mp4", num_frames=12, fps=8, seed=0,
        progress=lambda f, _: seen.append(f),
    )  # fmt: skip
    assert out.is_file() and probe(out) == (12, pytest.approx(1.5))
    assert seen[-1] == pytest.approx(1.0)
    assert video.load() is video.pipe and video.memory_bytes > 0


def test_frame_counts_round_up_to_what_the_pipeline_accepts() -> None:
    assert [valid_frame_count(n, 8) for n in (2, 9, 10, 17, 24)] == [9, 9, 17, 17, 25]
    assert [valid_frame_count(n, 4) for n in (2, 5, 6, 81)] == [5, 5, 9, 81]


def test_animatic_only_profile_says_video_needs_a_gpu(tmp_path: Path) -> None:
    engine = AnimaticOnly.from_spec({"backend": "animatic"}, tmp_path)
    with pytest.raises(EngineError, match=r"GPU profile.*animatic"):
        engine.render(START, END, "x", tmp_path / "x.mp4", num_frames=9, fps=8, seed=0)
    assert not engine.available


def test_missing_video_model_is_a_readable_error(tmp_path: Path) -> None:
    video = DiffusersVideo.from_spec({"backend": "diffusers-wan", "model": "tiny/absent"}, tmp_path)
    with pytest.raises(EngineError, match="video model 'tiny/absent'"):
        video.render(START, None, "x", tmp_path / "x.mp4", num_frames=5, fps=8, seed=0)


def test_no_vision_falls_back_to_the_users_words(tmp_path: Path) -> None:
    from aiuteur.engines.vision import NoVision

    vision = NoVision.from_spec({"backend": "none"}, tmp_path)
    assert not vision.available and "no vision model" in vision.reason
    assert vision.describe(START, hint="  a red egg in a bow tie ") == "a red egg in a bow tie"
    with pytest.raises(EngineError, match="own words"):
        vision.describe(START)


def test_transformers_vision_without_weights_is_a_readable_error(tmp_path: Path) -> None:
    from aiuteur.engines.vision import TransformersVision

    vision = TransformersVision.from_spec({"backend": "transformers", "model": "tiny/no-vlm"}, tmp_path)
    with pytest.raises(EngineError, match="vision model 'tiny/no-vlm'"):
        vision.describe(START, hint="a fox")
