"""Store benchmark: latency of one save in a big project, and how it grows with project size.

    python bench/store.py [--scenes 100] [--shots 8] [--takes 5] [--saves 200]

One "save" is what the UI does when a filmmaker edits one shot list: Runner.save through a full
unit of work (lock, read the shards it needs, validate, write atomically with fsync, update the
dashboard index). Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiuteur.domain import ArtifactRecord, Scene, Script, ScriptElement, Stage, Take
from aiuteur.domain.artifacts import ElementKind
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store


def build_project(store: Store, scenes: int, shots: int, takes: int) -> tuple[str, list[str]]:
    runner = Runner(store, engines=None)
    pid = runner.create_project("Benchmark").id
    script = Script(title="Bench", scenes=[
        Scene(number=str(i + 1), heading=f"INT. ROOM {i} - DAY", elements=[
            ScriptElement(kind=ElementKind.ACTION, text="A long visually verbose action line. " * 8),
            ScriptElement(kind=ElementKind.DIALOGUE, character="ANNA", text="A line of dialogue, said with care."),
        ] * 6) for i in range(scenes)])
    runner.save(pid, Stage.SCRIPT, script)
    scene_ids = [s.id for s in script.scenes]
    with store.transaction(pid) as tx:
        branch = tx.project.active_branch
        for sid in scene_ids:
            shot_list = {"shots": [{"id": f"sh_{i:012x}", "number": f"{i}A", "action": "Anna crosses the room. " * 4,
                                    "duration_s": 4.0} for i in range(shots)]}
            tx.put_record(ArtifactRecord(branch=branch, stage=Stage.SHOTS, scene_id=sid, data=shot_list))
            for shot in range(shots):
                for k in range(takes):
                    tx.add_take(Take(stage=Stage.FRAMES, scene_id=sid, target=f"shot:{shot}:start", purpose="frame",
                                     inputs_hash=f"sha256:{k}", model_id="tiny", seed=k,
                                     prompt=[{"role": "user", "content": "A frame prompt " * 20}],
                                     media=[f"{k:064x}.png"]))
        tx.commit()
    return pid, scene_ids


def measure(scenes: int, shots: int, takes: int, saves: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(DataHome(Path(d), "bench"))
        pid, scene_ids = build_project(store, scenes, shots, takes)
        runner = Runner(store, engines=None)
        times: list[float] = []
        for i in range(saves):
            sid = scene_ids[i % len(scene_ids)]
            data = {"shots": [{"number": "1A", "action": f"Edit number {i}.", "duration_s": 3.0}]}
            t0 = time.perf_counter()
            runner.save(pid, Stage.SHOTS, data, sid)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        runner.view(pid)
        view_ms = (time.perf_counter() - t0) * 1000
        size = sum(p.stat().st_size for p in store.project_dir(pid).rglob("*.json"))
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))], "max": times[-1],
            "view_ms": view_ms, "mb": size / 1e6}


def cold_start(runs: int = 3) -> list[float]:
    """Seconds from starting `python app.py` to the first page served, with a fresh data folder."""
    import os
    import socket
    import subprocess
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    out: list[float] = []
    for _ in range(runs):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, AIUTEUR_HOME=d, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
                       GRADIO_ANALYTICS_ENABLED="False")
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(root / "app.py")], env=env, cwd=root,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while time.perf_counter() - t0 < 120:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                            if r.status == 200 and r.read():
                                break
                    except OSError:
                        time.sleep(0.1)
                out.append(time.perf_counter() - t0)
            finally:
                proc.terminate()
                proc.wait(20)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold-start", action="store_true", help="also time `python app.py` to the first page")
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--takes", type=int, default=5)
    ap.add_argument("--saves", type=int, default=200)
    a = ap.parse_args()
    print("| scenes × shots × takes | project JSON | save p50 | save p95 | max | full view (all statuses) |")
    print("|---|---|---|---|---|---|")
    for n in sorted({10, 50, a.scenes}):
        r = measure(n, a.shots, a.takes, a.saves)
        print(f"| {n} × {a.shots} × {a.takes} | {r['mb']:.1f} MB | {r['p50']:.2f} ms | {r['p95']:.2f} ms | "
              f"{r['max']:.2f} ms | {r['view_ms']:.0f} ms |")
    if a.cold_start:
        runs = cold_start()
        print(f"\ncold start, python app.py to first page: {', '.join(f'{t:.1f} s' for t in runs)}")


if __name__ == "__main__":
    main()
