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
    import diffusers
    import transformers

    for family, components in bench.REAL.items():
        folder = tiny_image_builder.build_family(image_models_dir, family)
        index = json.loads((folder / "model_index.json").read_text())
        for name, overrides in components.items():
            library, cls_name = index[name]
            if library == "transformers":
                config = getattr(transformers, cls_name).config_class.from_pretrained(str(folder / name)).to_dict()
            else:
                module = diffusers.pipelines.ltx2 if cls_name == "LTX2TextConnectors" else diffusers
                config = dict(getattr(module, cls_name).load_config(str(folder / name)))
            for key, value in overrides.items():
                assert key in config, f"{family}/{name}: {key} is not a config field"
                if isinstance(value, dict) and key.endswith("_config"):
                    unknown = set(value) - set(config[key])
                    assert not unknown, f"{family}/{name}.{key}: {unknown}"


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
