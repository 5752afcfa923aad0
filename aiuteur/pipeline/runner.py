"""The one place that runs a stage: loads its inputs, calls it, saves the takes and the artifact.

The UI, the CLI and the client API all call `Runner`; none of them touch a model or the
database directly. A model call runs outside the project lock (minutes on a CPU must not block
other edits); its inputs are fingerprinted when loaded, so an artifact made from inputs that
changed meanwhile simply shows as stale.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from aiuteur.domain import (
    AiuteurError,
    ArtifactRecord,
    ConflictError,
    InputError,
    LockError,
    NotFoundError,
    Stage,
    Status,
)
from aiuteur.engines.base import stop_when
from aiuteur.pipeline import (
    actions,
    asset_states,
    assets,
    beats,
    confirm,
    frames,
    graph,
    passage,
    prompts_stage,
    script,
    shot_list,
    treatment,
    upstream,
    video,
)
from aiuteur.pipeline.actions import Action
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.slot import ModelSlot
from aiuteur.pipeline.stage import (
    EngineProvider,
    ProgressFn,
    RunResult,
    StageContext,
    StageFn,
    StageOutcome,
    describe_error,
    failed_take,
)
from aiuteur.pipeline.text_in import clean_text
from aiuteur.pipeline.work import Work
from aiuteur.store import Store, Tx

log = logging.getLogger(__name__)

#: Every stage with an implementation, and its entry point (INPUT and HUB are edited, never run).
STAGES: dict[Stage, StageFn] = {
    Stage.TREATMENT: treatment.run,
    Stage.BEATS: beats.run,
    Stage.SCRIPT: script.run,
    Stage.ASSETS: assets.run,
    Stage.SHOTS: shot_list.run,
    Stage.ASSET_STATES: asset_states.run,
    Stage.PROMPTS: prompts_stage.run,
    Stage.FRAMES: frames.run,
    Stage.CONFIRM: confirm.run,
    Stage.VIDEO: video.run,
}


@dataclass
class _Job:
    """One call of a stage, as `Runner.run` was asked for it."""

    stage: Stage
    fn: StageFn
    scene_id: str | None
    seed: int | None
    guidance: str
    action: Action
    progress: ProgressFn | None
    cancelled: Callable[[], bool]
    on_partial: Callable[[Any], None] | None


def _revision(state: ProjectState, stage: Stage, scene_id: str | None) -> int:
    rec = state.record(stage, scene_id if stage.per_scene else None)
    return rec.revision if rec else 0


def kept_when_stopped(outcome: StageOutcome) -> StageOutcome:
    """What a stopped job keeps: every take (the finished ones and those that say they were
    stopped), and its artifact only when the model made something for it. A fallback the stage
    built because its model calls were stopped would replace the user's current work, so it is
    left out (its take stays in the history)."""
    made = [t for t in outcome.takes if t.ok and not t.purpose.endswith("_fallback")]
    if made or outcome.artifact is None:
        return outcome
    log.info("stopped: %d takes kept, the fallback artifact not saved", len(outcome.takes))
    return StageOutcome(takes=outcome.takes)


MAX_GUIDANCE_CHARS = 20_000  # an instruction to a model, not a manuscript


class Runner(Work):
    """Runs stages for one user: loads a stage's inputs, calls it, saves its takes and artifact.

    Every caller holds one. What it does without a model is in the classes it builds on:
    `Projects` (pipeline/projects.py: projects, folders, backups, media, capsules, branches) and
    `Work` (pipeline/work.py: views, edits, positions, locks, the hub). The headless pipeline
    (every stage up to one) is `headless.run_until`, which drives a runner.
    """

    def __init__(self, store: Store, engines: EngineProvider | None = None,
                 engines_factory: Callable[[], EngineProvider] | None = None, *, owner: str = "",
                 slot: ModelSlot | None = None, cancelled: Callable[[], bool] | None = None) -> None:
        """`owner` is the signed-in user on a shared instance ('' when single-user): a runner only
        ever sees that user's projects, folders and media. `slot` (the web app's) makes model jobs
        of all users take turns; `cancelled` says the caller has left, so waiting and running
        jobs stop."""
        super().__init__(store, owner=owner)
        self.slot = slot
        self.cancelled: Callable[[], bool] = cancelled or (lambda: False)
        self._engines = engines
        self._engines_factory = engines_factory

    # -- engines ---------------------------------------------------------------------------------
    @property
    def engines(self) -> EngineProvider:
        if self._engines is None:
            if self._engines_factory is not None:
                self._engines = self._engines_factory()
            else:
                from aiuteur.engines.registry import Engines

                self._engines = Engines.for_home(self.store.home)
        return self._engines

    # -- the editors' passage rewrite --------------------------------------------------------------
    def rewrite_passage(self, project_id: str, stage: Stage, text: str, start: int, end: int, instruction: str,
                        *, seed: int | None = None) -> passage.PassageResult:
        """Rewrite `text[start:end]` by `instruction` with the project's story rules and text engine.

        It runs as the stage's RewritePassage action (taking its turn with other model jobs, its take
        kept in the stage's history). The artifact is not saved: the caller puts the result in the
        editor, where the filmmaker saves it.

        Raises:
            InputError: a bad selection or instruction, or the model failed (said in one sentence).
        """
        if stage not in passage.KINDS:
            raise InputError(f"{stage.title} has no text to rewrite a passage of.")
        result = self.run(project_id, stage, action=actions.RewritePassage(text=text, start=start, end=end),
                          seed=seed, guidance=instruction)
        take = result.takes[0]
        if not take.ok or take.output is None:
            raise InputError(take.error or "The passage could not be rewritten; try again.")
        spliced, new_start, new_end = passage.splice(text, start, end, str(take.output["text"]))
        return passage.PassageResult(spliced, new_start, new_end, take)

    # -- running ---------------------------------------------------------------------------------
    def run(self, project_id: str, stage: Stage, scene_id: str | None = None, action: Action | None = None, *,
            seed: int | None = None, guidance: str = "", progress: ProgressFn | None = None,
            cancelled: Callable[[], bool] | None = None,
            on_partial: Callable[[Any], None] | None = None) -> RunResult:
        """Run one stage (for one scene) and save its takes and, when it made one, the artifact.

        `action` is one of the stage's models in `actions.py` (None: the stage's whole run).
        """
        fn = STAGES.get(stage)
        if fn is None:
            raise InputError(f"{stage.title} is edited by hand, not run; there is nothing to generate.")
        action = actions.check(stage, action)
        self._check_media(project_id, action)
        if stage.per_scene and scene_id is None:
            raise InputError(f"{stage.title} is made per scene; choose a scene first.")
        guidance = clean_text(guidance or "", "The instruction", max_chars=MAX_GUIDANCE_CHARS)
        check = cancelled or self.cancelled
        job = _Job(stage, fn, scene_id, seed, guidance, action, progress, check, on_partial)
        if self.slot is None:
            return self._run(project_id, job)
        with self.slot.hold(self.owner, check):  # one job at a time; users take turns
            return self._run(project_id, job)

    def _check_media(self, project_id: str, action: Action) -> None:
        """Refuse an action that names a media file this project does not have (an upload to
        another project, someone else's file): the owner check the app's media reads use."""
        if not action.media_keys:
            return
        self._check_owned(project_id)
        for key in action.media_keys:
            try:
                self.media_path(key, project_id, must_exist=False)
            except NotFoundError:
                raise InputError(f"The image {key!r} was not uploaded to this project; upload it here first.") from None

    def _run(self, project_id: str, job: _Job) -> RunResult:
        stage, fn, scene_id = job.stage, job.fn, job.scene_id
        # 1. Load inputs under the lock, then let go of it.
        with self._read(project_id) as tx:
            state = self._state(tx)
            project = tx.project
        self._check_ready(state, stage, scene_id, needs_upstream=job.action.needs_upstream)
        loaded = upstream.load(state, stage, scene_id)  # one read: what the stage sees, what it is made from
        made_from = loaded.fingerprint
        ctx = StageContext(
            state=loaded.state, project=project, scene_id=scene_id, engines=self.engines,
            seed=job.seed if job.seed is not None else int(time.time()) % 2**31, guidance=job.guidance,
            action=job.action, progress=job.progress, on_partial=job.on_partial, put_media=self.store.put_media,
            read_media=lambda key: self.store.media_path(key).read_bytes(),
            cancelled=job.cancelled, past_takes=lambda st, sc: self.takes(project_id, st, sc),
            capsules=self.store.capsules(project.owner),
        )
        # 2. Run the stage outside the lock; a crash becomes a failed take, never a lost project.
        #    Stopped (Stop pressed, caller gone), its model calls end at their next safe point.
        t0 = time.perf_counter()
        try:
            with stop_when(job.cancelled):
                outcome = fn(ctx)
        except AiuteurError:
            raise
        except Exception as e:
            log.warning("%s failed: %s", stage.title, describe_error(e))
            log.debug("%s", traceback.format_exc())
            outcome = StageOutcome(takes=[failed_take(stage, scene_id, stage.value, made_from, e,
                                                      time.perf_counter() - t0, job.action.target, ctx.seed)])
        if job.cancelled():
            outcome = kept_when_stopped(outcome)
        # 3. Save takes and the chosen artifact, all or nothing. The artifact was made from what was
        #    read in step 1: if someone saved it meanwhile, their save is kept and the new takes go
        #    to the history only (a run never replaces an edit it did not see).
        targets = [(stage, scene_id), *((st, sc) for st, sc, _ in outcome.extra)]
        read = {t: _revision(state, *t) for t in targets}
        changed: list[str] = []
        with self._tx(project_id) as tx:
            now_state = self._state(tx)
            for take in outcome.takes:
                tx.add_take(take)
            record = None
            if outcome.artifact is not None:
                if now_state.branch.is_locked(stage, scene_id):
                    raise LockError(f"{stage.title} was locked while it ran; the new takes are kept in its history.")
                changed = [f"{st.title} (now revision {_revision(now_state, st, sc)}, it started from {read[(st, sc)]})"
                           for st, sc in targets if _revision(now_state, st, sc) != read[(st, sc)]]
                if not changed:
                    record = self._put(tx, now_state, stage, scene_id, outcome.artifact, outcome.take_id, made_from)
                    for extra_stage, extra_scene, extra_artifact in outcome.extra:
                        self._put(tx, now_state, extra_stage, extra_scene, extra_artifact, None,
                                  graph.fingerprints(now_state, extra_stage, extra_scene))
            self._set_position(tx, now_state.branch, stage, scene_id)
            tx.touch()
            tx.commit()
        if changed:
            raise ConflictError(f"{', '.join(changed)} was saved by someone else while this ran; their version is "
                                "kept and the new takes are in the history, to choose from.")
        return RunResult(stage, scene_id, outcome.takes, record)

    def _put(self, tx: Tx, state: ProjectState, stage: Stage, scene_id: str | None, artifact: BaseModel,
             take_id: str | None, upstream: dict[str, str]) -> ArtifactRecord:
        current = state.record(stage, scene_id)
        record = ArtifactRecord(
            branch=state.branch.id, stage=stage, scene_id=scene_id if stage.per_scene else None,
            revision=(current.revision + 1) if current else 1,
            data=artifact.model_dump(mode="json"), take_id=take_id, upstream=upstream, source="generated",
        )
        tx.put_record(record)
        return record

    def _check_ready(self, state: ProjectState, stage: Stage, scene_id: str | None, *,
                     needs_upstream: bool = True) -> None:
        """Refuse to run a stage whose inputs are not there yet, saying what to do first."""
        if graph.status(state, stage, scene_id) == Status.LOCKED:
            raise LockError(f"{stage.title} is locked; unlock it to make new takes.")
        if not needs_upstream:
            return
        prev = stage.previous
        while prev is not None and graph.status(state, prev, scene_id if prev.per_scene else None) == Status.SKIPPED:
            prev = prev.previous
        if prev is None:
            return
        prev_status = graph.status(state, prev, scene_id if prev.per_scene else None)
        if prev_status in (Status.EMPTY, Status.DRAFT):
            raise InputError(f"{stage.title} is made from {prev.title}, which is {prev_status.value}; finish it first.")
