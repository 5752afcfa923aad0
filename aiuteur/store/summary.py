"""The dashboard card of a project, derived from what is saved (never typed in twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiuteur.domain import ProjectSummary, Stage, now_iso

if TYPE_CHECKING:
    from aiuteur.store.store import Tx


def scene_number(tx: Tx, scene_id: str | None) -> str | None:
    """The shown number of a scene of the active branch's script, if it is there."""
    if scene_id is None:
        return None
    rec = tx.get_record(Stage.SCRIPT)
    if rec is None:
        return None
    for s in rec.data.get("scenes", []):
        if s.get("id") == scene_id:
            return str(s.get("number", ""))
    return None


def summarise(tx: Tx, previous: ProjectSummary | None = None) -> ProjectSummary:
    """The card for the project in `tx`; `previous` saves re-reading the script when nothing moved."""
    project = tx.project
    pos = tx.branch().position
    label = f"Stage {pos.stage.number} · {pos.stage.title}"
    if previous is not None and (previous.stage, previous.scene_id) == (pos.stage, pos.scene_id):
        label = previous.scene_label
    elif pos.stage.per_scene:
        n = scene_number(tx, pos.scene_id)
        if n:
            label = f"Scene {n} · Stage {pos.stage.number}"
    return ProjectSummary(
        id=project.id,
        title=project.title,
        stage=pos.stage,
        scene_id=pos.scene_id,
        scene_label=label,
        updated_at=now_iso() if tx.touched else (previous.updated_at if previous else project.updated_at),
        owner=project.owner,
    )
