"""Replay the later stages of an earlier eval run on its saved artifacts.

A full story on the offline model takes 20-27 minutes, most of it in stages 2-4. A change to
stage 5 or 8 is measured faster, and fairer, on the very script an earlier run wrote: each
story of the result JSON becomes a fresh project with its saved treatment, beats and master
script, then

- `--from assets`: stage 5 extracts again, each scene keeps its saved shot list (its asset ids
  mapped to the new registry by category and name), and stage 8 infers every scene's states;
- `--from asset_states`: the saved registry and shot lists are kept and only stage 8 runs;

both on the chosen profile, scene by scene in script order as a user's run goes (`Runner.run`).
The result has the harness's format (`python -m aiuteur eval --report FILE`), each row with
`replayed_from` and the source run. Stage 9 and the prompts are not made again (the saved ones
are kept in the artifacts for reference only when stage 8 did not run).

    doc = replay(ReplayConfig(source=Path("evals/runs/x.json"), start=Stage.ASSETS, stories=["three-tier-disaster"]))
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiuteur.domain import InputError, Stage
from aiuteur.evals.corpus import CORPUS_DIR, CorpusStory, load_corpus
from aiuteur.evals.harness import (
    SCHEMA,
    Say,
    add_row,
    collect_artifacts,
    count_step,
    example_vocabulary,
    finish_run,
    git_commit,
    machine,
    measure,
    measured_row,
    pinned_prompts,
    read_json,
    stage_record,
    text_model,
    timed_steps,
)
from aiuteur.settings import REPO_ROOT, DataHome, data_home

log = logging.getLogger(__name__)

STARTS = (Stage.ASSETS, Stage.ASSET_STATES)


@dataclass
class ReplayConfig:
    source: Path  # an eval result JSON with artifacts
    start: Stage = Stage.ASSETS  # the first stage made again: assets or asset_states
    profile: str = "offline"
    stories: list[str] = field(default_factory=list)  # slugs; empty: every story of the source with a script
    label: str = ""
    seed: int = 0
    corpus: Path = CORPUS_DIR
    out: Path | None = None
    prompt_versions: dict[str, int] = field(default_factory=dict)  # as the eval's --prompt-version


def _key(asset: dict[str, Any]) -> tuple[str, str]:
    return str(asset.get("category")), " ".join(str(asset.get("name") or "").lower().split())


def id_map(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, str]:
    """Old asset id -> new asset id, for assets of the same category and name (or alias)."""
    by_key: dict[tuple[str, str], str] = {}
    for a in ((new or {}).get("registry") or {}).get("assets") or []:
        for name in [a.get("name"), *(a.get("aliases") or [])]:
            by_key.setdefault(_key({"category": a.get("category"), "name": name}), str(a.get("id")))
    out: dict[str, str] = {}
    for a in ((old or {}).get("registry") or {}).get("assets") or []:
        found = next((by_key[k] for k in [_key({"category": a.get("category"), "name": n})
                                          for n in [a.get("name"), *(a.get("aliases") or [])]] if k in by_key), None)
        if found:
            out[str(a.get("id"))] = found
    return out


def remap_shots(shots: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """A saved shot list with its asset ids mapped (`id_map`); an asset not found is left out."""
    out = dict(shots)
    out["shots"] = []
    for shot in shots.get("shots") or []:
        s = dict(shot)
        s["assets"] = [ids[a] for a in shot.get("assets") or [] if a in ids]
        s["layout"] = {ids[a]: v for a, v in (shot.get("layout") or {}).items() if a in ids}
        out["shots"].append(s)
    return out


def replay_story(runner: Any, story: CorpusStory, saved: dict[str, Any], *, start: Stage, seed: int,
                 examples: set[str], say: Say) -> dict[str, Any]:
    """One story from `start` on, on its saved artifacts; a row as `harness.run_story` makes."""
    from aiuteur.pipeline.actions import Extract
    from aiuteur.pipeline.inputs import story_input

    a = saved.get("artifacts") or {}
    if not (a.get("script") and a.get("shots")):
        raise InputError(f"{story.slug}: the source run saved no script and shot lists to replay from.")
    pid = runner.create_project(story.labels.title).id
    written = bool(a.get(Stage.TREATMENT.value) and a.get(Stage.BEATS.value))  # else: the script came from the story
    runner.save(pid, Stage.INPUT, story_input(story.text, "" if written else "skip_to_stage4", name=f"{story.slug}.md"))
    for st in (Stage.TREATMENT, Stage.BEATS, Stage.SCRIPT):
        if a.get(st.value):
            runner.save(pid, st, a[st.value])
    stages: dict[str, dict[str, Any]] = {}

    def record(stage: Stage, result: Any, seconds: float, calls: int, used: Any) -> None:
        rec = stage_record(stages, stage)
        count_step(rec, result.takes if result else [], seconds, calls, used)
        rec["ok"] = rec["ok"] and bool(result and result.ok)

    def run(stage: Stage, scene_id: str | None = None, **kw: Any) -> None:
        steps = (runner.run(pid, stage, scene_id, **kw) for _ in range(1))  # lazy: timed from the call on
        try:
            for result, seconds, calls, used in timed_steps(steps, runner.engines):
                record(stage, result, seconds, calls, used)
                say(f"    {stage.value}{' ' + scene_id if scene_id else ''}: {'ok' if result.ok else 'failed'} "
                    f"({seconds:.0f} s, {calls} calls)")
        except InputError as e:  # a scene the source has no shot list for: refused in one sentence
            rec = stage_record(stages, stage)
            rec["ok"], rec["errors"] = False, [*rec["errors"], str(e)][:5]
            say(f"    {stage.value}{' ' + scene_id if scene_id else ''}: refused: {e}")

    if start == Stage.ASSETS:
        run(Stage.ASSETS, action=Extract(references=False))
    else:
        runner.save(pid, Stage.ASSETS, a["assets"])
    ids = id_map(a.get("assets"), runner.view(pid).state.data(Stage.ASSETS))
    scene_ids = runner.view(pid).state.scene_ids
    for sid in scene_ids:
        old = (a.get("shots") or {}).get(sid)
        if old:
            runner.save(pid, Stage.SHOTS, remap_shots(old, ids), sid)
        run(Stage.ASSET_STATES, sid)
    artifacts = collect_artifacts(runner, pid)
    return {
        "slug": story.slug, "title": story.labels.title, "genre": story.labels.genre, "words": story.words,
        "replayed_from": start.value, "reached": Stage.ASSET_STATES.value,
        "complete": all(r["ok"] for r in stages.values()), "stages": stages,
        "metrics": measure(story, artifacts, examples), "artifacts": artifacts,
    }


def replay(config: ReplayConfig, say: Say = lambda line: None) -> dict[str, Any]:
    """Replay the chosen stories of `config.source` from `config.start`; write and return the result."""
    from aiuteur.engines.profiles import active_profile
    from aiuteur.engines.registry import Engines
    from aiuteur.pipeline.runner import Runner
    from aiuteur.store import Store

    if config.start not in STARTS:
        raise InputError(f"A replay starts at {' or '.join(s.value for s in STARTS)}, not {config.start.value!r}.")
    source = read_json(config.source)
    rows = [r for r in source.get("stories") or [] if (r.get("artifacts") or {}).get("script")
            and (not config.stories or r.get("slug") in config.stories)]
    if not rows:
        raise InputError(f"{config.source} has no story with a saved script among {config.stories or 'its stories'}.")
    corpus = {s.slug: s for s in load_corpus(config.corpus, [str(r["slug"]) for r in rows])}
    home = data_home()
    chosen = active_profile({**os.environ, "AIUTEUR_PROFILE": config.profile}, models_dir=home.models)
    engines = Engines(chosen.profile, home)
    started = dt.datetime.now(dt.UTC)
    run_id = f"{started:%Y%m%d-%H%M%S}-replay-{config.start.value}"
    out = config.out or (REPO_ROOT / "evals" / "runs" / f"{run_id}.json")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "run": {"id": run_id, "label": config.label or f"replay from {config.start.value}",
                "profile": chosen.profile.name, "profile_why": chosen.reason,
                "text_model": text_model(chosen.profile.tables.get("text", {})), "machine": machine(),
                "date": started.isoformat(timespec="seconds"), "git": git_commit(), "seed": config.seed,
                "prompt_versions": {k: f"v{v}" for k, v in sorted(config.prompt_versions.items())},
                "replay": {"source": str(config.source), "source_git": (source.get("run") or {}).get("git"),
                           "from": config.start.value},
                "stages": [s.value for s in (Stage.ASSETS, Stage.ASSET_STATES) if s == Stage.ASSET_STATES
                           or config.start == Stage.ASSETS],
                "note": "saved treatment, beats, script and shot lists; stage 5 without master references"},
        "stories": [],
    }
    with tempfile.TemporaryDirectory(prefix="aiuteur-replay-") as scratch, pinned_prompts(config.prompt_versions):
        runner = Runner(Store(DataHome(Path(scratch), "replay scratch folder")), engines=engines)
        examples = example_vocabulary()
        for i, saved in enumerate(rows, 1):
            story = corpus[str(saved["slug"])]
            say(f"[{i}/{len(rows)}] {story.slug} from {config.start.value} on {chosen.profile.name}")
            add_row(doc, out, measured_row(story, functools.partial(
                replay_story, runner, saved=saved, start=config.start, seed=config.seed, examples=examples, say=say)))
    return finish_run(doc, out)
