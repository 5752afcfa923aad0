"""Two builds of llama.cpp side by side on the offline model: reading a prompt and writing tokens.

    .venv/bin/python bench/llama_build.py --build portable=DIR --build native=DIR [--pairs 3] [--out FILE]

Each DIR holds an installed `llama_cpp` package (e.g. `pip install --no-deps --target DIR WHEEL`),
one built with `-DGGML_NATIVE=OFF` (portable: AVX2, what a Space should run) and one with
`-DGGML_NATIVE=ON` (this CPU's own instructions, e.g. AVX-512 VNNI). Every measurement is a fresh
process that imports one build, loads the offline GGUF with the engine's settings (2 threads,
batch 256), reads a real prompt (a corpus story in the chat template, ~1,000 tokens) and writes
128 tokens greedily. The builds alternate (A, B, B, A, ...) so load on a shared machine falls on
both alike. Reported: median prompt tokens/s, median written tokens/s, and the ratio B ÷ A
(> 1 is faster). Whether the greedy answers are the same is printed too. No timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "evals" / "corpus" / "the-wash-bay.md"

CHILD = r"""
import json, os, sys, time
import llama_cpp
gguf, story, threads, n_write = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=gguf, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                      n_batch=256, verbose=False, seed=0)
text = ("<|im_start|>system\nYou are a story editor. Answer in plain prose.<|im_end|>\n"
        "<|im_start|>user\nSTORY:\n" + open(story).read() +
        "\nRetell this story as a short film treatment in one paragraph.<|im_end|>\n<|im_start|>assistant\n")
toks = llm.tokenize(text.encode(), add_bos=False, special=True)
t0 = time.perf_counter(); llm.eval(toks); t1 = time.perf_counter()
out = []
for _ in range(n_write):
    tok = llm.sample(top_k=1, temp=0.0)
    if tok == llm.token_eos():
        break
    out.append(tok); llm.eval([tok])
t2 = time.perf_counter()
print(json.dumps({"prompt_tokens": len(toks), "read_s": t1 - t0, "written": len(out), "write_s": t2 - t1,
                  "text": llm.detokenize(out).decode(errors="replace"),
                  "system_info": llama_cpp.llama_print_system_info().decode()}))
"""


def _one(site: str, gguf: Path, threads: int, n_write: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=site)
    done = subprocess.run([sys.executable, "-c", CHILD, str(gguf), str(STORY), str(threads), str(n_write)],
                          env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="NAME=DIR, twice")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", type=int, default=128)
    ap.add_argument("--gguf", default="")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    builds = [tuple(b.split("=", 1)) for b in a.build]
    if len(builds) != 2:
        raise SystemExit("give --build twice: NAME=DIR")
    models = Path(os.environ.get("AIUTEUR_MODELS", ROOT / ".cache" / "models"))
    gguf = Path(a.gguf) if a.gguf else models / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if not gguf.exists():
        raise SystemExit(f"no offline GGUF at {gguf}: run `python -m aiuteur models prepare offline`")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in builds}
    order = []
    for p in range(a.pairs):
        order += builds if p % 2 == 0 else builds[::-1]
    for name, site in order:
        r = _one(site, gguf, a.threads, a.write)
        runs[name].append(r)
        print(f"{name:10s} read {r['prompt_tokens']} tok in {r['read_s']:.1f} s "
              f"({r['prompt_tokens'] / r['read_s']:.1f}/s); wrote {r['written']} in {r['write_s']:.1f} s "
              f"({r['written'] / r['write_s']:.1f}/s)", flush=True)
    summary: dict[str, Any] = {}
    for name, rs in runs.items():
        summary[name] = {
            "read_tok_s": statistics.median(r["prompt_tokens"] / r["read_s"] for r in rs),
            "write_tok_s": statistics.median(r["written"] / r["write_s"] for r in rs),
            "system_info": rs[0]["system_info"]}
    (a_name, _), (b_name, _) = builds
    summary["ratio_read"] = summary[b_name]["read_tok_s"] / summary[a_name]["read_tok_s"]
    summary["ratio_write"] = summary[b_name]["write_tok_s"] / summary[a_name]["write_tok_s"]
    summary["same_answer"] = len({r["text"] for rs in runs.values() for r in rs}) == 1
    for name in (a_name, b_name):
        s = summary[name]
        print(f"{name:10s} median read {s['read_tok_s']:.1f} tok/s, write {s['write_tok_s']:.1f} tok/s\n"
              f"           {s['system_info']}")
    print(f"{b_name} / {a_name}: read {summary['ratio_read']:.2f}x, write {summary['ratio_write']:.2f}x; "
          f"same greedy answer: {summary['same_answer']}")
    if a.out:
        Path(a.out).write_text(json.dumps({"pairs": a.pairs, "threads": a.threads, "summary": summary,
                                           "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
