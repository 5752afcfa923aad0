"""Fast-forward of grammar-forced tokens, and prompt lookup, on the offline model (llama.cpp + llguidance).

    .venv/bin/python bench/fast_forward.py [--toggle fast_forward|lookup] [--pairs 3] [--out FILE]

The same engine answers the same prompts with the toggled feature on and off, in alternating order
(on, off, off, on, ...) so load on a shared machine falls on both alike. Two prompts: a cast
extraction (short JSON, many keys) and a real shot list (stage 6 on scene 1 of a saved
tuba-audition run, its registry's assets). Per call: seconds, completion tokens, decode steps
(llama.cpp `eval` calls after the prompt). Reported: median seconds per call and per completion
token, the ratio on ÷ off (< 1 is faster), and whether the answers parse. With `--toggle lookup`
fast-forward stays on, and the guesses are looked up from the prompt (`engines.prompt_lookup`);
a sampled answer may differ between on and off, so seconds per token is the fair ratio there.
No timing is asserted anywhere.
Needs llama-cpp-python and the offline GGUF (see models/offline.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from aiuteur.domain import Asset, Scene  # noqa: E402
from aiuteur.engines import usage  # noqa: E402
from aiuteur.engines.base import Message  # noqa: E402
from aiuteur.engines.profiles import load_profile  # noqa: E402
from aiuteur.engines.text_llamacpp import LlamaCppText  # noqa: E402
from aiuteur.pipeline.shot_list import make_shot_list  # noqa: E402
from aiuteur.settings import data_home  # noqa: E402

RUN = ROOT / "evals" / "runs" / "offline-real-test-bcc86e3-tuba.json"
SCENE = ("INT. LIGHTHOUSE - NIGHT. Old keeper MARTHA polishes the great lamp while her grandson LEO, 10, "
         "clutches a soaked letter. A knock: harbor officer DANIEL REYES stands in the doorway holding a "
         "lantern and a brass key.")


def _cast_call(engine: LlamaCppText) -> Any:
    from pydantic import BaseModel, ConfigDict, Field

    class Character(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(min_length=1, max_length=60)
        description: str = Field(min_length=1, max_length=200)

    class Cast(BaseModel):
        model_config = ConfigDict(extra="forbid")
        characters: list[Character] = Field(min_length=1, max_length=4)

    messages: list[Message] = [
        {"role": "system", "content": "You extract the characters of a screenplay scene as JSON."},
        {"role": "user", "content": f"Scene:\n{SCENE}\nList every character who appears, with a short description."}]
    return lambda: engine.generate(messages, Cast, seed=0, temperature=0.0)


def _shots_call(engine: LlamaCppText) -> Any:
    story = json.loads(RUN.read_text(encoding="utf-8"))["stories"][0]["artifacts"]
    scene = Scene.model_validate(story["script"]["scenes"][0])
    registry = story["assets"].get("registry") or story["assets"]
    assets = [Asset.model_validate(a) for a in registry["assets"]]
    return lambda: make_shot_list(scene, assets, engine, seed=0).output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--toggle", choices=("fast_forward", "lookup"), default="fast_forward")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--out", default=None, help="default: bench/out/<toggle>.json")
    args = ap.parse_args()
    out_path = Path(args.out or ROOT / "bench" / "out" / f"{args.toggle}.json")
    spec = {**load_profile("offline").spec("text"), "constraint": "llguidance"}
    engine = LlamaCppText.from_spec(spec, Path(os.environ.get("AIUTEUR_REAL_MODELS") or data_home().models))
    steps: list[int] = []
    original = engine.llm._ctx.decode

    def counted(batch: Any) -> Any:  # every batch llama.cpp decodes: the prompt, steps, checked guesses
        steps.append(1)
        return original(batch)

    engine.llm._ctx.decode = counted
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, make in (("cast extraction", _cast_call), ("shot list (tuba scene 1)", _shots_call)):
        call = make(engine)
        rows[name] = {"on": [], "off": []}
        for k in range(args.pairs):
            for ff in ((True, False) if k % 2 == 0 else (False, True)):
                setattr(engine, args.toggle, ff)
                engine.fast_forward = engine.fast_forward or args.toggle == "lookup"
                engine.llm.reset()  # each call reads its whole prompt
                steps.clear()
                with usage.measure() as used:
                    t0 = time.perf_counter()
                    out = call()
                    seconds = time.perf_counter() - t0
                rows[name]["on" if ff else "off"].append({
                    "seconds": round(seconds, 2), "tokens": used.completion, "decode_steps": max(0, len(steps) - -(-used.prompt // engine.llm.n_batch)),
                    "parsed": out is not None, "load": os.getloadavg()[0]})
                print(name, "on" if ff else "off", rows[name]["on" if ff else "off"][-1], flush=True)
    print(f"\n{args.toggle}:\n| prompt | tokens (on / off) | decode steps (on / off) | median s on | median s off "
          "| on ÷ off | s per token on ÷ off |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        on = statistics.median(x["seconds"] for x in r["on"])
        off = statistics.median(x["seconds"] for x in r["off"])
        per_on = statistics.median(x["seconds"] / max(1, x["tokens"]) for x in r["on"])
        per_off = statistics.median(x["seconds"] / max(1, x["tokens"]) for x in r["off"])
        print(f"| {name} | {r['on'][0]['tokens']} / {r['off'][0]['tokens']} | {r['on'][0]['decode_steps']} / "
              f"{r['off'][0]['decode_steps']} | {on:.1f} | {off:.1f} | **{on / off:.2f}** | **{per_on / per_off:.2f}** |")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
