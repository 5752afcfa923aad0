"""Style capsules: named, reusable styles in a user's library (no I/O; `store.capsules` keeps them).

A written capsule is a writing voice (stage 4 only); a visual capsule is a look (images only).
Both belong to one user (`owner`, '' when single-user): nobody else sees or changes them.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aiuteur.domain.base import Frozen, new_id, now_iso

MAX_EXAMPLE = 20_000
MAX_WORDS = 400
MAX_IMAGES = 8
DEFAULT_INFLUENCE = 0.3  # below the 0.7 of asset references: references dominate style


class WrittenCapsule(Frozen):
    """A named writing voice: example prose and example dialogue to imitate (never to copy)."""

    KIND: ClassVar[str] = "written"
    PREFIX: ClassVar[str] = "wc"

    id: str = Field(default_factory=lambda: new_id("wc"))
    name: str = Field(min_length=1, max_length=120)
    example_prose: str = Field(default="", max_length=MAX_EXAMPLE)
    example_dialogue: str = Field(default="", max_length=MAX_EXAMPLE)
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    revision: int = Field(default=1, ge=1, description="Counts saves: a change made from an older one is refused.")
    owner: str = Field(default="", description="The user whose library holds it ('' when single-user).")


class VisualCapsule(Frozen):
    """A named visual style: words for each part of the look, style images and an influence."""

    KIND: ClassVar[str] = "visual"
    PREFIX: ClassVar[str] = "vc"

    id: str = Field(default_factory=lambda: new_id("vc"))
    name: str = Field(min_length=1, max_length=120)
    medium: str = Field(default="", max_length=MAX_WORDS, description="e.g. '2D cel animation', '35mm film'.")
    look: str = Field(default="", max_length=MAX_WORDS, description="Shapes, textures, line, camera feel.")
    palette: str = Field(default="", max_length=MAX_WORDS)
    lighting: str = Field(default="", max_length=MAX_WORDS)
    era: str = Field(default="", max_length=MAX_WORDS)
    references: str = Field(default="", max_length=MAX_WORDS, description="Works or artists it resembles.")
    images: list[str] = Field(default_factory=list, max_length=MAX_IMAGES, description="Media keys.")
    influence: float = Field(default=DEFAULT_INFLUENCE, ge=0.0, le=1.0)
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    revision: int = Field(default=1, ge=1, description="Counts saves: a change made from an older one is refused.")
    owner: str = Field(default="", description="The user whose library holds it ('' when single-user).")


Capsule = WrittenCapsule | VisualCapsule
