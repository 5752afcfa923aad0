"""A project's work as people change it: what a screen shows, edits, locks and the hub.

`Work` is the part of the runner that never calls a model: it reads a branch's saved state into
a `ProjectView`, saves a user's edit of an artifact (refusing one made from a revision someone
changed since), moves the position, locks and unlocks stages, and opens and defers scenes. Every
operation goes through the owner check of `Projects`. `Runner` (runner.py) is a `Work` that also
runs stages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aiuteur.domain import (
    ArtifactRecord,
    Branch,
    ConflictError,
    HubState,
    InputError,
    LockKey,
    Position,
    Project,
    Stage,
    Status,
    Take,
    artifact_model,
    now_iso,
)
from aiuteur.pipeline import graph, hub
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.projects import Projects, check_branch_seen
from aiuteur.pipeline.text_in import clean_data
from aiuteur.store import Tx


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
    """An open, locked change of a project (see `Work.edit`): read `state`, then put and move."""

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

        `base_revision` as for `Work.save` (None: what this edit read under the same lock)."""
        record, changed = _save_in(self._tx, self._tx.branch(), stage, _artifact(stage, data, scene_id), scene_id,
                                   base_revision, "edited")
        if changed:
            self.state = ProjectState(self.state.branch, {**self.state.records, (record.stage, record.scene_id): record})
        self.changed |= changed
        self.edited |= changed
        return record

    def move(self, stage: Stage, scene_id: str | None = None, *, remember: bool = True) -> Position:
        """Remember where the user is working (reopening lands here).

        A per-scene stage is remembered for its scene too, as `Work.visit` does (`remember`)."""
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


class Work(Projects):
    """Reading and changing one user's projects by hand: views, edits, positions, locks, the hub."""


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

    def _set_position(self, tx: Tx, branch: Branch, stage: Stage, scene_id: str | None) -> None:
        current = tx.branch(branch.id)
        moved = current.at(stage, scene_id)
        if moved != current:
            tx.put_branch(moved)

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


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "value"
    where = " ".join(where.split())[:80] or repr(where)[:80]  # one line, whatever the key was
    return f"{where}: {err.get('msg', 'invalid')}"
