"""The Take: the immutable record of one model call (or one user edit)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from aiuteur.domain.base import Frozen, new_id, now_iso
from aiuteur.domain.stages import Stage


class Take(Frozen):
    """One attempt at making (part of) an artifact. Never changed once saved.

    A carousel is the list of takes for one target; the artifact points at its chosen take.
    """

    id: str = Field(default_factory=lambda: new_id("tk"))
    stage: Stage
    scene_id: str | None = None
    target: str = Field(
        default="",
        description="What inside the stage this take makes, e.g. 'variant:2', 'shot:3A:start'; '' is the whole artifact.",
    )
    purpose: str = Field(description="Why the model was called, e.g. 'treatment', 'extract_assets'.")
    inputs_hash: str = Field(description="sha256 over the canonical JSON of every input of the call.")
    template: str = Field(default="", description="Prompt template id, e.g. 'treatment/system.v1'.")
    template_hash: str = ""
    engine: str = Field(default="", description="Engine backend, e.g. 'llama.cpp', 'diffusers', 'user'.")
    model_id: str = ""
    seed: int | None = None
    attempts: int = 1
    seconds: float = 0.0
    ok: bool = True
    error: str = Field(default="", description="Why the call failed, in words a person reads.")
    note: str = Field(
        default="",
        description="What the stage kept although a check did not pass (e.g. a weak variant), in words a person reads.",
    )
    prompt: list[dict[str, str]] = Field(default_factory=list, description="Messages sent to the model.")
    output: dict[str, Any] | None = None
    media: list[str] = Field(default_factory=list, description="Content hashes of files this take produced.")
    created_at: str = Field(default_factory=now_iso)

    @model_validator(mode="after")
    def _failed_takes_say_why(self) -> Take:
        if not self.ok and not self.error.strip():
            raise ValueError("a failed take must say why it failed (error is empty)")
        return self
