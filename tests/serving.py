"""Start the app for a test, one way for every test: a free port, a fresh data home, a patient launch.

- `free_port()`: a port nobody listens on (the OS picks it).
- `app_home(path)`: a data home for the app (AIUTEUR_HOME and the tiny profile set, restored after).
- `serve(demo)`: a built app served on 127.0.0.1 (queue on), closed after. Gradio's launch checks
  that the page answers within three seconds; on two shared cores under load the first page (the
  whole app's config) can take longer, so the check waits up to two minutes.
- `browser_page(url)`: a headless Debian Chromium (never `playwright install`) on a URL, closed after.
- `wait_until(check)`: poll a condition with a generous limit (a loaded machine), no fixed sleeps.

Gradio and Playwright are imported where they are used: a test that needs only a port stays light.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    import gradio as gr

    from aiuteur.store import Store

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="no /usr/bin/chromium (apt-get install chromium)")


def free_port() -> int:
    """A local TCP port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patient_url_ok(url: str, limit_s: float = 120.0) -> bool:
    """Gradio's start-up check (`networking.url_ok`), with the patience a busy shared machine needs."""
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
def app_home(path: Path, *, unset: Sequence[str] = (), **env: str) -> Iterator[Store]:
    """A store in a fresh data home at `path`: AIUTEUR_HOME and the tiny profile set (and `env`, and
    `unset` removed) while it is used, all restored after."""
    from aiuteur.settings import DataHome
    from aiuteur.store import Store

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("AIUTEUR_HOME", str(path))
        mp.setenv("AIUTEUR_PROFILE", "tiny")
        for name, value in env.items():
            mp.setenv(name, value)
        for name in unset:
            mp.delenv(name, raising=False)
        yield Store(DataHome(path, "test"))
    finally:
        mp.undo()


@contextmanager
def serve(demo: gr.Blocks, **kwargs: Any) -> Iterator[str]:
    """Launch `demo` on a free local port (queue on); yields its URL; closes it after."""
    from gradio import networking

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


@contextmanager
def browser_page(url: str, *, width: int = 1280, height: int = 1000, timeout_s: float = 180.0,
                 init_script: str | None = None, before_goto: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """A headless Chromium page on `url` (actions wait up to `timeout_s`: a loaded machine is slow,
    never wrong; `before_goto(page)` runs before it loads, to listen from the start); the browser and
    Playwright are closed after, whatever the test did."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_s * 1000)
            if init_script:
                page.add_init_script(init_script)
            if before_goto is not None:
                before_goto(page)
            page.goto(url)
            yield page
        finally:
            browser.close()


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Poll `check` until it holds (a loaded machine: generous limits, no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting{': ' + what if what else ''}")
