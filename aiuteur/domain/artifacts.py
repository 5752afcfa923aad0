"""One pydantic model per stage artifact.

These are the saved shapes a filmmaker edits. Generation schemas (bounded for constrained
decoding) live beside each pipeline stage and are converted into these.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from aiuteur.domain.base import Frozen, new_id

# --- Stage 1: input -------------------------------------------------------------------------


class InputMode(StrEnum):
    EXPAND = "expand"  # expand an idea
    CONDENSE = "condense"  # condense a long text
    TRANSFORM = "transform"  # new genre, tone or medium
    SKIP_TO_SCRIPT = "skip_to_script"  # a finished screenplay becomes the master script
    SKIP_TO_STAGE4 = "skip_to_stage4"  # no treatment/beats: write the script from the inputs


class ProjectType(StrEnum):
    NARRATIVE = "narrative_short"
    COMMERCIAL = "commercial_trailer"
    AUDIO_VISUALS = "visuals_for_audio"


AspectRatio = Literal["16:9", "9:16", "1:1", "2.39:1"]


class ProjectParams(Frozen):
    """What the filmmaker wants: length, kind, rating, genres, tone and frame shape."""

    min_minutes: float = Field(default=1.0, ge=0.1, le=180)
    max_minutes: float = Field(default=3.0, ge=0.1, le=180)
    project_type: ProjectType = ProjectType.NARRATIVE
    content_rating: str = Field(default="PG-13", max_length=40)
    genres: list[str] = Field(default_factory=list, max_length=12)
    tone: str = Field(default="", max_length=2000)
    aspect_ratio: AspectRatio = "16:9"

    @model_validator(mode="after")
    def _range_is_ordered(self) -> ProjectParams:
        if self.min_minutes > self.max_minutes:
            raise ValueError(
                f"target length {self.min_minutes}–{self.max_minutes} min is reversed; "
                "the shorter length comes first"
            )
        return self


class SourceRole(StrEnum):
    PRIMARY = "primary"
    CHARACTER_NOTES = "character_notes"
    WORLD = "world"
    PARODY_SOURCE = "parody_source"
    CONTEXT = "context"


class SourceText(Frozen):
    """One uploaded or typed text. Exactly one source of a story input is primary."""

    id: str = Field(default_factory=lambda: new_id("src"))
    name: str = Field(default="", max_length=300)
    role: SourceRole = SourceRole.PRIMARY
    format: Literal["txt", "md", "fountain", "fdx", "pdf", "typed"] = "typed"
    text: str = Field(default="", max_length=2_000_000)


class Brief(Frozen):
    """The structured brief; every field is optional."""

    has_script: bool | None = None
    plot: str = ""
    dialogue_rules: str = ""
    dialogue_examples: str = ""
    character_descriptions: str = ""
    vibe: str = ""
    shot_styles: str = ""
    story_rules: str = ""


class StoryInput(Frozen):
    """Stage 1: everything the filmmaker gives us."""

    mode: InputMode = InputMode.EXPAND
    sources: list[SourceText] = Field(default_factory=list)
    brief: Brief = Field(default_factory=Brief)
    params: ProjectParams = Field(default_factory=ProjectParams)
    transform_target: str = Field(default="", description="For 'transform': the new genre, tone or medium.")
    story_rules: list[str] = Field(default_factory=list, description="Injected into every text and image prompt.")
    written_style_capsule: str | None = Field(default=None, description="Id of a written style capsule.")

    @field_validator("sources")
    @classmethod
    def _one_primary(cls, v: list[SourceText]) -> list[SourceText]:
        primaries = [s for s in v if s.role == SourceRole.PRIMARY]
        if len(primaries) > 1:
            names = ", ".join(s.name or s.id for s in primaries)
            raise ValueError(f"only one source can be primary; these are all marked primary: {names}")
        return v

    @property
    def primary(self) -> SourceText | None:
        return next((s for s in self.sources if s.role == SourceRole.PRIMARY), None)

    @property
    def skips_writing(self) -> bool:
        """True when stages 2-3 are skipped on purpose."""
        return self.mode in (InputMode.SKIP_TO_SCRIPT, InputMode.SKIP_TO_STAGE4)


# --- Stage 2: treatment ----------------------------------------------------------------------


def _three_nones() -> list[str | None]:
    return [None, None, None]


class TreatmentVariant(Frozen):
    title: str
    logline: str
    prose: str
    angle: str = Field(default="", description="The angle this telling was asked for, e.g. 'point of view'.")
    weak: str = Field(default="", description="Why this variant was kept although it failed a check; '' when it passed.")


class Treatment(Frozen):
    """Stage 2: exactly three prose variants, one chosen."""

    variants: list[TreatmentVariant] = Field(min_length=3, max_length=3)
    chosen: int | None = Field(default=None, ge=0, le=2)
    variant_takes: list[str | None] = Field(default_factory=lambda: _three_nones())

    @property
    def chosen_variant(self) -> TreatmentVariant | None:
        return self.variants[self.chosen] if self.chosen is not None else None


# --- Stage 3: beats --------------------------------------------------------------------------


class Beat(Frozen):
    id: str = Field(default_factory=lambda: new_id("bt"))
    title: str
    summary: str
    source_passage: str = Field(default="", description="The treatment passage this beat came from.")
    place: str = Field(default="", description="Where the beat happens, as the beat writer named it; '' when unknown.")


class BeatSheet(Frozen):
    """Stage 3: ordered beats."""

    beats: list[Beat] = Field(default_factory=list)


# --- Stage 4: master script ------------------------------------------------------------------


class ElementKind(StrEnum):
    ACTION = "action"
    DIALOGUE = "dialogue"
    PARENTHETICAL = "parenthetical"
    TRANSITION = "transition"
    CENTERED = "centered"
    LYRIC = "lyric"
    SECTION = "section"
    SYNOPSIS = "synopsis"
    PAGE_BREAK = "page_break"


class ScriptElement(Frozen):
    """One paragraph of a scene. Dialogue and parentheticals carry their speaker."""

    kind: ElementKind
    text: str = ""
    character: str | None = Field(default=None, description="Speaker cue name, upper case, no extension.")
    extension: str | None = Field(default=None, description="V.O., O.S., CONT'D …")
    dual: bool = Field(default=False, description="Second speaker of a dual-dialogue pair.")


class IntExt(StrEnum):
    INT = "INT"
    EXT = "EXT"
    INT_EXT = "INT/EXT"
    NONE = ""


class Scene(Frozen):
    id: str = Field(default_factory=lambda: new_id("sc"))
    number: str = Field(description="Scene number as shown, e.g. '3' or '12A'.")
    heading: str
    int_ext: IntExt = IntExt.NONE
    location: str = ""
    time_of_day: str = ""
    elements: list[ScriptElement] = Field(default_factory=list)
    synopsis: str = ""

    @property
    def characters(self) -> list[str]:
        """Speaking characters in order of first cue, deduplicated."""
        seen: dict[str, None] = {}
        for e in self.elements:
            if e.kind == ElementKind.DIALOGUE and e.character:
                seen.setdefault(e.character, None)
        return list(seen)

    @property
    def dialogue(self) -> list[ScriptElement]:
        return [e for e in self.elements if e.kind == ElementKind.DIALOGUE]


class Script(Frozen):
    """Stage 4: the master script, the source of truth for everything downstream."""

    title: str = ""
    title_page: dict[str, str] = Field(default_factory=dict)
    scenes: list[Scene] = Field(default_factory=list)

    def scene(self, scene_id: str) -> Scene:
        for s in self.scenes:
            if s.id == scene_id:
                return s
        raise KeyError(f"no scene with id {scene_id!r} in the script")


# --- Stage 5: style and assets ---------------------------------------------------------------


class AssetCategory(StrEnum):
    CHARACTER = "character"
    LOCATION = "location"
    PROP = "prop"


class StateChange(Frozen):
    """How an asset looks from a scene on (scene 3: Persephone arrives in black)."""

    scene_id: str
    description: str
    shot_id: str | None = Field(default=None, description="Within a scene: the shot where the change happens.")


class VoiceChoice(Frozen):
    """How a character sounds: a voice of the voice engine, shifted in pitch and rate.

    When the engine has fewer voices than there are speaking characters, characters share a voice
    with a distinct pitch and rate, so no two of them sound alike.
    """

    voice: str = Field(min_length=1, max_length=80, description="A voice name of the voice engine, e.g. 'joe'.")
    pitch: float = Field(default=0.0, ge=-12, le=12, description="Pitch shift in semitones.")
    rate: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking rate; 1 is the voice's own.")
    chosen: bool = Field(default=False, description="True when the filmmaker picked it (not a default).")


class Asset(Frozen):
    id: str = Field(default_factory=lambda: new_id("as"))
    name: str
    category: AssetCategory
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    scenes: list[str] = Field(default_factory=list, description="Ids of scenes the asset appears in.")
    state_changes: list[StateChange] = Field(default_factory=list)
    master_ref: str | None = Field(default=None, description="Content hash of the chosen master reference (RGBA).")
    master_ref_white: str | None = Field(default=None, description="The same on plain white, for conditioning.")
    history: list[str] = Field(default_factory=list, description="Take ids of every reference image made.")
    pregenerate: bool = True
    removed: bool = False
    user_edited: bool = False
    origin: Literal["extracted", "user", "scene"] = "extracted"
    offered: bool = Field(
        default=False,
        description="Found by a re-extraction after the user reviewed the list: offered, not forced, until kept or removed.",
    )
    voice: VoiceChoice | None = Field(default=None, description="Characters: the voice their lines are spoken in.")
    story_look: str = Field(
        default="",
        description="Characters: the story's own words for how they look (before any change of look); "
                    "stage 5 starts the description with them. Empty when the story says nothing of it.",
    )


class AssetRegistry(Frozen):
    """Stage 5: every character, location and prop, extracted once."""

    assets: list[Asset] = Field(default_factory=list)
    chunk_hashes: dict[str, str] = Field(default_factory=dict, description="Chunk key -> hash of its scene text.")

    def get(self, asset_id: str) -> Asset:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise KeyError(f"no asset with id {asset_id!r}")


class VisualStyle(Frozen):
    """Stage 5: a capsule or a structured written description, with images and an influence."""

    capsule_id: str | None = None
    medium: str = ""
    look: str = ""
    palette: str = ""
    lighting: str = ""
    era: str = ""
    references: str = ""
    images: list[str] = Field(default_factory=list, description="Content hashes of style images.")
    influence: float = Field(default=0.3, ge=0.0, le=1.0, description="How strongly style conditions images.")
    scene_overrides: dict[str, str] = Field(
        default_factory=dict, description="Scene id -> capsule id, for a film that changes style."
    )


class StyleAndAssets(Frozen):
    """Stage 5 artifact: the registry and the visual style together."""

    registry: AssetRegistry = Field(default_factory=AssetRegistry)
    style: VisualStyle = Field(default_factory=VisualStyle)


# --- Stage 6: hub ----------------------------------------------------------------------------


class HubState(Frozen):
    """Stage 6: per-scene production choices."""

    deferred: list[str] = Field(default_factory=list, description="Ids of scenes put off for later.")
    scene_positions: dict[str, str] = Field(
        default_factory=dict, description="Scene id -> the per-scene stage where the user left that scene."
    )


# --- Stage 7: shot list ----------------------------------------------------------------------


#: Where a character or prop sits across the frame, as the camera sees it, left to right.
FRAME_POSITIONS: tuple[str, ...] = ("left", "centre-left", "centre", "centre-right", "right")
FramePosition = Literal["left", "centre-left", "centre", "centre-right", "right"]


class Shot(Frozen):
    id: str = Field(default_factory=lambda: new_id("sh"))
    number: str = Field(description="e.g. '3A'")
    size: str = "medium"
    angle: str = "eye level"
    movement: str = "static"
    lens: str = "35mm"
    action: str = ""
    assets: list[str] = Field(default_factory=list, description="Ids of assets in frame.")
    dialogue: list[int] = Field(default_factory=list, description="Indexes of the scene's dialogue elements.")
    duration_s: float = Field(default=4.0, gt=0, le=8)
    units: list[int] = Field(
        default_factory=list,
        description="Indexes of the scene's units (action sentences and dialogue lines) this shot covers, in order.",
    )
    unregistered: list[str] = Field(default_factory=list, description="Names in frame not in the asset registry.")
    layout: dict[str, FramePosition] = Field(
        default_factory=dict,
        description="Where each in-frame character (or prop) sits across the frame, as the camera sees it: asset id "
        "-> left, centre-left, centre, centre-right or right. Places fill the frame and have none; an in-frame "
        "character without one is placed from the action (aiuteur.pipeline.layout).",
    )
    continues: bool | None = Field(
        default=None,
        description="Whether this shot continues the previous shot's action (its start frame is made from the "
        "previous end frame); None: decided from locations, assets and time words.",
    )


class LineAudio(Frozen):
    """One spoken piece of dialogue: a whole line, or one part of a line split across shots.

    Its audio is a take (text, voice, seed, model); `seconds` is the measured spoken length.
    """

    dialogue: int = Field(ge=0, description="Index of the line in the scene's dialogue.")
    part: int = Field(default=0, ge=0, description="Which part of a line split across shots (0 when whole).")
    parts: int = Field(default=1, ge=1)
    character: str = ""
    text: str = Field(default="", description="The words spoken, copied from the script.")
    voice: VoiceChoice | None = None
    seed: int = 0
    model_id: str = ""
    audio: str | None = Field(default=None, description="Content hash of the wav (None: silent).")
    seconds: float = Field(default=0.0, ge=0)
    take: str | None = Field(default=None, description="The take that spoke it.")
    lip_sync: bool = Field(default=True, description="False for V.O. and O.S.: the speaker's lips are not seen.")
    delivery: str = Field(default="", description="The parenthetical it was spoken with, e.g. '(whispering)'.")
    note: str = Field(default="", description="Anything to know, in words (silent beat, sped up to fit…).")
    took_s: float = Field(default=0.0, ge=0, description="How long speaking it took here (for estimates).")

    @property
    def key(self) -> str:
        """'<line>.<part>', the target suffix of its takes."""
        return f"{self.dialogue}.{self.part}"


class ShotList(Frozen):
    shots: list[Shot] = Field(default_factory=list)
    lines: list[LineAudio] = Field(default_factory=list, description="Every spoken line part, measured in stage 7.")
    voice_model: str = Field(default="", description="The voice engine that measured the lines.")
    voice_note: str = Field(default="", description="What happened with the voices, in words (fallback, failure…).")


# --- Stage 8: scene asset states -------------------------------------------------------------


class AssetState(Frozen):
    asset_id: str
    description: str = ""
    reference: str | None = Field(default=None, description="Content hash of this scene's reference image.")
    reference_from: str = Field(default="master", description="'master', 'scene:<id>' or 'generated'.")
    use_master: bool = False
    instance_takes: list[str] = Field(default_factory=list)
    chosen_take: str | None = None
    changes: list[StateChange] = Field(default_factory=list, description="Changes within the scene, by shot.")
    audit: list[str] = Field(default_factory=list, description="Each modification, in words.")
    image: str | None = Field(default=None, description="Content hash of the chosen scene-instance image.")
    pinned: bool = Field(default=False, description="True when the user chose the reference (else the default).")


class AssetStates(Frozen):
    states: list[AssetState] = Field(default_factory=list)
    suggested: list[str] = Field(default_factory=list, description="Names seen in the shots but not registered.")
    dismissed: list[str] = Field(default_factory=list, description="Suggested names the user dismissed.")


# --- Stage 9: prompts ------------------------------------------------------------------------


class ShotPrompt(Frozen):
    shot_id: str
    start_prompt: str
    end_prompt: str | None = None
    end_reason: str = ""
    video_prompt: str = ""
    references: list[str] = Field(default_factory=list, description="Content hashes of attached references.")
    edited: bool = False
    asset_refs: dict[str, str] = Field(default_factory=dict, description="Asset id -> its attached reference.")
    missing: list[str] = Field(default_factory=list, description="Ids of assets in frame that have no image yet.")
    warnings: list[str] = Field(
        default_factory=list, description="What was shortened or left out to fit the image model's prompt length."
    )


class Prompts(Frozen):
    prompts: list[ShotPrompt] = Field(default_factory=list)


# --- Stage 10: frames ------------------------------------------------------------------------


class Frame(Frozen):
    shot_id: str
    which: Literal["start", "end"]
    takes: list[str] = Field(default_factory=list)
    chosen_take: str | None = None
    image: str | None = Field(default=None, description="Content hash of the chosen image.")
    consistency: float | None = None
    asset_scores: dict[str, float] = Field(
        default_factory=dict, description="Asset id -> consistency of the chosen image with its reference."
    )
    conditioned_on: str | None = Field(
        default=None, description="Content hash of the frame the chosen image was made from (continuity)."
    )


class Frames(Frozen):
    frames: list[Frame] = Field(default_factory=list)

    def get(self, shot_id: str, which: str) -> Frame | None:
        return next((f for f in self.frames if f.shot_id == shot_id and f.which == which), None)


# --- Stage 11: confirm -----------------------------------------------------------------------


class CostEstimate(Frozen):
    per_shot_seconds: dict[str, float] = Field(default_factory=dict)
    total_seconds: float = 0.0
    rate_per_hour: float = 0.0
    assumptions: list[str] = Field(default_factory=list)
    confirmed: bool = False
    currency: str = Field(default="USD", max_length=8)
    model_id: str = Field(default="", description="The video model the estimate is for.")
    animatic_only: bool = Field(default=False, description="The profile has no video model: only the animatic.")
    measured: dict[str, bool] = Field(
        default_factory=dict, description="Shot id -> True when its estimate comes from timings on this machine."
    )
    voice_seconds: float = Field(default=0.0, ge=0, description="Of total_seconds: speaking lines and mixing.")
    wall_seconds: float = Field(
        default=0.0, ge=0,
        description="How long the whole stage-12 pass should take here: clips, joining the cut, the animatic, sound.",
    )

    @property
    def total_cost(self) -> float:
        return self.total_seconds / 3600.0 * self.rate_per_hour


# --- Stage 12: video -------------------------------------------------------------------------


class Clip(Frozen):
    shot_id: str
    takes: list[str] = Field(default_factory=list)
    chosen_take: str | None = None
    video: str | None = None
    num_frames: int = Field(default=0, ge=0, description="Frames of the chosen clip.")
    render_seconds: float = Field(default=0.0, ge=0, description="How long the chosen clip took to render.")
    model_id: str = Field(default="", description="The video model that rendered the chosen clip.")
    machine: str = Field(default="", description="Where it was rendered (host and device), for estimates.")


class Clips(Frozen):
    clips: list[Clip] = Field(default_factory=list)
    scene_cut: str | None = None
    animatic: str | None = None
    fps: int = Field(default=24, ge=1, description="Frames per second of the clips and the cut.")
    note: str = Field(default="", description="What this profile could make, in words (e.g. animatic only).")
    lines: list[LineAudio] = Field(
        default_factory=list, description="Line audio re-spoken in stage 12; overrides the shot list's by key.")
    soundtrack: str | None = Field(default=None, description="Content hash of the animatic's mixed dialogue (wav).")
    cut_soundtrack: str | None = Field(default=None, description="The same for the scene cut.")
    animatic_picture: str | None = Field(default=None, description="The animatic before the dialogue was mixed in.")
    cut_picture: str | None = Field(default=None, description="The scene cut before the dialogue was mixed in.")


# --- which model each stage saves --------------------------------------------------------------

def artifact_model(stage: str) -> type[Frozen]:
    """The pydantic model of the artifact a stage saves (by canonical stage name)."""
    return _ARTIFACT_MODELS[stage]


M = TypeVar("M", bound=Frozen)


def read_artifact(model: type[M], data: dict[str, Any]) -> M:
    """A saved record's data as its model, leniently: a project saved by an older version loads.

    A field the record lacks takes the model's default; a field the model no longer has (a
    record written before it was removed) is left out, not refused. Anything else that does not
    fit (a wrong type, a required field missing) raises pydantic's ValidationError.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        extra = [err["loc"] for err in e.errors() if err["type"] == "extra_forbidden"]
        if not extra or len(extra) < len(e.errors()):
            raise
    return model.model_validate(_without(data, extra))


def _without(data: Any, locs: list[tuple[int | str, ...]]) -> Any:
    """`data` with the value at each of `locs` (paths of keys and list indexes) left out."""
    here = {loc[0] for loc in locs if len(loc) == 1}
    deeper: dict[int | str, list[tuple[int | str, ...]]] = {}
    for loc in locs:
        if len(loc) > 1:
            deeper.setdefault(loc[0], []).append(loc[1:])
    if isinstance(data, dict):
        return {k: _without(v, deeper[k]) if k in deeper else v for k, v in data.items() if k not in here}
    if isinstance(data, list):
        return [_without(v, deeper[i]) if i in deeper else v for i, v in enumerate(data)]
    return data


_ARTIFACT_MODELS: dict[str, type[Frozen]] = {
    "input": StoryInput,
    "treatment": Treatment,
    "beats": BeatSheet,
    "script": Script,
    "assets": StyleAndAssets,
    "hub": HubState,
    "shots": ShotList,
    "asset_states": AssetStates,
    "prompts": Prompts,
    "frames": Frames,
    "confirm": CostEstimate,
    "video": Clips,
}
