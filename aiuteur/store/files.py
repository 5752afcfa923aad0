"""Crash-safe file writing: temp file, fsync, rename, directory fsync.

A reader sees either the old file or the new one, never a torn write, whatever moment a
process is killed at. Multi-file commits go through a small roll-forward journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(path: Path, data: bytes, durable: bool = True) -> Path:
    """Write `data` to a (durable) temp file beside `path` and return the temp path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (never torn) and, unless told otherwise, durably.

    `durable=False` skips the fsyncs: for derived data (the dashboard index) that is rebuilt from
    the projects if a power cut loses it.
    """
    tmp = write_temp(path, data, durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def dumps(data: Any) -> bytes:
    """The JSON bytes we store: compact, UTF-8, refusing anything that is not JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def read_json(path: Path) -> Any | None:
    """Parsed JSON of `path`, or None when it does not exist or is empty."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.strip():
        return None
    return json.loads(raw)


def remove_stray_temps(folder: Path) -> int:
    """Delete temp files left by a process killed between write and rename."""
    n = 0
    if not folder.exists():
        return 0
    for p in folder.rglob("*" + TMP_SUFFIX):
        if p.name.startswith("."):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


class AtomicJSONStorage(Storage):
    """TinyDB storage that writes atomically (temp file, fsync, rename, dir fsync)."""

    def __init__(self, path: str | os.PathLike[str], create_dirs: bool = True, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        data = read_json(self.path)
        return data if isinstance(data, dict) else None

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        atomic_write_bytes(self.path, dumps(data), self.durable)

    def close(self) -> None:
        pass


class BufferStorage(Storage):
    """TinyDB storage over an in-memory dict: a unit of work edits buffers, commit writes them."""

    def __init__(self, initial: dict[str, dict[str, Any]] | None = None) -> None:
        self.data: dict[str, dict[str, Any]] | None = initial
        self.dirty = False

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self.data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # TinyDB hands us its own dict; keep a JSON round-trip copy so nothing non-JSON slips in
        self.data = json.loads(dumps(data))
        self.dirty = True

    def close(self) -> None:
        pass


class Journal:
    """Roll-forward journal for committing several files at once, all or nothing.

    1. every new file is written to a durable temp file;
    2. the journal (temp -> target pairs) is written atomically: this is the commit point;
    3. temps are renamed over their targets; 4. the journal is removed.
    A process killed before 2 leaves only stray temps (old state); killed after 2, the next
    opener replays the renames (new state).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "journal.json"

    def commit(self, files: dict[Path, bytes]) -> None:
        if not files:
            return
        if len(files) == 1:
            (target, data), = files.items()
            atomic_write_bytes(target, data)
            return
        pairs: list[tuple[str, str]] = []
        try:
            for target, data in files.items():
                tmp = write_temp(target, data)
                pairs.append((os.path.relpath(tmp, self.folder), os.path.relpath(target, self.folder)))
        except BaseException:
            for tmp_rel, _ in pairs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.folder / tmp_rel)
            raise
        atomic_write_bytes(self.path, dumps(pairs))
        self.replay()

    def replay(self) -> bool:
        """Finish an interrupted commit; True when there was one."""
        pairs = read_json(self.path)
        if pairs is None:
            return False
        dirs: set[Path] = set()
        for tmp_rel, target_rel in pairs:
            tmp, target = self.folder / tmp_rel, self.folder / target_rel
            if tmp.exists():
                os.replace(tmp, target)
                dirs.add(target.parent)
        for d in dirs:
            fsync_dir(d)
        # no fsync after the unlink: if a crash undoes it, the replay runs again and finds no temps
        self.path.unlink()
        return True
