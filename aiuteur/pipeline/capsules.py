"""Written style capsules: a named voice (example prose and example dialogue), shared by projects.

A capsule shapes script and dialogue writing only (stage 4), never treatments or images (DESIGN
idea 9). Capsules live as one JSON file each under `<data home>/capsules/written/<id>.json`,
written atomically; the id is generated (`wc_<12 hex>`), so user text never becomes a path.

Example:
    cap = create_capsule("Hard-boiled", example_prose="Rain. Neon.", example_dialogue="You lied.")
    story = story.model_copy(update={"written_style_capsule": cap.id})
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import Field, ValidationError

from aiuteur.domain import Frozen, InputError, NotFoundError, new_id, now_iso
from aiuteur.settings import DataHome, data_home
from aiuteur.store.files import atomic_write_bytes

_ID_RE = re.compile(r"^wc_[0-9a-f]{12}$")
MAX_EXAMPLE = 20_000


class WrittenCapsule(Frozen):
    """A named writing voice: example prose and example dialogue to imitate (never to copy)."""

    id: str = Field(default_factory=lambda: new_id("wc"))
    name: str = Field(min_length=1, max_length=120)
    example_prose: str = Field(default="", max_length=MAX_EXAMPLE)
    example_dialogue: str = Field(default="", max_length=MAX_EXAMPLE)
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    owner: str = Field(default="", description="The user whose library holds it ('' when single-user).")


def _folder(home: DataHome | None) -> Path:
    return (home or data_home()).capsules / "written"


def _path(capsule_id: str, home: DataHome | None) -> Path:
    if not _ID_RE.fullmatch(capsule_id or ""):
        raise NotFoundError(f"There is no written style capsule {capsule_id!r}; pick one from the list.")
    return _folder(home) / f"{capsule_id}.json"


def _check(name: str, example_prose: str, example_dialogue: str) -> None:
    if not name.strip():
        raise InputError("A written style capsule needs a name; type one in.")
    if len(name) > 120:
        raise InputError(f"The capsule name is {len(name)} characters long; keep it under 120.")
    for label, text in (("example prose", example_prose), ("example dialogue", example_dialogue)):
        if len(text) > MAX_EXAMPLE:
            raise InputError(f"The {label} is {len(text)} characters long; keep it under {MAX_EXAMPLE}.")
    if not (example_prose.strip() or example_dialogue.strip()):
        raise InputError("A written style capsule needs some example prose or example dialogue to imitate.")


def _write(capsule: WrittenCapsule, home: DataHome | None) -> None:
    path = _path(capsule.id, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(capsule.model_dump(mode="json"), ensure_ascii=False, indent=1).encode("utf-8"))


def list_capsules(home: DataHome | None = None, owner: str | None = None) -> list[WrittenCapsule]:
    """Every written capsule (of `owner`, when given), by name; unreadable files are skipped."""
    folder = _folder(home)
    out: list[WrittenCapsule] = []
    if folder.is_dir():
        for p in folder.glob("wc_*.json"):
            try:
                out.append(WrittenCapsule.model_validate_json(p.read_bytes()))
            except (OSError, ValidationError):
                continue
    if owner is not None:
        out = [c for c in out if c.owner == owner]
    return sorted(out, key=lambda c: (c.name.lower(), c.created_at))


def get_capsule(capsule_id: str, home: DataHome | None = None) -> WrittenCapsule:
    """One capsule by id. Raises NotFoundError when there is none."""
    path = _path(capsule_id, home)
    try:
        return WrittenCapsule.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"There is no written style capsule {capsule_id!r}; pick one from the list.") from None


def create_capsule(name: str, example_prose: str = "", example_dialogue: str = "",
                   home: DataHome | None = None, owner: str = "") -> WrittenCapsule:
    """Save a new capsule and return it (with its generated id)."""
    _check(name, example_prose, example_dialogue)
    capsule = WrittenCapsule(name=name.strip(), example_prose=example_prose, example_dialogue=example_dialogue,
                             owner=owner)
    _write(capsule, home)
    return capsule


def update_capsule(capsule_id: str, *, name: str | None = None, example_prose: str | None = None,
                   example_dialogue: str | None = None, home: DataHome | None = None) -> WrittenCapsule:
    """Change a capsule's name or examples; fields left as None stay as they are."""
    old = get_capsule(capsule_id, home)
    new_name = old.name if name is None else name.strip()
    prose = old.example_prose if example_prose is None else example_prose
    dialogue = old.example_dialogue if example_dialogue is None else example_dialogue
    _check(new_name, prose, dialogue)
    capsule = old.model_copy(update={"name": new_name, "example_prose": prose, "example_dialogue": dialogue,
                                     "updated_at": now_iso()})
    _write(capsule, home)
    return capsule


def delete_capsule(capsule_id: str, home: DataHome | None = None) -> None:
    """Remove a capsule. Projects that named it simply write without a capsule afterwards."""
    path = _path(capsule_id, home)
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFoundError(f"There is no written style capsule {capsule_id!r}; pick one from the list.") from None
