"""TinyDB persistence: one database per project, a small index for the dashboard, media by hash.

Layout under the data folder (ids are generated; no user text ever becomes a path)::

    index.json                     dashboard index: project cards and folders
    projects/<pid>/project.json    the project and its branches (small: rewritten on every save)
    projects/<pid>/stages/<stage>.json project-level artifacts of every branch, one shard a stage
    projects/<pid>/scenes/<sid>.json   per-scene artifacts of every branch (one shard a scene)
    projects/<pid>/takes/<bucket>.json immutable takes, one bucket per stage or scene
    media/<aa>/<sha256>.<ext>      files, named by content hash

A project is split into shards so one save rewrites a small file, whatever the project's size.
Every change goes through a unit of work (`Tx`, store/tx.py): `with store.transaction(pid) as tx: ...;
tx.commit()`.
It holds the project's lock (threads and processes), edits buffered copies, and commits every
touched shard all or nothing; an exception or a missing commit writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb import Query, TinyDB

from aiuteur.domain import (
    Branch,
    ConflictError,
    Folder,
    NotFoundError,
    Project,
    ProjectSummary,
    new_id,
    now_iso,
)
from aiuteur.domain.base import Frozen
from aiuteur.settings import DataHome
from aiuteur.store.capsules import CapsuleLibrary
from aiuteur.store.files import (
    AtomicJSONStorage,
    Journal,
    dumps,
    read_json,
    remove_stray_temps,
)
from aiuteur.store.migrations import migrate
from aiuteur.store.tx import ID_RE as ID_RE  # re-exported: where callers have always found them
from aiuteur.store.tx import StoreError as StoreError
from aiuteur.store.tx import Tx as Tx
from aiuteur.store.tx import check_id as check_id

log = logging.getLogger(__name__)

MEDIA_RE = re.compile(r"^([0-9a-f]{64})\.([a-z0-9]{1,5})$")
MEDIA_EXTS = frozenset({"png", "jpg", "jpeg", "webp", "mp4", "wav", "mp3", "pdf", "json", "txt", "otio", "zip", "gif"})
LOCK_TIMEOUT_S = 60.0

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
_held = threading.local()


def backup_keep() -> int:
    """How many rolling snapshots to keep per project (AIUTEUR_BACKUPS, default 10)."""
    return max(1, int(os.environ.get("AIUTEUR_BACKUPS", "10")))


def backup_interval_s() -> float:
    """Seconds between automatic snapshots (AIUTEUR_BACKUP_MINUTES, default 10; negative: off)."""
    return float(os.environ.get("AIUTEUR_BACKUP_MINUTES", "10")) * 60


class Snapshot(Frozen):
    """One backup of a project's database (media is content-addressed and never deleted)."""

    id: str
    created_at: str
    reason: str = ""


def _index_ok(data: Any, projects: Path | None) -> bool:
    """Whether the dashboard index can be trusted: well-formed, and not empty while projects exist."""
    if data is not None and not isinstance(data, dict):
        return False
    table = (data or {}).get("projects", {})
    if not isinstance(table, dict):
        return False
    for doc in table.values():
        if not (isinstance(doc, dict) and isinstance(doc.get("id"), str) and ID_RE.fullmatch(doc["id"])
                and isinstance(doc.get("title"), str) and isinstance(doc.get("updated_at"), str)):
            return False
    if not table and projects is not None and projects.is_dir():
        return not any(ID_RE.fullmatch(p.name) and (p / "project.json").exists() for p in projects.iterdir())
    return True


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _locked(key: str, lock_path: Path) -> Iterator[None]:
    """Serialise across threads (a mutex) and across processes (a file lock)."""
    held: set[str] = getattr(_held, "keys", set())
    if key in held:
        raise StoreError("This project is already open for a change in this thread; finish that change first.")
    tl = _thread_lock(key)
    if not tl.acquire(timeout=LOCK_TIMEOUT_S):
        raise StoreError("The project is busy with another change; try again in a moment.")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S):
                held.add(key)
                _held.keys = held
                try:
                    yield
                finally:
                    held.discard(key)
        except Timeout:
            raise StoreError("The project is busy in another process; try again in a moment.") from None
    finally:
        tl.release()


class Store:
    """The repository of projects under one data folder."""

    def __init__(self, home: DataHome) -> None:
        self.home = home
        self.root = home.path
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "projects").mkdir(exist_ok=True)
        (self.root / "media").mkdir(exist_ok=True)

    # -- paths ---------------------------------------------------------------------------------
    def project_dir(self, project_id: str) -> Path:
        return self.root / "projects" / check_id(project_id, "project")

    def exists(self, project_id: str) -> bool:
        try:
            return (self.project_dir(project_id) / "project.json").exists()
        except NotFoundError:
            return False

    # -- unit of work --------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, project_id: str, *, readonly: bool = False) -> Iterator[Tx]:
        """Open a unit of work on a project, holding its lock until the block ends."""
        folder = self.project_dir(project_id)
        if not (folder / "project.json").exists() and not (folder / "journal.json").exists():
            raise NotFoundError(f"No project {project_id!r}.")
        with _locked(f"{self.root}:{project_id}", folder / ".lock"):
            self._recover(folder)
            tx = Tx(self, project_id, folder, readonly)
            yield tx
            if tx.committed:
                self._maybe_snapshot(project_id, folder)
            if tx.committed and tx.summary_changed:
                self._update_summary(tx)

    def read(self, project_id: str) -> contextlib.AbstractContextManager[Tx]:
        """A consistent read-only view of a project."""
        return self.transaction(project_id, readonly=True)

    def _recover(self, folder: Path) -> None:
        Journal(folder).replay()
        remove_stray_temps(folder)
        migrate(folder)

    # -- backups -------------------------------------------------------------------------------
    def _backup_dir(self, project_id: str) -> Path:
        return self.root / "backups" / check_id(project_id, "project")

    def _db_files(self, folder: Path) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for p in [folder / "project.json", *sorted(folder.glob("stages/*.json")), *sorted(folder.glob("scenes/*.json")),
                  *sorted(folder.glob("takes/*.json"))]:
            if p.exists() and not p.name.startswith("."):
                out[p.relative_to(folder).as_posix()] = p.read_bytes()
        return out

    def _snapshot_locked(self, project_id: str, folder: Path, reason: str) -> Snapshot:
        snap = Snapshot(id=new_id("bk"), created_at=datetime.now(UTC).isoformat(timespec="microseconds"), reason=reason)
        target = self._backup_dir(project_id) / snap.id
        files = self._db_files(folder)
        for rel, data in files.items():
            from aiuteur.store.files import write_temp

            dest = target / rel
            os.replace(write_temp(dest, data), dest)
        from aiuteur.store.files import atomic_write_bytes

        atomic_write_bytes(target / "snapshot.json", dumps(snap.model_dump(mode="json")))  # complete marker
        keep = backup_keep()
        for old in self._snapshot_list(project_id)[keep:]:
            shutil.rmtree(self._backup_dir(project_id) / old.id, ignore_errors=True)
        return snap

    def _snapshot_list(self, project_id: str) -> list[Snapshot]:
        d = self._backup_dir(project_id)
        out = []
        for meta in d.glob("*/snapshot.json") if d.exists() else []:
            raw = read_json(meta)
            if isinstance(raw, dict):
                out.append(Snapshot.model_validate(raw))
        return sorted(out, key=lambda b: b.created_at, reverse=True)

    def _maybe_snapshot(self, project_id: str, folder: Path) -> None:
        """Rolling automatic snapshots: at most one every AIUTEUR_BACKUP_MINUTES (default 10)."""
        interval = backup_interval_s()
        if interval < 0:
            return
        latest = next(iter(self._snapshot_list(project_id)), None)
        if latest is not None and (datetime.now(UTC) - datetime.fromisoformat(latest.created_at)).total_seconds() < interval:
            return
        try:
            self._snapshot_locked(project_id, folder, "automatic")
        except OSError as e:  # a backup that fails must never fail the save
            log.warning("Automatic backup of %s failed: %s", project_id, e)

    def snapshot(self, project_id: str, reason: str = "manual") -> Snapshot:
        folder = self.project_dir(project_id)
        with _locked(f"{self.root}:{project_id}", folder / ".lock"):
            self._recover(folder)
            return self._snapshot_locked(project_id, folder, reason[:200])

    def snapshots(self, project_id: str) -> list[Snapshot]:
        """The project's snapshots, newest first."""
        return self._snapshot_list(project_id)

    def restore(self, project_id: str, snapshot_id: str) -> Snapshot:
        """Put the project back as it was in a snapshot; the current state is snapshotted first."""
        snap = next((b for b in self._snapshot_list(project_id) if b.id == check_id(snapshot_id, "backup")), None)
        if snap is None:
            raise NotFoundError(f"No backup {snapshot_id!r} for this project.")
        folder = self.project_dir(project_id)
        source = self._backup_dir(project_id) / snap.id
        with _locked(f"{self.root}:{project_id}", folder / ".lock"):
            self._recover(folder)
            wanted = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*.json")
                      if p.name != "snapshot.json"}
            if "project.json" not in wanted:
                raise StoreError(f"The backup of {snap.created_at[:16]} is incomplete; choose another one.")
            self._snapshot_locked(project_id, folder, f"before restoring the backup of {snap.created_at[:16]}")
            files = {folder / rel: data for rel, data in wanted.items()}
            for rel in self._db_files(folder):
                if rel not in wanted:
                    files[folder / rel] = b"{}"  # made after the snapshot: emptied in the same commit
            Journal(folder).commit(files)
        with self.read(project_id) as tx:
            self._update_summary(tx)
        return snap

    # -- index (dashboard) ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _index(self, *, fill_if_empty: bool = False) -> Iterator[TinyDB]:
        """The dashboard index, rebuilt first when garbled (or, for a reader, empty while projects exist)."""
        with _locked(f"{self.root}:index", self.root / ".index.lock"):
            remove_stray_temps_root(self.root)
            path = self.root / "index.json"
            try:
                ok = _index_ok(read_json(path), self.root / "projects" if fill_if_empty else None)
            except ValueError:
                ok = False
            if not ok:
                self._rebuild_index(path)
            # the index is derived data (rebuilt from the projects), so it is written without fsync
            yield TinyDB(path, storage=AtomicJSONStorage, durable=False)

    def _rebuild_index(self, path: Path) -> None:
        """Recreate the dashboard index from the project folders (folders and their names are lost)."""
        from aiuteur.store.summary import summarise

        log.warning("The dashboard index %s was unreadable or empty; rebuilding it from the projects.", path)
        path.unlink(missing_ok=True)
        cards = []
        for folder in sorted((self.root / "projects").glob("*")):
            if ID_RE.fullmatch(folder.name) and (folder / "project.json").exists():
                with self.read(folder.name) as tx:
                    cards.append(summarise(tx).model_dump(mode="json"))
        TinyDB(path, storage=AtomicJSONStorage).table("projects").insert_multiple(cards)

    def _update_summary(self, tx: Tx) -> None:
        from aiuteur.store.summary import summarise  # derived; kept out of the hot import path

        with self._index() as idx:
            t = idx.table("projects")
            old = t.get(Query().id == tx.project_id)
            previous = ProjectSummary.model_validate(old) if isinstance(old, dict) else None
            summary = summarise(tx, previous)
            doc = summary.model_dump(mode="json")
            if isinstance(old, dict):
                doc["folder_id"] = old.get("folder_id")
                doc["owner"] = old.get("owner", "")
            t.upsert(doc, Query().id == summary.id)

    def list_projects(self, owner: str | None = None, search: str = "") -> list[ProjectSummary]:
        """Dashboard cards, newest first; `owner` limits to one user's projects."""
        with self._index(fill_if_empty=True) as idx:
            docs = idx.table("projects").all()
        cards = [ProjectSummary.model_validate(d) for d in docs]
        if owner is not None:
            cards = [c for c in cards if c.owner == owner]
        if search.strip():
            needle = search.strip().casefold()
            cards = [c for c in cards if needle in c.title.casefold()]
        return sorted(cards, key=lambda c: c.updated_at, reverse=True)

    def summary(self, project_id: str) -> ProjectSummary:
        with self._index() as idx:
            doc = idx.table("projects").get(Query().id == check_id(project_id, "project"))
        if not isinstance(doc, dict):
            raise NotFoundError(f"No project {project_id!r}.")
        return ProjectSummary.model_validate(doc)

    # -- projects ------------------------------------------------------------------------------
    def create_project(self, title: str, owner: str = "", folder_id: str | None = None) -> Project:
        """Create an empty project with a main branch and list it on the dashboard."""
        branch = Branch()
        project = Project(title=title.strip() or "Untitled", active_branch=branch.id, owner=owner)
        folder = self.project_dir(project.id)
        folder.mkdir(parents=True)
        (folder / "project.json").write_bytes(b"{}")
        with self.transaction(project.id) as tx:
            tx.put_project(project)
            tx.put_branch(branch)
            tx.commit()
        with self._index() as idx:
            idx.table("projects").update({"owner": owner, "folder_id": folder_id}, Query().id == project.id)
        return project

    def delete_project(self, project_id: str) -> None:
        folder = self.project_dir(project_id)
        if not folder.exists():
            raise NotFoundError(f"No project {project_id!r}.")
        with _locked(f"{self.root}:{project_id}", folder / ".lock"):
            trash = self.root / "trash" / f"{project_id}-{now_iso().replace(':', '')}"
            trash.parent.mkdir(exist_ok=True)
            folder.rename(trash)
        with self._index() as idx:
            idx.table("projects").remove(Query().id == project_id)
        shutil.rmtree(trash, ignore_errors=True)

    def duplicate_project(self, project_id: str, title: str) -> Project:
        """A full, independent copy (same media, which is shared by hash)."""
        src = self.project_dir(project_id)
        with self.read(project_id) as tx:
            original = tx.project
            new = original.model_copy(update={"id": Project(title="x").id, "title": title.strip() or f"{original.title} (copy)",
                                              "created_at": now_iso(), "updated_at": now_iso()})
            dst = self.project_dir(new.id)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock", "*.tmp", "journal.json"))
        with self.transaction(new.id) as tx2:
            tx2.put_project(new)
            tx2.commit()
        summary = self.summary(project_id)
        with self._index() as idx:
            idx.table("projects").update({"owner": original.owner, "folder_id": summary.folder_id}, Query().id == new.id)
        return new

    def set_project_folder(self, project_id: str, folder_id: str | None, *, check: bool = False,
                           seen: str | None = None) -> None:
        """Move a project to a folder; with `check`, a project that is no longer in `seen` (the folder
        the mover saw it in, None: none) stays where it is (ConflictError)."""
        with self._index() as idx:
            if check:
                doc = idx.table("projects").get(Query().id == check_id(project_id, "project"))
                now = doc.get("folder_id") if isinstance(doc, dict) else None
                if doc is not None and now != seen:
                    where = "out of every folder" if now is None else "into another folder"
                    raise ConflictError(f"The project was moved {where} by someone else since you looked; "
                                        "nothing moved. Reload the list and move it again.")
            if folder_id is not None and not idx.table("folders").get(Query().id == check_id(folder_id, "folder")):
                raise NotFoundError(f"No folder {folder_id!r}.")
            if not idx.table("projects").update({"folder_id": folder_id}, Query().id == check_id(project_id, "project")):
                raise NotFoundError(f"No project {project_id!r}.")

    # -- folders -------------------------------------------------------------------------------
    def folders(self, owner: str | None = None) -> list[Folder]:
        with self._index() as idx:
            docs = idx.table("folders").all()
        out = [Folder.model_validate(d) for d in docs]
        return [f for f in out if owner is None or f.owner == owner]

    def create_folder(self, name: str, owner: str = "") -> Folder:
        folder = Folder(name=name.strip(), owner=owner)
        with self._index() as idx:
            idx.table("folders").insert(folder.model_dump(mode="json"))
        return folder

    def rename_folder(self, folder_id: str, name: str, seen: str | None = None) -> Folder:
        """Rename a folder; with `seen` (the name the renamer saw), one renamed since keeps its name."""
        folder = Folder(id=check_id(folder_id, "folder"), name=name.strip())
        with self._index() as idx:
            _check_folder_seen(idx, folder_id, seen, "nothing changed")
            if not idx.table("folders").update({"name": folder.name}, Query().id == folder_id):
                raise NotFoundError(f"No folder {folder_id!r}.")
        return folder

    def delete_folder(self, folder_id: str, seen: str | None = None) -> None:
        """Delete an empty folder; a folder with projects in it is refused, and with `seen` (the name
        the deleter saw) so is one renamed since."""
        with self._index() as idx:
            _check_folder_seen(idx, folder_id, seen, "it was not deleted")
            n = len(idx.table("projects").search(Query().folder_id == check_id(folder_id, "folder")))
            if n:
                raise StoreError(f"The folder still holds {n} project(s); move them out before deleting it.")
            if not idx.table("folders").remove(Query().id == folder_id):
                raise NotFoundError(f"No folder {folder_id!r}.")

    def project_uses_media(self, project_id: str, key: str) -> bool:
        """True when any database file of the project mentions the media key."""
        folder = self.project_dir(project_id)
        needle = key.encode()
        return any(needle in p.read_bytes() for p in folder.rglob("*.json") if not p.name.startswith("."))

    def project_media_text(self, project_id: str) -> bytes:
        """Every database file of the project, joined: what `project_uses_media` searches, read once."""
        folder = self.project_dir(project_id)
        return b"\n".join(p.read_bytes() for p in folder.rglob("*.json") if not p.name.startswith("."))

    # -- style capsules -----------------------------------------------------------------------
    def capsules(self, owner: str = "") -> CapsuleLibrary:
        """The written and visual style capsules of one user (`owner`, '' when single-user)."""
        return CapsuleLibrary(self.home, owner)

    # -- media ---------------------------------------------------------------------------------
    def put_media(self, data: bytes, ext: str) -> str:
        """Store bytes by content hash and return their key ``<sha256>.<ext>`` (idempotent)."""
        ext = ext.lower().lstrip(".")
        if ext not in MEDIA_EXTS:
            raise StoreError(f"Files of type .{ext} are not stored; allowed: {', '.join(sorted(MEDIA_EXTS))}.")
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest}.{ext}"
        path = self.media_path(key, must_exist=False)
        if not path.exists():
            from aiuteur.store.files import atomic_write_bytes

            atomic_write_bytes(path, data)
        return key

    def media_path(self, key: str, must_exist: bool = True) -> Path:
        """Where a media key lives; the key is checked, so it can never leave the media folder."""
        m = MEDIA_RE.fullmatch(key or "")
        if not m:
            raise NotFoundError(f"No media file {key!r}.")
        path = self.root / "media" / m.group(1)[:2] / key
        if must_exist and not path.exists():
            raise NotFoundError(f"The media file {key} is missing from the data folder.")
        return path


def _check_folder_seen(idx: TinyDB, folder_id: str, seen: str | None, outcome: str) -> None:
    if seen is None:
        return
    doc = idx.table("folders").get(Query().id == check_id(folder_id, "folder"))
    name = doc.get("name") if isinstance(doc, dict) else None
    if name is not None and name != seen:
        raise ConflictError(f"The folder was renamed by someone else since you looked (now “{name}”); {outcome}. "
                            "Look at the list again and try again.")


def remove_stray_temps_root(root: Path) -> None:
    """Remove stray temps of the index (top level only; projects clean their own)."""
    for p in root.glob(".index.json.*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


def open_store(home: DataHome | None = None) -> Store:
    """The store of the current data folder."""
    from aiuteur.settings import data_home

    return Store(home or data_home())

