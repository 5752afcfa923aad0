"""What a caller may ask a stage to do: one pydantic model per action, a union per stage.

The UI, the client API and the CLI build one of these and hand it to `Runner.run`; the stage
receives it as `ctx.action` and branches on its type. Every model refuses unknown fields
(`extra="forbid"`), so a misspelt setting is an error naming the field, never silently ignored.
The guidance text and the seed are not part of an action: they apply to every run of every stage
and are the runner's own arguments.

To add an action: write its model here (a new `kind` literal, described fields), add it to its
stage's union and `ACTIONS`, and give the stage's `run` an `isinstance` branch for it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aiuteur.domain import InputError, Stage


class Action(BaseModel):
    """The base of every stage action: frozen, and no field it does not declare."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: False for an action that helps edit the text in an editor and saves no artifact (a
    #: highlighted passage rewritten): it works on what the editor holds, so the stage before
    #: need not be finished.
    needs_upstream: ClassVar[bool] = True

    @property
    def target(self) -> str:
        """The label its takes carry in the history ('' for a whole-stage run)."""
        return ""

    @property
    def media_keys(self) -> tuple[str, ...]:
        """The media files it names (an upload's key): the runner checks they are the project's."""
        return ()


A = TypeVar("A", bound=Action)

Attempts = Annotated[int, Field(ge=1, le=5, description="How many times the stage may re-ask the model (1 to 5).")]


# --- stage 2: treatment ---------------------------------------------------------------------------


class WriteTreatments(Action):
    """Write all three treatment variants from the story."""

    kind: Literal["write_treatments"] = "write_treatments"
    max_attempts: Attempts = 3


class RewriteVariant(Action):
    """Write one of the three variants again, keeping the other two."""

    kind: Literal["rewrite_variant"] = "rewrite_variant"
    index: int = Field(ge=0, le=2, description="Which variant (0, 1 or 2).")
    max_attempts: Attempts = 3

    @property
    def target(self) -> str:
        return f"variant:{self.index}"


class RewritePassage(Action):
    """Rewrite one highlighted passage of a text by the guidance, leaving the rest byte-identical.

    Stage 2 rewrites treatment prose, stage 4 the Fountain. The take (old and new passage, prompt,
    model) joins the stage's history; the artifact is not changed: the editor shows the result and
    the filmmaker saves it.
    """

    kind: Literal["rewrite_passage"] = "rewrite_passage"
    needs_upstream: ClassVar[bool] = False
    text: str = Field(max_length=2_000_000, description="The whole text the passage is highlighted in.")
    start: int = Field(ge=0, description="Where the highlighted passage starts (a character offset).")
    end: int = Field(ge=0, description="Where it ends (exclusive).")

    @property
    def target(self) -> str:
        return "passage"


TreatmentAction = Annotated[WriteTreatments | RewriteVariant | RewritePassage, Field(discriminator="kind")]


# --- stage 3: beat sheet --------------------------------------------------------------------------


class WriteBeats(Action):
    """Make the whole beat sheet from the chosen treatment."""

    kind: Literal["write_beats"] = "write_beats"
    max_attempts: Attempts = 3


class RewriteBeat(Action):
    """Write one beat again, keeping the others."""

    kind: Literal["rewrite_beat"] = "rewrite_beat"
    beat_id: str = Field(min_length=1, description="The id of the beat to rewrite.")
    max_attempts: Attempts = 3

    @property
    def target(self) -> str:
        return f"beat:{self.beat_id}"


BeatsAction = Annotated[WriteBeats | RewriteBeat, Field(discriminator="kind")]


# --- stage 4: master script -----------------------------------------------------------------------


class WriteScript(Action):
    """Write the script scene by scene (a screenplay input is imported instead, with no model)."""

    kind: Literal["write_script"] = "write_script"
    max_attempts: Attempts = 3


class RewriteScene(Action):
    """Write one scene again, keeping the others and every scene id."""

    kind: Literal["rewrite_scene"] = "rewrite_scene"
    scene_id: str = Field(min_length=1, description="The id of the scene to rewrite.")
    max_attempts: Attempts = 3

    @property
    def target(self) -> str:
        return f"scene:{self.scene_id}"


class EnrichScript(Action):
    """Add action lines to the saved script (every scene, or one), keeping its words."""

    kind: Literal["enrich_script"] = "enrich_script"
    scene_id: str | None = Field(None, description="Enrich this scene only (None: every scene).")
    max_attempts: Attempts = 3

    @property
    def target(self) -> str:
        return f"scene:{self.scene_id}" if self.scene_id else ""


ScriptAction = Annotated[WriteScript | RewriteScene | EnrichScript | RewritePassage, Field(discriminator="kind")]


# --- stage 5: style and assets --------------------------------------------------------------------


class ReferenceSize(Action):
    """Image size settings of master references (None: what the image model is made for)."""

    width: int | None = Field(None, ge=16, le=4096, description="Width in pixels of a master reference.")
    height: int | None = Field(None, ge=16, le=4096, description="Height in pixels of a master reference.")
    steps: int | None = Field(None, ge=1, le=150, description="Denoising steps of a master reference.")


class Extract(ReferenceSize):
    """Extract the assets from the script (incrementally), then, by default, their master references."""

    kind: Literal["extract"] = "extract"
    references: bool = Field(True, description="Also make a master reference of every asset the checklist keeps.")

    @property
    def target(self) -> str:
        return "" if self.references else "extract"


class MasterReferences(ReferenceSize):
    """A master reference for every kept asset that has none yet."""

    kind: Literal["master_references"] = "master_references"

    @property
    def target(self) -> str:
        return "references"


class MasterReference(ReferenceSize):
    """One more master reference take for one asset."""

    kind: Literal["master_reference"] = "master_reference"
    asset_id: str = Field(min_length=1, description="The asset to draw.")

    @property
    def target(self) -> str:
        return f"reference:{self.asset_id}"


class UploadReference(Action):
    """An uploaded image (already in the media store) as the asset's chosen reference."""

    kind: Literal["upload_reference"] = "upload_reference"
    asset_id: str = Field(min_length=1, description="The asset the image shows.")
    image_key: str = Field(min_length=1, description="Media key of the uploaded image (Runner.upload).")
    remove_background: bool | None = Field(
        None, description="Cut the subject out (None: yes, except for a location).")

    @property
    def target(self) -> str:
        return f"upload:{self.asset_id}"

    @property
    def media_keys(self) -> tuple[str, ...]:
        return (self.image_key,)


class DescribeAsset(Action):
    """Propose a description of an asset from an uploaded image (a proposal; nothing is saved)."""

    kind: Literal["describe_asset"] = "describe_asset"
    asset_id: str = Field(min_length=1, description="The asset the image shows.")
    image_key: str = Field(min_length=1, description="Media key of the uploaded image (Runner.upload).")

    @property
    def target(self) -> str:
        return f"describe:{self.asset_id}"

    @property
    def media_keys(self) -> tuple[str, ...]:
        return (self.image_key,)


class VoiceSettings(Action):
    """A character's voice; a setting left None keeps the current (or cast) one."""

    asset_id: str = Field(min_length=1, description="The character.")
    voice: str | None = Field(None, description="The voice name, one of the voice engine's voices.")
    pitch: float | None = Field(None, ge=-12, le=12, description="Pitch shift in semitones (-12 to 12).")
    rate: float | None = Field(None, ge=0.5, le=2, description="Speaking rate (0.5 to 2).")


class SetVoice(VoiceSettings):
    """Store a character's voice in the registry."""

    kind: Literal["set_voice"] = "set_voice"

    @property
    def target(self) -> str:
        return f"voice:{self.asset_id}"


class PreviewVoice(VoiceSettings):
    """Speak a line in a character's voice (a take to listen to; nothing is saved)."""

    kind: Literal["preview_voice"] = "preview_voice"
    text: str = Field("", max_length=2000, description="What to say ('' the character's first line).")

    @property
    def target(self) -> str:
        return f"voice_preview:{self.asset_id}"


AssetsAction = Annotated[
    Extract | MasterReferences | MasterReference | UploadReference | DescribeAsset | SetVoice | PreviewVoice,
    Field(discriminator="kind"),
]


# --- stage 7: shot list ---------------------------------------------------------------------------


class WriteShotList(Action):
    """Make the scene's whole shot list (and time it by its spoken lines)."""

    kind: Literal["write_shot_list"] = "write_shot_list"


class RegenerateShot(Action):
    """One shot's camera again; its lines and timing stay."""

    kind: Literal["regenerate_shot"] = "regenerate_shot"
    shot_id: str = Field(min_length=1, description="The shot to make again.")

    @property
    def target(self) -> str:
        return f"shot:{self.shot_id}"


ShotsAction = Annotated[WriteShotList | RegenerateShot, Field(discriminator="kind")]


# --- stage 8: asset states ------------------------------------------------------------------------


class InferStates(Action):
    """Infer how each asset looks in this scene."""

    kind: Literal["infer_states"] = "infer_states"


class SceneInstance(Action):
    """Images of one asset as it looks in this scene."""

    kind: Literal["scene_instance"] = "scene_instance"
    asset_id: str = Field(min_length=1, description="The asset (one of the scene's).")
    takes: int = Field(1, ge=1, le=8, description="How many images to make (1 to 8).")

    @property
    def target(self) -> str:
        return f"instance:{self.asset_id}"


AssetStatesAction = Annotated[InferStates | SceneInstance, Field(discriminator="kind")]


# --- stage 9: prompts -----------------------------------------------------------------------------


class BuildPrompts(Action):
    """Build every prompt of the scene (no model); edited prompts are kept."""

    kind: Literal["build_prompts"] = "build_prompts"
    image_family: str = Field("", max_length=40, description="Fit the prompts to this image model family "
                                                               "('' the one the profile uses).")


class RebuildPrompt(BuildPrompts):
    """Build one shot's prompt again, dropping its edit."""

    kind: Literal["rebuild_prompt"] = "rebuild_prompt"  # type: ignore[assignment]
    shot_id: str = Field(min_length=1, description="The shot whose prompt to rebuild.")

    @property
    def target(self) -> str:
        return f"shot:{self.shot_id}"


PromptsAction = Annotated[BuildPrompts | RebuildPrompt, Field(discriminator="kind")]


# --- stage 10: keyframes --------------------------------------------------------------------------


class KeyframeSettings(Action):
    """How keyframes are drawn (None: what the image model is made for)."""

    best_of: int = Field(1, ge=1, le=8, description="Draw this many and keep the most consistent (1 to 8).")
    score: bool = Field(True, description="Score each keyframe's consistency with the references.")
    steps: int | None = Field(None, ge=1, le=150, description="Denoising steps.")
    size: int | None = Field(None, ge=64, le=4096, description="Long side in pixels (the aspect is the story's).")
    width: int | None = Field(None, ge=16, le=4096, description="Exact width in pixels (with height).")
    height: int | None = Field(None, ge=16, le=4096, description="Exact height in pixels (with width).")
    reference_scale: float | None = Field(None, ge=0.0, le=1.5, description="How strongly references steer.")
    continuity_strength: float | None = Field(None, ge=0.05, le=1.0,
                                              description="How much a continuing shot changes its previous frame.")


class MakeKeyframes(KeyframeSettings):
    """Every keyframe of the scene."""

    kind: Literal["make_keyframes"] = "make_keyframes"


class RegenerateShotFrames(KeyframeSettings):
    """The keyframes of one shot (its start, and its end when it has one)."""

    kind: Literal["regenerate_shot_frames"] = "regenerate_shot_frames"
    shot_id: str = Field(min_length=1, description="The shot.")

    @property
    def target(self) -> str:
        return f"shot:{self.shot_id}"


class RegenerateFrame(KeyframeSettings):
    """One keyframe: a shot's start frame, or its end frame."""

    kind: Literal["regenerate_frame"] = "regenerate_frame"
    shot_id: str = Field(min_length=1, description="The shot.")
    end: bool = Field(False, description="The end frame (False: the start frame).")

    @property
    def which(self) -> str:
        return "end" if self.end else "start"

    @property
    def target(self) -> str:
        return f"frame:{self.shot_id}:{self.which}"


FramesAction = Annotated[MakeKeyframes | RegenerateShotFrames | RegenerateFrame, Field(discriminator="kind")]


# --- stage 11: confirm ----------------------------------------------------------------------------


class Timing(BaseModel):
    """One measured video render, to estimate from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(description="The video model that rendered.")
    frames: int = Field(ge=1, description="Frames rendered.")
    seconds: float = Field(ge=0, description="Seconds it took.")


class Estimate(Action):
    """Estimate the scene's video pass, and confirm it when asked to."""

    kind: Literal["estimate"] = "estimate"
    confirm: bool | None = Field(None, description="Confirm (True), leave unconfirmed (False); None: a headless "
                                                   "run confirms an estimate within AIUTEUR_AUTO_CONFIRM_GPU_S.")
    rate_per_hour: float | None = Field(None, ge=0, description="GPU price per hour (None: AIUTEUR_GPU_RATE).")
    currency: str | None = Field(None, max_length=8, description="Currency (None: AIUTEUR_GPU_CURRENCY or USD).")
    timings: list[Timing] = Field(default_factory=list, description="Measured renders to estimate from.")
    fps: int | None = Field(None, ge=1, le=60, description="Clip frames per second (None: the backend's).")


ConfirmAction = Estimate


# --- stage 12: video ------------------------------------------------------------------------------


class VideoSettings(Action):
    """How clips and the animatic are made (None: the defaults)."""

    fps: int | None = Field(None, ge=1, le=60, description="Clip frames per second (None: the backend's).")
    animatic_fps: int | None = Field(None, ge=1, le=60, description="Animatic frames per second.")
    crossfade_s: float | None = Field(None, ge=0, le=4, description="Animatic crossfade in seconds (0 to 4).")


class RenderScene(VideoSettings):
    """Every clip of the scene, its cut and its animatic."""

    kind: Literal["render_scene"] = "render_scene"


class RenderClip(VideoSettings):
    """One shot's clip again."""

    kind: Literal["render_clip"] = "render_clip"
    shot_id: str = Field(min_length=1, description="The shot.")

    #: How a clip's take is labelled in the audit trail: `clip:<shot id>`.
    PREFIX: ClassVar[str] = "clip:"

    @property
    def target(self) -> str:
        return self.label(self.shot_id)

    @classmethod
    def label(cls, shot_id: str) -> str:
        """The take label of a clip of `shot_id`."""
        return f"{cls.PREFIX}{shot_id}"

    @classmethod
    def labels(cls, label: str) -> bool:
        """True when a take's label is a clip's (a measurement of the video engine), not a cut's."""
        return label.startswith(cls.PREFIX)


class RenderAnimatic(VideoSettings):
    """The animatic only (no video model)."""

    kind: Literal["render_animatic"] = "render_animatic"

    @property
    def target(self) -> str:
        return "animatic"


class RenderCut(VideoSettings):
    """The scene cut joined again from the chosen clips (no rendering): after a clip is chosen."""

    kind: Literal["render_cut"] = "render_cut"

    @property
    def target(self) -> str:
        return "cut"


class RespeakLine(VideoSettings):
    """One spoken line (or part of one) again, and the scene's sound after it."""

    kind: Literal["respeak_line"] = "respeak_line"
    line: str = Field(pattern=r"^\d+\.\d+$", description="'<dialogue>.<part>', as in the lines table.")

    @property
    def target(self) -> str:
        return f"line:{self.line}"


VideoAction = Annotated[RenderScene | RenderClip | RenderAnimatic | RenderCut | RespeakLine,
                        Field(discriminator="kind")]


# --- per stage ------------------------------------------------------------------------------------

#: Each run stage's union of actions (the first member is its default: a whole-stage run).
ACTIONS: dict[Stage, Any] = {
    Stage.TREATMENT: TreatmentAction,
    Stage.BEATS: BeatsAction,
    Stage.SCRIPT: ScriptAction,
    Stage.ASSETS: AssetsAction,
    Stage.SHOTS: ShotsAction,
    Stage.ASSET_STATES: AssetStatesAction,
    Stage.PROMPTS: PromptsAction,
    Stage.FRAMES: FramesAction,
    Stage.CONFIRM: ConfirmAction,
    Stage.VIDEO: VideoAction,
}

DEFAULTS: dict[Stage, type[Action]] = {
    Stage.TREATMENT: WriteTreatments,
    Stage.BEATS: WriteBeats,
    Stage.SCRIPT: WriteScript,
    Stage.ASSETS: Extract,
    Stage.SHOTS: WriteShotList,
    Stage.ASSET_STATES: InferStates,
    Stage.PROMPTS: BuildPrompts,
    Stage.FRAMES: MakeKeyframes,
    Stage.CONFIRM: Estimate,
    Stage.VIDEO: RenderScene,
}

_ADAPTERS: dict[Stage, TypeAdapter[Any]] = {stage: TypeAdapter(union) for stage, union in ACTIONS.items()}


def _members(stage: Stage) -> tuple[type[Action], ...]:
    union = ACTIONS[stage]
    inner = union.__origin__ if hasattr(union, "__metadata__") else union
    return tuple(getattr(inner, "__args__", (inner,)))


def kinds(stage: Stage) -> list[str]:
    """The action kinds a stage takes, for messages and the API's description."""
    return [str(m.model_fields["kind"].default) for m in _members(stage)]


def _error(stage: Stage, e: ValidationError) -> InputError:
    """One sentence naming the field that is wrong."""
    err = e.errors()[0]
    if err["type"] == "union_tag_invalid":
        return InputError(f"{stage.title} has no action {err.get('ctx', {}).get('tag', '')!r}; "
                          f"use one of: {', '.join(kinds(stage))}.")
    loc = [str(p) for p in err["loc"]]
    if len(_members(stage)) > 1:
        loc = loc[1:]  # the first is the kind the union chose
    field = ".".join(loc) or "action"
    return InputError(f"The {stage.title} action's field {field!r} is not valid: {err['msg']}.")


def build(cls: type[A], **fields: Any) -> A:
    """`cls(**fields)`, with a bad field refused in one sentence naming it (InputError)."""
    try:
        return cls(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "action"
        raise InputError(f"{cls.__name__}: {field!r} is not valid: {err['msg']}.") from None


def parse(stage: Stage, data: Any) -> Action:
    """An action for `stage` from a dict (the client API, the CLI); refuses a bad one naming the field."""
    if stage not in _ADAPTERS:
        raise InputError(f"{stage.title} is edited by hand, not run; it takes no action.")
    if isinstance(data, Action):
        data = data.model_dump()
    if not isinstance(data, dict):
        raise InputError(f"A {stage.title} action is a JSON object with a 'kind', one of: {', '.join(kinds(stage))}.")
    if "kind" not in data:
        data = {**data, "kind": str(DEFAULTS[stage].model_fields["kind"].default)}
    try:
        action: Action = _ADAPTERS[stage].validate_python(data)
    except ValidationError as e:
        raise _error(stage, e) from None
    return action


def check(stage: Stage, action: Action | None) -> Action:
    """The action to run: `action` when it is one of the stage's, else (None) the stage's default."""
    if stage not in DEFAULTS:
        raise InputError(f"{stage.title} is edited by hand, not run; there is nothing to generate.")
    if action is None:
        return DEFAULTS[stage]()
    if not isinstance(action, _members(stage)):
        raise InputError(f"{type(action).__name__} is not an action of {stage.title}; "
                         f"use one of: {', '.join(kinds(stage))}.")
    return action


def run_until_action(stage: Stage, settings: dict[Stage, Action] | None) -> Action:
    """The action a headless run takes at `stage`: the one given for it, else the default."""
    return check(stage, (settings or {}).get(stage))
