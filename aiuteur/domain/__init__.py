"""Pure domain models of Aiuteur: pydantic only, no I/O."""

from aiuteur.domain.artifacts import (
    Asset,
    AssetCategory,
    AssetRegistry,
    AssetState,
    AssetStates,
    Beat,
    BeatSheet,
    Brief,
    Clip,
    Clips,
    CostEstimate,
    ElementKind,
    Frame,
    Frames,
    HubState,
    InputMode,
    IntExt,
    LineAudio,
    ProjectParams,
    ProjectType,
    Prompts,
    Scene,
    Script,
    ScriptElement,
    Shot,
    ShotList,
    ShotPrompt,
    SourceRole,
    SourceText,
    StateChange,
    StoryInput,
    StyleAndAssets,
    Treatment,
    TreatmentVariant,
    VisualStyle,
    VoiceChoice,
    artifact_model,
)
from aiuteur.domain.base import Frozen, canonical_json, content_hash, new_id, now_iso
from aiuteur.domain.errors import (
    AiuteurError,
    ConflictError,
    InputError,
    LockError,
    NeedsChoiceError,
    NotFoundError,
)
from aiuteur.domain.project import (
    ArtifactRecord,
    Branch,
    Folder,
    LockKey,
    Position,
    Project,
    ProjectSummary,
)
from aiuteur.domain.stages import STAGE_ORDER, Stage, Status, parse_stage
from aiuteur.domain.take import Take

__all__ = [
    "STAGE_ORDER", "AiuteurError", "ArtifactRecord", "Asset", "AssetCategory", "AssetRegistry",
    "AssetState", "AssetStates", "Beat", "BeatSheet", "Branch", "Brief", "Clip", "Clips",
    "ConflictError", "CostEstimate", "ElementKind", "Folder", "Frame", "Frames", "Frozen", "HubState",
    "InputError", "InputMode", "IntExt", "LineAudio", "LockError", "LockKey", "NeedsChoiceError", "NotFoundError", "Position",
    "Project", "ProjectParams", "ProjectSummary", "ProjectType", "Prompts", "Scene", "Script",
    "ScriptElement", "Shot", "ShotList", "ShotPrompt", "SourceRole", "SourceText", "Stage",
    "StateChange", "Status", "StoryInput", "StyleAndAssets", "Take", "Treatment", "TreatmentVariant",
    "VisualStyle", "VoiceChoice", "artifact_model", "canonical_json", "content_hash", "new_id", "now_iso", "parse_stage",
]
