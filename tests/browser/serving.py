"""Serve a built app for a test, patiently: a loaded machine must not fail the launch.

Gradio's launch checks that the page answers within three seconds; on two shared cores under
load the first page (the whole app's config) can take longer, so the check waits up to a minute.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
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
