"""Text engine benchmarks: constrained-decoding cost, offline-profile speed, model loads per run.

    .venv/bin/python bench/engines.py                 # everything available on this machine
    .venv/bin/python bench/engines.py --skip-offline  # only the tiny model (seconds)
    AIUTEUR_THREADS=1 .venv/bin/python bench/engines.py --script-pages 3

Measures, per text backend available here:
1. constrained vs unconstrained decoding throughput on the same model and prompt, as a ratio
   (constrained tok/s ÷ unconstrained tok/s at the same output lengths; target ≥ 0.9);
2. the offline profile (Qwen2.5-Coder-1.5B GGUF): tokens/s and seconds for a 5-beat beat sheet
   and a ~3-page script, through llama.cpp and, when the `gguf` package is installed, through
   transformers on the same file;
3. model loads per pipeline-shaped run through the registry (target: loads = distinct models).
Results print as Markdown and go to bench/out/engines.json. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pydantic import BaseModel, ConfigDict, Field, StringConstraints  # noqa: E402

from aiuteur.engines.base import Message  # noqa: E402
from aiuteur.settings import PROFILES_DIR, data_home  # noqa: E402

Text = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ,.'!?-]{1,40}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variant(Strict):
    title: Text
    logline: Text


class Treatment(Strict):
    variants: list[Variant] = Field(min_length=3, max_length=3)


class Beat(Strict):
    name: str = Field(min_length=1, max_length=40)
    summary: str = Field(min_length=1, max_length=200)


class BeatSheet(Strict):
    beats: list[Beat] = Field(min_length=5, max_length=5)


class Element(Strict):
    kind: Literal["action", "dialogue"]
    speaker: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z .'-]{0,29}$")] | None = None
    text: str = Field(min_length=1, max_length=300)


class Scene(Strict):
    heading: Annotated[str, StringConstraints(pattern=r"^(INT|EXT)\. [A-Z0-9 ,.'-]{1,50} - (DAY|NIGHT)$")]
    elements: list[Element] = Field(min_length=4, max_length=20)


class Script(Strict):
    scenes: list[Scene] = Field(min_length=3, max_length=3)


STORY = (
    "On a stormy night, Martha, the old keeper of a lighthouse, and her grandson Leo find a soaked "
    "letter warning that a ship will pass the rocks before dawn. The great lamp has failed. Harbor "
    "officer Daniel Reyes arrives with a brass key to the old storeroom, where a spare lens is kept."
)
SYSTEM = "You are a screenwriter's assistant. Answer with JSON only."
PROMPTS: dict[str, list[Message]] = {
    "treatment": [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Story: {STORY}\nWrite three treatment variants, each a title and logline.",
        },
    ],
    "beats": [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Story: {STORY}\nWrite a beat sheet of exactly 5 beats: name and one-sentence summary.",
        },
    ],
    "script": [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Story: {STORY}\nWrite the screenplay as 3 scenes of about one page each: a scene heading, "
            "then many elements, each either an action paragraph or a dialogue line with its speaker in capitals. "
            "Visual action, real dialogue.",
        },
    ],
}
CHARS_PER_PAGE = 1800  # a screenplay page is about 55 lines; elements rendered to Fountain


def _load_tiny_builder() -> Any:
    spec = importlib.util.spec_from_file_location("aiuteur_models_tiny_text", PROFILES_DIR / "tiny_text.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- 1. constrained vs unconstrained --------------------------------------------------------------


def bench_transformers_ratio(models_dir: Path, runs: int) -> dict[str, Any]:
    """Tiny random model: constrained runs, then unconstrained runs forced to the same lengths."""
    import torch

    from aiuteur.engines.text_transformers import LLGuidanceProcessor, TransformersText, _threads

    _load_tiny_builder().build(models_dir)
    t0 = time.perf_counter()
    engine = TransformersText.from_spec({"backend": "transformers", "model": "tiny/text"}, models_dir)
    load_s = time.perf_counter() - t0
    enc = engine._encode(PROMPTS["treatment"])
    t0 = time.perf_counter()
    grammar = engine._grammar(Treatment)
    compile_s = time.perf_counter() - t0
    lengths, constrained_s, free_s = [], [], []
    for seed in range(runs):  # interleaved, so both see the same load on a shared machine
        proc = LLGuidanceProcessor(engine.ll_tokenizer, grammar, engine.vocab_size)
        t0 = time.perf_counter()
        ids = engine._generate_ids(enc, 400, seed, 1.0, [proc])
        constrained_s.append(time.perf_counter() - t0)
        n = len(ids)
        lengths.append(n)
        with _threads(engine.threads), torch.inference_mode():
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            engine.model.generate(
                **enc, max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0, pad_token_id=0
            )
            free_s.append(time.perf_counter() - t0)
    c_tps = sum(lengths) / sum(constrained_s)
    f_tps = sum(lengths) / sum(free_s)
    return {
        "backend": "transformers + llguidance",
        "model": f"tiny random Qwen2 (vocab {engine.vocab_size}, 1 thread)",
        "runs": runs,
        "mean_tokens": statistics.mean(lengths),
        "constrained_tok_s": round(c_tps, 1),
        "unconstrained_tok_s": round(f_tps, 1),
        "ratio": round(c_tps / f_tps, 3),
        "median_ratio": round(
            statistics.median(f / c for c, f in zip(constrained_s, free_s, strict=True)), 3
        ),
        "overhead_ms_per_token": round(1000 / c_tps - 1000 / f_tps, 3),
        "grammar_compile_s": round(compile_s, 3),
        "load_s": round(load_s, 2),
    }


def _llama_engine(models_dir: Path) -> Any:
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    return LlamaCppText.from_spec(load_profile("offline").spec("text"), models_dir)


def bench_llamacpp_ratio(engine: Any, runs: int) -> dict[str, Any]:
    """Offline GGUF: constrained beat sheets vs free text of the same length (engine.constraint)."""
    msgs = PROMPTS["beats"]
    engine._chat(msgs, seed=0, max_tokens=1, temperature=0.7, stream=False)  # warm the prompt cache
    engine.constraint_options(BeatSheet)  # compile (and cache) the grammar outside the timing
    lengths, constrained_s, free_tokens, free_s = [], [], [], []
    for seed in range(runs):  # interleaved, so both see the same load on a shared machine
        constraint = engine.constraint_options(BeatSheet)
        t0 = time.perf_counter()
        r = engine._chat(msgs, seed=seed, max_tokens=900, temperature=0.7, stream=False, **constraint)
        constrained_s.append(time.perf_counter() - t0)
        n = r["usage"]["completion_tokens"]
        lengths.append(n)
        t0 = time.perf_counter()
        r = engine._chat(msgs, seed=seed, max_tokens=n, temperature=0.7, stream=False)
        free_s.append(time.perf_counter() - t0)
        free_tokens.append(r["usage"]["completion_tokens"])
    c_tps = sum(lengths) / sum(constrained_s)
    f_tps = sum(free_tokens) / sum(free_s)
    return {
        "backend": f"llama.cpp + {engine.constraint}",
        "model": engine.model_id,
        "runs": runs,
        "mean_tokens": statistics.mean(lengths),
        "constrained_tok_s": round(c_tps, 2),
        "unconstrained_tok_s": round(f_tps, 2),
        "ratio": round(c_tps / f_tps, 3),
        "overhead_ms_per_token": round(1000 / c_tps - 1000 / f_tps, 2),
    }


# -- 2. offline profile speed ---------------------------------------------------------------------


def bench_offline_task(engine: Any, name: str, schema: type[BaseModel], max_tokens: int) -> dict[str, Any]:
    msgs = PROMPTS[name]
    constraint = engine.constraint_options(schema)
    t0 = time.perf_counter()
    r = engine._chat(msgs, seed=0, max_tokens=max_tokens, temperature=0.7, stream=False, **constraint)
    seconds = time.perf_counter() - t0
    choice = r["choices"][0]
    text = choice["message"]["content"] or ""
    usage = r["usage"]
    row: dict[str, Any] = {
        "backend": f"llama.cpp + {engine.constraint}",
        "task": name,
        "prompt_tokens": usage["prompt_tokens"],
        "tokens": usage["completion_tokens"],
        "seconds": round(seconds, 1),
        "tok_s": round(usage["completion_tokens"] / seconds, 2),
        "finish": choice["finish_reason"],
    }
    if choice["finish_reason"] == "stop":
        obj = schema.model_validate(json.loads(text, strict=False))
        if isinstance(obj, Script):
            chars = sum(
                len(e.text) + (len(e.speaker) + 1 if e.speaker else 0) + 2
                for sc in obj.scenes
                for e in sc.elements
            )
            row["pages_est"] = round(chars / CHARS_PER_PAGE, 1)
        row["valid"] = True
    return row


def bench_transformers_gguf(models_dir: Path, gguf: Path) -> dict[str, Any]:
    """The same GGUF through transformers (dequantised to fp32), 5-beat beat sheet."""
    from aiuteur.engines.text_transformers import TransformersText

    t0 = time.perf_counter()
    engine = TransformersText.from_spec(
        {"backend": "transformers", "model": str(gguf.parent), "gguf_file": gguf.name}, models_dir
    )
    load_s = time.perf_counter() - t0
    from aiuteur.engines.text_transformers import LLGuidanceProcessor

    enc = engine._encode(PROMPTS["beats"])
    proc = LLGuidanceProcessor(engine.ll_tokenizer, engine._grammar(BeatSheet), engine.vocab_size)
    t0 = time.perf_counter()
    ids = engine._generate_ids(enc, 900, 0, 0.7, [proc])
    seconds = time.perf_counter() - t0
    return {
        "backend": "transformers (fp32)",
        "task": "beats",
        "tokens": len(ids),
        "seconds": round(seconds, 1),
        "tok_s": round(len(ids) / seconds, 2),
        "load_s": round(load_s, 1),
        "finish": "stop" if ids and ids[-1] in engine.eos_ids else "length",
    }


# -- 3. model loads per run -----------------------------------------------------------------------


def bench_loads(models_dir: Path) -> dict[str, Any]:
    """A pipeline-shaped run through the registry on the tiny profile: every text stage."""
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.registry import EngineCache, Engines
    from aiuteur.settings import DataHome

    cache = EngineCache()
    engines = Engines(load_profile("tiny"), DataHome(models_dir.parent, "bench"), cache=cache)
    plan = [("treatment", Treatment), ("beats", Treatment), ("script", Treatment), ("assets", Treatment)] * 2
    for i, (purpose, schema) in enumerate(plan):
        engines.text(purpose).generate(PROMPTS["treatment"], schema, seed=i)
    return {
        "calls": dict(engines.calls),
        "loads": dict(cache.loads),
        "distinct_models": len(cache),
        "loads_equal_distinct": sum(cache.loads.values()) == len(cache),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    for r in rows:
        out += "| " + " | ".join(str(r.get(k, "")) for k in keys) + " |\n"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="seeds per ratio measurement")
    ap.add_argument("--skip-offline", action="store_true", help="tiny model only")
    ap.add_argument("--skip-script", action="store_true", help="offline: beat sheet only")
    ap.add_argument("--skip-tasks", action="store_true", help="offline: ratios only")
    ap.add_argument("--llama-constraint", choices=["gbnf", "llguidance"], default="gbnf")
    ap.add_argument(
        "--transformers-gguf", action="store_true", help="also run the GGUF in transformers (slow)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "engines.json")
    args = ap.parse_args()

    models_dir = data_home().models
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}",
        "threads": os.environ.get("AIUTEUR_THREADS", "default"),
        "ratio": [],
        "offline": [],
        "skipped": [],
    }

    def record(section: str, row: dict[str, Any]) -> None:
        results[section].append(row)
        print(f"{section}: {json.dumps(row)}", flush=True)  # partial results survive a crash

    record("ratio", bench_transformers_ratio(models_dir, args.runs))
    results["loads"] = bench_loads(models_dir)

    if not args.skip_offline:
        from aiuteur.engines.offline_llm import PartsSpec, is_assembled, missing_parts
        from aiuteur.engines.profiles import load_profile

        text = load_profile("offline").spec("text")
        parts = PartsSpec.from_table(text["assemble"])
        gguf = models_dir / text["gguf"]
        if importlib.util.find_spec("llama_cpp") is None:
            results["skipped"].append("llama.cpp: llama-cpp-python is not installed")
        elif not is_assembled(gguf, parts) and missing_parts(parts):
            results["skipped"].append(f"llama.cpp: offline GGUF missing ({parts.install_hint()})")
        else:
            t0 = time.perf_counter()
            engine = _llama_engine(models_dir)
            results["offline_load_s"] = round(time.perf_counter() - t0, 2)
            for constraint in ("gbnf", "llguidance"):
                engine.constraint = constraint
                record("ratio", bench_llamacpp_ratio(engine, max(2, args.runs // 3)))
            engine.constraint = args.llama_constraint
            if not args.skip_tasks:
                record("offline", bench_offline_task(engine, "beats", BeatSheet, 900))
            if not args.skip_script and not args.skip_tasks:
                record("offline", bench_offline_task(engine, "script", Script, 2400))
            if args.transformers_gguf:
                if importlib.util.find_spec("gguf") is None:
                    results["skipped"].append("transformers on the GGUF: the `gguf` package is not installed")
                else:
                    record("offline", bench_transformers_gguf(models_dir, gguf))
            else:
                results["skipped"].append("transformers on the GGUF: not requested (--transformers-gguf)")
    results["skipped"].append("openai backend: needs a real server; its constraint runs server-side")

    print(f"machine: {results['machine']}, threads: {results['threads']}\n")
    print("## Constrained vs unconstrained decoding\n\n" + _table(results["ratio"]))
    print("## Offline profile\n\n" + _table(results["offline"]))
    print(f"## Model loads per run\n\n{json.dumps(results['loads'])}\n")
    for s in results["skipped"]:
        print(f"skipped: {s}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
