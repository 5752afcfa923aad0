"""bench/gpu.py at tiny size on the CPU: the same code that builds each family at real size with
random weights and measures it through the engines (no GPU is needed, and none is used here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from aiuteur.settings import PROFILES_DIR
from tests.engines._image_fixtures import image_models_dir, tiny_image_builder  # noqa: F401


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = PROFILES_DIR.parent / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("aiuteur_bench_gpu", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_real_shape_names_a_field_of_its_component(bench: ModuleType, image_models_dir: Path,  # noqa: F811
                                                         tiny_image_builder: ModuleType) -> None:  # noqa: F811
    import inspect

    import transformers

    for family, components in bench.REAL.items():
        folder = tiny_image_builder.build_family(image_models_dir, family)
        index = json.loads((folder / "model_index.json").read_text())
        for name, overrides in components.items():
            library, cls_name = index[name]
            if library == "transformers":
                config = getattr(transformers, cls_name).config_class.from_pretrained(str(folder / name)).to_dict()
            else:  # a whole published config: every key is an argument of the class
                config = dict(inspect.signature(bench.component_class(library, cls_name).__init__).parameters)
            for key, value in overrides.items():
                assert key in config, f"{family}/{name}: {key} is not a config field"
                if isinstance(value, dict) and key.endswith("_config"):
                    unknown = set(value) - set(config[key])
                    assert not unknown, f"{family}/{name}.{key}: {unknown}"


def test_real_shapes_reproduce_the_published_model_sizes(bench: ModuleType, image_models_dir: Path) -> None:  # noqa: F811
    """Built on the meta device (no memory): the denoiser has the size its model card states, and
    LTX-2's decoders are the real ones (video VAE 32x down in space, 8x in time; 24 kHz vocoder)."""
    for family in ("flux2-klein", "ltx2", "wan22-i2v", "qwen-image-edit"):
        counts = bench.parameter_counts(family, image_models_dir)
        billions = counts["transformer"] / 1e9
        assert abs(billions - bench.PUBLISHED_B[family]) / bench.PUBLISHED_B[family] < 0.05, (family, billions)
        assert all(n > 1e6 for n in counts.values()), counts  # no component left at its tiny size
    ltx2 = bench.REAL["ltx2"]
    assert ltx2["vae"]["spatial_compression_ratio"] == 32 and ltx2["vae"]["temporal_compression_ratio"] == 8
    assert ltx2["vocoder"]["in_channels"] == ltx2["audio_vae"]["output_channels"] * ltx2["audio_vae"]["mel_bins"]
    assert bench.REAL["flux2-klein"]["vae"]["latent_channels"] * 4 == bench.REAL["flux2-klein"]["transformer"]["in_channels"]


def test_the_bench_builds_and_measures_an_image_and_a_video_family_through_the_engines(
    bench: ModuleType, image_models_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    out = tmp_path / "rows.json"
    rows = bench.main(["--device", "cpu", "--scale", "tiny", "--families", "flux2-klein,wan22-i2v",
                       "--repeats", "1", "--models", str(image_models_dir), "--out", str(out)])
    assert json.loads(out.read_text()) == rows
    image, video = rows
    assert image["family"] == "flux2-klein" and image["keyframe_1ref_s"] > 0 and image["keyframe_3ref_s"] > 0
    assert video["family"] == "wan22-i2v" and video["clip_s"] > 0 and video["clip"].startswith("9 frames")
    assert all(r["load_s"] >= 0 and r["peak_gib"] is None for r in rows)  # no GPU: no GPU memory to report
    table = bench.table(rows)
    assert table.count("\n") == 3 and "| flux2-klein | tiny | cpu |" in table
