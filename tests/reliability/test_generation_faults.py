"""An engine that fails in the middle of a batch: the failed take says why, the finished ones are kept,
nothing else in the project changes, and running again finishes the job.

Engines are wrapped as the real registry wraps them (`CountedEngine`), so an out-of-memory error or a
timeout reaches the stage as the `EngineError` it is in production. `Faulty` fails one chosen call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import torch

from aiuteur.domain import AssetStates, Script, Stage, StyleAndAssets
from aiuteur.engines.base import call_timeout_s
from aiuteur.engines.registry import CountedEngine
from aiuteur.pipeline.actions import MasterReferences, SceneInstance
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.fakes import FakeEngines, ScriptedText
from tests.pipeline.phase_b_fixtures import FakeImage, FakeMatting, project_with_script, registry_for

FAULTS: dict[str, tuple[Callable[[], BaseException], str]] = {
    "torch OOM": (lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "Out of memory"),
    "MemoryError": (lambda: MemoryError(), "Out of memory"),
    "TimeoutError": (lambda: TimeoutError("the call took over 300 s"), "Timed out"),
    "httpx read timeout": (lambda: httpx.ReadTimeout("timed out"), "Timed out"),
    "any exception": (lambda: RuntimeError("CUDA error: device-side assert triggered"), "RuntimeError: CUDA error"),
}


class Faulty:
    """Passes calls to `inner`, except that call number `fail_on` of `generate` raises `error`."""

    def __init__(self, inner: Any, fail_on: int, error: BaseException) -> None:
        self.inner, self.fail_on, self.error, self.n = inner, fail_on, error, 0

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.n += 1
        if self.n == self.fail_on:
            raise self.error
        return self.inner.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RegistryEngines(FakeEngines):
    """FakeEngines whose engines are wrapped like the real registry's (errors become EngineError)."""

    def text(self, purpose: str) -> Any:
        return CountedEngine(self._text, purpose, self.calls, "text")

    def image(self, purpose: str) -> Any:
        return CountedEngine(self._image, purpose, self.calls, "image")

    def matting(self) -> Any:
        return CountedEngine(self._matting, "matting", self.calls, "matting")


def records(store: Store, pid: str) -> dict[tuple[str, str | None], dict[str, Any]]:
    with store.read(pid) as tx:
        return {(r.stage.value, r.scene_id): r.data for r in tx.records(tx.branch().id)}


@pytest.fixture
def engines() -> RegistryEngines:
    return RegistryEngines(text=ScriptedText(), image=FakeImage(), matting=FakeMatting())


@pytest.mark.parametrize("fault", list(FAULTS))
def test_master_references_keep_the_finished_ones_when_the_third_fails(runner: Runner, engines: RegistryEngines,
                                                                        store: Store, fault: str) -> None:
    make_error, words = FAULTS[fault]
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script, with_refs=False)  # six assets, none with a master reference
    before = records(store, pid)
    engines._image = Faulty(FakeImage(), fail_on=3, error=make_error())

    result = runner.run(pid, Stage.ASSETS, action=MasterReferences(), seed=1)

    refs = [t for t in result.takes if t.purpose == "master_reference"]
    assert [t.ok for t in refs] == [True, True, False]
    assert words in refs[2].error and "reference" in refs[2].error
    after = records(store, pid)
    sa = StyleAndAssets.model_validate(after[("assets", None)])
    made = [a.master_ref for a in sa.registry.assets]
    assert all(made[:2]) and not any(made[2:])  # the two finished references are kept and chosen
    for a in sa.registry.assets[:2]:
        assert store.media_path(a.master_ref or "").exists()
    assert {k: v for k, v in after.items() if k[0] != "assets"} == {k: v for k, v in before.items() if k[0] != "assets"}
    history = runner.takes(pid, Stage.ASSETS)
    assert sum(1 for t in history if t.purpose == "master_reference" and t.ok) == 2
    assert any(not t.ok and words in t.error for t in history)  # the failure is on record, in words

    # retry: only the four missing ones are made; the first two stay as they were
    engines._image = FakeImage()
    again = runner.run(pid, Stage.ASSETS, action=MasterReferences(), seed=2)
    assert again.ok and len([t for t in again.takes if t.purpose == "master_reference"]) == 4
    sa2 = StyleAndAssets.model_validate(records(store, pid)[("assets", None)])
    assert [a.master_ref for a in sa2.registry.assets][:2] == made[:2] and all(a.master_ref for a in sa2.registry.assets)


def _scene_with_states(runner: Runner, engines: RegistryEngines, store: Store) -> tuple[str, str]:
    from tests.pipeline.test_asset_states import infer, make_shots

    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    make_shots(runner, engines, pid, script, 2)
    infer(runner, engines, pid, script, 2, description="In a black gown")
    return pid, script.scenes[2].id


@pytest.mark.parametrize("fault", ["torch OOM", "httpx read timeout", "any exception"])
def test_scene_instance_takes_keep_the_finished_ones(runner: Runner, engines: RegistryEngines, store: Store,
                                                      fault: str) -> None:
    make_error, words = FAULTS[fault]
    pid, s3 = _scene_with_states(runner, engines, store)
    before = records(store, pid)
    engines._image = Faulty(FakeImage(), fail_on=3, error=make_error())

    result = runner.run(pid, Stage.ASSET_STATES, s3, action=SceneInstance(asset_id="as_persephone", takes=4))

    assert [t.ok for t in result.takes] == [True, True, False]
    assert words in result.errors[0] and "Persephone" in result.errors[0]
    after = records(store, pid)
    st = next(s for s in AssetStates.model_validate(after[("asset_states", s3)]).states if s.asset_id == "as_persephone")
    assert st.instance_takes == [t.id for t in result.takes[:2]] and st.chosen_take == result.takes[0].id
    assert {k: v for k, v in after.items() if k != ("asset_states", s3)} == \
        {k: v for k, v in before.items() if k != ("asset_states", s3)}

    engines._image = FakeImage()
    again = runner.run(pid, Stage.ASSET_STATES, s3, action=SceneInstance(asset_id="as_persephone", takes=2))
    assert again.ok
    st2 = next(s for s in states_of(store, pid, s3).states if s.asset_id == "as_persephone")
    assert st2.instance_takes == [*st.instance_takes, *(t.id for t in again.takes)]
    assert st2.chosen_take == st.chosen_take  # the user's (default) choice is not moved by a retry


def states_of(store: Store, pid: str, scene_id: str) -> AssetStates:
    return AssetStates.model_validate(records(store, pid)[("asset_states", scene_id)])


@pytest.mark.parametrize("fault", ["MemoryError", "TimeoutError"])
def test_script_writing_keeps_the_written_scenes_as_takes_and_the_saved_script(runner: Runner,
                                                                               engines: RegistryEngines,
                                                                               store: Store, fault: str) -> None:
    from tests.pipeline.test_script import _enqueue_script, _through_beats
    from tests.pipeline.writing_fixtures import plan_out, scene_out

    make_error, words = FAULTS[fault]
    pid = _through_beats(runner, engines)
    _enqueue_script(engines, 2)
    assert runner.run(pid, Stage.SCRIPT).ok
    before = records(store, pid)

    engines.scripted.enqueue(plan_out(3), scene_out(1), scene_out(2), make_error())  # dies on scene 3 of 3
    result = runner.run(pid, Stage.SCRIPT, seed=7)

    assert [t.purpose for t in result.takes] == ["script_plan", "script_scene", "script_scene", "script_scene"]
    assert [t.ok for t in result.takes] == [True, True, True, False]
    assert words in result.errors[0] and "scene 3" in result.errors[0]
    assert result.record is None and records(store, pid) == before  # the approved script is untouched
    kept = {t.id for t in runner.takes(pid, Stage.SCRIPT)}
    assert {t.id for t in result.takes} <= kept  # the two scenes written are in the history

    _enqueue_script(engines, 2)
    again = runner.run(pid, Stage.SCRIPT, seed=8)
    assert again.ok and again.record is not None
    assert len(Script.model_validate(again.record.data).scenes) == 2


def test_per_call_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiuteur.engines.base import EngineError
    from aiuteur.engines.image_diffusers import DiffusersImage
    from aiuteur.engines.text_openai import OpenAIText

    spec = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    monkeypatch.delenv("AIUTEUR_CALL_TIMEOUT_S", raising=False)
    assert call_timeout_s(None) is None
    assert OpenAIText.from_spec(spec, models_dir=None).client.timeout.read == 600  # type: ignore[arg-type]
    monkeypatch.setenv("AIUTEUR_CALL_TIMEOUT_S", "45")
    assert OpenAIText.from_spec({**spec, "timeout_s": 900}, models_dir=None).client.timeout.read == 45  # type: ignore[arg-type]
    image = DiffusersImage.from_spec({"backend": "diffusers", "family": "sd15", "model": "tiny/sd15"},
                                     models_dir=None)  # type: ignore[arg-type]
    assert image.options.timeout_s == 45
    monkeypatch.setenv("AIUTEUR_CALL_TIMEOUT_S", "soon")
    with pytest.raises(EngineError, match="AIUTEUR_CALL_TIMEOUT_S is 'soon'"):
        call_timeout_s(600)


@pytest.mark.parametrize("stage", ["references", "instances"])
def test_an_unwrapped_engine_error_mid_batch_still_keeps_the_finished_takes(store: Store, stage: str) -> None:
    """An engine used without the registry's wrapper (a plugin, a test double) raising a raw MemoryError."""
    raw = FakeEngines(text=ScriptedText(), image=FakeImage(), matting=FakeMatting())
    runner = Runner(store, engines=raw)
    if stage == "references":
        pid, script = project_with_script(runner)
        registry_for(runner, pid, script, with_refs=False)
        raw._image = Faulty(FakeImage(), fail_on=3, error=MemoryError())
        result = runner.run(pid, Stage.ASSETS, action=MasterReferences())
        made = [t for t in result.takes if t.purpose == "master_reference"]
    else:
        pid, s3 = _scene_with_states(runner, raw, store)  # type: ignore[arg-type]
        raw._image = Faulty(FakeImage(), fail_on=3, error=MemoryError())
        result = runner.run(pid, Stage.ASSET_STATES, s3, action=SceneInstance(asset_id="as_persephone", takes=4))
        made = result.takes
    assert [t.ok for t in made] == [True, True, False]
    assert "out of memory" in made[2].error.lower()
    assert result.record is not None
