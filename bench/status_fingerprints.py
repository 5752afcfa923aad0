"""How long every status of a saved two-scene film takes to derive (what each project view does).

Statuses compare each artifact's saved fingerprints with its stage's inputs now, read through
the stage's loader (pipeline/upstream.py). Run it on this checkout and, for a side-by-side
ratio, on another one (an older commit unpacked with `git archive <commit> aiuteur | tar -x -C DIR`):

    python bench/status_fingerprints.py [--other DIR] [--rounds 8]

Each round runs this checkout and the other in fresh processes, alternately; the best of each
side is reported, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "saved_before_one_loader.json"

CHILD = """
import json, sys, time
from aiuteur.domain import ArtifactRecord, Branch, Stage
from aiuteur.pipeline import graph
d = json.load(open(sys.argv[1]))["film"]
b = Branch(name="main")
recs = [ArtifactRecord(branch=b.id, stage=Stage(r["stage"]), scene_id=r["scene_id"], revision=1, data=r["data"],
                       upstream=r["upstream"]) for r in d["records"]]
st = graph.ProjectState.build(b, recs)
best = 1e9
for _ in range(5):
    t = time.perf_counter()
    for _ in range(50):
        graph.all_statuses(st)
        for s in st.scene_ids:
            graph.scene_statuses(st, s)
    best = min(best, (time.perf_counter() - t) / 50)
print(best)
"""


def once(path: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(FIXTURE)], env=env, cwd="/", check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, help="another checkout's root (holding aiuteur/) to compare with")
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    here: list[float] = []
    other: list[float] = []
    for _ in range(args.rounds):
        here.append(once(ROOT))
        if args.other:
            other.append(once(args.other))
    result = {"this_ms": round(min(here) * 1000, 2)}
    if other:
        result["other_ms"] = round(min(other) * 1000, 2)
        result["ratio"] = round(min(here) / min(other), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
