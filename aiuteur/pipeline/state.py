"""Everything saved on one branch, loaded once: the records every status, fingerprint and stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiuteur.domain import (
    ArtifactRecord,
    AssetStates,
    BeatSheet,
    Branch,
    Clips,
    CostEstimate,
    Frames,
    Frozen,
    HubState,
    InputError,
    InputMode,
    Prompts,
    Scene,
    Script,
    ShotList,
    Stage,
    StoryInput,
    StyleAndAssets,
    Treatment,
    read_artifact,
)

SceneId = str | None
M = TypeVar("M", bound=Frozen)


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
    #: Each record read as its model, once: (stage, scene) -> (the record parsed, its model).
    _models: dict[tuple[Stage, SceneId], tuple[ArtifactRecord, Frozen]] = field(
        default_factory=dict, repr=False, compare=False)

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

    def model(self, stage: Stage, scene_id: SceneId, model: type[M]) -> M | None:
        """The saved record of `stage` (for `scene_id`) as its domain model `model` (None: nothing
        saved), parsed once per state, leniently (`read_artifact`: an older project loads)."""
        rec = self.record(stage, scene_id)
        if rec is None:
            return None
        key = (stage, scene_id if stage.per_scene else None)
        cached = self._models.get(key)
        if cached is None or cached[0] is not rec:
            cached = (rec, read_artifact(model, rec.data))
            self._models[key] = cached
        got = cached[1]
        assert isinstance(got, model), f"{stage} is saved as {type(got).__name__}, not {model.__name__}"
        return got

    def artifacts(self, scene_id: SceneId = None) -> Artifacts:
        """The saved artifacts as domain models, for `scene_id` where a stage is made per scene."""
        return Artifacts(self, scene_id)

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
        script = self.model(Stage.SCRIPT, None, Script)
        if script is None or not script.scenes:
            raise InputError(refusal)
        return script


class Artifacts:
    """The saved artifacts of a branch as domain models: what a stage reads its inputs from.

    A stage gets its own as `ctx.inputs`, over the state its loader read (upstream.py): the
    records the loader read and the stage's own earlier work, each parsed once from that read.
    Asking for any other raises `UndeclaredRead`. Per-scene artifacts are those of `scene_id`.
    Each is None when nothing is saved.
    """

    def __init__(self, state: ProjectState, scene_id: SceneId = None) -> None:
        self.state = state
        self.scene_id = scene_id

    def _scene_id(self, stage: Stage) -> str:
        if self.scene_id is None:
            raise InputError(f"{stage.title} is made per scene; choose a scene first.")
        return self.scene_id

    @property
    def story(self) -> StoryInput | None:
        """Stage 1: the story, its brief, rules and parameters."""
        return self.state.model(Stage.INPUT, None, StoryInput)

    @property
    def treatment(self) -> Treatment | None:
        return self.state.model(Stage.TREATMENT, None, Treatment)

    @property
    def beats(self) -> BeatSheet | None:
        return self.state.model(Stage.BEATS, None, BeatSheet)

    @property
    def script(self) -> Script | None:
        return self.state.model(Stage.SCRIPT, None, Script)

    @property
    def assets(self) -> StyleAndAssets | None:
        """Stage 5: the asset registry and the visual style."""
        return self.state.model(Stage.ASSETS, None, StyleAndAssets)

    @property
    def hub(self) -> HubState | None:
        return self.state.model(Stage.HUB, None, HubState)

    @property
    def scene(self) -> Scene | None:
        """This scene, from the master script (None: no script, or no such scene in it)."""
        script = self.script
        return next((s for s in script.scenes if s.id == self.scene_id), None) if script else None

    @property
    def shots(self) -> ShotList | None:
        return self.state.model(Stage.SHOTS, self._scene_id(Stage.SHOTS), ShotList)

    @property
    def asset_states(self) -> AssetStates | None:
        return self.state.model(Stage.ASSET_STATES, self._scene_id(Stage.ASSET_STATES), AssetStates)

    @property
    def prompts(self) -> Prompts | None:
        return self.state.model(Stage.PROMPTS, self._scene_id(Stage.PROMPTS), Prompts)

    @property
    def frames(self) -> Frames | None:
        return self.state.model(Stage.FRAMES, self._scene_id(Stage.FRAMES), Frames)

    @property
    def confirm(self) -> CostEstimate | None:
        return self.state.model(Stage.CONFIRM, self._scene_id(Stage.CONFIRM), CostEstimate)

    @property
    def video(self) -> Clips | None:
        return self.state.model(Stage.VIDEO, self._scene_id(Stage.VIDEO), Clips)

    def require_scene(self) -> Scene:
        """This scene from the saved master script, or InputError in one sentence."""
        script = self.script
        if script is None or not script.scenes:
            raise InputError("Write or import the script before making a shot list.")
        scene = self.scene
        if scene is None:
            raise InputError("That scene is no longer in the script; choose another scene.")
        return scene

    def of_scene(self, scene_id: str) -> Artifacts:
        """The same artifacts for another scene (an earlier scene's asset states, say)."""
        return Artifacts(self.state, scene_id)
