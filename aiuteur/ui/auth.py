"""Who is asking: users stay apart on shared instances.

- On a Hugging Face Space with sign-in (`hf_oauth: true`), the owner is the Hugging Face user
  (`hf:<name>`); someone not signed in works in a private guest space tied to their session.
- On a shared host without it, `AIUTEUR_AUTH` asks for a password before anything is shown:
  `AIUTEUR_AUTH="alice:secret1,bob:secret2"` (one account each) or `AIUTEUR_AUTH="secret"` (one
  shared account named "aiuteur"). The owner is `user:<name>`.
- Locally (neither), the app is single-user: owner ''.
"""

from __future__ import annotations

import os
from typing import Any

from aiuteur.domain import InputError


def auth_from_env(env: dict[str, str] | None = None) -> list[tuple[str, str]] | None:
    """The (user, password) pairs for Gradio's `launch(auth=...)`, or None when no password is set."""
    value = (env if env is not None else os.environ).get("AIUTEUR_AUTH", "").strip()
    if not value:
        return None
    pairs: list[tuple[str, str]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep:
            user, password = "aiuteur", item
        if not user.strip() or not password:
            raise InputError("AIUTEUR_AUTH must look like 'alice:secret1,bob:secret2' or 'secret'.")
        pairs.append((user.strip(), password))
    return pairs or None


def oauth_enabled(env: dict[str, str] | None = None) -> bool:
    e = env if env is not None else os.environ
    return bool(e.get("SPACE_ID") and e.get("OAUTH_CLIENT_ID"))


def user_of(request: Any) -> str:
    """The owner id for a request ('' when the instance is single-user)."""
    if request is None:
        return ""
    username = getattr(request, "username", None)
    if username:
        return f"user:{username}"
    session = None
    try:
        session = request.session  # set by Gradio's OAuth middleware on Spaces
    except (AttributeError, AssertionError, KeyError):
        session = None
    info = session.get("oauth_info") if session is not None and hasattr(session, "get") else None
    if isinstance(info, dict):
        name = (info.get("userinfo") or {}).get("preferred_username")
        if name:
            return f"hf:{name}"
    if oauth_enabled() or auth_from_env():
        # a shared instance, not signed in: a private space for this browser session only
        return f"guest:{getattr(request, 'session_hash', '') or 'anonymous'}"
    return ""
