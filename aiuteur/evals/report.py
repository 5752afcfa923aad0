"""Eval results as markdown (for docs/evals.md) and as a side-by-side comparison of two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiuteur.evals.harness import EVAL_STAGES


def _frac(pair: Any) -> str:
    return f"{pair[0]}/{pair[1]}" if isinstance(pair, list | tuple) and len(pair) == 2 else "–"


def _get(d: Any, path: str, default: Any = None) -> Any:
    for k in path.split("."):
        if not isinstance(d, dict):
            return default
        d = d.get(k)
    return default if d is None else d


STORY_COLUMNS: list[tuple[str, str]] = [
    ("reached", "reached"), ("min", "minutes"), ("calls", "model calls"), ("tok", "tokens in+out"),
    ("treat", "treatments (max trigram similarity)"), ("chars", "characters extracted/labelled"),
    ("desc", "characters described with the story's look words/labelled"),
    ("speak", "speakers speaking/labelled"), ("dlg±", "dialogue lines altered by shots"),
    ("looks", "look changes caught/labelled"), ("places", "places as scene (+named)/labelled"),
    ("visual", "visual verbosity (0-4)"), ("loops", "texts looping / repeated lines"),
    ("copied", "verbatim sentences: treatment max · beats · script"), ("non-things", "time/heading/transition as asset or shot"),
    ("shots", "shots: sizes·angles, top size share"),
    ("cut", "start-frame prompts whose action starts past CLIP's 77 tokens / prompts (max est. tokens)"),
    ("leaks", "prompt-example words in names"),
]


def story_cells(row: dict[str, Any]) -> list[str]:
    m = row.get("metrics") or {}
    st = row.get("stages") or {}
    if row.get("crashed"):
        return ["crashed: " + row["crashed"][:60]] + ["–"] * (len(STORY_COLUMNS) - 1)
    calls = sum(s["calls"] for s in st.values())
    tin = sum(s["prompt_tokens"] for s in st.values())
    tout = sum(s["completion_tokens"] for s in st.values())
    reached = (row.get("reached") or "none") + ("" if row.get("complete") else f" ✗{row.get('failed_stage', '')}")
    loops = m.get("loops") or {}
    n_loop = sum(_get(v, "looping", 0) for v in loops.values())
    n_rep = sum(_get(v, "repeated_lines", 0) for v in loops.values())
    return [
        reached,
        f"{row.get('seconds', 0) / 60:.1f}",
        str(calls),
        f"{tin}+{tout}",
        f"{_get(m, 'treatments.count', 0)} ({_get(m, 'treatments.max_similarity', 0):.2f})",
        f"{_get(m, 'characters.extracted', 0)}/{_get(m, 'characters.labelled', 0)}",
        f"{_get(m, 'described.described', 0)}/{_get(m, 'described.labelled', 0)}",
        f"{_get(m, 'speakers.speaking', 0)}/{_get(m, 'speakers.labelled', 0)}",
        str(_get(m, "dialogue_altered.altered", 0)),
        f"{_get(m, 'looks.caught', 0)}/{_get(m, 'looks.labelled', 0)}",
        f"{_get(m, 'places.as_scene', 0)}(+{_get(m, 'places.named', 0)})/{_get(m, 'places.labelled', 0)}",
        f"{_get(m, 'visual.score', 0):.2f}",
        f"{n_loop}/{n_rep}",
        f"{_get(m, 'treatments.max_copied', 0)}·{_get(m, 'copied.beats.copied', 0)}·{_get(m, 'copied.script.copied', 0)}",
        str(_get(m, "non_things.assets", 0) + _get(m, "non_things.shot_actions", 0)),
        f"{_get(m, 'shots.sizes', 0)}·{_get(m, 'shots.angles', 0)}, {_get(m, 'shots.top_size_share', 0):.2f}",
        f"{_get(m, 'frame_prompts.action_cut', 0)}/{_get(m, 'frame_prompts.prompts', 0)} ({_get(m, 'frame_prompts.max_tokens', 0)})",
        str(_get(m, "leaks.leaks", 0)),
    ]


def markdown(doc: dict[str, Any]) -> str:
    """One run as markdown: the header, the story table, the stage table and the evidence of misses."""
    run, rows, summary = doc["run"], doc.get("stories", []), doc.get("summary", {})
    pins = ", ".join(f"{k}={v}" for k, v in (run.get("prompt_versions") or {}).items()) or "newest of each"
    out = [
        f"### {run.get('label')} — {run.get('date', '')[:16].replace('T', ' ')} UTC",
        "",
        f"Profile **{run.get('profile')}** ({run.get('profile_why')}); text model {run.get('text_model')}; "
        f"machine: {run.get('machine')}; commit {run.get('git') or '?'}; prompt versions: {pins}; "
        f"seed {run.get('seed')}; {run.get('note', '')}"
        + (f"; metrics rescored from its saved artifacts at {run['rescored']}" if run.get("rescored") else "") + ".",
        "",
        "| story | " + " | ".join(h for h, _ in STORY_COLUMNS) + " |",
        "|---|" + "---|" * len(STORY_COLUMNS),
    ]
    for row in rows:
        out.append(f"| {row['slug']} | " + " | ".join(story_cells(row)) + " |")
    out += ["", "Columns: " + "; ".join(f"*{h}* = {d}" for h, d in STORY_COLUMNS) + ".", ""]
    out += ["| stage | valid/ran | seconds | model calls | prompt tokens (cached) | completion tokens "
            "| s per 100 completion tokens | s reading · writing |",
            "|---|---|---|---|---|---|---|---|"]
    for st in EVAL_STAGES:
        s = (summary.get("stages") or {}).get(st.value) or {}
        per = f"{100 * s['seconds'] / s['completion_tokens']:.1f}" if s.get("completion_tokens") else "–"
        cached = f" ({s['cached_tokens']})" if s.get("cached_tokens") else ""
        split = (f"{s['reading_seconds']:.0f} · {s['writing_seconds']:.0f}"
                 if s.get("reading_seconds") or s.get("writing_seconds") else "–")
        out.append(f"| {st.value} | {s.get('valid', 0)}/{s.get('runs', 0)} | {s.get('seconds', 0):.0f} | "
                   f"{s.get('calls', 0)} | {s.get('prompt_tokens', 0)}{cached} | {s.get('completion_tokens', 0)} | {per} "
                   f"| {split} |")
    last = (run.get("stages") or ["prompts"])[-1]
    reached = "stage 9" if last == "prompts" else f"the last stage asked for ({last})"
    out += ["", f"Across {summary.get('stories', 0)} stories: {summary.get('complete', 0)} reached {reached} with no "
            f"failed stage; 3 treatments in {summary.get('three_treatments', 0)}; characters "
            f"{_frac(summary.get('characters'))}; described {_frac(summary.get('described'))}; speakers {_frac(summary.get('speakers'))}; dialogue altered "
            f"{summary.get('dialogue_altered', 0)}; look changes {_frac(summary.get('looks'))}; places as scenes "
            f"{_frac(summary.get('places_as_scene'))} (covered {_frac(summary.get('places_covered'))}); "
            f"non-things {summary.get('non_things', 0)}; frame prompts with the action cut "
            f"{_frac(summary.get('action_cut'))}; most verbatim sentences in one treatment "
            f"{summary.get('treatment_max_copied', 0)}; prompt-example leaks {summary.get('leaks', 0)}.", ""]
    misses = evidence(rows)
    if misses:
        out += ["<details><summary>Evidence of misses</summary>", "", *misses, "", "</details>", ""]
    return "\n".join(out)


def evidence(rows: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        m = row.get("metrics") or {}
        bits: list[str] = []
        if row.get("failed_stage"):
            bits.append(f"failed at {row['failed_stage']}: {row.get('failed_why', '')[:200]}")
        if row.get("crashed"):
            bits.append(f"crashed: {row['crashed'][:200]}")
        if _get(m, "characters.missing"):
            bits.append("characters missing: " + ", ".join(m["characters"]["missing"]))
        if _get(m, "described.missing"):
            bits.append("described against the story: " + ", ".join(m["described"]["missing"]))
        if _get(m, "speakers.missing"):
            bits.append("silent speakers: " + ", ".join(m["speakers"]["missing"]))
        for ch in _get(m, "looks.changes", []):
            if not ch.get("caught"):
                bits.append(f"look change of {ch['character']} missed ({ch.get('why')})")
        if _get(m, "places.missing"):
            bits.append("places missing: " + ", ".join(m["places"]["missing"]))
        for key in ("non_things", "leaks", "dialogue_altered", "frame_prompts"):
            if _get(m, f"{key}.evidence"):
                bits.append(f"{key}: " + "; ".join(m[key]["evidence"][:4]))
        if bits:
            lines.append(f"- **{row['slug']}**: " + " · ".join(bits))
    return lines


BEGIN, END = "<!-- eval:{} begin -->", "<!-- eval:{} end -->"


def write_markdown(doc: dict[str, Any], path: Path, key: str | None = None) -> None:
    """Put the run's section into `path` between its markers (replacing an earlier one with the same key)."""
    key = key or str(doc["run"].get("label") or doc["run"]["id"])
    block = f"{BEGIN.format(key)}\n{markdown(doc)}\n{END.format(key)}"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Evals\n\n"
    b, e = BEGIN.format(key), END.format(key)
    if b in text and e in text:
        head, rest = text.split(b, 1)
        _, tail = rest.split(e, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Two runs side by side: the summary numbers, then each story present in both, cell by cell."""
    la, lb = str(a["run"].get("label")), str(b["run"].get("label"))
    if la == lb:
        la, lb = f"{la} ({a['run']['id']})", f"{lb} ({b['run']['id']})"
    sa, sb = a.get("summary", {}), b.get("summary", {})
    out = [f"| summary | {la} | {lb} |", "|---|---|---|"]
    for key in ("stories", "complete", "three_treatments", "characters", "described", "speakers", "dialogue_altered", "looks",
                "places_as_scene", "places_covered", "non_things", "action_cut", "treatment_max_copied", "leaks"):
        va, vb = sa.get(key), sb.get(key)
        out.append(f"| {key} | {_frac(va) if isinstance(va, list) else va} | {_frac(vb) if isinstance(vb, list) else vb} |")
    for st in EVAL_STAGES:
        xa, xb = (sa.get("stages") or {}).get(st.value, {}), (sb.get("stages") or {}).get(st.value, {})
        out.append(f"| {st.value}: valid, s, calls, tokens out | {xa.get('valid', 0)}/{xa.get('runs', 0)}, "
                   f"{xa.get('seconds', 0):.0f}, {xa.get('calls', 0)}, {xa.get('completion_tokens', 0)} | "
                   f"{xb.get('valid', 0)}/{xb.get('runs', 0)}, {xb.get('seconds', 0):.0f}, {xb.get('calls', 0)}, "
                   f"{xb.get('completion_tokens', 0)} |")
    rows_b = {r["slug"]: r for r in b.get("stories", [])}
    for ra in a.get("stories", []):
        rb = rows_b.get(ra["slug"])
        if rb is None:
            continue
        out += ["", f"| {ra['slug']} | {la} | {lb} |", "|---|---|---|"]
        for (h, _), ca, cb in zip(STORY_COLUMNS, story_cells(ra), story_cells(rb), strict=True):
            out.append(f"| {h} | {ca} | {cb}{' ←' if ca != cb else ''} |")
    return "\n".join(out)
