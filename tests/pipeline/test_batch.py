"""Batch items: keyframes and clips run several at once when the engine has replicas, each after
what it depends on, and the result is the same as one after another (takes in script order)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from aiuteur.domain import Clips, Frames, Stage
from aiuteur.engines.base import ImageRequest
from aiuteur.pipeline import frames as frames_stage
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.batch import run_items
from aiuteur.pipeline.headless import run_until
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting


class Replicas(FakeEngines):
    """Fake engines that say they have two replicas; calls overlap and are counted."""

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__(text=DownText(), image=SlowImage(delay), matting=FakeMatting(), embedding=FakeEmbedding(),
                         video=SlowVideo(delay))
        self.cancelled = 0

    def parallelism(self, kind: str) -> int:
        return 2

    def cancel_all(self) -> int:
        self.cancelled += 1
        return 0


class Overlap:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


class SlowImage(FakeImage):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.overlap = delay, Overlap()

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Any:
        with self.overlap:
            time.sleep(self.delay)
            return super().generate(request, progress=progress)


class SlowVideo(FakeVideo):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.overlap = delay, Overlap()

    def render(self, *args: Any, **kwargs: Any) -> Any:
        with self.overlap:
            time.sleep(self.delay)
            return super().render(*args, **kwargs)


def test_items_wait_for_what_they_depend_on_and_finish_in_any_order() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def prepare(item: str) -> Any:
        with lock:
            started.append(item)
        return lambda: (time.sleep(0.05 if item == "a" else 0.01), item)[1]

    done = run_items(["a", "b", "c", "d"], prepare, lambda item, result: True, workers=2,
                     after={"c": {"a"}, "d": {"c"}})
    assert sorted(done) == ["a", "b", "c", "d"]
    assert started.index("c") > done.index("a") - 1 and done.index("c") > done.index("a")
    assert done.index("d") > done.index("c")


def test_one_worker_runs_in_order_in_this_thread_and_stops_at_the_first_refusal() -> None:
    threads: set[int] = set()

    def prepare(item: int) -> Any:
        return lambda: threads.add(threading.get_ident()) or item

    done = run_items([1, 2, 3, 4], prepare, lambda item, result: item != 2)
    assert done == [1, 2] and threads == {threading.get_ident()}


def _frames(runner: Runner, pid: str, sid: str) -> Frames:
    return Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid))


def test_keyframes_on_two_replicas_are_those_made_one_by_one(home: Any, tmp_path: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # every cut is to a new set-up: start frames are independent, each end frame waits for its start
    monkeypatch.setattr(frames_stage, "continues", lambda *a, **k: False)
    sequential = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding())
    one = Runner(Store(home), engines=sequential)
    pid1, script1 = film_project(one)
    two_engines = Replicas()
    from aiuteur.settings import DataHome

    two = Runner(Store(DataHome(tmp_path / "two", "test")), engines=two_engines)
    pid2, script2 = film_project(two)
    reports: list[str] = []
    for runner, pid, script, progress in ((one, pid1, script1, None), (two, pid2, script2, reports.append)):
        for sc in script.scenes:
            result = runner.run(pid, Stage.FRAMES, sc.id, seed=4,
                                progress=(lambda f, what, say=progress: say(what)) if progress else None)
            assert result.ok, result.errors
    assert two_engines._image.overlap.most == 2, "independent frames ran at once"
    for sc1, sc2 in zip(script1.scenes, script2.scenes, strict=True):
        a, b = _frames(one, pid1, sc1.id), _frames(two, pid2, sc2.id)
        assert [(f.which, f.image) for f in a.frames] == [(f.which, f.image) for f in b.frames]  # ids differ
        targets = [t.target for t in two.takes(pid2, Stage.FRAMES, sc2.id)]
        assert targets == [f"frame:{f.shot_id}:{f.which}" for f in b.frames]  # script order
    n = len(_frames(two, pid2, script2.scenes[-1].id).frames)
    assert f"keyframe {n} of {n}" in " ".join(reports)
    # an end frame is conditioned on its own start frame, as one by one
    seen = {r.seed: r.init_image is not None for r in two_engines._image.requests}
    assert seen == {r.seed: r.init_image is not None for r in sequential._image.requests}


def test_clips_on_two_replicas_render_at_once_and_stop_leaves_finished_clips(home: Any) -> None:
    engines = Replicas(delay=0.2)
    runner = Runner(Store(home), engines=engines)
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    assert runner.run(pid, Stage.FRAMES, sid, seed=1, action=MakeKeyframes(score=False)).ok
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    result = runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=4, animatic_fps=8))
    assert result.ok, result.errors
    clips = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    assert all(c.video for c in clips.clips) and clips.scene_cut
    assert engines._video.overlap.most == 2
    # Stop after the first clip: nothing new starts, what was running is kept, queued requests cancelled
    calls = len(engines._video.calls)
    stop = threading.Event()
    result = runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=4, animatic_fps=8),
                        progress=lambda f, what: stop.set() if what.startswith("clip 1 of") else None,
                        cancelled=stop.is_set)
    assert engines.cancelled == 1
    made = len(engines._video.calls) - calls
    assert 1 <= made <= 2 < len(clips.clips) + 1
    takes = [t for t in runner.takes(pid, Stage.VIDEO, sid) if t.target.startswith("clip:") and t.ok]
    assert len(takes) == len(clips.clips) + made



def test_a_headless_run_starts_the_scenes_keyframes_together(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engines = Replicas(delay=0.1)
    runner = Runner(Store(home), engines=engines)
    pid, script = film_project(runner)
    steps = list(run_until(runner, pid, Stage.FRAMES))
    frames = [s for s in steps if s.stage == Stage.FRAMES]
    assert [s.scene_id for s in frames] == [sc.id for sc in script.scenes]  # reported in script order
    assert all(s.what == "made" for s in frames), [s.what for s in frames]
    assert engines._image.overlap.most == 2, "the two scenes' keyframes ran at once"


NO_RAY = """
import sys
from pathlib import Path
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import EngineCache, Engines
from aiuteur.settings import DataHome

class Built(EngineCache):
    def get(self, kind, spec, models_dir):
        return object()

engines = Engines(load_profile("tiny"), DataHome(Path(sys.argv[1]), "test"), cache=Built())
for kind in ("image", "matting", "video"):
    engines.get(kind).engine
assert engines.parallelism("image") == 1
print("ray" in sys.modules)
"""


def test_without_a_cluster_address_ray_is_never_imported(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "AIUTEUR_RAY_ADDRESS"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", NO_RAY, str(tmp_path)], env=env, cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stdout.strip() == "False"


def test_item_clock_says_how_many_and_how_long_is_left_from_measured_items() -> None:
    from aiuteur.pipeline.batch import ItemClock, mean_seconds, time_left

    now = [100.0]
    clock = ItemClock("keyframe", 15, clock=lambda: now[0])
    assert clock.line(0) == "keyframe 0 of 15"  # nothing measured: no guess
    now[0] += 50.0  # five keyframes in 50 s: 10 s each, ten to go
    assert clock.line(5, "shot 3A, end frame") == "keyframe 5 of 15 (shot 3A, end frame), about 2 min left"
    now[0] += 90.0
    assert clock.line(14) == "keyframe 14 of 15, about 10 s left"
    assert clock.line(15) == "keyframe 15 of 15"
    earlier = ItemClock("clip", 4, prior_s=30.0, workers=2, clock=lambda: 0.0)
    assert earlier.line(0) == "clip 0 of 4, about 1 min left"  # from earlier takes, two at once
    assert time_left(4) == "a few seconds left" and time_left(42) == "about 40 s left"
    assert time_left(3 * 3600 + 5 * 60) == "about 3 h 05 min left"

    class T:
        def __init__(self, seconds: float, model_id: str = "m", ok: bool = True) -> None:
            self.seconds, self.model_id, self.ok = seconds, model_id, ok

    assert mean_seconds([T(2), T(4), T(9, "other"), T(100, ok=False)], model_id="m") == 3.0
    assert mean_seconds([]) is None
