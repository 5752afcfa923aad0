"""The eval harness: run corpus stories through stages 2-9 headless and measure what comes out.

    result = run_eval(EvalConfig(profile="offline", stories=["the-wash-bay"]))
    result["stories"][0]["stages"]["script"]   # {"ok": True, "seconds": 412.0, "calls": 5, ...}
    result["stories"][0]["metrics"]["characters"]

Each story becomes a fresh project in a scratch data folder (the user's projects are never
touched) and runs through the same `headless.run_until` as `python -m aiuteur run`, with one
difference: stage 5 makes no master reference images (they are not measured here and the
offline profile's images are noise). Per stage it records whether it made a valid artifact,
seconds, model calls and tokens (prompt + completion, as the text engine reports them), the
prompt templates used; then the metrics of `aiuteur.evals.metrics` on the saved artifacts.
A story whose stage fails keeps what it made and is measured as far as it got; one that
crashes is recorded with the reason, and the next story runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import re
import subprocess
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiuteur.domain import STAGE_ORDER, InputError, Stage
from aiuteur.engines import usage
from aiuteur.evals import metrics
from aiuteur.evals.corpus import CORPUS_DIR, CorpusStory, load_corpus
from aiuteur.pipeline.prompts import PROMPT_VERSIONS_ENV, parse_version_pins
from aiuteur.settings import PROMPTS_DIR, REPO_ROOT, DataHome, data_home

log = logging.getLogger(__name__)

#: Stages 2-9 (the hub, stage 6, makes nothing to measure): the text stages and the prompts built from them.
EVAL_STAGES: list[Stage] = [s for s in STAGE_ORDER[STAGE_ORDER.index(Stage.TREATMENT) : STAGE_ORDER.index(Stage.PROMPTS) + 1]
               if s != Stage.HUB]
SCHEMA = "aiuteur-eval/1"

Say = Callable[[str], None]


@dataclass
class EvalConfig:
    profile: str = "offline"
    stories: list[str] = field(default_factory=list)  # slugs; empty: the whole corpus
    prompt_versions: dict[str, int] = field(default_factory=dict)  # "script" or "script/plan_system" -> N
    label: str = ""
    seed: int = 0
    corpus: Path = CORPUS_DIR
    scratch: Path | None = None  # data folder for the eval projects (default: a temporary one)
    models: Path | None = None  # models folder (default: the data folder's, or AIUTEUR_MODELS)
    until: Stage = Stage.PROMPTS  # last stage to run (an earlier one for a quick look at the writing stages)
    attempts: int | None = None  # max_attempts of the stages that re-ask (default: each stage's own)
    out: Path | None = None  # JSON written after each story (default: evals/runs/<run id>.json)


# -- the run ---------------------------------------------------------------------------------------


def run_eval(config: EvalConfig, say: Say = lambda line: None) -> dict[str, Any]:
    """Run the chosen stories and return (and write, story by story) the result document."""
    stories = load_corpus(config.corpus, config.stories or None)
    with pinned_prompts(config.prompt_versions):
        return _run(config, stories, say)


@contextlib.contextmanager
def pinned_prompts(pins: dict[str, int]) -> Iterator[None]:
    """Every prompt template read inside uses the pinned versions ("script" or "script/plan_system"
    -> N; the rest their newest), as `AIUTEUR_PROMPT_VERSIONS` says; the setting before comes back."""
    old_pins = os.environ.get(PROMPT_VERSIONS_ENV)
    os.environ[PROMPT_VERSIONS_ENV] = ",".join(f"{k}={v}" for k, v in sorted(pins.items()))
    try:
        yield
    finally:
        if old_pins is None:
            os.environ.pop(PROMPT_VERSIONS_ENV, None)
        else:
            os.environ[PROMPT_VERSIONS_ENV] = old_pins


def _run(config: EvalConfig, stories: list[CorpusStory], say: Say) -> dict[str, Any]:
    from aiuteur.engines.profiles import active_profile
    from aiuteur.engines.registry import Engines
    from aiuteur.pipeline.runner import Runner
    from aiuteur.store import Store

    home = data_home()  # the models come from the user's models folder
    if config.models is not None:
        home = _ModelsHome(home.path, home.why, models_dir=config.models)
    env = {**os.environ, "AIUTEUR_PROFILE": config.profile}
    chosen = active_profile(env, models_dir=home.models)
    engines = Engines(chosen.profile, home)
    started = dt.datetime.now(dt.UTC)
    run_id = f"{started:%Y%m%d-%H%M%S}-{config.profile}" + (f"-{_slug(config.label)}" if config.label else "")
    out = config.out or (REPO_ROOT / "evals" / "runs" / f"{run_id}.json")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "run": {
            "id": run_id,
            "label": config.label or config.profile,
            "profile": chosen.profile.name,
            "profile_why": chosen.reason,
            "text_model": text_model(chosen.profile.tables.get("text", {})),
            "machine": machine(),
            "date": started.isoformat(timespec="seconds"),
            "git": git_commit(),
            "prompt_versions": {k: f"v{v}" for k, v in sorted(config.prompt_versions.items())},
            "seed": config.seed,
            "stages": [s.value for s in stages_until(config.until)],
            "attempts": config.attempts,
            "note": "stage 5 runs without master reference images",
        },
        "stories": [],
    }
    scratch_ctx = tempfile.TemporaryDirectory(prefix="aiuteur-eval-") if config.scratch is None else None
    scratch = Path(scratch_ctx.name) if scratch_ctx else Path(config.scratch or ".")
    try:
        store = Store(DataHome(scratch, "eval scratch folder"))
        runner = Runner(store, engines=engines)
        examples = example_vocabulary()
        for i, story in enumerate(stories, 1):
            say(f"[{i}/{len(stories)}] {story.slug} ({story.words} words) on {chosen.profile.name}")
            row = measured_row(story, lambda s: run_story(runner, s, seed=config.seed, examples=examples, say=say,
                                                          until=config.until, attempts=config.attempts))
            add_row(doc, out, row)
            say(f"    {story.slug}: reached {row.get('reached') or 'nothing'} in {row['seconds']:.0f} s"
                + (f"; failed at {row['failed_stage']}: {row.get('failed_why', '')[:120]}" if row.get("failed_stage") else "")
                + (f"; crashed: {row['crashed'][:200]}" if row.get("crashed") else ""))
    finally:
        if scratch_ctx is not None:
            scratch_ctx.cleanup()
    return finish_run(doc, out)


def measured_row(story: CorpusStory, make: Callable[[CorpusStory], dict[str, Any]]) -> dict[str, Any]:
    """`make(story)`'s row with its seconds; a crash becomes a row saying so (one story's crash
    must not lose the others)."""
    t0 = time.perf_counter()
    try:
        row = make(story)
    except Exception as e:
        log.debug("%s", traceback.format_exc())
        row = {"slug": story.slug, "title": story.labels.title, "genre": story.labels.genre,
               "crashed": f"{type(e).__name__}: {e}", "stages": {}, "metrics": {}}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def add_row(doc: dict[str, Any], out: Path, row: dict[str, Any]) -> None:
    """One more story in the run's document, written at once (a stopped run keeps what it made)."""
    doc["stories"].append(row)
    doc["summary"] = summarize(doc["stories"])
    write_json(out, doc)


def finish_run(doc: dict[str, Any], out: Path) -> dict[str, Any]:
    """The run's totals and where it was written; the document written a last time."""
    doc["run"]["seconds"] = round(sum(s.get("seconds", 0) for s in doc["stories"]), 1)
    doc["summary"] = summarize(doc["stories"])
    doc["run"]["out"] = str(out)
    write_json(out, doc)
    return doc


def rescore(doc: dict[str, Any], corpus: Path = CORPUS_DIR) -> dict[str, Any]:
    """A saved run measured again from its saved artifacts with today's labels and metrics (after a
    label or metric is corrected), its summary with them; the run records the commit it was
    rescored at. Stories no longer in the corpus, or that crashed, keep their metrics."""
    stories = {s.slug: s for s in load_corpus(corpus)}
    examples = example_vocabulary()
    rows = []
    for row in doc.get("stories", []):
        story = stories.get(row.get("slug", ""))
        if story is not None and not row.get("crashed"):
            row = {**row, "metrics": measure(story, row.get("artifacts") or {}, examples)}
        rows.append(row)
    run = {**doc.get("run", {}), "rescored": git_commit() or "?"}
    return {**doc, "run": run, "stories": rows, "summary": summarize(rows)}


def stage_record(stages: dict[str, dict[str, Any]], stage: Stage) -> dict[str, Any]:
    """The record of `stage` in a story's row (made empty the first time)."""
    return stages.setdefault(stage.value, {
        "ok": True, "status": "", "seconds": 0.0, "calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
        "runs": 0, "failed_takes": 0, "templates": [], "errors": []})


def count_step(rec: dict[str, Any], takes: list[Any], seconds: float, calls: int, used: usage.Usage) -> None:
    """Add one run of a stage (its takes, seconds, model calls and tokens) to its record."""
    rec["runs"] += 1
    rec["seconds"] = round(rec["seconds"] + seconds, 2)
    rec["calls"] += calls
    rec["prompt_tokens"] += used.prompt
    rec["completion_tokens"] += used.completion
    # where the engine says: prompt tokens served from its cache, and seconds reading prompts and
    # writing answers (the time of a CPU run is explained by these two)
    rec["cached_tokens"] = rec.get("cached_tokens", 0) + used.cached
    rec["reading_seconds"] = round(rec.get("reading_seconds", 0.0) + used.reading_s, 2)
    rec["writing_seconds"] = round(rec.get("writing_seconds", 0.0) + used.writing_s, 2)
    rec["failed_takes"] += sum(1 for t in takes if not t.ok)
    rec["templates"] = sorted({*rec["templates"], *(t.template for t in takes if t.template)})
    rec["errors"] = [*rec["errors"], *(t.error for t in takes if not t.ok and t.error)][:5]


def stages_until(until: Stage) -> list[Stage]:
    """The eval stages up to `until` (a stage outside 2-9 is an InputError)."""
    if until not in EVAL_STAGES:
        raise InputError(f"The evals run stages 2-9; {until.value!r} is not one of {', '.join(s.value for s in EVAL_STAGES)}.")
    return EVAL_STAGES[: EVAL_STAGES.index(until) + 1]


def run_story(runner: Any, story: CorpusStory, *, seed: int, examples: set[str], say: Say,
              until: Stage = Stage.PROMPTS, attempts: int | None = None) -> dict[str, Any]:
    """One story through stages 2-9 (or to `until`): per-stage records, the artifacts, and the metrics on them."""
    from aiuteur.pipeline.headless import run_until
    from aiuteur.pipeline.inputs import story_input

    wanted = stages_until(until)
    from aiuteur.pipeline.actions import Action, Extract, WriteBeats, WriteScript, WriteTreatments

    options: dict[Stage, Action] = {Stage.ASSETS: Extract(references=False)}
    if attempts is not None:
        options |= {Stage.TREATMENT: WriteTreatments(max_attempts=attempts), Stage.BEATS: WriteBeats(max_attempts=attempts),
                    Stage.SCRIPT: WriteScript(max_attempts=attempts)}

    pid = runner.create_project(story.labels.title).id
    runner.save(pid, Stage.INPUT, story_input(story.text, name=f"{story.slug}.md"))
    stages: dict[str, dict[str, Any]] = {}
    failed: tuple[str, str] | None = None
    engines = runner.engines
    for step, seconds, calls, used in timed_steps(
        run_until(runner, pid, until, seed=seed, stage_actions=options),
        engines,
    ):
        if step.stage == Stage.HUB:
            continue
        rec = stage_record(stages, step.stage)
        count_step(rec, step.result.takes if step.result else [], seconds, calls, used)
        if step.failed:
            rec["ok"] = False
            rec["status"] = step.what[:300]
            failed = failed or (step.stage.value, step.what)
        elif not rec["status"]:
            rec["status"] = step.what[:120]
        where = f" {step.scene_id}" if step.scene_id else ""
        say(f"    {step.stage.value}{where}: {step.what[:160]} ({seconds:.0f} s, {calls} calls, "
            f"{used.prompt}+{used.completion} tokens)")
    artifacts = collect_artifacts(runner, pid)
    reached: list[str] = [str(s.value) for s in wanted if stages.get(s.value, {}).get("ok") and s.value in stages]
    row: dict[str, Any] = {
        "slug": story.slug,
        "title": story.labels.title,
        "genre": story.labels.genre,
        "words": story.words,
        "reached": _last_in_order(reached),
        "complete": all(stages.get(s.value, {}).get("ok") for s in wanted),
        "stages": stages,
        "metrics": measure(story, artifacts, examples),
        "artifacts": artifacts,
    }
    if failed:
        row["failed_stage"], row["failed_why"] = failed[0], failed[1][:400]
    return row


def timed_steps(steps: Iterator[Any], engines: Any) -> Iterator[tuple[Any, float, int, usage.Usage]]:
    """Each step of a headless run with its seconds, model calls and tokens."""
    while True:
        before = Counter(engines.calls)
        t0 = time.perf_counter()
        with usage.measure() as used:
            try:
                step = next(steps)
            except StopIteration:
                return
        calls = sum((Counter(engines.calls) - before).values())
        yield step, time.perf_counter() - t0, calls, used


def _last_in_order(done: list[str]) -> str:
    """The last stage of the unbroken run of valid stages from the first."""
    last = ""
    for s in EVAL_STAGES:
        if s.value not in done:
            break
        last = s.value
    return last


def collect_artifacts(runner: Any, pid: str) -> dict[str, Any]:
    state = runner.view(pid).state
    per_scene = {st.value: {sid: state.data(st, sid) for sid in state.scene_ids}
                 for st in (Stage.SHOTS, Stage.ASSET_STATES, Stage.PROMPTS)}
    return {
        "treatment": state.data(Stage.TREATMENT),
        "beats": state.data(Stage.BEATS),
        "script": state.data(Stage.SCRIPT),
        "assets": state.data(Stage.ASSETS),
        **per_scene,
    }


def measure(story: CorpusStory, a: dict[str, Any], examples: set[str]) -> dict[str, Any]:
    """Every metric on one story's artifacts (those not made are measured as empty)."""
    labels, text = story.labels, story.text
    script, assets, treatment, beats = a.get("script"), a.get("assets"), a.get("treatment"), a.get("beats")
    shots: dict[str, Any] = a.get("shots") or {}
    states: dict[str, Any] = a.get("asset_states") or {}
    scenes = metrics.scenes_of(script)
    actions = [str(e.get("text") or "") for s in scenes for e in metrics.elements(s, "action")]
    variants = (treatment or {}).get("variants") or []
    beat_texts = [str(b.get("summary") or "") for b in (beats or {}).get("beats") or []]
    return {
        "treatments": metrics.treatments(text, treatment),
        "beats": metrics.beat_spread(treatment, beats),
        "characters": metrics.characters(labels, assets),
        "described": metrics.described(labels, assets),
        "speakers": metrics.speakers(labels, script),
        "dialogue_altered": metrics.dialogue_altered(script, shots),
        "visual": metrics.visual_verbosity(script),
        "loops": {
            "treatment": metrics.loops(str(v.get("prose") or "") for v in variants),
            "beats": metrics.loops(beat_texts),
            # one text per scene as well as per line: a loop can run across lines ("Ines," ×20)
            "script": metrics.loops(actions, wholes=[" ".join(str(e.get("text") or "") for e in metrics.elements(s, "action"))
                                                     for s in scenes]),
            "dialogue": metrics.dialogue_loops(scenes, text),
        },
        "copied": {
            "beats": metrics.copied_sentences(text, beat_texts),
            "script": metrics.copied_sentences(text, actions),
        },
        "looks": metrics.look_changes(labels, script, assets, states, text),
        "places": metrics.places(labels, script),
        "non_things": metrics.non_things(assets, shots),
        "shots": metrics.shot_variety(shots, assets),
        "frame_prompts": metrics.prompt_action(a.get("prompts") or {}, shots),
        "leaks": metrics.prompt_leaks(text, script, assets, examples),
    }


# -- what the examples in prompts and schemas could leak -----------------------------------------------

_CAPITALISED = re.compile(r"(?<=[a-z,;:(\"'‘“] )[A-Z][a-z]{2,}|\b[A-Z]{3,}\b")
_EG = re.compile(r"e\.g\.[^)\n]*")


def example_vocabulary(prompts: Path = PROMPTS_DIR, code: Path = REPO_ROOT / "aiuteur") -> set[str]:
    """Proper-noun words of the prompt files and of the 'e.g.' examples in the code's schemas.

    A word also written in lower case there ('scene', 'story') is instruction, not example, and left out.
    """
    found: set[str] = set()
    plain: set[str] = set()
    texts = [p.read_text(encoding="utf-8") for p in prompts.glob("*/*.md")]
    for text in texts:
        found |= {w.lower() for w in _CAPITALISED.findall(text)}
    for p in [*code.glob("pipeline/*.py"), *code.glob("domain/*.py")]:
        for seg in _EG.findall(p.read_text(encoding="utf-8")):
            texts.append(seg)
            found |= {w.lower() for w in re.findall(r"[A-Za-z]{3,}", seg) if w[0].isupper()}
    for text in texts:
        plain |= set(re.findall(r"\b[a-z]{3,}\b", text))
    return found - plain - metrics.SCREENPLAY_WORDS


# -- the summary across stories ---------------------------------------------------------------------------


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals and rates across stories, the numbers the issue's targets are written in."""
    ms = [r.get("metrics") or {} for r in rows]

    def total(path: str) -> int:
        n = 0
        for m in ms:
            v: Any = m
            for k in path.split("."):
                v = (v or {}).get(k) if isinstance(v, dict) else None
            n += int(v or 0)
        return n

    stage_rows: dict[str, dict[str, Any]] = {}
    for st in EVAL_STAGES:
        recs = [r["stages"][st.value] for r in rows if st.value in (r.get("stages") or {})]
        stage_rows[st.value] = {
            "runs": len(recs),
            "valid": sum(1 for x in recs if x["ok"]),
            "seconds": round(sum(x["seconds"] for x in recs), 1),
            "calls": sum(x["calls"] for x in recs),
            "prompt_tokens": sum(x["prompt_tokens"] for x in recs),
            "completion_tokens": sum(x["completion_tokens"] for x in recs),
            "cached_tokens": sum(x.get("cached_tokens", 0) for x in recs),
            "reading_seconds": round(sum(x.get("reading_seconds", 0.0) for x in recs), 1),
            "writing_seconds": round(sum(x.get("writing_seconds", 0.0) for x in recs), 1),
        }
    return {
        "stories": len(rows),
        "complete": sum(1 for r in rows if r.get("complete")),
        "crashed": sum(1 for r in rows if r.get("crashed")),
        "three_treatments": sum(1 for m in ms if (m.get("treatments") or {}).get("count") == 3),
        "characters": [total("characters.extracted"), total("characters.labelled")],
        "described": [total("described.described"), total("described.labelled")],
        "speakers": [total("speakers.speaking"), total("speakers.labelled")],
        "dialogue_altered": total("dialogue_altered.altered"),
        "looks": [total("looks.caught"), total("looks.labelled")],
        "places_as_scene": [total("places.as_scene"), total("places.labelled")],
        "places_covered": [total("places.covered"), total("places.labelled")],
        "non_things": total("non_things.assets") + total("non_things.shot_actions"),
        "action_cut": [total("frame_prompts.action_cut"), total("frame_prompts.prompts")],
        "treatment_max_copied": max([(m.get("treatments") or {}).get("max_copied", 0) for m in ms] or [0]),
        "leaks": total("leaks.leaks"),
        "stages": stage_rows,
    }


# -- small helpers ----


@dataclass(frozen=True)
class _ModelsHome(DataHome):
    """A data folder whose models live elsewhere (the eval's --models)."""

    models_dir: Path = Path()

    @property
    def models(self) -> Path:
        return self.models_dir


def text_model(spec: dict[str, Any]) -> str:
    backend = spec.get("backend", "?")
    if backend == "openai":
        return f"{spec.get('model')} at {spec.get('base_url')} (OpenAI-compatible)"
    what = spec.get("gguf") or spec.get("model") or "?"
    return f"{what} ({backend}{', ' + str(spec['constraint']) if spec.get('constraint') else ''})"


def machine() -> str:
    try:
        load = f"load {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    cpu = platform.processor() or platform.machine()
    return ", ".join(x for x in (f"{os.cpu_count()} cores", cpu, platform.system(), load) if x)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path} is not an eval result: {e}") from e
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path} is not an eval result (no schema {SCHEMA!r}).")
    return doc


def parse_pins(values: list[str]) -> dict[str, int]:
    """`--prompt-version` values ('script=v2', 'treatment/system=1') as pins."""
    return parse_version_pins(",".join(values))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
