"""The engine registry: lazy builds, one load per model per process, call counts, readable errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aiuteur.engines.base import EngineError
from aiuteur.engines.profiles import Profile, load_profiles
from aiuteur.engines.registry import FACTORIES, EngineCache, Engines
from aiuteur.engines.zerogpu import gpu_entry
from aiuteur.settings import DataHome
from tests.engines import schemas as s


class FakeEngine:
    """A registry test double: `behaviour` decides what `generate` does."""

    instances: ClassVar[list[FakeEngine]] = []

    def __init__(self, spec: dict[str, Any]) -> None:
        self.model_id = str(spec.get("model", "fake"))
        self.memory_bytes = int(spec.get("gb", 0) * (1 << 30))
        self.behaviour = spec.get("behaviour", "ok")
        self.closed = False
        FakeEngine.instances.append(self)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> FakeEngine:
        return cls(spec)

    def generate(self, *args: Any, **kwargs: Any) -> str:
        if self.behaviour == "oom":
            raise MemoryError()
        if self.behaviour == "cuda-oom":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.behaviour == "timeout":
            raise TimeoutError("no answer in 30 s")
        if self.behaviour == "boom":
            raise ValueError("bad tensor shape")
        return "ok"

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield "a"
        if self.behaviour == "boom":
            raise ValueError("stream broke")

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FACTORIES, ("text", "fake"), f"{__name__}:FakeEngine")
    monkeypatch.setitem(FACTORIES, ("image", "fake"), f"{__name__}:FakeEngine")
    FakeEngine.instances.clear()


def fake_profile(**text: Any) -> Profile:
    return Profile("fake", "test", False, {"text": {"backend": "fake", **text}, "image": {"backend": "fake"}})


def home(tmp_path: Path) -> DataHome:
    return DataHome(tmp_path, "test")


def test_every_backend_named_by_a_profile_has_a_factory() -> None:
    for profile in load_profiles().values():
        for kind, table in profile.tables.items():
            assert (kind, table["backend"]) in FACTORIES, (profile.name, kind)


def test_nothing_is_built_until_used_and_each_model_loads_once(fake_backend: None, tmp_path: Path) -> None:
    cache = EngineCache()
    a = Engines(fake_profile(), home(tmp_path), cache=cache)
    b = Engines(fake_profile(), home(tmp_path), cache=cache)
    assert FakeEngine.instances == []
    a.text("treatment").generate()
    a.text("beats").generate()
    b.text("script").generate()
    assert len(FakeEngine.instances) == 1
    assert a.text("x").engine is b.text("y").engine
    assert cache.loads == {"text:fake": 1}
    a.image("frames").generate()
    assert cache.loads == {"text:fake": 1, "image:fake": 1}


def test_calls_are_counted_per_purpose(fake_backend: None, tmp_path: Path) -> None:
    engines = Engines(fake_profile(), home(tmp_path), cache=EngineCache())
    text = engines.text(purpose="treatment")
    text.generate()
    text.generate()
    list(engines.text(purpose="script").stream())
    engines.text(purpose="beats")  # getting an engine is not a call
    assert engines.text("x").model_id == "fake"  # attributes pass through, uncounted
    assert engines.model_calls() == {"treatment": 2, "script": 1}


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("oom", "Out of memory while generating text for treatment"),
        ("cuda-oom", "Out of memory"),
        ("timeout", "Timed out while generating text for treatment"),
        ("boom", "ValueError: bad tensor shape"),
    ],
)
def test_engine_failures_become_readable_engine_errors(
    fake_backend: None, tmp_path: Path, behaviour: str, message: str
) -> None:
    engines = Engines(fake_profile(behaviour=behaviour), home(tmp_path), cache=EngineCache())
    with pytest.raises(EngineError, match=message):
        engines.text("treatment").generate()


def test_stream_failures_become_engine_errors(fake_backend: None, tmp_path: Path) -> None:
    engines = Engines(fake_profile(behaviour="boom"), home(tmp_path), cache=EngineCache())
    with pytest.raises(EngineError, match="stream broke"):
        list(engines.text("script").stream())


def test_unknown_backend_names_the_known_ones(tmp_path: Path) -> None:
    profile = Profile("x", "", False, {"text": {"backend": "vllm-native"}})
    with pytest.raises(
        EngineError, match=r"No text engine called 'vllm-native'.*llama.cpp.*openai.*transformers"
    ):
        _ = Engines(profile, home(tmp_path), cache=EngineCache()).text().engine  # loads on first use


def test_memory_budget_unloads_the_least_recently_used(
    fake_backend: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIUTEUR_MEMORY_BUDGET_GB", "3")
    cache = EngineCache()
    first = Engines(fake_profile(model="a", gb=2), home(tmp_path), cache=cache)
    second = Engines(fake_profile(model="b", gb=2), home(tmp_path), cache=cache)
    a = first.text().engine
    b = second.text().engine
    assert a.closed and not b.closed and len(cache) == 1
    assert first.text().engine is not a  # reloaded on next use
    assert b.closed


def test_tiny_profile_text_engine_through_the_registry(tiny_text_dir: Path, models_dir: Path) -> None:
    cache = EngineCache()
    engines = Engines(load_profiles()["tiny"], DataHome(models_dir.parent, "test"), cache=cache)
    out = engines.text(purpose="treatment").generate([{"role": "user", "content": "go"}], s.Treatment, seed=1)
    assert len(out.variants) == 3
    assert engines.calls == {"treatment": 1}
    cache.clear()


def test_gpu_entry_is_a_no_op_off_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)

    def work(n: int) -> int:
        return n * 2

    assert gpu_entry(lambda n: 10.0 * n)(work)(3) == 6


def test_gpu_entry_falls_back_when_spaces_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def broken(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "spaces":
            raise ImportError("no ZeroGPU here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)

    def work() -> str:
        return "done"

    assert gpu_entry(lambda: 60.0)(work) is work


def test_importing_the_registry_loads_no_model() -> None:
    """A fresh interpreter imports the registry: no engine is built, no model library is loaded,
    and no model object exists anywhere in memory."""
    code = (
        "import gc, sys\n"
        "from aiuteur.engines import registry\n"
        "assert len(registry.CACHE) == 0 and not registry.CACHE.loads, 'an engine was built'\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'diffusers', 'llama_cpp', 'rembg', 'onnxruntime')\n"
        "               if m in sys.modules)\n"
        "assert not heavy, f'model libraries imported: {heavy}'\n"
        "engines = [o for o in gc.get_objects() if hasattr(o, 'from_spec') and not isinstance(o, type)]\n"
        "assert not engines, f'engine objects exist: {engines[:3]}'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    assert all(isinstance(v, str) for v in FACTORIES.values())  # factories are named, not imported
