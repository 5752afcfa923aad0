"""A real local Ray cluster (head only, CPU, on 127.0.0.1) running the tiny profile's engines as
Ray Serve replicas: the same takes as in-process, a replica killed mid-batch loses nothing, and a
cluster that cannot be reached falls back to this machine in one line.

Skipped with a reason where Ray (`requirements-cluster.txt`) is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aiuteur.domain import Clips, Frames, Stage
from aiuteur.engines import cluster
from aiuteur.engines.profiles import Profile, load_profile
from aiuteur.engines.registry import CountedEngine, EngineCache, Engines
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from tests.pipeline.film_fixtures import film_project
from tests.pipeline.phase_b_fixtures import DownText
from tests.serving import free_port

# Ray turns 127.0.0.1 into the machine's network address unless told it is a one-machine cluster:
# this keeps every connection of the test cluster (head, replicas and this driver) on the loopback
# interface. It must be set before Ray is first imported: Ray reads it once, at import.
LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
os.environ[LOOPBACK] = "0"

pytest.importorskip("ray.serve", reason="Ray is an optional extra: pip install -r requirements-cluster.txt")


pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
START_TRIES = 3  # `ray start` can time out on a loaded machine; it is simply tried again
OPTIONS = MakeKeyframes(score=False)


def _ray_env(models: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "AIUTEUR_MODELS": str(models), "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_agent_register_timeout_ms": "600000",
        LOOPBACK: "0",
    })
    return env


def node_pids(temp: Path) -> list[int]:
    """The processes of the Ray node started with `--temp-dir=temp` (their command lines name it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(temp) in cmd:
            pids.append(int(entry.name))
    return pids


def stop_node(temp: Path, patience_s: float = 120) -> None:
    """Stop the node of `temp` only: SIGTERM, then SIGKILL what is left after `patience_s`."""
    for pid in node_pids(temp):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + patience_s
    while node_pids(temp) and time.monotonic() < deadline:
        time.sleep(1)
    for pid in node_pids(temp):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[str]:
    """`ray start --head` on loopback (fixed ports, small object store), stopped afterwards."""
    temp = Path(f"/tmp/ray-aiuteur-{os.getpid()}")
    port = free_port()
    cmd = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
           "--object-store-memory=80000000", "--include-dashboard=false", "--disable-usage-stats",
           f"--temp-dir={temp}"]
    env = _ray_env(tiny_models)
    last = ""
    for _ in range(START_TRIES):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            break
        last = (done.stdout + done.stderr)[-600:]
        stop_node(temp)  # this test's own half-started node only
        time.sleep(5)
    else:
        pytest.fail(f"ray start failed {START_TRIES} times: {last}")
    address = f"127.0.0.1:{port}"
    os.environ["RAY_ADDRESS"] = address
    try:
        yield address
    finally:
        import ray

        cluster.forget()
        if ray.is_initialized():
            ray.shutdown()
        os.environ.pop("RAY_ADDRESS", None)
        stop_node(temp)  # never `ray stop`: it stops every Ray node of the machine, others' too
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models built once, shared by the replicas and the in-process run."""
    models = Path(os.environ.get("AIUTEUR_MODELS") or tmp_path_factory.mktemp("models"))
    from aiuteur.engines.registry import ensure_tiny

    for kind in ("image", "video"):
        ensure_tiny(kind, models)
    return models


class FilmEngines(Engines):
    """The tiny profile's real engines (text down, so stages 7-9 take their fallbacks)."""

    def __init__(self, profile: Profile, home: DataHome) -> None:
        super().__init__(profile, home, cache=EngineCache())
        self.down = DownText()

    def text(self, purpose: str = "text") -> Any:
        return CountedEngine(self.down, purpose, self.calls, "text")


def _profile(address: str | None, replicas: int = 2) -> Profile:
    base = load_profile("tiny")
    if address is None:
        return base
    table = {"address": address, "kinds": ["image", "video"], "replicas": replicas, "cpus_per_replica": 0.5,
             "item_timeout_s": 600, "connect_timeout_s": 300}
    return replace(base, tables={**base.tables, "cluster": table})


def _runner(tmp: Path, models: Path, address: str | None) -> tuple[Runner, FilmEngines]:
    home = DataHome(tmp, "test")  # models: AIUTEUR_MODELS, set by each test
    engines = FilmEngines(_profile(address), home)
    return Runner(Store(home), engines=engines), engines


def _frame_images(runner: Runner, pid: str, sid: str) -> dict[tuple[str, str], str | None]:
    frames = Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid))
    return {(f.shot_id, f.which): f.image for f in frames.frames}


def _clips(runner: Runner, pid: str, sid: str, **kw: Any) -> Any:
    """Stages 10-12 of one scene: confirm the keyframes, render every clip (4 fps, 8 fps animatic)."""
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    return runner.run(pid, Stage.VIDEO, sid, seed=4, action=RenderScene(fps=4, animatic_fps=8), **kw)


def _clip_videos(runner: Runner, pid: str, sid: str) -> list[tuple[str, str | None]]:
    clips = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid))
    return [(c.shot_id, c.video) for c in clips.clips]


def test_a_scene_on_two_replicas_makes_the_same_takes_as_in_process(
        tmp_path: Path, tiny_models: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_models))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the replicas run one thread each; so does this run, for identical sums
    try:
        local, _ = _runner(tmp_path / "local", tiny_models, None)
        pid_l, script_l = film_project(local)
        sid_l = script_l.scenes[0].id
        assert local.run(pid_l, Stage.FRAMES, sid_l, seed=3, action=OPTIONS).ok
        assert _clips(local, pid_l, sid_l).ok
    finally:
        torch.set_num_threads(threads)

    remote, engines = _runner(tmp_path / "remote", tiny_models, ray_address)
    pid_r, script_r = film_project(remote)
    sid_r = script_r.scenes[0].id
    reports: list[str] = []
    result = remote.run(pid_r, Stage.FRAMES, sid_r, seed=3, action=OPTIONS,
                        progress=lambda f, what: reports.append(what))
    assert result.ok, result.errors
    image = engines.get("image").engine
    assert isinstance(image, cluster.RemoteEngine) and image.parallelism == 2
    a, b = _frame_images(local, pid_l, sid_l), _frame_images(remote, pid_r, sid_r)
    assert len(a) == len(b) and all(b.values())
    same = [(which, key) for (_, which), key in a.items()] == [(which, key) for (_, which), key in b.items()]
    assert same, "same seeds, same images (content hashes) on the cluster as in-process"
    assert any(r.startswith(f"keyframe {len(b)} of {len(b)}") for r in reports), reports
    takes = [t for t in remote.takes(pid_r, Stage.FRAMES, sid_r)]
    assert [t.target for t in takes] == [f"frame:{s}:{w}" for s, w in b]  # script order
    # the scene's clips: rendered on the video replicas, the same videos (content hashes) as in-process
    video = engines.get("video").engine
    assert isinstance(video, cluster.RemoteEngine) and video.parallelism == 2
    reports.clear()
    result = _clips(remote, pid_r, sid_r, progress=lambda f, what: reports.append(what))
    assert result.ok, result.errors
    here, there = _clip_videos(local, pid_l, sid_l), _clip_videos(remote, pid_r, sid_r)
    assert len(here) == len(there) >= 2 and all(key for _, key in there)
    assert [key for _, key in here] == [key for _, key in there], "same seeds, same clips on the cluster"
    assert any(r.startswith(f"clip {len(there)} of {len(there)}") for r in reports), reports
    clip_takes = [t.target for t in remote.takes(pid_r, Stage.VIDEO, sid_r) if t.target.startswith("clip:")]
    assert clip_takes == [f"clip:{shot}" for shot, _ in there]  # script order


def test_a_replica_killed_mid_batch_loses_no_finished_take(
        tmp_path: Path, tiny_models: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_models))
    runner, engines = _runner(tmp_path, tiny_models, ray_address)
    pid, script = film_project(runner)
    sid = script.scenes[1].id
    image = engines.get("image").engine
    assert isinstance(image, cluster.RemoteEngine)
    pids = set()
    deadline = time.monotonic() + 300
    while len(pids) < 2 and time.monotonic() < deadline:
        pids.add(int(image._handle.describe.remote().result(timeout_s=300)["pid"]))
    assert len(pids) == 2, "two replicas answer"
    victim = sorted(pids)[0]
    killed = threading.Event()

    def progress(fraction: float, what: str) -> None:
        if what.startswith("keyframe 1 of") and not killed.is_set():
            os.kill(victim, signal.SIGKILL)
            killed.set()

    result = runner.run(pid, Stage.FRAMES, sid, seed=5, action=OPTIONS.model_copy(update={"size": 256}), progress=progress)
    assert killed.is_set()
    takes = runner.takes(pid, Stage.FRAMES, sid)
    frames = _frame_images(runner, pid, sid)
    assert len(frames) >= 3
    # every frame of the batch was either made (on the surviving replica) or failed with a reason
    made = {t.target for t in takes if t.ok}
    failed = [t for t in takes if not t.ok]
    assert all(t.error for t in failed)
    assert len(made) + len(failed) == len(frames), (result.errors, [t.error for t in failed])
    assert {f"frame:{s}:{w}" for (s, w), key in frames.items() if key} == made


def test_stop_sends_nothing_new_and_cancels_what_is_on_the_cluster(
        tmp_path: Path, tiny_models: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_models))
    runner, engines = _runner(tmp_path, tiny_models, ray_address)
    pid, script = film_project(runner)
    sid = script.scenes[1].id
    image = engines.get("image").engine
    assert isinstance(image, cluster.RemoteEngine) and image.parallelism == 2
    stop = threading.Event()
    cancelled: list[int] = []
    real_cancel = engines.cancel_all

    def cancel_all() -> int:
        cancelled.append(real_cancel())
        return cancelled[-1]

    monkeypatch.setattr(engines, "cancel_all", cancel_all)
    runner.run(pid, Stage.FRAMES, sid, seed=8, action=OPTIONS.model_copy(update={"size": 256}),
               progress=lambda f, what: stop.set() if what.startswith("keyframe 1 of") else None,
               cancelled=stop.is_set)
    assert stop.is_set() and len(cancelled) == 1, "Stop cancels the cluster's requests once"
    assert not image._inflight  # nothing of this run is left on the cluster
    frames = Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid)).frames
    takes = runner.takes(pid, Stage.FRAMES, sid)
    assert 1 <= len([t for t in takes if t.ok]) <= 2 < len(frames), "nothing new starts after Stop"
    assert all(t.error for t in takes if not t.ok)


def _replica_pids(engine: cluster.RemoteEngine, count: int) -> set[int]:
    pids: set[int] = set()
    deadline = time.monotonic() + 300
    while len(pids) < count and time.monotonic() < deadline:
        pids.add(int(engine._handle.describe.remote().result(timeout_s=300)["pid"]))
    assert len(pids) == count, f"{count} replicas answer"
    return pids


def test_a_cluster_that_stops_answering_times_out_and_the_scene_is_made_here(
        tmp_path: Path, tiny_models: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replica frozen (SIGSTOP) after the app connected: the first items time out, a short
    check finds no replica answering, the app says in one line that the cluster is lost, and the
    scene's keyframes are all made on this machine."""
    monkeypatch.setenv("AIUTEUR_MODELS", str(tiny_models))
    _, deployed = _runner(tmp_path / "first", tiny_models, ray_address)
    assert isinstance(deployed.get("image").engine, cluster.RemoteEngine)  # the replicas are up
    cluster.forget()  # a fresh handle with this test's short limits
    home = DataHome(tmp_path, "test")
    profile = _profile(ray_address)
    table = {**profile.tables["cluster"], "item_timeout_s": 15, "connect_timeout_s": 15}
    engines = FilmEngines(replace(profile, tables={**profile.tables, "cluster": table}), home)
    runner = Runner(Store(home), engines=engines)
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    image = engines.get("image").engine
    assert isinstance(image, cluster.RemoteEngine) and image.settings.item_timeout_s == 15
    frozen = _replica_pids(image, 2)
    for replica in frozen:
        os.kill(replica, signal.SIGSTOP)
    try:
        result = runner.run(pid, Stage.FRAMES, sid, seed=2, action=OPTIONS)
    finally:
        for replica in frozen:
            with contextlib.suppress(ProcessLookupError):  # Serve may have replaced a frozen replica
                os.kill(replica, signal.SIGCONT)
        line = cluster.status_line()
        cluster.forget()
    assert result.ok, result.errors
    assert line.startswith("Cluster lost (no image replica answered within 15 s") and "\n" not in line
    assert line.endswith("); running image on this machine instead.")
    assert image.lost and image.parallelism == 1
    frames = Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid)).frames
    assert frames and all(f.image for f in frames)  # nothing lost: every keyframe was made here
    assert all(t.ok for t in runner.takes(pid, Stage.FRAMES, sid))


FALLBACK = """
import json, sys
from dataclasses import replace
from aiuteur.engines import cluster
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import EngineCache, Engines
from aiuteur.settings import DataHome
base = load_profile("tiny")
table = {"address": sys.argv[1], "kinds": ["image"], "connect_timeout_s": 20}
engines = Engines(replace(base, tables={**base.tables, "cluster": table}), DataHome(sys.argv[2], "test"),
                  cache=EngineCache())
engine = engines.get("image").engine
print(json.dumps({"remote": isinstance(engine, cluster.RemoteEngine), "line": cluster.status_line()}))
"""


def test_an_unreachable_cluster_falls_back_to_this_machine_in_one_line(tmp_path: Path, tiny_models: Path) -> None:
    """In a fresh process (this one may already be connected): no cluster answers at the address."""
    import json

    done = subprocess.run([sys.executable, "-c", FALLBACK, f"127.0.0.1:{free_port()}", str(tmp_path)],
                          env=_ray_env(tiny_models), capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-800:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["remote"] is False
    assert out["line"].startswith("Cluster unavailable (") and "\n" not in out["line"]
    assert out["line"].endswith("running image on this machine instead.")


def test_the_workers_command_deploys_the_profiles_engines(ray_address: str, tiny_models: Path) -> None:
    """`python -m aiuteur workers` on the running cluster: every heavy kind answers with its model."""
    env = {**_ray_env(tiny_models), "AIUTEUR_PROFILE": "tiny"}
    done = subprocess.run([sys.executable, "-m", "aiuteur", "workers", "--profile", "tiny", "--address", ray_address,
                           "--replicas", "1", "--cpus", "0.25"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-800:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("image: diffusers tiny/") for line in lines), lines
    assert any(line.startswith("matting: ") for line in lines), lines
    assert any(line.startswith("video: ") for line in lines), lines
    assert lines[-1].startswith("deployed 3 application(s): aiuteur-tiny-image-")
