"""Project bundles: one zip holding a project's database and every media file it references.

A bundle imports back into any installation with nothing lost. Import is defensive: only the
expected file names are accepted (no zip-slip, no symlinks, no absolute paths), sizes are
capped, and the project gets a fresh id when that id is already taken.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from pathlib import Path

from aiuteur.domain import InputError, Project, new_id
from aiuteur.store import Store
from aiuteur.store.files import atomic_write_bytes
from aiuteur.store.store import ID_RE, MEDIA_RE

BUNDLE_FORMAT = "aiuteur-bundle/1"
MAX_BUNDLE_BYTES = 4 * 1024**3
MAX_MEMBER_BYTES = 1024**3
_MEDIA_IN_TEXT = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,5}")
_DB_MEMBER = re.compile(r"^db/(project\.json|stages/[a-z_]{2,20}\.json|scenes/[a-z]{2}_[0-9a-f]{12}\.json|takes/[a-z_]{2,20}\.json"
                        r"|takes/[a-z]{2}_[0-9a-f]{12}\.json)$")


def _db_files(folder: Path) -> list[Path]:
    out = [folder / "project.json"]
    for sub in ("stages", "scenes", "takes"):
        d = folder / sub
        if d.is_dir():
            out.extend(sorted(p for p in d.glob("*.json") if not p.name.startswith(".")))
    return out


def export_bundle(store: Store, project_id: str, out_path: Path) -> Path:
    """Write `<out_path>` (a zip) with the project database and its media."""
    with store.read(project_id) as tx:
        folder = tx.folder
        files = {f"db/{p.relative_to(folder).as_posix()}": p.read_bytes() for p in _db_files(folder)}
        title = tx.project.title
    media: set[str] = set()
    for data in files.values():
        media.update(m for m in _MEDIA_IN_TEXT.findall(data.decode("utf-8")) if MEDIA_RE.fullmatch(m))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps({"format": BUNDLE_FORMAT, "project": project_id, "title": title,
                                                "media": sorted(media)}))
        for name, data in files.items():
            z.writestr(name, data)
        for key in sorted(media):
            path = store.media_path(key, must_exist=False)
            if path.exists():
                z.write(path, f"media/{key}")
    atomic_write_bytes(out_path, buf.getvalue())
    return out_path


def import_bundle(store: Store, bundle: Path, owner: str = "") -> Project:
    """Import a bundle as a project of this installation and return it."""
    if not bundle.is_file():
        raise InputError(f"{bundle.name}: no such bundle file.")
    if bundle.stat().st_size > MAX_BUNDLE_BYTES:
        raise InputError(f"{bundle.name} is larger than the {MAX_BUNDLE_BYTES // 1024**3} GB bundle limit.")
    try:
        z = zipfile.ZipFile(bundle)
    except zipfile.BadZipFile:
        raise InputError(f"{bundle.name} is not an Aiuteur bundle (not a zip file).") from None
    with z:
        try:
            manifest = json.loads(z.read("manifest.json"))
        except (KeyError, ValueError):
            raise InputError(f"{bundle.name} is not an Aiuteur bundle (no manifest).") from None
        if manifest.get("format") != BUNDLE_FORMAT:
            raise InputError(f"{bundle.name} has bundle format {manifest.get('format')!r}; expected {BUNDLE_FORMAT}.")
        db: dict[str, bytes] = {}
        media: dict[str, bytes] = {}
        for info in z.infolist():
            name = info.filename
            if info.is_dir() or name == "manifest.json":
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InputError(f"{bundle.name} contains a symbolic link ({name}); refusing to import it.")
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(f"{bundle.name}: {name} is too large.")
            if _DB_MEMBER.match(name):
                db[name[3:]] = z.read(info)
            elif name.startswith("media/") and MEDIA_RE.fullmatch(name[6:]):
                media[name[6:]] = z.read(info)
            else:
                raise InputError(f"{bundle.name} contains an unexpected file {name!r}; refusing to import it.")
    if "project.json" not in db:
        raise InputError(f"{bundle.name} has no project database in it.")
    for key, data in media.items():
        import hashlib

        if hashlib.sha256(data).hexdigest() != key.split(".")[0]:
            raise InputError(f"{bundle.name}: media file {key} is damaged (its content does not match its name).")
    project_doc = json.loads(db["project.json"]).get("project", {})
    old = next(iter(project_doc.values()), None)
    if not old:
        raise InputError(f"{bundle.name}: the project record is missing.")
    pid = old["id"] if ID_RE.fullmatch(old.get("id", "")) and not store.exists(old["id"]) else new_id("pr")
    for key, data in media.items():
        store.put_media(data, key.split(".")[1])
    folder = store.project_dir(pid)
    folder.mkdir(parents=True)
    for rel, data in db.items():
        atomic_write_bytes(folder / rel, data)
    with store.transaction(pid) as tx:
        project = tx.project.model_copy(update={"id": pid, "owner": owner})
        tx.put_project(project)
        tx.commit()
    return project
