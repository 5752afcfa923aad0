"""Serve a built app for a test, patiently: a loaded machine must not fail the launch.

Gradio's launch checks that the page answers within three seconds; on two shared cores under
load the first page (the whole app's config) can take longer, so the check waits up to a minute.
"""

from __future__ import annotations

import functools
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr
import httpx
from gradio import networking


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patient_url_ok(url: str, limit_s: float = 60.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if httpx.head(url, timeout=30).status_code < 400:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


@contextmanager
def serve(demo: gr.Blocks, **kwargs: Any) -> Iterator[str]:
    """Launch `demo` on a free local port (queue on); yields its URL; closes it after."""
    demo.queue()
    original = networking.url_ok
    networking.url_ok = patient_url_ok
    try:
        _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                quiet=True, ssr_mode=False, **kwargs)
    finally:
        networking.url_ok = original
    try:
        yield str(url)
    finally:
        demo.close()


class Activity:
    """When the served app's events start and end, and how many ran: to know when a click's work is over."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.last = 0.0
        self.events = 0
        self.names: list[str] = []

    def wrap(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.running += 1
                self.events += 1
                self.names.append(name)
                self.last = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1
                    self.last = time.time()
        return timed

    def count(self) -> int:
        with self.lock:
            return self.events

    def quiet_for(self, seconds: float, since: float) -> bool:
        """No event running, and none started or ended in the last `seconds` (nor since `since`)."""
        with self.lock:
            busy, last = self.running > 0, self.last
        return not busy and time.time() - max(last, since) >= seconds


def instrument(demo: gr.Blocks, activity: Activity) -> None:
    """Wrap every (plain) event function of `demo` so `activity` sees it start and end."""
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None or inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            continue
        block_fn.fn = activity.wrap(fn, block_fn.api_name or getattr(fn, "__name__", "?"))
