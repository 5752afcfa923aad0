"""The store: atomic all-or-nothing units of work, locks across threads and processes, media by hash."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path

import pytest

from aiuteur.domain import ArtifactRecord, NotFoundError, Stage, Take
from aiuteur.settings import DataHome
from aiuteur.store import Store, StoreError
from aiuteur.store.files import Journal


def _put(tx, stage: Stage, data: dict, scene_id: str | None = None) -> None:
    tx.put_record(ArtifactRecord(branch=tx.project.active_branch, stage=stage, scene_id=scene_id, data=data))


def test_create_project_lists_it_on_the_dashboard(store: Store) -> None:
    p = store.create_project("Persephone")
    cards = store.list_projects()
    assert [c.title for c in cards] == ["Persephone"]
    assert cards[0].scene_label == "Stage 1 · Input"
    with store.read(p.id) as tx:
        assert tx.branch().name == "main"


def test_a_unit_of_work_without_commit_writes_nothing(store: Store) -> None:
    p = store.create_project("A")
    with store.transaction(p.id) as tx:
        _put(tx, Stage.INPUT, {"x": 1})
    with store.read(p.id) as tx:
        assert tx.records() == []


def test_an_exception_inside_a_unit_of_work_writes_nothing(store: Store) -> None:
    p = store.create_project("A")
    with pytest.raises(RuntimeError), store.transaction(p.id) as tx:
        _put(tx, Stage.INPUT, {"x": 1})
        tx.add_take(Take(stage=Stage.SHOTS, scene_id="sc_0123456789ab", purpose="p", inputs_hash="h"))
        raise RuntimeError("boom")
    with store.read(p.id) as tx:
        assert tx.records() == []
        assert tx.takes(Stage.SHOTS, "sc_0123456789ab") == []


def test_commit_spanning_shards_is_all_or_nothing_when_killed_after_the_journal(store: Store, tmp_path: Path) -> None:
    p = store.create_project("A")
    folder = store.project_dir(p.id)
    # simulate a kill right after the journal (commit point) was written, before any rename
    j = Journal(folder)
    from aiuteur.store import files

    t1 = files.write_temp(folder / "scenes" / "sc_0123456789ab.json", b'{"artifacts":{}}')
    t2 = files.write_temp(folder / "takes" / "input.json", b'{"takes":{}}')
    files.atomic_write_bytes(j.path, json.dumps([[str(t1.relative_to(folder)), "scenes/sc_0123456789ab.json"],
                                                 [str(t2.relative_to(folder)), "takes/input.json"]]).encode())
    with store.read(p.id):  # opening replays the journal: both files appear
        pass
    assert (folder / "scenes" / "sc_0123456789ab.json").exists()
    assert (folder / "takes" / "input.json").exists()
    assert not j.path.exists()


def test_stray_temp_files_from_a_kill_before_commit_are_removed(store: Store) -> None:
    p = store.create_project("A")
    folder = store.project_dir(p.id)
    from aiuteur.store import files

    tmp = files.write_temp(folder / "project.json", b"garbage")
    with store.read(p.id) as tx:
        assert tx.project.title == "A"
    assert not tmp.exists()


def test_ids_never_become_paths(store: Store) -> None:
    for bad in ["../etc", "pr_../../x", "", "PR_0123456789AB", "pr_0123456789ab/../x"]:
        with pytest.raises(NotFoundError):
            store.project_dir(bad)
    with pytest.raises(NotFoundError):
        store.media_path("../../etc/passwd")


def test_media_is_stored_by_content_hash_once(store: Store) -> None:
    k1 = store.put_media(b"frame", "png")
    k2 = store.put_media(b"frame", "png")
    assert k1 == k2 and store.media_path(k1).read_bytes() == b"frame"
    with pytest.raises(StoreError):
        store.put_media(b"x", "exe")


def test_takes_are_immutable(store: Store) -> None:
    p = store.create_project("A")
    take = Take(stage=Stage.TREATMENT, purpose="treatment", inputs_hash="h")
    with store.transaction(p.id) as tx:
        tx.add_take(take)
        tx.commit()
    with pytest.raises(StoreError), store.transaction(p.id) as tx:
        tx.add_take(take)


def test_nested_transaction_on_the_same_project_is_refused(store: Store) -> None:
    p = store.create_project("A")
    with store.transaction(p.id), pytest.raises(StoreError), store.transaction(p.id):
        pass


def test_folders_group_projects_and_only_empty_ones_are_deleted(store: Store) -> None:
    p = store.create_project("A")
    f = store.create_folder("Shorts")
    store.set_project_folder(p.id, f.id)
    assert store.summary(p.id).folder_id == f.id
    assert store.rename_folder(f.id, "Short films").name == "Short films"
    with pytest.raises(StoreError, match="move them out"):
        store.delete_folder(f.id)
    store.set_project_folder(p.id, None)
    store.delete_folder(f.id)
    assert store.folders() == []


def test_duplicate_and_delete(store: Store) -> None:
    p = store.create_project("A")
    with store.transaction(p.id) as tx:
        _put(tx, Stage.INPUT, {"x": 1})
        tx.commit()
    copy = store.duplicate_project(p.id, "A copy")
    with store.read(copy.id) as tx:
        assert tx.records()[0].data == {"x": 1}
        assert tx.project.title == "A copy"
    store.delete_project(p.id)
    assert [c.id for c in store.list_projects()] == [copy.id]
    with pytest.raises(NotFoundError):
        store.transaction(p.id).__enter__()


def _thread_writer(store: Store, pid: str, n: int, key: str) -> None:
    for _i in range(n):
        with store.transaction(pid) as tx:
            rec = tx.get_record(Stage.INPUT)
            data = dict(rec.data) if rec else {}
            data[key] = data.get(key, 0) + 1
            data["total"] = data.get("total", 0) + 1
            _put(tx, Stage.INPUT, data)
            tx.commit()


def test_two_threads_saving_at_once_lose_nothing(store: Store) -> None:
    p = store.create_project("A")
    threads = [threading.Thread(target=_thread_writer, args=(store, p.id, 40, k)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read(p.id) as tx:
        assert tx.get_record(Stage.INPUT).data == {"a": 40, "b": 40, "total": 80}


def _process_writer(root: str, pid: str, n: int, key: str) -> None:
    _thread_writer(Store(DataHome(Path(root), "t")), pid, n, key)


def test_two_processes_saving_at_once_lose_nothing(store: Store) -> None:
    p = store.create_project("A")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(store.root), p.id, 30, k)) for k in ("a", "b")]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
        assert pr.exitcode == 0
    with store.read(p.id) as tx:
        assert tx.get_record(Stage.INPUT).data == {"a": 30, "b": 30, "total": 60}


def test_an_unreadable_dashboard_index_is_rebuilt_from_the_projects(store: Store) -> None:
    p = store.create_project("Survivor")
    (store.root / "index.json").write_text('{"projects": {"1": {"id": ')  # torn by a power cut
    assert [c.id for c in store.list_projects()] == [p.id]


def test_rolling_snapshots_and_restore(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIUTEUR_BACKUP_MINUTES", "0")  # a snapshot after every commit
    monkeypatch.setenv("AIUTEUR_BACKUPS", "3")
    p = store.create_project("A")
    for i in range(5):
        with store.transaction(p.id) as tx:
            _put(tx, Stage.INPUT, {"v": i})
            tx.commit()
    snaps = store.snapshots(p.id)
    assert len(snaps) == 3  # only the last N are kept
    with store.transaction(p.id) as tx:  # a scene appears after the snapshots
        _put(tx, Stage.SHOTS, {"n": 1}, "sc_0123456789ab")
        tx.commit()
    target = store.snapshots(p.id)[-1]  # kept: v=3, v=4, v=4 + the scene
    store.restore(p.id, target.id)
    with store.read(p.id) as tx:
        assert tx.get_record(Stage.INPUT).data == {"v": 3}
        assert tx.get_record(Stage.SHOTS, "sc_0123456789ab") is None
    # the state before the restore was kept too
    assert any("before restoring" in s.reason for s in store.snapshots(p.id))


def test_restore_refuses_an_unknown_backup(store: Store) -> None:
    p = store.create_project("A")
    with pytest.raises(NotFoundError):
        store.restore(p.id, "bk_0123456789ab")
