"""Shared helpers for the screenplay tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiuteur.domain.artifacts import Script

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "screenplays"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def shape(script: Script) -> list[dict[str, Any]]:
    """The scenes without their random ids, for comparing two imports."""
    return [scene.model_dump(exclude={"id"}) for scene in script.scenes]


def speech(script: Script) -> list[tuple[str, str | None, str | None, bool, str]]:
    return [
        (e.kind.value, e.character, e.extension, e.dual, e.text)
        for scene in script.scenes
        for e in scene.elements
        if e.character
    ]
