"""The contract between the runner and the stages: what a stage gets, and what it gives back.

A stage is a function `run(ctx: StageContext) -> StageOutcome`. It reads its inputs from the
context, calls engines through `ctx.engines`, and returns the takes it made and the artifact to
save; it never opens the store and never imports the runner. The runner (`runner.py`) owns the
other side: it loads the inputs under the project lock, calls the stage outside it, and saves
what came back in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from pydantic import BaseModel

from aiuteur.domain import AiuteurError, ArtifactRecord, Project, Stage, Take, content_hash
from aiuteur.engines.base import (
    EmbeddingEngine,
    ImageEngine,
    MattingEngine,
    TextEngine,
    VideoEngine,
    VisionEngine,
)
from aiuteur.pipeline.actions import Action
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.prompts import Template, load_template
from aiuteur.pipeline.state import Artifacts
from aiuteur.store.capsules import CapsuleLibrary

ProgressFn = Callable[[float, str], None]


class EngineProvider(Protocol):
    """What stages may ask for: engines by kind and purpose, and the call counts."""

    calls: Counter[str]

    def text(self, purpose: str) -> TextEngine: ...
    def image(self, purpose: str) -> ImageEngine: ...
    def matting(self) -> MattingEngine: ...
    def vision(self) -> VisionEngine: ...
    def video(self, purpose: str) -> VideoEngine: ...
    def embedding(self) -> EmbeddingEngine: ...


def _no_media(data: bytes, ext: str) -> str:
    return ""


def _no_read(key: str) -> bytes:
    return b""


def _never() -> bool:
    return False


def _no_takes(stage: Stage, scene_id: str | None) -> list[Take]:
    return []


@dataclass
class StageContext:
    """The narrow door a stage gets: its inputs, engines, templates and a media writer.

    `action` is what the caller asked for, one of the stage's models in `actions.py`; the stage
    branches on its type. `guidance` and `seed` apply to whatever the action is. `on_partial`
    receives a partial artifact while a long stage works (the script tab shows scenes as they come).
    """

    state: ProjectState
    project: Project
    scene_id: str | None
    engines: EngineProvider
    seed: int
    action: Action = field(default_factory=Action)
    guidance: str = ""
    progress: ProgressFn | None = None
    on_partial: Callable[[Any], None] | None = None
    put_media: Callable[[bytes, str], str] = _no_media
    read_media: Callable[[str], bytes] = _no_read
    cancelled: Callable[[], bool] = _never
    #: Earlier takes of this project (stage, scene id) -> takes: what was measured here (seconds, model).
    past_takes: Callable[[Stage, str | None], list[Take]] = _no_takes
    capsules: CapsuleLibrary | None = None  # the project owner's style capsules (None: the default data folder's)

    @cached_property
    def inputs(self) -> Artifacts:
        """The stage's upstream artifacts (and its own earlier work) as domain models, parsed once
        from the records its loader read: `ctx.inputs.script`, `ctx.inputs.shots` (this scene's)."""
        return self.state.artifacts(self.scene_id)

    def template(self, stage_role: str) -> Template:
        return load_template(stage_role, self.project.prompt_overrides)

    def report(self, fraction: float, what: str) -> None:
        if self.progress is not None:
            self.progress(max(0.0, min(1.0, fraction)), what)


@dataclass
class StageOutcome:
    """What a stage made: takes to keep, and the artifact to save (None: keep the current one).

    `extra` saves further artifacts in the same transaction (stage, scene, artifact), as when a
    voice chosen in stage 5 is written into the asset registry.
    """

    takes: list[Take] = field(default_factory=list)
    artifact: BaseModel | None = None
    take_id: str | None = None
    extra: list[tuple[Stage, str | None, BaseModel]] = field(default_factory=list)


@dataclass
class RunResult:
    """What one run of a stage left in the project: every take it made, and the record it saved
    (None: nothing was saved, as when every take failed or the action only helps an editor)."""

    stage: Stage
    scene_id: str | None
    takes: list[Take]
    record: ArtifactRecord | None

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.takes)

    @property
    def errors(self) -> list[str]:
        return [t.error for t in self.takes if not t.ok]

    @property
    def notes(self) -> list[str]:
        """What the stage kept although a check did not pass (weak but usable), one sentence each."""
        return [t.note for t in self.takes if t.note]


#: A stage's entry point, as the runner calls it.
StageFn = Callable[[StageContext], StageOutcome]


def describe_error(e: BaseException) -> str:
    """One plain sentence for an exception from a model call."""
    name = type(e).__name__
    if isinstance(e, MemoryError) or "OutOfMemory" in name:
        return "The model ran out of memory; try a smaller size, fewer references, or a lighter profile."
    if isinstance(e, TimeoutError) or "Timeout" in name:
        return "The model took too long and was stopped; try again, or use a lighter profile."
    msg = str(e).strip().splitlines()[0] if str(e).strip() else name
    return msg if isinstance(e, AiuteurError) or "Engine" in name else f"{name}: {msg}"


def failed_take(stage: Stage, scene_id: str | None, purpose: str, inputs: Any, error: BaseException | str,
                seconds: float = 0.0, target: str = "", seed: int | None = None) -> Take:
    """A take that says why a call failed, in words a person reads."""
    reason = error if isinstance(error, str) else describe_error(error)
    return Take(stage=stage, scene_id=scene_id, target=target, purpose=purpose, inputs_hash=content_hash(inputs),
                seed=seed, ok=False, error=reason, seconds=seconds)
