"""Paths and users apart, through the running app: only the media folder is served, no file-taking
endpoint reads a path it was not sent, and signed-in users see and touch only their own projects."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from aiuteur.domain import AiuteurError, NotFoundError, Stage
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui import dashboard
from tests.clients import patient_client
from tests.reliability.app_server import serve

FILE_ENDPOINTS = ["/upload_input_file", "/upload_reference", "/describe_asset", "/save_style"]


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    with serve(tmp_path_factory.mktemp("home")) as s:
        yield s


def test_gradio_serves_the_media_folder_and_nothing_else(served: tuple[str, Store]) -> None:
    url, store = served
    runner = Runner(store)
    pid = runner.create_project("Paths").id
    runner.save(pid, Stage.INPUT, {"brief": {"plot": "secret plot"}})
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    key = store.put_media(buf.getvalue(), "png")
    media = store.media_path(key)
    assert httpx.get(f"{url}gradio_api/file={media}").status_code == 200
    project_file = next(p for p in store.root.rglob("*.json") if b"secret plot" in p.read_bytes())
    for path in ["/etc/passwd", str(project_file), str(store.root / "index.json"),
                 f"{store.home.media}/../index.json", f"{media.parent}/../../projects",
                 f"{store.home.media}/%2e%2e/index.json", str(Path(__file__))]:
        r = httpx.get(f"{url}gradio_api/file={path}")
        assert r.status_code in (403, 404), (path, r.status_code)
        assert b"root:" not in r.content and b"secret plot" not in r.content


def call_raw(url: str, endpoint: str, data: list[Any]) -> str:
    """POST an event straight to the server (as a hostile script would, no client-side upload); its stream."""
    r = httpx.post(f"{url}gradio_api/call{endpoint}", json={"data": data}, timeout=30)
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text}"
    return httpx.get(f"{url}gradio_api/call{endpoint}/{r.json()['event_id']}", timeout=60).text


@pytest.mark.parametrize("endpoint", FILE_ENDPOINTS)
@pytest.mark.parametrize("target", ["/etc/passwd", "data-folder"])
def test_file_endpoints_refuse_paths_that_were_not_uploaded(served: tuple[str, Store], endpoint: str,
                                                            target: str) -> None:
    """A request naming a server path instead of uploading a file is refused; nothing is read or written."""
    url, store = served
    secret = Path(target)
    if target == "data-folder":  # a file of an allowed type inside the data folder, outside media
        secret = store.root / "private" / ("secret.txt" if endpoint == "/upload_input_file" else "secret.png")
        secret.parent.mkdir(exist_ok=True)
        Image.new("RGB", (4, 4)).save(secret, format="PNG") if secret.suffix == ".png" else secret.write_text("root:x")
    before = files_under(store.root)
    params = httpx.get(f"{url}gradio_api/info").json()["named_endpoints"][endpoint]["parameters"]
    fake = {"path": str(secret), "meta": {"_type": "gradio.FileData"}, "orig_name": secret.name}
    data = [([fake] if "list" in str(p["python_type"]["type"]).lower() else fake)
            if p["component"] in ("File", "Image") else p.get("parameter_default") for p in params]
    stream = call_raw(url, endpoint, data)
    assert "event: error" in stream or stream.startswith("HTTP 4"), stream
    assert "root:" not in stream
    assert files_under(store.root) == before
    assert httpx.post(f"{url}gradio_api/call/project_list", json={"data": [""]}).status_code == 200  # still serving


def test_media_keys_cannot_leave_the_media_folder(store: Store) -> None:
    runner = Runner(store, owner="user:alice")
    for key in ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "/etc/passwd", "ab/../../index.json", ""]:
        with pytest.raises(NotFoundError):
            store.media_path(key, must_exist=False)
        with pytest.raises(NotFoundError):
            runner.media_path(key)


# --- users apart -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    with serve(tmp_path_factory.mktemp("shared"), {"AIUTEUR_AUTH": "alice:a1,bob:b2"}) as s:
        yield s


def test_signed_in_users_see_and_touch_only_their_own_projects(shared_host: tuple[str, Store]) -> None:
    url, store = shared_host
    with pytest.raises(Exception):  # noqa: B017 - no password, no app
        patient_client(url, auth=("bob", "wrong"))
    assert httpx.get(f"{url}config").status_code in (401, 403) or "login" in httpx.get(f"{url}config").text.lower()

    alice, bob = patient_client(url, auth=("alice", "a1")), patient_client(url, auth=("bob", "b2"))
    alice.predict("Alice's film", "", "__all__", api_name="/create_project")
    [mine] = alice.predict("", api_name="/project_list")
    pid = mine["id"]
    assert alice.predict(pid, {"brief": {"plot": "Alice's plot."}}, None, api_name="/save_story_input")["ok"]
    before = files_under(store.root)

    # bob lists nothing of hers, by either listing
    assert bob.predict("", api_name="/project_list") == []
    assert "Alice" not in str(bob.predict("", "__all__", api_name="/list_projects"))
    # he cannot open, save, lock, rename, duplicate, back up or delete it
    with pytest.raises(AppError):  # her id is not among his choices
        bob.predict(pid, api_name="/open_project")
    refused = bob.predict(pid, {"brief": {"plot": "Bob was here."}}, None, api_name="/save_story_input")
    assert refused["ok"] is False and "No project" in refused["error"]
    assert "🔒" not in str(bob.predict(api_name="/lock_input"))  # his session has no project open
    for name, args in [("/rename_project", (pid, "Bob's now", "", "__all__")),
                       ("/duplicate_project", (pid, "", "__all__")), ("/ask_delete_project", (pid,))]:
        with pytest.raises(AppError):
            bob.predict(*args, api_name=name)
    assert files_under(store.root) == before  # nothing of hers changed, nothing written for him

    # his own project is his alone
    bob.predict("Bob's film", "", "__all__", api_name="/create_project")
    assert [p["title"] for p in bob.predict("", api_name="/project_list")] == ["Bob's film"]
    assert [p["title"] for p in alice.predict("", api_name="/project_list")] == ["Alice's film"]
    assert Runner(store, owner="user:alice").view(pid).data(Stage.INPUT)["brief"]["plot"] == "Alice's plot."  # type: ignore[index]


def test_dashboard_handlers_keep_two_owners_apart(store: Store) -> None:
    alice, bob = Runner(store, owner="user:alice"), Runner(store, owner="user:bob")
    hers = dashboard.create_project(alice, "Hers")
    dashboard.create_project(bob, "His")
    assert [pid for _, pid in dashboard.listing(bob).projects] != [hers.id]
    assert "Hers" not in dashboard.listing(bob).html and "His" not in dashboard.listing(alice).html
    before = files_under(store.root)
    for attempt in (lambda: dashboard.open_project(bob, hers.id), lambda: dashboard.rename_project(bob, hers.id, "x"),
                    lambda: dashboard.duplicate_project(bob, hers.id), lambda: dashboard.delete_question(bob, hers.id),
                    lambda: dashboard.delete_project(bob, hers.id), lambda: dashboard.move_project(bob, hers.id, None),
                    lambda: bob.save(hers.id, Stage.INPUT, {"mode": "expand"}), lambda: bob.lock(hers.id, Stage.INPUT),
                    lambda: bob.backups(hers.id), lambda: bob.backup_now(hers.id)):
        with pytest.raises(AiuteurError):
            attempt()
    assert files_under(store.root) == before
    assert dashboard.open_project(alice, hers.id)[0] == hers.id


def test_an_upload_without_an_open_project_is_answered_not_crashed(served: tuple[str, Store], tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, _ = served
    story = tmp_path / "story.txt"
    story.write_text("A thief plans one last job.")
    out = patient_client(url).predict(handle_file(str(story)), "primary", "expand",
                                             api_name="/upload_input_file")
    assert "Open a project first." in str(out)
