"""One user's style-capsule library, kept under the store's home.

Layout: `<home>/capsules/written/wc_<12 hex>.json` and `<home>/capsules/visual/vc_<12 hex>.json`,
each written atomically; ids are generated, so no user text ever becomes a path. Every capsule
names its owner, and a library only ever reads, lists, changes or deletes its own user's: another
user's capsule is "not there", in the same words as one that never existed.

Example:
    lib = CapsuleLibrary(store.home, owner="hf:alice")
    lib.put(WrittenCapsule(name="Noir", example_prose="Rain.", owner=lib.owner))
    [c.name for c in lib.list(WrittenCapsule)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout
from pydantic import ValidationError

from aiuteur.domain import ConflictError, NotFoundError
from aiuteur.domain.capsules import VisualCapsule, WrittenCapsule
from aiuteur.settings import DataHome
from aiuteur.store.files import atomic_write_bytes

C = TypeVar("C", WrittenCapsule, VisualCapsule)


class CapsuleLibrary:
    """The written and visual capsules of one user (`owner`, '' when single-user)."""

    def __init__(self, home: DataHome, owner: str = "") -> None:
        self.home = home
        self.owner = owner

    def folder(self, kind: type[C]) -> Path:
        return self.home.capsules / kind.KIND

    def _path(self, kind: type[C], capsule_id: str) -> Path:
        if not isinstance(capsule_id, str) or not re.fullmatch(rf"{kind.PREFIX}_[0-9a-f]{{12}}", capsule_id):
            raise _missing(kind, capsule_id)
        return self.folder(kind) / f"{capsule_id}.json"

    def list(self, kind: type[C]) -> list[C]:
        """This user's capsules of `kind`, by name (files that do not read as a capsule are skipped)."""
        folder = self.folder(kind)
        out: list[C] = []
        if folder.is_dir():
            for p in folder.glob(f"{kind.PREFIX}_*.json"):
                try:
                    capsule = kind.model_validate_json(p.read_bytes())
                except (OSError, ValidationError):
                    continue
                if capsule.owner == self.owner:
                    out.append(capsule)
        return sorted(out, key=lambda c: (c.name.lower(), c.created_at))

    def get(self, kind: type[C], capsule_id: str) -> C:
        """One of this user's capsules. Raises NotFoundError when there is none (or it is someone else's)."""
        path = self._path(kind, capsule_id)
        try:
            capsule = kind.model_validate_json(path.read_bytes())
        except (FileNotFoundError, ValidationError):
            raise _missing(kind, capsule_id) from None
        if capsule.owner != self.owner:
            raise _missing(kind, capsule_id)
        return capsule

    @contextmanager
    def _locked(self, kind: type[C], capsule_id: str) -> Iterator[Path]:
        path = self._path(kind, capsule_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(path.with_name(path.name + ".lock")), timeout=30):  # threads and processes
                yield path
        except Timeout:
            raise ConflictError("The style capsule is busy with another change; try again in a moment.") from None

    def put(self, capsule: C, base_revision: int | None = None) -> C:
        """Save a new or changed capsule of this user (saved with this library's owner).

        `base_revision` is the revision the change was made from: if the capsule was saved since
        (or deleted), nothing is saved (ConflictError). None saves over whatever is there."""
        kind = type(capsule)
        with self._locked(kind, capsule.id) as path:
            now = self.get(kind, capsule.id) if path.exists() else None  # someone else's is never overwritten
            _check_revision(kind, capsule, now, base_revision, "saved")
            mine = capsule.model_copy(update={"owner": self.owner, "revision": (now.revision + 1) if now else 1})
            atomic_write_bytes(path, json.dumps(mine.model_dump(mode="json"), ensure_ascii=False,
                                                indent=1).encode("utf-8"))
        return mine

    def delete(self, kind: type[C], capsule_id: str, base_revision: int | None = None) -> None:
        """Remove one of this user's capsules. Raises NotFoundError when there is none, and
        ConflictError when it was saved since `base_revision` (None: whatever it holds)."""
        with self._locked(kind, capsule_id) as path:
            now = self.get(kind, capsule_id)
            _check_revision(kind, now, now, base_revision, "deleted")
            path.unlink(missing_ok=True)


def _check_revision(kind: type[C], capsule: C, now: C | None, base_revision: int | None, outcome: str) -> None:
    if base_revision is None:
        return
    if now is None:
        raise ConflictError(f"The {kind.KIND} style capsule “{capsule.name}” was deleted by someone else since you "
                            f"opened it; nothing was {outcome}. Save it as a new capsule to keep your text.",
                            yours=capsule.model_dump(mode="json"))
    if now.revision != base_revision:
        raise ConflictError(f"The {kind.KIND} style capsule “{now.name}” was changed by someone else since you "
                            f"opened it (now revision {now.revision}, yours was {base_revision}); nothing was "
                            f"{outcome}. Pick it again and reapply your change.", yours=capsule.model_dump(mode="json"))


def _missing(kind: type[C], capsule_id: object) -> NotFoundError:
    return NotFoundError(f"There is no {kind.KIND} style capsule {capsule_id!r}; pick one from the list.")
