"""The stage graph, declared once: what each stage is made from, when it is complete, and the
derived status and lock rules that follow.

Status is never stored. It is computed from the saved artifacts, the branch's locks and the
fingerprints of the upstream data each artifact was made from, so the pipeline graphic can
never disagree with the data (DESIGN.md, core ideas 1-3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiuteur.domain import (
    STAGE_ORDER,
    ArtifactRecord,
    Branch,
    LockError,
    LockKey,
    NeedsChoiceError,
    Stage,
    Status,
)
from aiuteur.pipeline import upstream
from aiuteur.pipeline.state import ProjectState as ProjectState  # where stages have always found it
from aiuteur.pipeline.state import SceneId as SceneId

# --- what each stage is made from: its loader (upstream.py) ------------------------------------


def fingerprints(state: ProjectState, stage: Stage, scene_id: SceneId = None) -> dict[str, str]:
    """Hashes of the upstream inputs of a stage as they are now; saved with each artifact.

    They come from the stage's loader, the same read that gives the stage its inputs."""
    return upstream.load(state, stage, scene_id).fingerprint


# --- when a stage is complete ----------------------------------------------------------------


def _input_complete(d: dict[str, Any], _s: ProjectState, _sc: SceneId) -> bool:
    has_text = any(str(src.get("text", "")).strip() for src in d.get("sources", []))
    return has_text or bool(str(d.get("brief", {}).get("plot", "")).strip())


def _frames_complete(d: dict[str, Any], state: ProjectState, scene_id: SceneId) -> bool:
    frames = d.get("frames", [])
    return bool(frames) and all(f.get("image") for f in frames if f.get("which") == "start")


def _video_complete(d: dict[str, Any], _s: ProjectState, _sc: SceneId) -> bool:
    clips = d.get("clips", [])
    return bool(d.get("animatic")) or (bool(clips) and all(c.get("video") for c in clips))


COMPLETE: dict[Stage, Callable[[dict[str, Any], ProjectState, SceneId], bool]] = {
    Stage.INPUT: _input_complete,
    Stage.TREATMENT: lambda d, s, sc: d.get("chosen") is not None,
    Stage.BEATS: lambda d, s, sc: bool(d.get("beats")),
    Stage.SCRIPT: lambda d, s, sc: bool(d.get("scenes")),
    Stage.ASSETS: lambda d, s, sc: True,  # no asset is mandatory
    Stage.HUB: lambda d, s, sc: True,
    Stage.SHOTS: lambda d, s, sc: bool(d.get("shots")),
    Stage.ASSET_STATES: lambda d, s, sc: True,  # proceeding needs no image per asset
    Stage.PROMPTS: lambda d, s, sc: bool(d.get("prompts")),
    Stage.FRAMES: _frames_complete,
    Stage.CONFIRM: lambda d, s, sc: bool(d.get("confirmed")),
    Stage.VIDEO: _video_complete,
}


# --- derived status -------------------------------------------------------------------------


def is_stale(state: ProjectState, rec: ArtifactRecord) -> bool:
    if not rec.upstream:
        return False
    now = upstream.load(state, rec.stage, rec.scene_id)  # only the names it was saved with are hashed
    return any(now.hash_of(k) != v for k, v in rec.upstream.items())


def status(state: ProjectState, stage: Stage, scene_id: SceneId = None) -> Status:
    """The status of a project-level stage, or of a per-scene stage for one scene."""
    if stage.per_scene and scene_id is None:
        return aggregate_status(state, stage)
    if stage in (Stage.TREATMENT, Stage.BEATS) and state.skips_writing:
        return Status.SKIPPED
    if stage.per_scene and scene_id in state.deferred:
        return Status.SKIPPED
    if state.branch.is_locked(stage, scene_id):
        return Status.LOCKED
    rec = state.record(stage, scene_id)
    if stage == Stage.HUB and rec is None:
        return Status.DONE if state.scenes else Status.EMPTY
    if rec is None:
        return Status.EMPTY
    if is_stale(state, rec):
        return Status.STALE
    return Status.DONE if COMPLETE[stage](rec.data, state, scene_id) else Status.DRAFT


def aggregate_status(state: ProjectState, stage: Stage) -> Status:
    """A per-scene stage over the whole film, from its scenes' statuses."""
    statuses = [status(state, stage, sid) for sid in state.scene_ids]
    if not statuses:
        return Status.EMPTY
    active = [s for s in statuses if s != Status.SKIPPED]
    if not active:
        return Status.SKIPPED
    if Status.STALE in active:
        return Status.STALE
    if all(s == Status.LOCKED for s in active):
        return Status.LOCKED
    if all(s in (Status.DONE, Status.LOCKED) for s in active):
        return Status.DONE
    if all(s == Status.EMPTY for s in active):
        return Status.EMPTY
    return Status.DRAFT


def all_statuses(state: ProjectState) -> dict[Stage, Status]:
    return {stage: status(state, stage) for stage in STAGE_ORDER}


def scene_statuses(state: ProjectState, scene_id: str) -> dict[Stage, Status]:
    return {stage: status(state, stage, scene_id) for stage in STAGE_ORDER if stage.per_scene}


def scene_stage(state: ProjectState, scene_id: str) -> Stage:
    """Where a scene stands: the first per-scene stage that is not done yet (or the last)."""
    per_scene = [s for s in STAGE_ORDER if s.per_scene]
    for stage in per_scene:
        if status(state, stage, scene_id) not in (Status.DONE, Status.LOCKED, Status.SKIPPED):
            return stage
    return per_scene[-1]


# --- locks ----------------------------------------------------------------------------------

_SATISFIED = (Status.LOCKED, Status.SKIPPED)


def _where(state: ProjectState, stage: Stage, scene_id: SceneId) -> str:
    return f"{stage.title} for {state.scene_label(scene_id)}" if stage.per_scene and scene_id else stage.title


def check_can_lock(state: ProjectState, stage: Stage, scene_id: SceneId = None) -> None:
    """Raise LockError, in plain words, unless `stage` (for `scene_id`) may be locked now."""
    if stage.per_scene and scene_id is None:
        raise LockError(f"{stage.title} is locked scene by scene; choose a scene first.")
    here = status(state, stage, scene_id)
    what = _where(state, stage, scene_id)
    if here == Status.LOCKED:
        raise LockError(f"{what} is already locked.")
    if here == Status.SKIPPED:
        raise LockError(f"{what} was skipped, so there is nothing to lock.")
    prev = stage.previous
    if prev is not None:
        prev_scene = scene_id if prev.per_scene else None
        prev_status = status(state, prev, prev_scene)
        if prev_status not in _SATISFIED:
            raise LockError(
                f"Can't lock {what} yet: lock {_where(state, prev, prev_scene)} first "
                f"(it is {prev_status.value})."
            )
    if here == Status.EMPTY:
        raise LockError(f"Can't lock {what}: nothing has been made yet.")
    if here == Status.STALE:
        raise LockError(f"Can't lock {what}: it was made from inputs that have changed since; regenerate it or keep it as is first.")
    if here == Status.DRAFT:
        raise LockError(f"Can't lock {what}: it is still a draft; finish it first.")


def downstream_locks(branch: Branch, stage: Stage, scene_id: SceneId = None) -> list[LockKey]:
    """Locks that depend on `stage` (for one scene when the stage is per scene)."""
    later = set(stage.downstream())
    out: list[LockKey] = []
    for lk in branch.locks:
        if lk.stage not in later:
            continue
        if stage.per_scene and lk.scene_id != scene_id:
            continue
        out.append(lk)
    return out


def check_can_edit(state: ProjectState, stage: Stage, scene_id: SceneId = None) -> None:
    """Raise LockError when the artifact is locked (read-only)."""
    if state.branch.is_locked(stage, scene_id):
        raise LockError(
            f"{_where(state, stage, scene_id)} is locked and read-only. Unlock it to edit "
            "(unlock in a new branch to keep the approved version intact)."
        )


def unlock_plan(state: ProjectState, stage: Stage, scene_id: SceneId, mode: str | None) -> list[LockKey]:
    """The locks to remove; raises NeedsChoiceError when approved work downstream needs a choice."""
    key = LockKey(stage=stage, scene_id=scene_id if stage.per_scene else None)
    if key not in state.branch.locks:
        raise LockError(f"{_where(state, stage, scene_id)} is not locked.")
    below = downstream_locks(state.branch, stage, scene_id)
    if below and mode not in ("here", "branch"):
        names = sorted({lk.stage.title for lk in below}, key=lambda t: [s.title for s in STAGE_ORDER].index(t))
        raise NeedsChoiceError(
            f"Unlocking {_where(state, stage, scene_id)} reopens approved work after it "
            f"({', '.join(names)}). Unlock in a new branch to keep the approved version intact, "
            "or unlock here: the work after it becomes stale when you change this stage.",
            options=["branch", "here"],
        )
    return [key, *below]
