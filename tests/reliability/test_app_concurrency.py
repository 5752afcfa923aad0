"""Concurrency through the running app: two sessions editing one project, and 8 clients × 500 operations."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from aiuteur.domain import Stage, StoryInput
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.clients import patient_client
from tests.reliability.app_server import MAIN_TEXT, form, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    with serve(tmp_path_factory.mktemp("home")) as s:
        yield s


def story(runner: Runner, pid: str) -> tuple[StoryInput, int]:
    view = runner.view(pid)
    return StoryInput.model_validate(view.data(Stage.INPUT) or {}), view.revision(Stage.INPUT)


def said(out: Any) -> str:
    """The status line of a /save_input answer (the first output; the rest redraw the statuses)."""
    return str(out[0] if isinstance(out, (list, tuple)) else out)


def project_id(client: Client, title: str) -> str:
    return next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == title)


def test_the_second_writer_gets_a_conflict_and_keeps_its_text(served: tuple[str, Store]) -> None:
    url, store = served
    one, two = patient_client(url), patient_client(url)
    one.predict("Shared edit", "", "__all__", api_name="/dashboard_create_project")
    pid = project_id(one, "Shared edit")
    runner = Runner(store)

    # the JSON endpoint: both opened revision 1; the second save from it is refused with its text
    assert one.predict(pid, {"brief": {"plot": "First plot."}}, None, api_name="/save_story_input")["revision"] == 1
    assert one.predict(pid, {"brief": {"plot": "One's plot."}}, 1, api_name="/save_story_input")["revision"] == 2
    refused = two.predict(pid, {"brief": {"plot": "Two's plot."}}, 1, api_name="/save_story_input")
    assert refused["ok"] is False
    assert refused["error"] == ("Input was changed by someone else since you opened it (now revision 2, yours "
                                "was 1). Your version is kept so you can reapply it.")
    assert refused["yours"]["brief"]["plot"] == "Two's plot."
    assert story(runner, pid)[0].brief.plot == "One's plot."  # nothing overwritten
    again = two.predict(pid, refused["yours"], 2, api_name="/save_story_input")  # reapplied on the new revision
    assert again == {"ok": True, "revision": 3} and story(runner, pid)[0].brief.plot == "Two's plot."

    # the form (the browser's autosave path): each session saves from the revision it last saw
    for client in (one, two):
        client.predict("", "__all__", api_name="/list_projects")  # the dashboard lists it in this session
        assert "Opened" in str(client.predict(pid, api_name="/open_project"))
    assert "Saved (revision 4)." in said(one.predict(**form(one, **{MAIN_TEXT: "One typed this."}), api_name="/save_input"))
    # two opened the project at revision 3 (opening fills the form and its revision in the same event)
    late = two.predict(**form(two, **{MAIN_TEXT: "Two typed that."}), api_name="/save_input")
    assert said(late) == ("⚠️ Input was changed by someone else since you opened it (now revision 4, yours was 3). "
                          "Your version is kept so you can reapply it.")
    assert story(runner, pid)[0].primary.text == "One typed this."  # type: ignore[union-attr]  # nothing overwritten
    assert "Opened" in str(two.predict(pid, api_name="/open_project"))  # two sees revision 4, then reapplies
    assert "Saved (revision 5)." in said(two.predict(**form(two, **{MAIN_TEXT: "Two typed that."}), api_name="/save_input"))
    stale = one.predict(**form(one, **{MAIN_TEXT: "One typed more."}), api_name="/save_input")
    assert said(stale) == ("⚠️ Input was changed by someone else since you opened it (now revision 5, yours was 4). "
                           "Your version is kept so you can reapply it.")
    si, rev = story(runner, pid)
    assert rev == 5 and si.primary is not None and si.primary.text == "Two typed that."


CLIENTS = 8
OPERATIONS = 500


class Worker:
    """One client session doing its share of mixed operations; it knows what the store must hold after."""

    def __init__(self, n: int, url: str, store: Store, shared: str, ops: int) -> None:
        self.n, self.url, self.store, self.shared, self.ops = n, url, store, shared, ops
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.retries = 0
        self.tokens: list[str] = []
        self.json_saves = 0
        self.last_rules: list[str] = []
        self.form_text: dict[str, str] = {}  # session project -> the last text saved through the form
        self.created: list[str] = []

    def connect(self) -> None:
        self.client = patient_client(self.url)
        self.form = form(self.client)
        self.main_text = next(k for k, v in form(self.client, **{MAIN_TEXT: "?!"}).items() if v == "?!")

    def call(self, *args: Any, api_name: str, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            out = self.client.predict(*args, api_name=api_name, **kwargs)
        except Exception as e:  # any failure counts as an error
            self.errors.append(f"{api_name}: {type(e).__name__}: {e}")
            return None
        finally:
            self.latencies.append(time.perf_counter() - t0)
        text = str(out)
        if "⚠️" in text or (isinstance(out, dict) and out.get("ok") is False):
            self.errors.append(f"{api_name}: {text[:200]}")
        return out

    def create(self, title: str) -> str:
        self.call(title, "", "__all__", api_name="/dashboard_create_project")
        pid = project_id(self.client, title)
        self.created.append(pid)
        return pid

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # a crash of the worker itself is an error too
            self.errors.append(f"worker {self.n}: {type(e).__name__}: {e}")

    def _run(self) -> None:
        own = self.create(f"JSON {self.n}")  # written only through the JSON endpoint, revision chained
        session = self.create(f"Form {self.n}")  # the session's open project: form, locks, backups
        revision = 0
        cycle = ["json", "form", "lock", "list", "unlock", "visit", "shared", "cards", "backups", "open"]
        for i in range(self.ops - 2):
            op = cycle[i % len(cycle)]
            if i == 30:
                session = self.create(f"Form {self.n}b")
            elif i == 45:
                self.call(api_name="/backup_now")
            elif op == "json":
                rules = [f"c{self.n}-{i}"]
                out = self.call(own, {"mode": "expand", "story_rules": rules}, revision or None,
                                api_name="/save_story_input")
                if out and out.get("ok"):
                    revision, self.last_rules = out["revision"], rules
                    self.json_saves += 1
            elif op == "form":
                text = f"Client {self.n}, edit {i}."
                out = self.call(**{**self.form, self.main_text: text}, api_name="/save_input")
                if out and "Saved" in str(out):
                    self.form_text[session] = text
            elif op == "lock":
                self.call(api_name="/lock_input")
            elif op == "unlock":
                self.call(api_name="/unlock_input")
            elif op == "list":
                self.call("", api_name="/project_list")
            elif op == "cards":
                self.call(f"{self.n}", "__all__", api_name="/list_projects")
            elif op == "visit":
                self.call(api_name="/visit_input")
            elif op == "backups":
                self.call(api_name="/list_backups")
            elif op == "open":
                self.call(session, api_name="/open_project")
            elif op == "shared":
                self.append_shared(f"t{self.n}-{i}")

    def append_shared(self, token: str) -> None:
        """Read, add a story rule, save from the revision read; on a conflict read again and retry."""
        runner = Runner(self.store)
        for _ in range(50):
            si, rev = story(runner, self.shared)
            data = si.model_copy(update={"story_rules": [*si.story_rules, token]}).model_dump(mode="json")
            t0 = time.perf_counter()
            out = self.client.predict(self.shared, data, rev, api_name="/save_story_input")
            self.latencies.append(time.perf_counter() - t0)
            if out.get("ok"):
                self.tokens.append(token)
                return
            assert "changed by someone else" in out["error"], out
            self.retries += 1
        self.errors.append(f"shared: gave up on {token}")


@pytest.mark.slow
def test_eight_clients_doing_500_mixed_operations_lose_nothing(served: tuple[str, Store], tmp_path: Path) -> None:
    url, store = served
    runner = Runner(store)
    shared = runner.create_project("Everyone's").id
    runner.save(shared, Stage.INPUT, {"mode": "expand"})
    workers = [Worker(n, url, store, shared, OPERATIONS // CLIENTS + (1 if n < OPERATIONS % CLIENTS else 0))
               for n in range(CLIENTS)]
    for w in workers:  # one session each, connected one after another (not timed)
        w.connect()
    threads = [threading.Thread(target=w.run) for w in workers]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    wall = time.perf_counter() - t0

    latencies = sorted(x for w in workers for x in w.latencies)
    errors = [e for w in workers for e in w.errors]
    assert not errors, errors[:5]
    assert sum(w.ops for w in workers) == OPERATIONS and len(latencies) >= OPERATIONS
    # zero lost writes: every client's last write is what the store holds
    for w in workers:
        si, rev = story(runner, w.created[0])
        assert rev == w.json_saves and si.story_rules == w.last_rules
        for pid, text in w.form_text.items():
            got = story(runner, pid)[0]
            assert got.primary is not None and got.primary.text == text
    si, rev = story(runner, shared)
    tokens = [tok for w in workers for tok in w.tokens]
    assert sorted(si.story_rules) == sorted(tokens) and rev == 1 + len(tokens)
    listed = {p.id for p in runner.list_projects() if p.title != "Shared edit"}  # that one is the test above's
    assert listed == {shared, *(pid for w in workers for pid in w.created)}
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"\n{CLIENTS} clients, {OPERATIONS} operations ({len(latencies)} calls, "
          f"{sum(w.retries for w in workers)} conflict retries on the shared project, {len(tokens)} shared appends) "
          f"in {wall:.1f} s: {len(latencies) / wall:.0f} calls/s, median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, errors 0, lost writes 0")
