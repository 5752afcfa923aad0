"""Export benchmark: the time of every deliverable for one 30-shot scene.

    python bench/exports.py [--shots 30] [--repeat 3]

A project is saved the way the stages save it (a one-scene script with 30 speeches, a 30-shot
list, a start keyframe per shot and an end frame for every third, a 2-second 24 fps clip per
shot, the scene cut and the animatic), then every exporter that `export_all` runs is called on
its own, into a fresh folder each time. Wall seconds (median) are reported: the exporters write
files. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from aiuteur.domain import Clips, Frames, Scene, Script, ScriptElement, Shot, ShotList, Stage
from aiuteur.domain.artifacts import Clip, ElementKind, Frame
from aiuteur.exports import EXPORTERS, safe_name
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store


def _mp4(seconds: float, fps: int, seed: int) -> bytes:
    import imageio.v3 as iio

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (round(seconds * fps), 80, 128, 3), dtype=np.uint8)
    buf = io.BytesIO()
    iio.imwrite(buf, frames, extension=".mp4", fps=fps, codec="libx264")
    return buf.getvalue()


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (288, 512, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def build(runner: Runner, shots: int) -> str:
    pid = runner.create_project("Bench Scene").id
    lines = [ScriptElement(kind=ElementKind.ACTION, text="The harbour at dusk; boats come in one by one.")]
    lines += [ScriptElement(kind=ElementKind.DIALOGUE, character="ADA" if i % 2 else "BEN", text=f"Line {i}, said twice.")
              for i in range(shots)]
    script = Script(title="Bench Scene", scenes=[Scene(number="1", heading="EXT. HARBOUR - DUSK", location="HARBOUR",
                                                       time_of_day="DUSK", elements=lines)])
    runner.save(pid, Stage.SCRIPT, script)
    sid = script.scenes[0].id
    plan = [Shot(number=f"{i + 1}A", action=f"Ada watches boat {i} come in.", dialogue=[i], duration_s=2.0)
            for i in range(shots)]
    store = runner.store
    frames = [Frame(shot_id=s.id, which="start", image=store.put_media(_png(i), "png")) for i, s in enumerate(plan)]
    frames += [Frame(shot_id=s.id, which="end", image=store.put_media(_png(1000 + i), "png"))
               for i, s in enumerate(plan) if i % 3 == 0]
    clip = store.put_media(_mp4(2.0, 24, 0), "mp4")
    clips = Clips(clips=[Clip(shot_id=s.id, takes=["t"], chosen_take="t", video=clip, num_frames=48) for s in plan],
                  scene_cut=store.put_media(_mp4(2.0 * shots, 24, 1), "mp4"),
                  animatic=store.put_media(_mp4(2.0 * shots, 24, 2), "mp4"), fps=24)
    for stage, data in ((Stage.SHOTS, ShotList(shots=plan)), (Stage.FRAMES, Frames(frames=frames)), (Stage.VIDEO, clips)):
        runner.save(pid, stage, data, sid)
    return pid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(Store(DataHome(Path(tmp) / "home", "bench")), engines=None)
        pid = build(runner, args.shots)
        view = runner.view(pid)
        base = safe_name(view.project.title)
        print(f"| deliverable ({args.shots}-shot scene) | files | MB | seconds (median of {args.repeat}) |")
        print("|---|---|---|---|")
        for n, (what, fn) in enumerate(EXPORTERS.items()):
            times, written = [], []
            for k in range(args.repeat):
                out = Path(tmp) / f"out_{n}_{k}"
                out.mkdir()
                t = time.perf_counter()
                written = fn(runner, view, out, base)
                times.append(time.perf_counter() - t)
            size = sum(p.stat().st_size for p in written) / 1e6
            print(f"| {what} | {len(written)} | {size:.2f} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
