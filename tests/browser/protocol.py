"""A small front end that speaks the browser's protocol to a running Gradio app.

It reads `/config` as the page does, keeps the value of every component the way the page shows
it, and fires events by their dependency id through `/gradio_api/queue/join` and the SSE stream
`/gradio_api/queue/data`, exactly as the browser does (private events included: the browser calls
them by id too). After an event it follows what the page would do: apply the returned values and
updates, run the `.then()` chain, and fire `change` events for components whose value changed
(state changes come back as `changed_state_ids`). JavaScript-only events (no server function)
are listed but cannot run here; the Playwright tests cover those in the real browser.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Outcome:
    """One event's result as the page sees it."""

    dep_id: int
    success: bool
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)  # the progress lines the page showed, in order


class Page:
    """One browser tab's worth of state over a running app (one session hash)."""

    def __init__(self, url: str, *, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.http = httpx.Client(timeout=timeout)
        self.config: dict[str, Any] = self.http.get(self.url + "config").json()
        self.api = self.url + self.config.get("api_prefix", "/gradio_api").strip("/") + "/"
        self.session = uuid.uuid4().hex[:11]
        self.components: dict[int, dict[str, Any]] = {c["id"]: c for c in self.config["components"]}
        self.values: dict[int, Any] = {i: c.get("props", {}).get("value") for i, c in self.components.items()}
        self.choices: dict[int, list[Any]] = {i: list(c.get("props", {}).get("choices") or [])
                                              for i, c in self.components.items()}
        self.deps: list[dict[str, Any]] = self.config["dependencies"]
        self.by_id: dict[int, dict[str, Any]] = {d["id"]: d for d in self.deps}
        self.fired: dict[int, Outcome] = {}
        self.log: list[Outcome] = []
        #: (component id, value) -> what an input gets when the page shows nothing (set by the test)
        self.fill: Callable[[dict[str, Any]], Any] | None = None
        self._state_changes: list[int] = []

    # --- what the page knows ------------------------------------------------------------------

    def component(self, cid: int) -> dict[str, Any]:
        return self.components[cid]

    def label(self, cid: int) -> str:
        return str(self.components[cid].get("props", {}).get("label") or "")

    def kind(self, cid: int) -> str:
        return str(self.components[cid]["type"])

    def find(self, kind: str, label: str) -> int:
        hits = [i for i, c in self.components.items() if c["type"] == kind and self.label(i) == label]
        if not hits:
            raise KeyError(f"no {kind} labelled {label!r}")
        return hits[0]

    def dep_named(self, api_name: str) -> dict[str, Any]:
        return next(d for d in self.deps if d.get("api_name") == api_name)

    def chained(self, dep_id: int) -> list[dict[str, Any]]:
        return [d for d in self.deps if d.get("trigger_after") == dep_id]

    def listeners(self, cid: int, event: str) -> list[dict[str, Any]]:
        return [d for d in self.deps if [cid, event] in [list(t) for t in d["targets"]]
                and d.get("trigger_after") is None]

    # --- files -----------------------------------------------------------------------------

    def upload(self, path: Path) -> dict[str, Any]:
        """Upload a file as the page does; returns the FileData the events take."""
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as f:
            r = self.http.post(self.api + "upload", files={"files": (path.name, f, mime)})
        r.raise_for_status()
        server_path = r.json()[0]
        return {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"},
                "size": path.stat().st_size, "mime_type": mime}

    # --- firing events ----------------------------------------------------------------------

    def inputs_of(self, dep: dict[str, Any]) -> list[Any]:
        out = []
        for cid in dep["inputs"]:
            value = self.values.get(cid)
            if self.fill is not None:
                value = self.fill({"id": cid, "type": self.kind(cid), "label": self.label(cid), "value": value,
                                   "choices": self.choices.get(cid, []),
                                   "props": self.components[cid].get("props", {})})
            out.append(value)
        return out

    def call(self, dep_id: int, event_data: Any = None, trigger_id: int | None = None) -> Outcome:
        """Fire one event (no chain); apply what it returns."""
        dep = self.by_id[dep_id]
        if not dep.get("backend_fn"):
            raise ValueError(f"event {dep_id} runs only in the browser (JavaScript)")
        body = {"data": self.inputs_of(dep), "event_data": event_data, "fn_index": dep_id,
                "trigger_id": trigger_id if trigger_id is not None else (dep["targets"][0][0] if dep["targets"]
                                                                         else None),
                "session_hash": self.session}
        joined = self.http.post(self.api + "queue/join", json=body)
        if joined.status_code != 200:
            outcome = Outcome(dep_id, False, f"join refused: {joined.status_code} {joined.text[:300]}")
            self._record(outcome)
            return outcome
        event_id = joined.json()["event_id"]
        outcome = Outcome(dep_id, False, "the stream closed before the event completed")
        with self.http.stream("GET", self.api + "queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                kind = msg.get("msg")
                if kind == "progress":
                    outcome.progress += [str(p.get("desc") or "") for p in msg.get("progress_data") or []]
                elif kind == "log":
                    level = str(msg.get("level", "")).lower()
                    (outcome.warnings if level == "warning" else outcome.infos).append(str(msg.get("log", "")))
                elif kind == "process_completed":
                    output = msg.get("output") or {}
                    outcome.success = bool(msg.get("success"))
                    outcome.error = "" if outcome.success else str(output.get("error") or output)
                    outcome.data = list(output.get("data") or [])
                    if outcome.success:
                        self._apply(dep, outcome.data, output.get("changed_state_ids") or [])
                    break
                elif kind in ("close_stream", "unexpected_error"):
                    outcome.error = str(msg.get("message") or kind)
                    break
        self._record(outcome)
        return outcome

    def fire(self, dep_id: int, event_data: Any = None, *, follow_changes: Callable[[int], bool] | None = None,
             follow_chain: Callable[[int], bool] | None = None) -> list[Outcome]:
        """Fire an event and everything the page runs after it: its `.then()` chain and `change` events.

        `follow_changes` / `follow_chain` may skip some of those (a test that has run one already)."""
        done: list[Outcome] = []
        queue: list[tuple[int, Any]] = [(dep_id, event_data)]
        while queue:
            did, data = queue.pop(0)
            dep = self.by_id[did]
            if not dep.get("backend_fn"):  # JavaScript only: the page would run it; nothing to send
                outcome = Outcome(did, True)
            else:
                before = dict(self.values)
                outcome = self.call(did, data)
                done.append(outcome)
                if outcome.success:
                    changed = [cid for cid in dep["outputs"] if self.values.get(cid) != before.get(cid)]
                    changed += self._state_changes
                    for cid in dict.fromkeys(changed):
                        for listener in self.listeners(cid, "change"):
                            if follow_changes is None or follow_changes(listener["id"]):
                                queue.append((listener["id"], None))
            for nxt in reversed(self.chained(did)):
                if nxt.get("trigger_only_on_success") and not outcome.success:
                    continue
                if nxt.get("trigger_only_on_failure") and outcome.success:
                    continue
                if follow_chain is not None and not follow_chain(nxt["id"]):
                    continue
                queue.insert(0, (nxt["id"], None))
        return done

    # --- internals ---------------------------------------------------------------------------

    def _record(self, outcome: Outcome) -> None:
        self.fired.setdefault(outcome.dep_id, outcome)
        if not outcome.success:
            self.fired[outcome.dep_id] = outcome
        self.log.append(outcome)

    def _apply(self, dep: dict[str, Any], data: list[Any], changed_states: list[int]) -> None:
        self._state_changes = list(changed_states)
        for cid, value in zip(dep["outputs"], data, strict=False):
            if isinstance(value, dict) and value.get("__type__") == "update":
                if "value" in value:
                    self.values[cid] = value["value"]
                if "choices" in value:
                    self.choices[cid] = list(value["choices"] or [])
            elif self.kind(cid) != "state":
                self.values[cid] = value
