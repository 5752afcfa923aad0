"""Saved prompt states on the offline model: moving between stages reads only what differs.

    .venv/bin/python bench/prefix_states.py [--pairs 2] [--out FILE]

One engine (one model load) asks four stages' real system prompts in turn (treatment, scene
writer, shot list, asset states: the templates on disk, their variables "(none)"), each with a
paragraph of a corpus story as the user message and a short answer, twice round. The second
round is what is measured: without saved states every call reads its whole prompt, because the
context holds the previous stage's; with them the call restores the state its stage left in the
first round and reads only the new paragraph. Settings alternate (on, off, off, on, ...) so load
on a shared machine falls on both alike. Reported: the second round's reading seconds and reused
tokens, median over pairs, and the ratio on ÷ off. No timing is asserted anywhere.
Needs llama-cpp-python and the offline GGUF (see models/offline.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from aiuteur.engines import usage  # noqa: E402
from aiuteur.engines.base import Message  # noqa: E402
from aiuteur.engines.prefix_states import DEFAULT_CAPACITY, PrefixStates  # noqa: E402
from aiuteur.engines.profiles import load_profile  # noqa: E402
from aiuteur.engines.text_llamacpp import LlamaCppText  # noqa: E402
from aiuteur.pipeline.prompts import load_template  # noqa: E402
from aiuteur.pipeline.script import story_paragraphs  # noqa: E402
from aiuteur.settings import data_home  # noqa: E402

ROLES = ("treatment/system", "script/scene_system", "shot_list/system", "asset_states/system")
STORY = ROOT / "evals" / "corpus" / "tuba-audition.md"


class Gist(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gist: str = Field(min_length=1, max_length=40)


def _system(role: str) -> str:
    t = load_template(role)
    return t.render(**{v: "(none)" for v in t.variables})


def _round(engine: LlamaCppText, paragraphs: list[str]) -> tuple[float, int, int]:
    """(reading seconds, reused tokens, prompt tokens) over one call of each role."""
    reading, reused, prompt = 0.0, 0, 0
    for role, paragraph in zip(ROLES, paragraphs, strict=True):
        messages: list[Message] = [{"role": "system", "content": _system(role)},
                                   {"role": "user", "content": f"{paragraph}\n\nSay what happens in a few words."}]
        with usage.measure() as used:
            engine.generate(messages, Gist, seed=0, temperature=0.0)
        reading, reused, prompt = reading + used.reading_s, reused + used.cached, prompt + used.prompt
    return reading, reused, prompt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    engine = LlamaCppText.from_spec(load_profile("offline").spec("text"), data_home().models)
    paragraphs = [p for p in story_paragraphs(STORY.read_text()) if len(p.split()) > 12]
    first, second = paragraphs[:4], paragraphs[4:8]
    results: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    order = [s for _ in range(args.pairs) for s in ("on", "off", "off", "on")][: 2 * args.pairs]
    for setting in order:
        engine.states = PrefixStates(DEFAULT_CAPACITY) if setting == "on" else None
        engine.llm.reset()
        engine.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        _round(engine, first)
        reading, reused, prompt = _round(engine, second)
        results[setting].append({"reading_s": round(reading, 2), "reused": reused, "prompt": prompt})
        print(f"{setting}: second round read {prompt} prompt tokens ({reused} reused) in {reading:.1f} s", flush=True)
    med = {s: statistics.median(r["reading_s"] for r in rs) for s, rs in results.items()}
    summary = {"pairs": args.pairs, "roles": list(ROLES), "runs": results, "median_reading_s": med,
               "on_over_off": round(med["on"] / med["off"], 3) if med["off"] else None}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
