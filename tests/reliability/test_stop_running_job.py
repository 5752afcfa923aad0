"""Stop (or a caller that leaves) ends a model job that is already running at its next safe point,
and what it made before is kept. Through the running app: a `gradio_client` job cancelled the way
the Stop button cancels it (Gradio's /cancel), the model wrapped as the real registry wraps it.

Safe points (unit tests below): before each model call (`CountedEngine`), between streamed pieces,
between denoising steps (`StepReporter`), and between tokens of a transformers generation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client

from aiuteur.domain import Stage
from aiuteur.engines.base import StoppedError, stop_requested, stop_when
from aiuteur.engines.pipes import StepReporter
from aiuteur.engines.registry import CountedEngine
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import launch_app
from tests.fakes import ScriptedText
from tests.pipeline.test_script import _enqueue_script, _through_beats
from tests.pipeline.writing_fixtures import plan_out, scene_out
from tests.reliability.test_generation_faults import RegistryEngines, records
from tests.serving import free_port

WAIT_S = 120  # generous: the machine may be loaded


class StoppableScript(ScriptedText):
    """Scripted answers; the call numbered `hold_on` runs until its job is stopped (as a model call
    that cannot be interrupted would), then returns its answer. Every call is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_on = 0
        self.held = threading.Event()
        self.stop_seen = threading.Event()

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if len(self.calls) + 1 == self.hold_on:
            self.held.set()
            deadline = time.monotonic() + WAIT_S
            while not stop_requested() and time.monotonic() < deadline:
                time.sleep(0.02)
            if stop_requested():
                self.stop_seen.set()
        return super().generate(*args, **kwargs)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def app(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Store, RegistryEngines]]:
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path))
    monkeypatch.setenv("AIUTEUR_PROFILE", "tiny")
    monkeypatch.delenv("AIUTEUR_AUTH", raising=False)
    store = Store(DataHome(tmp_path, "test"))
    engines = RegistryEngines(text=StoppableScript())
    demo, url = launch_app(store, host="127.0.0.1", port=free_port(), prevent_thread_lock=True, quiet=True,
                           ssr_mode=False, _frontend=False, engines_factory=lambda: engines)
    try:
        yield url, store, engines
    finally:
        demo.close()


def test_stop_ends_a_running_script_job_before_its_next_model_call_and_keeps_what_was_written(
        app: tuple[str, Store, RegistryEngines]) -> None:
    url, store, engines = app
    text: StoppableScript = engines._text
    runner = Runner(store, engines)  # single-user local app: the same owner as the app's requests
    pid = _through_beats(runner, engines)
    _enqueue_script(engines, 2)
    assert runner.run(pid, Stage.SCRIPT).ok
    before = records(store, pid)
    takes_before = {t.id for t in runner.takes(pid, Stage.SCRIPT)}
    calls_before = len(text.calls)

    # plan, scene 1, scene 2 (runs until stopped), scene 3 (must never be asked)
    text.enqueue(plan_out(3), scene_out(1), scene_out(2), scene_out(3))
    text.hold_on = calls_before + 3
    client = Client(url, verbose=False, httpx_kwargs={"timeout": WAIT_S})
    job = client.submit(pid, 7, "", api_name="/script")
    assert text.held.wait(WAIT_S), "the script job never reached scene 2"
    job.cancel()  # what the Stop button does: Gradio cancels the event
    assert text.stop_seen.wait(WAIT_S), "the running job never saw the stop"

    def stopped_take() -> bool:
        return any(not t.ok for t in runner.takes(pid, Stage.SCRIPT) if t.id not in takes_before)

    wait_for(stopped_take, "the stopped job saved no take")
    new = [t for t in runner.takes(pid, Stage.SCRIPT) if t.id not in takes_before]
    assert sorted((t.purpose, t.ok) for t in new) == sorted(
        [("script_plan", True), ("script_scene", True), ("script_scene", True), ("script_scene", False)])
    failed = next(t for t in new if not t.ok)
    assert "Stopped while generating text for script" in failed.error and "scene 3" in failed.error, failed.error
    assert len(text.calls) == calls_before + 3  # scene 3 was never asked of the model
    assert len(text.queue) == 1
    assert records(store, pid) == before  # the approved script is untouched; the written scenes are takes
    # the app serves the next request at once, and the same job runs to the end when not stopped
    text.queue.clear()
    _enqueue_script(engines, 2)
    out = client.predict(pid, 8, "", api_name="/script")
    assert out["ok"], out


# --- the safe points, one by one ----------------------------------------------------------------------


class Steps:
    """A stand-in for a diffusers pipeline: what the step callback reads and sets."""

    num_timesteps = 30
    _interrupt = False


def test_a_diffusion_stops_after_the_current_step_and_is_not_kept_as_an_image() -> None:
    stopped = threading.Event()
    pipe, reporter = Steps(), StepReporter(None, None)
    with stop_when(stopped.is_set):
        for step in range(Steps.num_timesteps):
            if pipe._interrupt:
                break
            if step == 4:
                stopped.set()
            reporter(pipe, step, 0, {})
    assert pipe._interrupt and step == 5
    with pytest.raises(StoppedError, match=r"^Stopped while making a 64×64 image: you pressed Stop"):
        reporter.raise_if_stopped("making a 64×64 image")


def test_a_stream_stops_between_pieces_and_ends_the_engine_generator() -> None:
    closed: list[bool] = []

    class Streaming:
        def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
            try:
                for i in range(1000):
                    yield f"w{i} "
            finally:
                closed.append(True)

    from collections import Counter

    engine = CountedEngine(Streaming(), "passage", Counter(), "text")
    got: list[str] = []
    stop = threading.Event()
    with stop_when(stop.is_set), pytest.raises(StoppedError, match="Stopped while streaming text for passage"):
        for piece in engine.stream([], seed=0):
            got.append(piece)
            if len(got) == 3:
                stop.set()
    assert got == ["w0 ", "w1 ", "w2 "] and closed == [True]


def test_a_stopped_job_makes_no_further_model_call() -> None:
    from collections import Counter

    calls: Counter[str] = Counter()
    text = ScriptedText()
    text.enqueue(plan_out(1))
    engine = CountedEngine(text, "script", calls, "text")
    with stop_when(lambda: True), pytest.raises(StoppedError, match="Stopped while generating text for script"):
        engine.generate([], dict, seed=0)
    assert calls["script"] == 0 and text.calls == []
