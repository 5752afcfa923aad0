"""A shared host, tested as an attacker would: the running app on 127.0.0.1 in a Space-like
environment (SYSTEM=spaces, SPACE_ID, OAUTH_* set, a local stand-in for the OpenID provider),
driven by `gradio_client` and raw HTTP.

Two users signed in with Hugging Face (Gradio's own signed session cookie, made with the Space's
secret as Gradio makes it), guests with server-issued cookies, hostile sizes and files through each
door, a greedy client that asks for every scene and then disconnects, and a race of 8 writers on
one project. Each refusal is one sentence and nothing saved changes. Figures go to
docs/reliability.md (printed with `-s`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import resource
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetRegistry,
    NotFoundError,
    Stage,
    StyleAndAssets,
    VisualStyle,
)
from aiuteur.domain.capsules import VisualCapsule
from aiuteur.engines.base import EngineError
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import launch_app
from aiuteur.ui.auth import GUEST_COOKIE
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.serving import free_port

SPACE_SECRET = "space-oauth-secret"
UPLOAD_MB = 4  # AIUTEUR_MAX_UPLOAD_MB for this app: a hostile upload need not be 300 MB to be refused
JOB_S = 0.25  # each fake model call takes this long, then fails (the shot list then degrades to its fallback)
SCENES = 40
RACE_OPS = int(os.environ.get("AIUTEUR_RACE_OPS", "40"))  # per client; the figures in docs are for 200


class SlowText:
    """A text model that takes JOB_S and then fails: every shot list job holds the slot for a while."""

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(JOB_S)
        raise EngineError("the fake model is slow and then fails")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(JOB_S)
        raise EngineError("the fake model is slow and then fails")


class _Provider(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps({"issuer": base, "authorization_endpoint": f"{base}/oauth/authorize",
                           "token_endpoint": f"{base}/oauth/token", "jwks_uri": f"{base}/jwks",
                           "userinfo_endpoint": f"{base}/userinfo"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def openid_provider() -> Iterator[str]:
    """A local stand-in for huggingface.co's OpenID configuration (no network in tests)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def hf_session(name: str) -> str:
    """Gradio's `session` cookie for a signed-in Hugging Face user, signed as Gradio's SessionMiddleware signs it."""
    from itsdangerous import TimestampSigner

    info = {"oauth_info": {"access_token": "t", "expires_at": int(time.time()) + 3600,
                           "userinfo": {"preferred_username": name, "name": name.title(),
                                        "profile": f"https://huggingface.co/{name}", "picture": ""}}}
    key = hashlib.sha256((SPACE_SECRET + "-v4").encode()).hexdigest()
    data = base64.b64encode(json.dumps(info).encode("utf-8"))
    return TimestampSigner(str(key)).sign(data).decode("utf-8")


@dataclass
class Space:
    url: str
    store: Store

    def client(self, cookies: dict[str, str] | None = None) -> Client:
        return patient_client(self.url, httpx_kwargs={"cookies": cookies or {}})

    def user(self, name: str) -> Client:
        return self.client({"session": hf_session(name)})

    def runner(self, owner: str) -> Runner:
        return Runner(self.store, owner=owner)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    import gradio.oauth

    home = tmp_path_factory.mktemp("space")
    mp = pytest.MonkeyPatch()
    with openid_provider() as provider:
        env = {"SYSTEM": "spaces", "SPACE_ID": "someone/aiuteur", "OAUTH_CLIENT_ID": "aiuteur-test",
               "OAUTH_CLIENT_SECRET": SPACE_SECRET, "OAUTH_SCOPES": "openid profile",
               "OPENID_PROVIDER_URL": provider, "AIUTEUR_HOME": str(home), "AIUTEUR_PROFILE": "tiny",
               "AIUTEUR_MAX_UPLOAD_MB": str(UPLOAD_MB)}
        for k, v in env.items():
            mp.setenv(k, v)
            if hasattr(gradio.oauth, k):  # gradio.oauth reads these when imported; a Space sets them first
                mp.setattr(gradio.oauth, k, v)
        mp.delenv("AIUTEUR_AUTH", raising=False)
        store = Store(DataHome(home, "test"))
        demo = None
        try:
            demo, url = launch_app(store, host="127.0.0.1", port=free_port(), prevent_thread_lock=True,
                                   quiet=True, ssr_mode=False, _frontend=False,  # no 3-second HEAD / check
                                   engines_factory=lambda: FakeEngines(text=SlowText()))
            yield Space(url, store)
        finally:
            if demo is not None:
                demo.close()
            mp.undo()


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock") and "backups" not in p.parts}


def fountain(tmp: Path, scenes: int, name: str = "film.fountain") -> Path:
    path = tmp / name
    path.write_text("Title: Rooms\n\n" + "".join(f"INT. ROOM {i} - DAY\n\nMara waits in room {i}.\n\n"
                                                  for i in range(scenes)), encoding="utf-8")
    return path


def ready_for_shots(space: Space, owner: str, path: Path) -> str:
    """A project of `owner` with an imported script and stage 5 saved, so shot lists can run."""
    runner = space.runner(owner)
    from aiuteur.ui import api

    pid = str(api.import_script(runner, "", path)["project"])
    eve = Asset(name="Eve", category=AssetCategory.CHARACTER)
    runner.save(pid, Stage.ASSETS, StyleAndAssets(registry=AssetRegistry(assets=[eve])), base_revision=0)
    return pid


def png_bomb(side: int) -> bytes:
    """A real, complete grey PNG of side × side pixels: ~side²/1000 bytes on disk, side² bytes decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and "Error:" not in message and len(message) < 600


# --- identity ----------------------------------------------------------------------------------------


def test_sign_in_routes_exist_and_redirect_to_hugging_face(space: Space) -> None:
    cfg = httpx.get(f"{space.url}config", timeout=120).json()
    assert any(c.get("props", {}).get("value") == "Sign in with Hugging Face" for c in cfg["components"])
    r = httpx.get(f"{space.url}login/huggingface", follow_redirects=False, timeout=120)
    assert r.status_code in (302, 307), r.text
    assert "/oauth/authorize" in r.headers["location"] and "client_id=aiuteur-test" in r.headers["location"]


def test_guests_get_a_signed_cookie_that_survives_a_reload_and_cannot_be_borrowed(space: Space) -> None:
    first = space.client()
    cookie = first.cookies.get(GUEST_COOKIE, "")
    assert cookie, "the app issues a guest cookie with its config"
    pid = first.predict("Guest film", api_name="/create_project")
    # a reload (a new page, a new session_hash) with the same cookie: the project is still there
    again = space.client({GUEST_COOKIE: cookie})
    assert [p["id"] for p in again.predict("", api_name="/project_list")] == [pid]
    assert again.predict(pid, api_name="/status")["title"] == "Guest film"
    # another visitor, a forged cookie, or a raw request reusing the first page's session_hash: nothing
    before = files_under(space.store.root)
    forged = cookie[:-4] + ("0000" if not cookie.endswith("0000") else "1111")
    for intruder in (space.client(), space.client({GUEST_COOKIE: forged})):
        assert intruder.predict("", api_name="/project_list") == []
        with pytest.raises(AppError, match=rf"^No project '{pid}'\.$"):
            intruder.predict(pid, api_name="/status")
        with pytest.raises(AppError, match=r"^No project"):
            intruder.predict(pid, "Overwritten.", "", 0, api_name="/set_story")
    raw = httpx.post(f"{space.url}gradio_api/call/status", json={"data": [pid], "session_hash": first.session_hash},
                     timeout=120)
    stream = httpx.get(f"{space.url}gradio_api/call/status/{raw.json()['event_id']}", timeout=60).text
    assert "event: error" in stream and "No project" in stream
    assert files_under(space.store.root) == before


def call(space: Space, endpoint: str, data: list[Any], cookies: dict[str, str]) -> tuple[bool, Any]:
    """An event over raw HTTP, as a script would send it: (succeeded, output data or error message)."""
    body = json.dumps({"data": data}).encode()  # ASCII JSON: a lone surrogate travels as \ud800
    r = httpx.post(f"{space.url}gradio_api/call/{endpoint}", content=body, cookies=cookies, timeout=120,
                   headers={"content-type": "application/json"})
    if r.status_code != 200:
        return False, r.text
    stream = httpx.get(f"{space.url}gradio_api/call/{endpoint}/{r.json()['event_id']}", cookies=cookies,
                       timeout=300).text
    payload = stream.split("data:")[-1].strip()
    data = json.loads(payload) if payload else None
    if "event: complete" in stream:
        return True, data
    return False, data.get("error") if isinstance(data, dict) else data


def test_signed_in_users_own_their_projects_and_private_files(space: Space, tmp_path: Path) -> None:
    alice_c, bob_c = {"session": hf_session("alice")}, {"session": hf_session("bob")}
    bob = space.user("bob")
    script = fountain(tmp_path, 2)
    # her upload, as the browser sends it: the server's path comes back
    up = httpx.post(f"{space.url}gradio_api/upload", files={"files": (script.name, script.read_bytes())},
                    cookies=alice_c, timeout=120)
    uploaded = up.json()[0]
    fd = {"path": uploaded, "meta": {"_type": "gradio.FileData"}, "orig_name": script.name}
    ok, summary = call(space, "import_script", ["", fd, None], alice_c)
    assert ok, summary
    pid = summary[0]["project"]
    assert space.runner("hf:alice").view(pid).project.owner == "hf:alice"
    assert bob.predict("", api_name="/project_list") == []
    with pytest.raises(AppError, match=r"^No project"):
        bob.predict(pid, api_name="/status")

    work_before = set(Path(tempfile.gettempdir()).glob("aiuteur-api-*"))
    ok, out = call(space, "export", [pid], alice_c)
    assert ok, out
    export_url = out[0]["url"]
    ok, refused = call(space, "export", [pid], bob_c)
    assert not ok and str(refused).startswith("No project")
    assert set(Path(tempfile.gettempdir()).glob("aiuteur-api-*")) == work_before  # no folder left either way

    # her export zip and her uploaded screenplay, by URL: hers only
    for url in (export_url, f"{space.url}gradio_api/file={uploaded}"):
        as_alice = httpx.get(url, cookies=alice_c, timeout=120)
        as_bob = httpx.get(url, cookies=bob_c, timeout=120)
        anonymous = httpx.get(url, timeout=120)
        assert as_alice.status_code == 200 and len(as_alice.content) > 0, url
        assert (as_bob.status_code, as_bob.text) == (404, "File not found."), url
        assert anonymous.status_code == 404
    # naming her uploaded file as his own input: refused before any handler reads it
    before = files_under(space.store.root)
    r = httpx.post(f"{space.url}gradio_api/call/import_script", json={"data": ["", fd, None]}, cookies=bob_c, timeout=120)
    assert (r.status_code, r.text) == (403, "That file belongs to another user; upload your own copy.")
    assert files_under(space.store.root) == before


def test_an_action_naming_another_users_upload_is_refused(space: Space, tmp_path: Path) -> None:
    """Actions that read media by key (upload a reference, describe an asset) go through the owner check
    of the app's media reads: a key uploaded to someone else's project is refused in one sentence."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (180, 40, 40)).save(buf, format="PNG")
    olive_pid = ready_for_shots(space, "hf:olive", fountain(tmp_path, 1, "olive.fountain"))
    piers_pid = ready_for_shots(space, "hf:piers", fountain(tmp_path, 1, "piers.fountain"))
    key = space.runner("hf:olive").upload(olive_pid, buf.getvalue(), "png")  # as her assets tab keeps it

    def asset(owner: str, pid: str) -> str:
        return str(space.runner(owner).view(pid).data(Stage.ASSETS)["registry"]["assets"][0]["id"])  # type: ignore[index]

    use = {"kind": "upload_reference", "image_key": key, "remove_background": False}
    # hers (olive): the upload becomes her asset's reference, through the app
    ok, out = call(space, "run_action", [olive_pid, "assets", "", {**use, "asset_id": asset("hf:olive", olive_pid)},
                                         0, ""], {"session": hf_session("olive")})
    assert ok and out[0]["ok"], out
    # his (piers) project naming her key: refused before anything runs, his project and the files unchanged
    before = files_under(space.store.root)
    for action in ({**use, "asset_id": asset("hf:piers", piers_pid)},
                   {"kind": "describe_asset", "image_key": key, "asset_id": asset("hf:piers", piers_pid)}):
        ok, message = call(space, "run_action", [piers_pid, "assets", "", action, 0, ""], {"session": hf_session("piers")})
        assert not ok and message == f"The image {key!r} was not uploaded to this project; upload it here first.", message
        assert one_sentence(message)
    assert files_under(space.store.root) == before
    assert space.runner("hf:piers").takes(piers_pid, Stage.ASSETS) == []
    # his own upload of the same picture is his: the same key then works for him
    assert space.runner("hf:piers").upload(piers_pid, buf.getvalue(), "png") == key
    ok, out = call(space, "run_action", [piers_pid, "assets", "", {**use, "asset_id": asset("hf:piers", piers_pid)}, 0, ""],
                   {"session": hf_session("piers")})
    assert ok and out[0]["ok"], out


# --- hostile sizes and files ------------------------------------------------------------------------


def test_hostile_text_through_set_story_is_one_sentence_and_nothing_changes(space: Space) -> None:
    eve = space.user("eve")
    pid = eve.predict("Hostile text", api_name="/create_project")
    eve.predict(pid, "A calm story.", "", 0, api_name="/set_story")
    before = files_under(space.store.root)
    timings: dict[str, float] = {}
    cases = {
        "2 MB story": ("x" * 2_000_001, r"^The story is 2,000,001 characters long; keep it under 2,000,000\.$"),
        "lone surrogate": ("An egg \ud800 cracks.", r"^The story contains invalid Unicode \(U\+D800 at character 8\)"),
        "52 MB text": ("word " * 10_400_000, r"^The story is 52,000,000 characters long; keep it under 2,000,000\.$"),
        "52 MB mode": ("A story.", r"^The mode is 52,000,000 characters long; it is at most 200\.$"),
    }
    for name, (text, pattern) in cases.items():
        mode = "m" * 52_000_000 if name == "52 MB mode" else ""
        t0 = time.perf_counter()
        ok, message = call(space, "set_story", [pid, text, mode, 1], {"session": hf_session("eve")})
        timings[name] = time.perf_counter() - t0
        assert not ok and isinstance(message, str), (name, str(message)[:300])
        assert one_sentence(message), (name, message[:300])
        assert re.search(pattern, message), (name, message[:300])
    assert files_under(space.store.root) == before
    # the largest accepted story, and its time
    t0 = time.perf_counter()
    out = eve.predict(pid, "y" * 2_000_000, "", 1, api_name="/set_story")
    timings["largest accepted story (2,000,000 characters)"] = time.perf_counter() - t0
    assert out["revision"] == 2
    print("\nhostile text timings (s):", {k: round(v, 2) for k, v in timings.items()})


def test_an_upload_over_the_limit_is_refused_while_it_streams(space: Space) -> None:
    cache = Path(os.environ.get("GRADIO_TEMP_DIR", Path(tempfile.gettempdir()) / "gradio"))
    before = {p for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()
    big = b"A" * ((UPLOAD_MB + 1) * 1024 * 1024)
    r = httpx.post(f"{space.url}gradio_api/upload", files={"files": ("huge.txt", big)},
                   cookies={"session": hf_session("eve")}, timeout=120)
    assert r.status_code == 413
    assert r.text == (f"The file is larger than {UPLOAD_MB} MB, the most this Aiuteur accepts in one upload; "
                      "upload a smaller file.")
    after = {p for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()
    assert not [p for p in after - before if p.name == "huge.txt"]


@pytest.mark.parametrize("endpoint", ["/upload_reference", "/describe_asset"])
def test_png_bombs_are_refused_from_their_header_before_decoding(space: Space, tmp_path: Path, endpoint: str) -> None:
    mallory = space.user("mallory")
    pid = ready_for_shots(space, "hf:mallory", fountain(tmp_path, 1))
    bomb = tmp_path / "ref.png"
    bomb.write_bytes(png_bomb(9400))  # ~86 KB on disk, 88 MB decoded
    before = files_under(space.store.root)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the app runs in this process
    mallory.predict("", "__all__", api_name="/list_projects")  # the dashboard lists it in this session
    assert "Opened" in str(mallory.predict(pid, api_name="/open_project"))  # this session's project
    api = mallory.view_api(return_format="dict", print_info=False)["named_endpoints"][endpoint]
    values: dict[str, Any] = {}
    for p in api["parameters"]:
        name = p["parameter_name"]
        if p["component"] in ("File", "Image"):
            values[name] = handle_file(str(bomb))
        else:  # the asset dropdown: none chosen (this session never loaded the tab); the file comes first
            values[name] = p["parameter_default"]
    try:
        out = mallory.predict(**values, api_name=endpoint)
        text = json.dumps(out, ensure_ascii=False)
    except AppError as e:
        text = str(e)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert "9400 × 9400 pixels, too large to open safely" in text, text[:400]
    assert grown_mb < 80, f"peak memory grew by {grown_mb:.0f} MB"  # decoded, it alone would be 88 MB
    assert files_under(space.store.root) == before
    print(f"\n{endpoint}: 9400² PNG bomb ({bomb.stat().st_size:,} bytes) refused; peak memory +{grown_mb:.0f} MB")


def test_ids_are_fully_matched_and_hostile_ids_get_a_short_sentence(space: Space) -> None:
    alice = space.user("alice")
    pid = alice.predict("Ids", api_name="/create_project")
    for bad in (pid + "\n", " " + pid, pid.upper(), "../" + pid, "x" * 100_000):
        with pytest.raises(AppError) as e:
            alice.predict(bad, api_name="/status")
        assert one_sentence(str(e.value)) and str(e.value).startswith(("No project", "The project id is")), str(e.value)


def test_a_garbled_or_empty_dashboard_index_is_rebuilt_from_the_projects(space: Space) -> None:
    zed = space.user("zed")
    pid = zed.predict("Survives a bad index", api_name="/create_project")
    index = space.store.root / "index.json"
    for bad in (b"{ not json", b"", b"{}", b'{"projects": {"1": {"id": 5}}}', b"[]"):
        index.write_bytes(bad)
        assert [p["id"] for p in zed.predict("", api_name="/project_list")] == [pid], bad


# --- fair, bounded work -----------------------------------------------------------------------------


def _fn_index(url: str, api_name: str) -> int:
    cfg = httpx.get(f"{url}config", timeout=120).json()
    return next(d["id"] for d in cfg["dependencies"] if d.get("api_name") == api_name)


def _shots_made(store: Store, pid: str) -> int:
    with store.read(pid) as tx:
        return sum(1 for r in tx.records() if r.stage == Stage.SHOTS)


def test_a_greedy_client_takes_turns_and_its_disconnect_cancels_the_rest(space: Space, tmp_path: Path) -> None:
    # the greedy guest: raw HTTP, its own signed cookie from the app, one call for every scene of 40
    cookie = httpx.get(f"{space.url}config", timeout=120).cookies[GUEST_COOKIE]
    from aiuteur.ui.auth import verify_guest

    owner = f"guest:{verify_guest(space.store.home.path.joinpath('instance.secret').read_bytes(), cookie)}"
    greedy_pid = ready_for_shots(space, owner, fountain(tmp_path, SCENES, "greedy.fountain"))
    polite_pid = ready_for_shots(space, "hf:polly", fountain(tmp_path, 1, "polite.fountain"))
    session = "greedy" + str(random.Random(7).randrange(10**9))
    join = httpx.post(f"{space.url}gradio_api/queue/join", cookies={GUEST_COOKIE: cookie}, timeout=120,
                      json={"data": [greedy_pid, "", 0], "fn_index": _fn_index(space.url, "shot_list"),
                            "session_hash": session, "event_data": None, "trigger_id": None})
    assert join.status_code == 200, join.text
    waits: list[float] = []
    with httpx.stream("GET", f"{space.url}gradio_api/queue/data", params={"session_hash": session},
                      cookies={GUEST_COOKIE: cookie}, timeout=120):
        # the connection stays open without being read (its few small messages wait in the socket's
        # buffer): reading here would block until the server's next message, by which time the greedy
        # job may be over on a fast machine; the store is polled instead
        deadline = time.monotonic() + 300
        while _shots_made(space.store, greedy_pid) < 2:
            assert time.monotonic() < deadline, "the greedy job never started"
            time.sleep(0.02)
        # another user arrives while the greedy call is running: served after at most one of its jobs
        polly = space.user("polly")
        for _ in range(2):
            made_before = _shots_made(space.store, greedy_pid)
            t0 = time.perf_counter()
            out = polly.predict(polite_pid, "", 0, api_name="/shot_list")
            waits.append(time.perf_counter() - t0)
            assert out["ok"] and out["scenes"][0]["status"] == "done"
            assert _shots_made(space.store, greedy_pid) - made_before <= 3  # the job running, maybe one more
        made_at_disconnect = _shots_made(space.store, greedy_pid)
    # the greedy client has gone: its request stops before its next scene
    time.sleep(8 * JOB_S)
    settled = _shots_made(space.store, greedy_pid)
    time.sleep(12 * JOB_S)
    assert _shots_made(space.store, greedy_pid) == settled
    assert settled <= made_at_disconnect + 1 and settled < SCENES
    print(f"\ngreedy: {SCENES} scenes asked, {settled} made before it left; the other user's one-scene "
          f"shot list waited {', '.join(f'{w:.1f}' for w in waits)} s (one fake job = {JOB_S} s plus fallback)")


# --- a race of writers ------------------------------------------------------------------------------


@pytest.mark.slow
def test_eight_clients_by_200_mixed_operations_lose_no_acknowledged_write(space: Space) -> None:
    """8 scripts of one account, `AIUTEUR_RACE_OPS` operations each (200 for the documented figures, 40
    by default to keep CI fast): appends to one shared story (read, then save from the revision read;
    on a conflict read again), saves to their own project, and reads, interleaved at random."""
    owner = space.user("team")  # one account shared by eight scripts: the worst case for lost updates
    shared = owner.predict("Race", api_name="/create_project")
    owner.predict(shared, "Tokens:", "expand", 0, api_name="/set_story")
    acked: list[str] = []
    own_acked: dict[str, list[str]] = {}
    lock = threading.Lock()
    counts = {"ops": 0, "calls": 2, "conflicts": 0}

    def worker(n: int) -> None:
        rng = random.Random(n)
        client = space.user("team")
        mine = client.predict(f"Own {n}", api_name="/create_project")
        text, revision, calls = "Mine:", 0, 1
        own_acked[mine] = []
        for i in range(RACE_OPS):
            roll = rng.random()
            if roll < 0.15:  # the shared story: read, append, save from the revision read
                token = f"t{n}-{i}"
                for _ in range(200):
                    story = client.predict(shared, api_name="/story")
                    calls += 2
                    try:
                        client.predict(shared, story["text"] + " " + token, "expand", story["revision"],
                                       api_name="/set_story")
                    except AppError as e:
                        assert "changed by someone else" in str(e), str(e)
                        with lock:
                            counts["conflicts"] += 1
                        time.sleep(rng.uniform(0, 0.05 * n))  # back off a little, differently per client
                        continue
                    with lock:
                        acked.append(token)
                    break
            elif roll < 0.45:  # its own project, from the revision it got back last time
                token = f"o{n}-{i}"
                out = client.predict(mine, text + " " + token, "expand", revision, api_name="/set_story")
                text, revision, calls = text + " " + token, out["revision"], calls + 1
                own_acked[mine].append(token)
            elif roll < 0.7:
                assert client.predict(shared, api_name="/status")["project"] == shared
                calls += 1
            else:
                client.predict(shared, api_name="/story")
                calls += 1
            with lock:
                counts["ops"] += 1
        with lock:
            counts["calls"] += calls

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(worker, n) for n in range(8)]:
            f.result()
    wall = time.perf_counter() - t0

    def saved_tokens(pid: str) -> list[str]:
        view = space.runner("hf:team").view(pid)
        data = view.data(Stage.INPUT) or {}
        return next(s["text"] for s in data["sources"] if s["role"] == "primary").split()[1:]

    assert counts["ops"] == 8 * RACE_OPS
    lost = [t for t in acked if t not in saved_tokens(shared)]
    lost += [t for pid, tokens in own_acked.items() for t in tokens if t not in saved_tokens(pid)]
    assert not lost, f"{len(lost)} acknowledged writes lost"
    assert sorted(saved_tokens(shared)) == sorted(acked)  # nothing unacknowledged, nothing doubled
    assert space.runner("hf:team").view(shared).revision(Stage.INPUT) == 1 + len(acked)
    writes = len(acked) + sum(len(t) for t in own_acked.values())
    print(f"\nrace: 8 clients x {RACE_OPS} ops ({counts['calls']} calls) in {wall:.0f} s; {writes} acknowledged writes "
          f"({len(acked)} to the shared story after {counts['conflicts']} refused conflicting saves), 0 lost")


def test_app_py_and_serve_share_one_launch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python app.py` and `python -m aiuteur serve` both serve through `launch_app` (media, limits, sign-in)."""
    import app as app_py
    from aiuteur import cli
    from aiuteur.ui import app as ui_app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(ui_app, "launch_app", lambda *a, **k: calls.append(k) or (None, ""))
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", "7999"]) == 0
    app_py.main()
    assert calls == [{"host": "127.0.0.1", "port": 7999}, {}]


# --- style capsules and media, per user ----------------------------------------------------------------


def _png(colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="PNG")
    return buf.getvalue()


def _session_call(space: Space, endpoint: str, data: list[Any], cookies: dict[str, str], session: str
                  ) -> tuple[bool, Any]:
    """`call` within one page session (as a browser tab keeps one): the choices a dropdown was given
    earlier in the session are the ones it accepts."""
    r = httpx.post(f"{space.url}gradio_api/call/{endpoint}", json={"data": data, "session_hash": session},
                   cookies=cookies, timeout=120)
    if r.status_code != 200:
        return False, r.text
    stream = httpx.get(f"{space.url}gradio_api/call/{endpoint}/{r.json()['event_id']}", cookies=cookies,
                       timeout=300).text
    payload = stream.split("data:")[-1].strip()
    out = json.loads(payload) if payload else None
    if "event: complete" in stream:
        return True, out
    return False, out.get("error") if isinstance(out, dict) else out


def _refused(ok: bool, out: Any) -> bool:
    """An event refused: an error, or a warning shown instead of a change (callers check that nothing
    changed). Another
    user's capsule is not even among the choices of this user's dropdowns, so Gradio may refuse it
    first ("not in the list of choices"); the library refuses it too ("not in your library")."""
    said = json.dumps(out, ensure_ascii=False)
    return not ok or "not in your library" in said or "no visual style capsule" in said


def _capsule_ids(out: Any) -> set[str]:
    return set(re.findall(r"[wv]c_[0-9a-f]{12}", json.dumps(out)))


def test_two_users_never_see_or_change_each_others_capsules_or_style_images(space: Space, tmp_path: Path) -> None:
    """Written and visual capsules live in each user's own library: another user's ids are never listed
    to them, and naming one (to change, delete, use or copy its images) is refused with nothing changed."""
    alice_c, bob_c = {"session": hf_session("alice")}, {"session": hf_session("bob")}
    capsules = space.store.home.capsules

    def alice(endpoint: str, *data: Any) -> tuple[bool, Any]:
        return _session_call(space, endpoint, list(data), alice_c, "alice-tab")

    def bob(endpoint: str, *data: Any) -> tuple[bool, Any]:
        return _session_call(space, endpoint, list(data), bob_c, "bob-tab")

    # written capsules: each list (the dropdown's choices) holds its owner's capsules only
    ok, out = alice("create_written_capsule", "Alice noir", "Rain. Neon.", "You lied.")
    assert ok, out
    a_written = out[0]["value"]
    ok, out = bob("create_written_capsule", "Bob sunny", "Sun.", "Hi.")
    assert ok, out
    b_written = out[0]["value"]
    assert _capsule_ids(out) == {b_written} and a_written.startswith("wc_")
    ok, out = bob("update_written_capsule", b_written, "Bob sunny", "Sun!", "Hi.")
    assert ok and a_written not in _capsule_ids(out)
    before = files_under(capsules)
    for endpoint, data in (("update_written_capsule", [a_written, "Mine now", "x", "y"]),
                           ("delete_written_capsule", [a_written])):
        assert _refused(*bob(endpoint, *data))
    bob_pid = ready_for_shots(space, "hf:bob", fountain(tmp_path, 1, "bob.fountain"))
    assert bob("list_projects", "", "__all__")[0]
    assert "Opened" in json.dumps(bob("open_project", bob_pid)[1], ensure_ascii=False)  # his tab's project
    assert _refused(*bob("use_written_capsule", a_written))
    assert files_under(capsules) == before

    # visual capsules, whose style images are media files of the project they came from
    alice_pid = ready_for_shots(space, "hf:alice", fountain(tmp_path, 1, "alice.fountain"))
    her = space.runner("hf:alice")
    key = her.put_media(_png((200, 10, 10)), "png")
    saved = StyleAndAssets.model_validate(her.view(alice_pid).data(Stage.ASSETS))
    her.save(alice_pid, Stage.ASSETS, saved.model_copy(update={"style": VisualStyle(medium="35mm film", images=[key])}),
             base_revision=1)
    assert alice("list_projects", "", "__all__")[0]
    assert "Opened" in json.dumps(alice("open_project", alice_pid)[1], ensure_ascii=False)
    ok, out = alice("save_visual_capsule", "Alice red")
    assert ok, out
    (a_vc,) = [c.id for c in her.capsules.list(VisualCapsule)]  # made through the app, in her library
    assert a_vc in _capsule_ids(out)  # her list shows it
    his = space.runner("hf:bob")
    mine = StyleAndAssets.model_validate(his.view(bob_pid).data(Stage.ASSETS))
    his.save(bob_pid, Stage.ASSETS, mine.model_copy(update={"style": VisualStyle(medium="video")}), base_revision=1)
    ok, out = bob("save_visual_capsule", "Bob plain")
    assert ok, out
    (b_vc,) = [c.id for c in space.runner("hf:bob").capsules.list(VisualCapsule)]
    assert b_vc in _capsule_ids(out) and a_vc not in _capsule_ids(out)  # his list shows his, never hers
    before = files_under(space.store.root)
    style = ["35mm film", "grainy", "red and black", "hard light", "1970s", "Melville", 0.3]
    scene_id = space.runner("hf:bob").view(bob_pid).state.scene_ids[0]
    for endpoint, data in (("save_style", [a_vc, *style, None]), ("scene_style", [scene_id, a_vc])):
        assert _refused(*bob(endpoint, *data)), endpoint
    assert files_under(space.store.root) == before  # nothing of hers copied into his project
    assert key.encode() not in b"".join(files_under(space.store.project_dir(bob_pid)).values())
    with pytest.raises(NotFoundError, match="No media file"):
        space.runner("hf:bob").media_path(key)  # her style image is not his to read
    assert her.media_path(key, alice_pid).is_file()
    # and her project, with its images, is not his to open
    assert _refused(*bob("open_project", alice_pid))
    assert his.view(bob_pid).data(Stage.ASSETS)["style"] == {**mine.model_dump(mode="json")["style"], "medium": "video"}  # type: ignore[index]
