"""Project, Branch, Folder and the saved record that wraps every artifact."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aiuteur.domain.base import Frozen, new_id, now_iso
from aiuteur.domain.stages import Stage

MAIN_BRANCH_NAME = "main"


class Position(Frozen):
    """Where the user last worked: reopening a project lands exactly here."""

    stage: Stage = Stage.INPUT
    scene_id: str | None = None


class LockKey(Frozen):
    """A lock on a stage, or on a per-scene stage for one scene."""

    stage: Stage
    scene_id: str | None = None


class Branch(Frozen):
    """A line of work. Unlocking approved work can start a new branch so nothing is lost."""

    id: str = Field(default_factory=lambda: new_id("br"))
    name: str = MAIN_BRANCH_NAME
    parent: str | None = None
    forked_at: str | None = Field(default=None, description="Stage at which it was forked, for the user.")
    created_at: str = Field(default_factory=now_iso)
    locks: list[LockKey] = Field(default_factory=list)
    position: Position = Field(default_factory=Position)
    scene_positions: dict[str, Stage] = Field(
        default_factory=dict, description="Scene id -> the per-scene stage (7-12) where the user last worked on it.")

    def at(self, stage: Stage, scene_id: str | None = None, *, remember: bool = True) -> Branch:
        """This branch with the user at `stage` (of `scene_id` for a per-scene stage).

        A per-scene stage is also remembered for its scene (`remember`), so reopening the scene
        lands there, stages 10-12 included."""
        scene = scene_id if stage.per_scene else None
        update: dict[str, object] = {"position": Position(stage=stage, scene_id=scene)}
        if scene is not None and remember and self.scene_positions.get(scene) != stage:
            update["scene_positions"] = {**self.scene_positions, scene: stage}
        return self.model_copy(update=update)

    def is_locked(self, stage: Stage, scene_id: str | None = None) -> bool:
        return LockKey(stage=stage, scene_id=scene_id if stage.per_scene else None) in self.locks


class Project(Frozen):
    id: str = Field(default_factory=lambda: new_id("pr"))
    title: str = Field(min_length=1, max_length=200)
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    active_branch: str = ""
    owner: str = Field(default="", description="User id on a hosted instance; '' when single-user.")
    prompt_overrides: dict[str, str] = Field(
        default_factory=dict, description="Template id -> project-specific template text."
    )


class Folder(Frozen):
    id: str = Field(default_factory=lambda: new_id("fd"))
    name: str = Field(min_length=1, max_length=120)
    owner: str = ""


class ArtifactRecord(Frozen):
    """How an artifact is saved: its data, the take it came from, and what it was made from.

    `upstream` maps an input name to the fingerprint of that input when this artifact was
    made; when the current fingerprint differs, the artifact is stale.
    """

    branch: str
    stage: Stage
    scene_id: str | None = None
    revision: int = 1
    data: dict[str, Any]
    take_id: str | None = None
    upstream: dict[str, str] = Field(default_factory=dict)
    source: Literal["generated", "edited", "imported", "user"] = "generated"
    updated_at: str = Field(default_factory=now_iso)


class ProjectSummary(Frozen):
    """One card on the dashboard."""

    id: str
    title: str
    folder_id: str | None = None
    stage: Stage = Stage.INPUT
    scene_id: str | None = None
    scene_label: str = Field(default="", description="e.g. 'Scene 3 · Stage 8' in Phase B.")
    updated_at: str = Field(default_factory=now_iso)
    owner: str = ""
