"""Schema changes of a project database: small named functions, each applied once.

Applied migrations are recorded in the project file's `_migrations` table, so a project made
by an older version is upgraded the first time it is opened, and never twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiuteur.domain import now_iso
from aiuteur.store.files import atomic_write_bytes, dumps, read_json

Data = dict[str, dict[str, Any]]


def m001_initial(data: Data) -> Data:
    """The first schema: tables project, branches, artifacts. Nothing to change."""
    return data


MIGRATIONS: list[tuple[str, Callable[[Data], Data]]] = [("m001_initial", m001_initial)]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(folder: Path) -> list[str]:
    """Apply pending migrations to `folder/project.json`; return the names applied."""
    path = folder / "project.json"
    raw = read_json(path)
    data: Data = raw if isinstance(raw, dict) else {}
    done_table = data.setdefault("_migrations", {})
    done = {d.get("name") for d in done_table.values()}
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        data = fn(data)
        table = data.setdefault("_migrations", {})
        table[str(len(table) + 1)] = {"name": name, "at": now_iso()}
        applied.append(name)
    if applied:
        atomic_write_bytes(path, dumps(data))
    return applied
