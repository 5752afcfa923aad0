"""A unit of work on one project: buffered shards, read and changed, written all or nothing.

`Store.transaction` opens one under the project's lock; nothing reaches disk until `commit()`,
which hands every touched shard to the journal (store/files.py) at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tinydb import Query, TinyDB

from aiuteur.domain import ArtifactRecord, Branch, NotFoundError, Project, Stage, Take
from aiuteur.domain.errors import AiuteurError
from aiuteur.store.files import BufferStorage, Journal, dumps, read_json

if TYPE_CHECKING:
    from aiuteur.store.store import Store

ID_RE = re.compile(r"^[a-z]{2}_[0-9a-f]{12}$")


class StoreError(AiuteurError):
    """The store could not do what was asked (busy, bad id, corrupt file)."""


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it is one of our generated ids, else raise (it never becomes a path)."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise NotFoundError(f"No {what} {shown!r}: ids look like 'pr_0123456789ab'.")
    return value


class _Shard:
    """One TinyDB file opened over a buffer for the length of a unit of work."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = read_json(path)
        self.storage = BufferStorage(raw if isinstance(raw, dict) else None)
        buffer = self.storage
        self.db = TinyDB(storage=lambda: buffer)  # TinyDB builds its storage by calling this

    @property
    def dirty(self) -> bool:
        return self.storage.dirty

    def payload(self) -> bytes:
        return dumps(self.storage.data or {})


class Tx:
    """A unit of work on one project. Nothing reaches disk until `commit()`."""

    def __init__(self, store: Store, project_id: str, folder: Path, readonly: bool) -> None:
        self.store = store
        self.project_id = project_id
        self.folder = folder
        self.readonly = readonly
        self._shards: dict[Path, _Shard] = {}
        self.committed = False
        self.summary_changed = False
        self.touched = False

    # -- shards ---------------------------------------------------------------------------
    def _shard(self, rel: str) -> _Shard:
        path = self.folder / rel
        if path not in self._shards:
            self._shards[path] = _Shard(path)
        return self._shards[path]

    def _has_shard(self, rel: str) -> bool:
        return (self.folder / rel) in self._shards or (self.folder / rel).exists()

    def _main(self) -> TinyDB:
        return self._shard("project.json").db

    def _artifact_table(self, stage: Stage, scene_id: str | None) -> TinyDB:
        if stage.per_scene:
            if scene_id is None:
                raise StoreError(f"{stage.title} is made per scene; say which scene.")
            return self._shard(f"scenes/{check_id(scene_id, 'scene')}.json").db
        return self._shard(f"stages/{stage.value}.json").db

    def _take_bucket(self, stage: Stage, scene_id: str | None) -> TinyDB:
        if scene_id is not None:
            return self._shard(f"takes/{check_id(scene_id, 'scene')}.json").db
        return self._shard(f"takes/{stage.value}.json").db

    # -- project and branches ---------------------------------------------------------------
    @property
    def project(self) -> Project:
        docs = self._main().table("project").all()
        if not docs:
            raise NotFoundError(f"Project {self.project_id} has no data; it may have been deleted.")
        return Project.model_validate(docs[0])

    def put_project(self, project: Project) -> None:
        t = self._main().table("project")
        t.truncate()
        t.insert(project.model_dump(mode="json"))
        self.summary_changed = True

    def touch(self) -> None:
        """Mark the project as edited now; the dashboard index records when (no extra shard write)."""
        self.touched = True
        self.summary_changed = True

    def branches(self) -> list[Branch]:
        return [Branch.model_validate(d) for d in self._main().table("branches").all()]

    def branch(self, branch_id: str | None = None) -> Branch:
        bid = branch_id or self.project.active_branch
        docs = self._main().table("branches").search(Query().id == bid)
        if not docs:
            raise NotFoundError(f"No branch {bid!r} in this project.")
        return Branch.model_validate(docs[0])

    def put_branch(self, branch: Branch) -> None:
        t = self._main().table("branches")
        t.remove(Query().id == branch.id)
        t.insert(branch.model_dump(mode="json"))
        self.summary_changed = True

    # -- artifacts ---------------------------------------------------------------------------
    def get_record(self, stage: Stage, scene_id: str | None = None, branch: str | None = None) -> ArtifactRecord | None:
        bid = branch or self.project.active_branch
        q = Query()
        sid = scene_id if stage.per_scene else None
        docs = self._artifact_table(stage, sid).table("artifacts").search(
            (q.branch == bid) & (q.stage == stage.value) & (q.scene_id == sid)
        )
        return ArtifactRecord.model_validate(docs[0]) if docs else None

    def put_record(self, record: ArtifactRecord) -> None:
        q = Query()
        t = self._artifact_table(record.stage, record.scene_id).table("artifacts")
        t.remove((q.branch == record.branch) & (q.stage == record.stage.value) & (q.scene_id == record.scene_id))
        t.insert(record.model_dump(mode="json"))
        self.summary_changed = True

    def delete_record(self, stage: Stage, scene_id: str | None = None, branch: str | None = None) -> None:
        bid = branch or self.project.active_branch
        q = Query()
        sid = scene_id if stage.per_scene else None
        self._artifact_table(stage, sid).table("artifacts").remove(
            (q.branch == bid) & (q.stage == stage.value) & (q.scene_id == sid)
        )

    def scene_shards(self) -> list[str]:
        d = self.folder / "scenes"
        on_disk = {p.stem for p in d.glob("*.json")} if d.exists() else set()
        in_tx = {p.stem for p in self._shards if p.parent == d}
        return sorted(s for s in on_disk | in_tx if ID_RE.fullmatch(s))

    def records(self, branch: str | None = None, scenes: list[str] | None = None) -> list[ArtifactRecord]:
        """Every artifact of a branch: project-level and per scene (only `scenes` when given)."""
        bid = branch or self.project.active_branch
        out: list[ArtifactRecord] = []
        for stage in Stage:
            if not stage.per_scene and self._has_shard(f"stages/{stage.value}.json"):
                db = self._shard(f"stages/{stage.value}.json").db
                out.extend(ArtifactRecord.model_validate(d) for d in db.table("artifacts").search(Query().branch == bid))
        shard_ids = self.scene_shards() if scenes is None else [check_id(s, "scene") for s in scenes]
        for sid in shard_ids:
            db = self._shard(f"scenes/{sid}.json").db
            out.extend(ArtifactRecord.model_validate(d) for d in db.table("artifacts").search(Query().branch == bid))
        return out

    def copy_branch_records(self, source: str, target: str) -> int:
        """Copy-on-branch: give `target` its own copy of every artifact of `source`."""
        n = 0
        for rec in self.records(source):
            self.put_record(rec.model_copy(update={"branch": target}))
            n += 1
        return n

    # -- takes ---------------------------------------------------------------------------------
    def add_take(self, take: Take) -> Take:
        bucket = self._take_bucket(take.stage, take.scene_id).table("takes")
        if bucket.search(Query().id == take.id):
            raise StoreError(f"Take {take.id} already exists; takes are never changed once saved.")
        bucket.insert(take.model_dump(mode="json"))
        return take

    def get_take(self, take_id: str, stage: Stage, scene_id: str | None = None) -> Take:
        docs = self._take_bucket(stage, scene_id).table("takes").search(Query().id == take_id)
        if not docs:
            raise NotFoundError(f"No take {take_id!r} for {stage.title}.")
        return Take.model_validate(docs[0])

    def takes(self, stage: Stage, scene_id: str | None = None, target: str | None = None) -> list[Take]:
        q = Query()
        cond = q.stage == stage.value
        if target is not None:
            cond = cond & (q.target == target)
        docs = self._take_bucket(stage, scene_id).table("takes").search(cond)
        return [Take.model_validate(d) for d in docs]

    # -- uploads -------------------------------------------------------------------------------
    def add_upload(self, key: str) -> None:
        """Note that a media file was uploaded for this project, so the project's media check finds
        it before anything else of the project names it (`Store.project_uses_media`)."""
        table = self._shard("uploads.json").db.table("uploads")
        if not table.search(Query().key == key):
            table.insert({"key": key})

    # -- finish --------------------------------------------------------------------------------
    def commit(self) -> None:
        if self.readonly:
            raise StoreError("This is a read-only view of the project; open a transaction to change it.")
        files = {p: s.payload() for p, s in self._shards.items() if s.dirty}
        Journal(self.folder).commit(files)
        self.committed = True
