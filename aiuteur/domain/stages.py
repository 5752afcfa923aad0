"""The twelve stages, their canonical names and the statuses a stage can have.

Declared once; the CLI, the client API and the UI all use these names.
"""

from __future__ import annotations

from enum import StrEnum

from aiuteur.domain.errors import InputError


class Stage(StrEnum):
    """A stage of the pipeline, by its canonical name."""

    INPUT = "input"
    TREATMENT = "treatment"
    BEATS = "beats"
    SCRIPT = "script"
    ASSETS = "assets"
    HUB = "hub"
    SHOTS = "shots"
    ASSET_STATES = "asset_states"
    PROMPTS = "prompts"
    FRAMES = "frames"
    CONFIRM = "confirm"
    VIDEO = "video"

    @property
    def number(self) -> int:
        """1-based position in the pipeline."""
        return STAGE_ORDER.index(self) + 1

    @property
    def title(self) -> str:  # type: ignore[override]
        """The name a person reads."""
        return STAGE_TITLES[self]

    @property
    def per_scene(self) -> bool:
        """True for the Phase B stages that run once per scene."""
        return self in PER_SCENE_STAGES

    @property
    def previous(self) -> Stage | None:
        """The stage before this one, or None for the first."""
        i = STAGE_ORDER.index(self)
        return STAGE_ORDER[i - 1] if i > 0 else None

    def downstream(self) -> list[Stage]:
        """Every stage after this one, in order."""
        return STAGE_ORDER[STAGE_ORDER.index(self) + 1 :]


STAGE_ORDER: list[Stage] = list(Stage)

STAGE_TITLES: dict[Stage, str] = {
    Stage.INPUT: "Input",
    Stage.TREATMENT: "Treatment",
    Stage.BEATS: "Beat sheet",
    Stage.SCRIPT: "Master script",
    Stage.ASSETS: "Style & assets",
    Stage.HUB: "Script hub",
    Stage.SHOTS: "Shot list",
    Stage.ASSET_STATES: "Scene assets",
    Stage.PROMPTS: "Prompts",
    Stage.FRAMES: "Frames",
    Stage.CONFIRM: "Confirm",
    Stage.VIDEO: "Video",
}

PER_SCENE_STAGES: frozenset[Stage] = frozenset(
    {Stage.SHOTS, Stage.ASSET_STATES, Stage.PROMPTS, Stage.FRAMES, Stage.CONFIRM, Stage.VIDEO}
)


class Status(StrEnum):
    """Derived status of a stage (or of a stage for one scene). Never stored."""

    EMPTY = "empty"
    DRAFT = "draft"
    DONE = "done"
    LOCKED = "locked"
    STALE = "stale"
    SKIPPED = "skipped"


# Colours of the pipeline graphic and the legend; the only place they are defined.
STATUS_COLOURS: dict[Status, str] = {
    Status.EMPTY: "#9ca3af",
    Status.DRAFT: "#f59e0b",
    Status.DONE: "#22c55e",
    Status.LOCKED: "#3b82f6",
    Status.STALE: "#ef4444",
    Status.SKIPPED: "#a78bfa",
}

STATUS_MEANINGS: dict[Status, str] = {
    Status.EMPTY: "nothing made yet",
    Status.DRAFT: "started, not finished",
    Status.DONE: "finished, not locked",
    Status.LOCKED: "approved and read-only",
    Status.STALE: "made from inputs that have since changed",
    Status.SKIPPED: "skipped on purpose",
}


def parse_stage(name: str) -> Stage:
    """Return the stage named `name`, or raise InputError listing the valid names."""
    try:
        return Stage(name.strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in STAGE_ORDER)
        raise InputError(f"Unknown stage {name!r}; use one of: {valid}.") from None
