"""The one place that loads upstream artifacts, runs a stage, and saves the take and the choice.

The UI, the CLI and the client API all call `Runner`; none of them touch a model or the
database directly. A model call runs outside the project lock (minutes on a CPU must not block
other edits); its inputs are fingerprinted when loaded, so an artifact made from inputs that
changed meanwhile simply shows as stale.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aiuteur.domain import (
    STAGE_ORDER,
    AiuteurError,
    ArtifactRecord,
    Branch,
    ConflictError,
    HubState,
    InputError,
    LockError,
    LockKey,
    NotFoundError,
    Position,
    Project,
    Stage,
    Status,
    Take,
    artifact_model,
    now_iso,
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
    hub,
    passage,
    prompts_stage,
    script,
    shot_list,
    treatment,
    video,
)
from aiuteur.pipeline.actions import Action, Estimate
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.projects import Projects, check_branch_seen
from aiuteur.pipeline.slot import ModelSlot
from aiuteur.pipeline.stage import (
    EngineProvider,
    ProgressFn,
    StageContext,
    StageFn,
    StageOutcome,
    describe_error,
    failed_take,
)
from aiuteur.pipeline.text_in import clean_data, clean_text
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


@dataclass
class RunResult:
    stage: Stage
    scene_id: str | None
    takes: list[Take]
    record: ArtifactRecord | None

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.takes)

    @property
    def errors(self) -> list[str]:
        return [t.error for t in self.takes if not t.ok]

    @property
    def notes(self) -> list[str]:
        """What the stage kept although a check did not pass (weak but usable), one sentence each."""
        return [t.note for t in self.takes if t.note]


@dataclass
class ProjectView:
    """Everything a screen needs about a project, derived in one read."""

    project: Project
    branch: Branch
    branches: list[Branch]
    state: ProjectState
    statuses: dict[Stage, Status]

    @property
    def position(self) -> Position:
        return self.branch.position

    def data(self, stage: Stage, scene_id: str | None = None) -> dict[str, Any] | None:
        return self.state.data(stage, scene_id)

    def revision(self, stage: Stage, scene_id: str | None = None) -> int:
        rec = self.state.record(stage, scene_id)
        return rec.revision if rec else 0

    def scene_statuses(self, scene_id: str) -> dict[Stage, Status]:
        return graph.scene_statuses(self.state, scene_id)


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


def _artifact(stage: Stage, data: BaseModel | dict[str, Any], scene_id: str | None) -> BaseModel:
    """`data` as the stage's artifact model, or InputError naming the first field that does not fit."""
    model = artifact_model(stage.value)
    raw = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    try:
        artifact = model.model_validate(clean_data(raw, stage.title))
    except ValidationError as e:
        raise InputError(f"{stage.title} could not be saved: {_first_error(e)}") from None
    if stage.per_scene and scene_id is None:
        raise InputError(f"{stage.title} is made per scene; say which scene.")
    return artifact


def _save_in(tx: Tx, branch: Branch, stage: Stage, artifact: BaseModel, scene_id: str | None,
             base_revision: int | None, source: str) -> tuple[ArtifactRecord, bool]:
    """Put a user's edit in an open transaction: (the record, whether anything changed)."""
    current = tx.get_record(stage, scene_id, branch.id)
    upstream = current.upstream if current else {}
    if current is None or branch.is_locked(stage, scene_id):
        # the full upstream is read only when needed: a plain re-save touches one shard
        state = ProjectState.build(branch, tx.records(branch.id))
        if stage.per_scene and scene_id not in state.scene_ids:
            raise InputError(f"No scene {scene_id!r} in the master script of this branch.")
        graph.check_can_edit(state, stage, scene_id)
        upstream = graph.fingerprints(state, stage, scene_id)
    now = current.revision if current is not None else 0  # 0: nothing saved yet
    # nothing saved here yet (now 0): nobody's work can be lost, whatever revision the editor
    # last saw (a form still holding another project's revision after a project was created)
    if base_revision is not None and now != base_revision and now != 0:
        raise ConflictError(
            f"{stage.title} was changed by someone else since you opened it (now revision "
            f"{now}, yours was {base_revision}). Your version is kept so you can reapply it.",
            yours=artifact.model_dump(mode="json"),
        )
    record = ArtifactRecord(
        branch=branch.id, stage=stage, scene_id=scene_id if stage.per_scene else None,
        revision=(current.revision + 1) if current else 1,
        data=artifact.model_dump(mode="json"),
        take_id=current.take_id if current else None,
        upstream=upstream,
        source=source,  # type: ignore[arg-type]
    )
    if current is not None and current.data == record.data:
        return current, False
    tx.put_record(record)
    return record, True


@dataclass(frozen=True)
class SeenStage:
    """What a user saw of a stage when they locked or unlocked it: the branch, the artifact's
    revision (0: nothing saved) and whether it was locked."""

    branch: str
    revision: int
    locked: bool

    @classmethod
    def of(cls, view: ProjectView, stage: Stage, scene_id: str | None) -> SeenStage:
        sid = scene_id if stage.per_scene else None
        return cls(view.branch.id, view.revision(stage, sid), view.branch.is_locked(stage, sid))


def _check_seen(tx: Tx, stage: Stage, scene_id: str | None, seen: SeenStage | None, outcome: str) -> None:
    """Refuse a lock or unlock made from a view of `stage` that someone else changed since."""
    if seen is None:
        return
    check_branch_seen(tx, seen.branch, outcome)
    branch = tx.branch()
    sid = scene_id if stage.per_scene else None
    record = tx.get_record(stage, sid, branch.id)
    now = record.revision if record is not None else 0
    if now != seen.revision:
        raise ConflictError(f"{stage.title} was changed by someone else since you looked at it (now revision {now}, "
                            f"yours was {seen.revision}); {outcome}.")
    if branch.is_locked(stage, sid) != seen.locked:
        by = "locked" if branch.is_locked(stage, sid) else "unlocked"
        raise ConflictError(f"{stage.title} was {by} by someone else since you looked at it; {outcome}.")


class Edit:
    """An open, locked change of a project (see `Runner.edit`): read `state`, then put and move."""

    def __init__(self, tx: Tx, state: ProjectState) -> None:
        self._tx = tx
        self.state = state
        self.changed = False  # anything to write
        self.edited = False  # an artifact changed (the project's last change moves)

    @property
    def position(self) -> Position:
        return self.state.branch.position

    def put(self, stage: Stage, data: BaseModel | dict[str, Any], scene_id: str | None = None, *,
            base_revision: int | None = None) -> ArtifactRecord:
        """Save an artifact as a user's edit (the position is left where it is); `state` follows.

        `base_revision` as for `Runner.save` (None: what this edit read under the same lock)."""
        record, changed = _save_in(self._tx, self._tx.branch(), stage, _artifact(stage, data, scene_id), scene_id,
                                   base_revision, "edited")
        if changed:
            self.state = ProjectState(self.state.branch, {**self.state.records, (record.stage, record.scene_id): record})
        self.changed |= changed
        self.edited |= changed
        return record

    def move(self, stage: Stage, scene_id: str | None = None, *, remember: bool = True) -> Position:
        """Remember where the user is working (reopening lands here).

        A per-scene stage is remembered for its scene too, as `Runner.visit` does (`remember`)."""
        pos_scene = scene_id if stage.per_scene else None
        if pos_scene is not None and pos_scene not in self.state.scene_ids:
            raise InputError("That scene is not in the script of this branch.")
        branch = self._tx.branch()
        moved = branch.at(stage, pos_scene, remember=remember)
        if moved != branch:
            self._tx.put_branch(moved)
            self.state = ProjectState(moved, self.state.records)
            self.changed = True
        return moved.position


MAX_GUIDANCE_CHARS = 20_000  # an instruction to a model, not a manuscript


class Runner(Projects):
    """Runs stages and saves every change to a project's work through the store.

    Project administration (projects, folders, backups, media, capsules, branches) is the part
    it shares with every caller, in `Projects` (pipeline/projects.py); this class adds reading a
    project's state, edits, runs, choices and locks.
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

    # -- reading ---------------------------------------------------------------------------------
    def _state(self, tx: Tx, scenes: list[str] | None = None) -> ProjectState:
        """The branch's saved state; `scenes` limits the per-scene shards read (a save touches one)."""
        branch = tx.branch()
        return ProjectState.build(branch, tx.records(branch.id, scenes))

    def view(self, project_id: str) -> ProjectView:
        with self._read(project_id) as tx:
            state = self._state(tx)
            return ProjectView(tx.project, state.branch, tx.branches(), state, graph.all_statuses(state))

    def open(self, project_id: str) -> Position:
        """Where to land when the project is reopened: exactly where the user left off."""
        with self._read(project_id) as tx:
            return tx.branch().position

    def takes(self, project_id: str, stage: Stage, scene_id: str | None = None, target: str | None = None) -> list[Take]:
        with self._read(project_id) as tx:
            return tx.takes(stage, scene_id, target)

    def visit(self, project_id: str, stage: Stage, scene_id: str | None = None, *,
              remember: bool = True) -> Position:
        """Remember where the user is working (reopening lands here).

        A per-scene stage is remembered for its scene too (the hub reopens the scene there),
        unless `remember` is False (the scene picker shows another scene at the same stage
        without moving where that scene was left)."""
        pos_scene = scene_id if stage.per_scene else None
        with self._tx(project_id) as tx:
            branch = tx.branch()
            if pos_scene is not None and pos_scene not in ProjectState.build(branch, tx.records(branch.id)).scene_ids:
                raise InputError("That scene is not in the script of this branch.")
            moved = branch.at(stage, pos_scene, remember=remember)
            if moved != branch:
                tx.put_branch(moved)
                tx.commit()
        return moved.position

    # -- editing ---------------------------------------------------------------------------------
    def save(self, project_id: str, stage: Stage, data: BaseModel | dict[str, Any], scene_id: str | None = None,
             *, base_revision: int | None = None, source: str = "edited") -> ArtifactRecord:
        """Save a user's edit of an artifact.

        `base_revision` is the revision the user's edit was made from (0: nothing was saved yet);
        None saves whatever is there (only for code that has just read it under the same lock).

        Raises:
            LockError: the artifact is locked.
            ConflictError: someone saved it since `base_revision`; the edit is kept on the error.
            InputError: the data does not fit the artifact.
        """
        artifact = _artifact(stage, data, scene_id)
        with self._tx(project_id) as tx:
            branch = tx.branch()
            record, changed = _save_in(tx, branch, stage, artifact, scene_id, base_revision, source)
            if not changed:
                return record  # nothing changed: no write
            self._set_position(tx, branch, stage, scene_id)
            tx.touch()
            tx.commit()
        return record

    @contextlib.contextmanager
    def edit(self, project_id: str) -> Iterator[Edit]:
        """One locked change of several artifacts and the position, all or nothing.

        `with runner.edit(pid) as e: e.put(Stage.HUB, hub); e.move(stage, scene_id)`; nothing is
        written when nothing changed.
        """
        with self._tx(project_id) as tx:
            edit = Edit(tx, self._state(tx))
            yield edit
            if edit.edited:
                tx.touch()
            if edit.changed:
                tx.commit()

    # -- the hub: opening and deferring scenes --------------------------------------------------
    def open_scene(self, project_id: str, scene_id: str) -> Position:
        """Open a scene to produce it: land on the stage where it was left (else where it stands).

        One locked change: the current position, when it is a per-scene stage of another scene, is
        remembered for that scene; a deferred scene is taken up again (unless the hub is locked);
        then the position moves to the scene. Nothing is written when nothing changes.
        """
        with self.edit(project_id) as e:
            if scene_id not in e.state.scene_ids:
                raise InputError("That scene is not in the script of this branch.")
            pos = e.position
            if pos.scene_id and pos.stage.per_scene and pos.scene_id != scene_id and pos.scene_id in e.state.scene_ids:
                e.move(pos.stage, pos.scene_id)  # where the other scene was left
            state = hub.hub_state(e.state)
            if scene_id in state.deferred and not e.state.branch.is_locked(Stage.HUB):
                e.put(Stage.HUB, hub.with_deferred(state, scene_id, False))
            return e.move(hub.stands_at(e.state, scene_id), scene_id)

    def set_deferred(self, project_id: str, scene_id: str, deferred: bool,
                     base_revision: int | None = None) -> HubState:
        """Defer a scene (its per-scene stages show as skipped) or take it up again. Position stays.

        `base_revision` is the revision of the hub the user saw (0: nothing saved): if someone deferred
        or took up a scene since, nothing changes (ConflictError). None: from the hub read here."""
        with self.edit(project_id) as e:
            if scene_id not in e.state.scene_ids:
                raise InputError("That scene is not in the script of this branch.")
            current = hub.hub_state(e.state)
            new = hub.with_deferred(current, scene_id, deferred)
            if new != current:
                e.put(Stage.HUB, new, base_revision=base_revision)
        return new

    def note_position(self, project_id: str, stage: Stage, scene_id: str | None) -> None:
        """Remember that the filmmaker works on `stage` of `scene_id` (per-scene stages only), so
        reopening the scene from the hub lands there. A scene no longer in the script is left alone."""
        if not stage.per_scene or not scene_id:
            return
        try:
            self.visit(project_id, stage, scene_id)
        except InputError:  # the scene left the script meanwhile
            return

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

    def accept_upstream(self, project_id: str, stage: Stage, scene_id: str | None = None) -> ArtifactRecord:
        """Keep a stale artifact as it is: record the current upstream as what it was made from."""
        with self._tx(project_id) as tx:
            state = self._state(tx)
            graph.check_can_edit(state, stage, scene_id)
            rec = state.record(stage, scene_id)
            if rec is None:
                raise InputError(f"{stage.title} has nothing saved to keep.")
            new = rec.model_copy(update={"upstream": graph.fingerprints(state, stage, scene_id),
                                         "revision": rec.revision + 1, "updated_at": now_iso()})
            tx.put_record(new)
            tx.commit()
        return new

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
        upstream = graph.fingerprints(state, stage, scene_id)
        ctx = StageContext(
            state=state, project=project, scene_id=scene_id, engines=self.engines,
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
            outcome = StageOutcome(takes=[failed_take(stage, scene_id, stage.value, upstream, e,
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
                    record = self._put(tx, now_state, stage, scene_id, outcome.artifact, outcome.take_id, upstream)
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

    def _set_position(self, tx: Tx, branch: Branch, stage: Stage, scene_id: str | None) -> None:
        current = tx.branch(branch.id)
        moved = current.at(stage, scene_id)
        if moved != current:
            tx.put_branch(moved)

    def choose(self, project_id: str, stage: Stage, take_id: str, scene_id: str | None = None) -> ArtifactRecord:
        """Make an earlier whole-artifact take the chosen one again."""
        with self._tx(project_id) as tx:
            state = self._state(tx)
            graph.check_can_edit(state, stage, scene_id)
            take = tx.get_take(take_id, stage, scene_id)
            if not take.ok or take.output is None:
                raise InputError(f"That take failed ({take.error}); choose another one.")
            model = artifact_model(stage.value)
            artifact = model.model_validate(take.output)
            record = self._put(tx, state, stage, scene_id, artifact, take.id,
                               graph.fingerprints(state, stage, scene_id))
            tx.touch()
            tx.commit()
        return record

    # -- locks and branches ------------------------------------------------------------------------
    def lock(self, project_id: str, stage: Stage, scene_id: str | None = None, *,
             seen: SeenStage | None = None) -> Branch:
        """Lock (approve) a stage. With `seen` (what the user looked at), work someone changed since
        is not locked unseen (ConflictError)."""
        with self._tx(project_id) as tx:
            _check_seen(tx, stage, scene_id, seen, "it was not locked. Look at it again, then lock it")
            state = self._state(tx)
            graph.check_can_lock(state, stage, scene_id)
            key = LockKey(stage=stage, scene_id=scene_id if stage.per_scene else None)
            branch = state.branch.model_copy(update={"locks": [*state.branch.locks, key]})
            tx.put_branch(branch)
            tx.touch()
            tx.commit()
        return branch

    def unlock(self, project_id: str, stage: Stage, scene_id: str | None = None, mode: str | None = None,
               branch_name: str = "", *, seen: SeenStage | None = None) -> Branch:
        """Unlock a stage. With locked work after it, `mode` must be "branch" or "here".

        "branch" leaves the approved branch untouched and continues in a copy where the stage is
        unlocked; "here" unlocks it and everything locked after it in this branch. With `seen`
        (what the user looked at), nothing changes when someone changed it since (ConflictError).
        """
        with self._tx(project_id) as tx:
            _check_seen(tx, stage, scene_id, seen, "nothing was unlocked. Look at it again first")
            state = self._state(tx)
            remove = graph.unlock_plan(state, stage, scene_id, mode)
            if mode == "branch":
                name = branch_name.strip() or f"{state.branch.name} · reopen {stage.title.lower()}"
                new = Branch(name=name[:120], parent=state.branch.id, forked_at=stage.value,
                             locks=[lk for lk in state.branch.locks if lk not in remove],
                             position=state.branch.position)
                tx.copy_branch_records(state.branch.id, new.id)
                tx.put_branch(new)
                tx.put_project(tx.project.model_copy(update={"active_branch": new.id, "updated_at": now_iso()}))
                tx.commit()
                return new
            branch = state.branch.model_copy(update={"locks": [lk for lk in state.branch.locks if lk not in remove]})
            tx.put_branch(branch)
            tx.touch()
            tx.commit()
        return branch

    # -- headless pipeline --------------------------------------------------------------------------
    def run_until(self, project_id: str, until: Stage, *, seed: int = 0, confirm: bool | None = None,
                  progress: ProgressFn | None = None,
                  stage_actions: dict[Stage, Action] | None = None) -> Iterator[Step]:
        """Run every stage up to `until` with default choices, reporting each step.

        Stages already done, locked or skipped are left as they are; a stage that fails stops the
        run there. `stage_actions` gives the action of a stage's runs (the evals run
        stage 5 as `Extract(references=False)`); every other stage makes its whole artifact.
        """
        stages = STAGE_ORDER[1 : STAGE_ORDER.index(until) + 1]
        for i, stage in enumerate(stages):
            view = self.view(project_id)
            if progress:
                progress(i / max(1, len(stages)), f"Stage {stage.number}: {stage.title}")
            if stage == Stage.HUB:
                yield Step(stage, None, "ready" if view.state.scenes else "no scenes")
                continue
            scene_ids: list[str | None] = list(view.state.scene_ids) if stage.per_scene else [None]
            action = actions.check(stage, (stage_actions or {}).get(stage)) if stage in actions.DEFAULTS else None
            if stage == Stage.CONFIRM and confirm is not None:
                action = (action if isinstance(action, Estimate) else Estimate()).model_copy(update={"confirm": confirm})
            ahead = self._scenes_at_once(project_id, stage, scene_ids, view.state, seed, action)
            for sid in scene_ids:
                st = graph.status(view.state, stage, sid)
                if st in (Status.DONE, Status.LOCKED, Status.SKIPPED):
                    yield Step(stage, sid, st.value)
                    continue
                try:
                    result = ahead[sid].result() if sid in ahead else self.run(project_id, stage, sid, seed=seed,
                                                                                action=action)
                except AiuteurError as e:
                    yield Step(stage, sid, f"failed: {e}")
                    return
                if result.record is None:
                    why = "; ".join(result.errors) or "the stage made nothing to save"
                    yield Step(stage, sid, f"failed: {why}", result)
                    return
                record = self._apply_default_choice(project_id, stage, sid, result.record)
                if stage == Stage.CONFIRM and not record.data.get("confirmed"):
                    why = "; ".join(record.data.get("assumptions", [])[-1:]) or "the cost estimate needs your confirmation"
                    yield Step(stage, sid, f"failed: not confirmed: {why} Confirm it in the app, or run with --confirm.",
                               RunResult(stage, sid, result.takes, record))
                    return
                made = "made" + "".join(f" ({n})" for n in result.notes)
                yield Step(stage, sid, made if result.ok else f"{made}, with failed takes: {'; '.join(result.errors)}",
                           RunResult(stage, sid, result.takes, record))

    def _scenes_at_once(self, project_id: str, stage: Stage, scene_ids: list[str | None], state: ProjectState,
                        seed: int, action: Action | None) -> dict[str | None, Any]:
        """With cluster replicas, the keyframes and clips of several scenes start together.

        Returns a future per scene still to run (empty in-process: scenes then run one by one).
        Scenes are independent at these stages, and each scene's run saves its own takes.
        """
        kind = PARALLEL_SCENE_STAGES.get(stage)
        count = getattr(self.engines, "parallelism", None)
        workers = int(count(kind)) if kind and callable(count) else 1
        todo = [sid for sid in scene_ids
                if graph.status(state, stage, sid) not in (Status.DONE, Status.LOCKED, Status.SKIPPED)]
        if workers <= 1 or len(todo) <= 1:
            return {}
        pool = ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="aiuteur-scenes")
        ahead = {sid: pool.submit(self.run, project_id, stage, sid, action, seed=seed) for sid in todo}
        pool.shutdown(wait=False)
        return ahead

    def _apply_default_choice(self, project_id: str, stage: Stage, scene_id: str | None,
                              record: ArtifactRecord) -> ArtifactRecord:
        """Headless runs take the default where a person would choose (first strong treatment; confirm)."""
        chooser = DEFAULT_CHOICES.get(stage)
        if chooser is None:
            return record
        data = chooser(dict(record.data))
        if data == record.data:
            return record
        return self.save(project_id, stage, data, scene_id, source="generated")


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


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "value"
    where = " ".join(where.split())[:80] or repr(where)[:80]  # one line, whatever the key was
    return f"{where}: {err.get('msg', 'invalid')}"
