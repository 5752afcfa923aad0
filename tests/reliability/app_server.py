"""Serve the real app on 127.0.0.1 for reliability tests (tiny profile, a temp data folder)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gradio_client import Client

from aiuteur.store import Store
from aiuteur.ui.app import launch_app
from tests.serving import app_home, free_port


@contextmanager
def serve(home: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, Store]]:
    """The app as `python app.py` and `aiuteur serve` serve it (`launch_app`), at a URL."""
    with app_home(home, **(env or {})) as store:
        demo = None
        try:
            demo, url = launch_app(store, host="127.0.0.1", port=free_port(), prevent_thread_lock=True,
                                   quiet=True, ssr_mode=False, _frontend=False)  # no HEAD / check: slow when busy
            yield url, store
        finally:
            if demo is not None:
                demo.close()


def form(client: Client, **by_label: Any) -> dict[str, Any]:
    """Keyword arguments for /save_input: the defaults, then values by label."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/save_input"]["parameters"]
    out = {p["parameter_name"]: (p["parameter_default"] if p["parameter_has_default"] else "") for p in params}
    for p in params:
        if p["label"] in by_label:
            out[p["parameter_name"]] = by_label[p["label"]]
    return out


MAIN_TEXT = "Your story, idea or screenplay"
