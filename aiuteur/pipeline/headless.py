"""The headless pipeline: every stage up to one, with the choices a person would make by default.

`run_until` is what `python -m aiuteur run`, the client API's `/run_until` and the evals call.
It drives a runner (any object with `view`, `run`, `save` and `engines`: `Runner` is one) and
reports each step; it never touches the store itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from aiuteur.domain import STAGE_ORDER, AiuteurError, ArtifactRecord, Stage, Status
from aiuteur.pipeline import actions, graph
from aiuteur.pipeline.actions import Action, Estimate
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.stage import EngineProvider, ProgressFn, RunResult
from aiuteur.pipeline.work import ProjectView


class StageRunner(Protocol):
    """What a headless run needs of a runner."""

    @property
    def engines(self) -> EngineProvider: ...

    def view(self, project_id: str) -> ProjectView: ...

    def run(self, project_id: str, stage: Stage, scene_id: str | None = None, action: Action | None = None, *,
            seed: int | None = None) -> RunResult: ...

    def save(self, project_id: str, stage: Stage, data: BaseModel | dict[str, Any], scene_id: str | None = None,
             *, base_revision: int | None = None, source: str = "edited") -> ArtifactRecord: ...


#: Per-scene stages whose scenes may run at once on a cluster, with the engine kind that decides how many.
PARALLEL_SCENE_STAGES: dict[Stage, str] = {Stage.FRAMES: "image", Stage.VIDEO: "video"}


def _default_treatment(d: dict[str, Any]) -> dict[str, Any]:
    """The first treatment not marked weak (the longest when all are), unless one is chosen."""
    if d.get("chosen") is not None:
        return d
    variants = [v if isinstance(v, dict) else {} for v in d.get("variants") or []]
    strong = [i for i, v in enumerate(variants) if not v.get("weak")]
    if strong or not variants:
        return {**d, "chosen": strong[0] if strong else 0}
    return {**d, "chosen": max(range(len(variants)), key=lambda i: (len(str(variants[i].get("prose") or "")), -i))}


DEFAULT_CHOICES: dict[Stage, Callable[[dict[str, Any]], dict[str, Any]]] = {
    Stage.TREATMENT: _default_treatment,
}


@dataclass
class Step:
    """One step of a headless run."""

    stage: Stage
    scene_id: str | None
    what: str
    result: RunResult | None = None

    @property
    def failed(self) -> bool:
        return self.what.startswith("failed:")


def run_until(runner: StageRunner, project_id: str, until: Stage, *, seed: int = 0, confirm: bool | None = None,
              progress: ProgressFn | None = None,
              stage_actions: dict[Stage, Action] | None = None) -> Iterator[Step]:
    """Run every stage up to `until` with default choices, reporting each step.

    Stages already done, locked or skipped are left as they are; a stage that fails stops the
    run there. `stage_actions` gives the action of a stage's runs (the evals run
    stage 5 as `Extract(references=False)`); every other stage makes its whole artifact.
    """
    stages = STAGE_ORDER[1 : STAGE_ORDER.index(until) + 1]
    for i, stage in enumerate(stages):
        view = runner.view(project_id)
        if progress:
            progress(i / max(1, len(stages)), f"Stage {stage.number}: {stage.title}")
        if stage == Stage.HUB:
            yield Step(stage, None, "ready" if view.state.scenes else "no scenes")
            continue
        scene_ids: list[str | None] = list(view.state.scene_ids) if stage.per_scene else [None]
        action = actions.check(stage, (stage_actions or {}).get(stage)) if stage in actions.DEFAULTS else None
        if stage == Stage.CONFIRM and confirm is not None:
            action = (action if isinstance(action, Estimate) else Estimate()).model_copy(update={"confirm": confirm})
        ahead = _scenes_at_once(runner, project_id, stage, scene_ids, view.state, seed, action)
        for sid in scene_ids:
            st = graph.status(view.state, stage, sid)
            if st in (Status.DONE, Status.LOCKED, Status.SKIPPED):
                yield Step(stage, sid, st.value)
                continue
            try:
                result = ahead[sid].result() if sid in ahead else runner.run(project_id, stage, sid, seed=seed,
                                                                            action=action)
            except AiuteurError as e:
                yield Step(stage, sid, f"failed: {e}")
                return
            if result.record is None:
                why = "; ".join(result.errors) or "the stage made nothing to save"
                yield Step(stage, sid, f"failed: {why}", result)
                return
            record = _apply_default_choice(runner, project_id, stage, sid, result.record)
            if stage == Stage.CONFIRM and not record.data.get("confirmed"):
                why = "; ".join(record.data.get("assumptions", [])[-1:]) or "the cost estimate needs your confirmation"
                yield Step(stage, sid, f"failed: not confirmed: {why} Confirm it in the app, or run with --confirm.",
                           RunResult(stage, sid, result.takes, record))
                return
            made = "made" + "".join(f" ({n})" for n in result.notes)
            yield Step(stage, sid, made if result.ok else f"{made}, with failed takes: {'; '.join(result.errors)}",
                       RunResult(stage, sid, result.takes, record))


def _scenes_at_once(runner: StageRunner, project_id: str, stage: Stage, scene_ids: list[str | None], state: ProjectState,
                    seed: int, action: Action | None) -> dict[str | None, Future[RunResult]]:
    """With cluster replicas, the keyframes and clips of several scenes start together.

    Returns a future per scene still to run (empty in-process: scenes then run one by one).
    Scenes are independent at these stages, and each scene's run saves its own takes.
    """
    kind = PARALLEL_SCENE_STAGES.get(stage)
    count = getattr(runner.engines, "parallelism", None)
    workers = int(count(kind)) if kind and callable(count) else 1
    todo = [sid for sid in scene_ids
            if graph.status(state, stage, sid) not in (Status.DONE, Status.LOCKED, Status.SKIPPED)]
    if workers <= 1 or len(todo) <= 1:
        return {}
    pool = ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="aiuteur-scenes")
    ahead = {sid: pool.submit(runner.run, project_id, stage, sid, action, seed=seed) for sid in todo}
    pool.shutdown(wait=False)
    return ahead


def _apply_default_choice(runner: StageRunner, project_id: str, stage: Stage, scene_id: str | None,
                          record: ArtifactRecord) -> ArtifactRecord:
    """Headless runs take the default where a person would choose (first strong treatment; confirm)."""
    chooser = DEFAULT_CHOICES.get(stage)
    if chooser is None:
        return record
    data = chooser(dict(record.data))
    if data == record.data:
        return record
    return runner.save(project_id, stage, data, scene_id, source="generated")
