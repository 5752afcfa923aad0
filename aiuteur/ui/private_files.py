"""Private files on a shared instance: an upload or an export is served only to its owner.

Gradio serves any file in its cache to whoever asks for its URL, and takes any uploaded file's
path as an event input. On a shared instance `FileGate` (ASGI middleware) closes both doors:

- every upload (`/gradio_api/upload`) is recorded with the identity that sent it;
- every export the app hands out is recorded with its owner (`FileOwners.hand_out`);
- `GET /gradio_api/file=<path>` of a recorded file asks for the same identity ("File not found."
  otherwise, as for a file that does not exist); an event (`/gradio_api/queue/join`,
  `/gradio_api/run/…`, `/gradio_api/call/…`) that names another user's file is refused.

Media files (content-addressed, named by their SHA-256, never listed) are served as before.
The gate also turns Gradio's "maximum allowed size" upload refusal into one plain sentence.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from aiuteur.ui.auth import ASGIApp, Message, Receive, Scope, Send, owner_of_scope

API = "/gradio_api"
_EVENT_PATHS = (f"{API}/queue/join", f"{API}/run/", f"{API}/call/", f"{API}/api/")
_MAX_RECORDS = 200_000


def _canonical(path: str | Path) -> str:
    return os.path.realpath(os.fspath(path))


class FileOwners:
    """Which identity each private file belongs to (uploads and exports), newest kept."""

    def __init__(self) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, path: str | Path, owner: str) -> None:
        key = _canonical(path)
        with self._lock:
            self._owners[key] = owner
            self._owners.move_to_end(key)
            while len(self._owners) > _MAX_RECORDS:
                self._owners.popitem(last=False)

    def owner(self, path: str | Path) -> str | None:
        with self._lock:
            return self._owners.get(_canonical(path))

    def allowed(self, path: str | Path, who: str) -> bool:
        owner = self.owner(path)
        return owner is None or owner == who

    def hand_out(self, path: str | Path, owner: str, cache_dir: str) -> str:
        """Copy a file into Gradio's cache as Gradio itself would, record its owner, return the copy.

        Gradio then finds the copy already cached and serves that path, which only `owner` may read.
        """
        from gradio.processing_utils import save_file_to_cache

        cached = save_file_to_cache(path, cache_dir)
        self.record(cached, owner)
        return cached


def _file_paths(value: Any) -> Iterator[str]:
    """Every `path` of a FileData-like dict anywhere in a decoded JSON body."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            p = v.get("path")
            if isinstance(p, str):
                yield p
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class FileGate:
    """ASGI middleware enforcing `FileOwners` (see the module docstring)."""

    def __init__(self, app: ASGIApp, owners: FileOwners, secret: bytes | None, max_upload_mb: int) -> None:
        self.app = app
        self.owners = owners
        self.secret = secret
        self.max_upload_mb = max_upload_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(f"{API}/file="):
            who = owner_of_scope(scope, self.secret)
            if not self.owners.allowed(path[len(f"{API}/file="):], who):
                await _plain(send, 404, "File not found.")
                return
            await self.app(scope, receive, send)
        elif path == f"{API}/upload" and scope.get("method") == "POST":
            await self._upload(scope, receive, send)
        elif scope.get("method") == "POST" and path.startswith(_EVENT_PATHS):
            await self._event(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the upload through; record the stored paths with the uploader; say a size refusal plainly."""
        who = owner_of_scope(scope, self.secret)
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            body = b"".join(chunks)
            status = int(start.get("status", 200))
            if status == 413 or b"maximum allowed size" in body:
                await _plain(send, 413, f"The file is larger than {self.max_upload_mb} MB, the most this "
                                        "Aiuteur accepts in one upload; upload a smaller file.")
                return
            if status == 200:
                try:
                    for p in json.loads(body):
                        if isinstance(p, str):
                            self.owners.record(p, who)
                except ValueError:
                    pass
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    async def _event(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an event whose inputs name another user's uploaded or exported file."""
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        if b"path" in body or b"\\u" in body:  # a JSON key may be escaped; decode before deciding
            try:
                decoded = orjson.loads(bytes(body))
            except ValueError:
                decoded = None
            if decoded is not None:
                who = owner_of_scope(scope, self.secret)
                if any(not self.owners.allowed(p, who) for p in _file_paths(decoded)):
                    await _plain(send, 403, "That file belongs to another user; upload your own copy.")
                    return
        replay = iter(messages)

        async def again() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, again, send)
