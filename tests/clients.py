"""A Gradio client for tests that is patient on a loaded machine.

`gradio_client.Client` reads the app's config with httpx's default 5 s read timeout; on two
shared cores under load the first config of the whole app can take longer, and a second client
(a second tab) made without a timeout was the one CI flake. Every test client comes from here.
"""

from __future__ import annotations

from typing import Any

from gradio_client import Client

CLIENT_TIMEOUT_S = 600  # a limit for a stuck server, never a pace: a healthy answer comes in seconds


def patient_client(url: str, **kwargs: Any) -> Client:
    """`Client(url)` quiet, with a generous httpx timeout for every request it makes."""
    httpx_kwargs = {"timeout": CLIENT_TIMEOUT_S, **kwargs.pop("httpx_kwargs", {})}
    return Client(url, verbose=False, httpx_kwargs=httpx_kwargs, **kwargs)
