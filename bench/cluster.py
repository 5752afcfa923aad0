"""Ray cluster benchmark: a 12-shot scene's keyframes on 1 vs 2 replicas, and the per-item overhead
of going through Ray Serve instead of calling the engine in-process (tiny profile).

Starts a head-only local cluster on the loopback interface (or uses --address), deploys the tiny
image engine, and runs interleaved rounds so a noisy machine affects both sides alike. On a
2-core machine expect little speed-up: the bench exists to be run on a real cluster, and to show
that the overhead per item is small (target <= 50 ms).

    python bench/cluster.py [--rounds 3] [--address HOST:PORT] [--shots 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a one-machine cluster stays on loopback

from aiuteur.engines import cluster
from aiuteur.engines.base import ImageRequest
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import CACHE, ensure_tiny
from aiuteur.pipeline.batch import run_items

RAY = str(Path(sys.executable).with_name("ray"))


def _requests(n: int) -> list[ImageRequest]:
    return [ImageRequest(prompt=f"shot {i}: a keeper polishes the lamp", width=128, height=128, steps=2, seed=i)
            for i in range(n)]


def _batch(engine: object, requests: list[ImageRequest], workers: int) -> float:
    t0 = time.perf_counter()
    run_items(list(range(len(requests))), lambda i: (lambda: engine.generate(requests[i])),  # type: ignore[attr-defined]
              lambda i, image: True, workers=workers)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shots", type=int, default=12)
    ap.add_argument("--calls", type=int, default=20, help="calls per side for the overhead figure")
    ap.add_argument("--address", default="")
    args = ap.parse_args()

    models = Path(os.environ.get("AIUTEUR_MODELS") or tempfile.mkdtemp(prefix="aiuteur-models-"))
    os.environ["AIUTEUR_MODELS"] = str(models)
    ensure_tiny("image", models)
    started = False
    address = args.address
    if not address:
        port = 6390
        subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                        "--object-store-memory=80000000", "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, capture_output=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        address, started = f"127.0.0.1:{port}", True
    try:
        base = load_profile("tiny")
        local = CACHE.get("image", base.spec("image"), models)
        engines = {}
        for n in (1, 2):
            table = {"address": address, "kinds": ["image"], "replicas": n, "cpus_per_replica": 0.5,
                     "item_timeout_s": 900, "connect_timeout_s": 300}
            profile = replace(base, name=f"tiny-bench{n}", tables={**base.tables, "cluster": table})
            remote = cluster.remote_engine(profile, "image", models)
            assert remote is not None, cluster.status_line()
            engines[n] = remote
        requests = _requests(args.shots)
        one, two = [], []
        for _ in range(args.rounds):  # interleaved
            one.append(_batch(engines[1], requests, 1))
            two.append(_batch(engines[2], requests, 2))
        req = _requests(1)[0]
        local_s, remote_s = [], []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            local.generate(req)
            local_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engines[1].generate(req)
            remote_s.append(time.perf_counter() - t0)
        handle = engines[1]._handle
        trip = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            handle.describe.remote().result(timeout_s=300)
            trip.append(time.perf_counter() - t0)
        result = {
            "shots": args.shots, "rounds": args.rounds,
            "scene_1_replica_s": round(statistics.median(one), 2),
            "scene_2_replicas_s": round(statistics.median(two), 2),
            "speedup_2_vs_1": round(statistics.median(one) / statistics.median(two), 2),
            "item_in_process_ms": round(1000 * statistics.median(local_s), 1),
            "item_through_ray_ms": round(1000 * statistics.median(remote_s), 1),
            "overhead_per_item_ms": round(1000 * (statistics.median(remote_s) - statistics.median(local_s)), 1),
            "round_trip_noop_ms": round(1000 * statistics.median(trip), 1),
        }
        print(json.dumps(result, indent=2))
    finally:
        if started:
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=300)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
