"""Bundles: export -> import gives an identical project; hostile zips are refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from aiuteur.domain import ArtifactRecord, InputError, Stage, Take
from aiuteur.exports.bundle import export_bundle, import_bundle
from aiuteur.settings import DataHome
from aiuteur.store import Store


def _project(store: Store) -> str:
    p = store.create_project("Bundle me")
    key = store.put_media(b"\x89PNG fake frame", "png")
    with store.transaction(p.id) as tx:
        b = tx.project.active_branch
        tx.put_record(ArtifactRecord(branch=b, stage=Stage.INPUT, data={"x": 1}))
        tx.put_record(ArtifactRecord(branch=b, stage=Stage.FRAMES, scene_id="sc_0123456789ab", data={"img": key}))
        tx.add_take(Take(stage=Stage.FRAMES, scene_id="sc_0123456789ab", purpose="frame", inputs_hash="h", media=[key]))
        tx.commit()
    return p.id


def test_bundle_round_trip_into_another_installation(store: Store, tmp_path: Path) -> None:
    pid = _project(store)
    zpath = export_bundle(store, pid, tmp_path / "b.zip")
    other = Store(DataHome(tmp_path / "other", "t"))
    project = import_bundle(other, zpath)
    assert project.id == pid
    with store.read(pid) as a, other.read(pid) as b:
        assert [r.model_dump() for r in a.records()] == [r.model_dump() for r in b.records()]
        assert a.takes(Stage.FRAMES, "sc_0123456789ab") == b.takes(Stage.FRAMES, "sc_0123456789ab")
        key = b.takes(Stage.FRAMES, "sc_0123456789ab")[0].media[0]
    assert other.media_path(key).read_bytes() == b"\x89PNG fake frame"
    # importing again into the same installation gives a new id, nothing overwritten
    again = import_bundle(other, zpath)
    assert again.id != pid and len(other.list_projects()) == 2


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", '{"format": "aiuteur-bundle/1"}')
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("members", [
    {"../../evil.json": b"{}"},
    {"db/../../evil.json": b"{}"},
    {"/etc/passwd": b"x"},
    {"media/../x.png": b"x"},
    {"db/project.json": b"{}", "media/" + "0" * 64 + ".png": b"not matching hash"},
])
def test_hostile_bundles_are_refused_and_nothing_is_written(store: Store, tmp_path: Path, members: dict) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip(members))
    with pytest.raises(InputError):
        import_bundle(store, bad)
    assert store.list_projects() == []
    assert not (tmp_path / "evil.json").exists()


def test_a_non_zip_is_refused(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a zip"):
        import_bundle(store, bad)
