"""Everything saved on one branch, loaded once: the records every status, fingerprint and stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiuteur.domain import ArtifactRecord, Branch, InputError, InputMode, Script, Stage

SceneId = str | None


class UndeclaredRead(AssertionError):
    """A stage read a record its loader (upstream.py) does not read: a mistake in the code, since
    that record's changes would never make the stage's work stale."""


@dataclass
class ProjectState:
    """Everything saved on one branch, loaded once for derivation.

    A stage gets a state limited to what its loader read (`readable`): reading any other record
    raises `UndeclaredRead` (the stage's run fails, saying so) instead of quietly seeing it.
    """

    branch: Branch
    records: dict[tuple[Stage, SceneId], ArtifactRecord] = field(default_factory=dict)
    readable: frozenset[tuple[Stage, SceneId]] | None = None  # None: every record
    reader: str = ""  # whose state this is, for the sentence of an UndeclaredRead

    @classmethod
    def build(cls, branch: Branch, records: list[ArtifactRecord]) -> ProjectState:
        return cls(branch, {(r.stage, r.scene_id): r for r in records})

    def record(self, stage: Stage, scene_id: SceneId = None) -> ArtifactRecord | None:
        key = (stage, scene_id if stage.per_scene else None)
        if self.readable is not None and key not in self.readable:
            raise UndeclaredRead(f"{self.reader} read {stage.title}{f' of scene {scene_id}' if key[1] else ''}, "
                                 "which its loader in pipeline/upstream.py does not read; declare it there.")
        return self.records.get(key)

    def data(self, stage: Stage, scene_id: SceneId = None) -> dict[str, Any] | None:
        rec = self.record(stage, scene_id)
        return rec.data if rec else None

    # -- convenient views -------------------------------------------------------------------
    @property
    def input_mode(self) -> InputMode | None:
        d = self.data(Stage.INPUT)
        return InputMode(d["mode"]) if d and d.get("mode") else None

    @property
    def skips_writing(self) -> bool:
        return self.input_mode in (InputMode.SKIP_TO_SCRIPT, InputMode.SKIP_TO_STAGE4)

    @property
    def scenes(self) -> list[dict[str, Any]]:
        d = self.data(Stage.SCRIPT)
        return list(d.get("scenes", [])) if d else []

    @property
    def scene_ids(self) -> list[str]:
        return [s["id"] for s in self.scenes]

    def scene(self, scene_id: str) -> dict[str, Any] | None:
        return next((s for s in self.scenes if s["id"] == scene_id), None)

    def scene_label(self, scene_id: str) -> str:
        s = self.scene(scene_id)
        return f"Scene {s['number']}" if s else "a scene no longer in the script"

    @property
    def deferred(self) -> set[str]:
        d = self.data(Stage.HUB)
        return set(d.get("deferred", [])) if d else set()

    def registry_assets(self) -> list[dict[str, Any]]:
        d = self.data(Stage.ASSETS)
        return list(d.get("registry", {}).get("assets", [])) if d else []

    def script(self, refusal: str) -> Script:
        """The saved master script (every stage after 4 reads it here), or InputError(`refusal`)
        when no script with scenes is saved yet."""
        data = self.data(Stage.SCRIPT)
        if not data or not data.get("scenes"):
            raise InputError(refusal)
        return Script.model_validate(data)
