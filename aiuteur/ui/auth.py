"""Who is asking: users stay apart on shared instances.

- On a Hugging Face Space with sign-in (`hf_oauth: true`, so `SPACE_ID` and `OAUTH_CLIENT_ID` are
  set), the app shows Gradio's `gr.LoginButton`, which makes Gradio install its sign-in routes
  (`/login/huggingface`, `/login/callback`, `/logout`) and a signed session cookie. A signed-in
  visitor owns their projects as `hf:<name>`. A visitor who has not signed in gets a guest
  identity issued by the server: a random id in the cookie `aiuteur_guest`, signed with the
  instance's secret (`guest:<id>`). It survives reloads; a client cannot choose or forge it.
- On a shared host without it, `AIUTEUR_AUTH` asks for a password before anything is shown:
  `AIUTEUR_AUTH="alice:secret1,bob:secret2"` (one account each) or `AIUTEUR_AUTH="secret"` (one
  shared account named "aiuteur"). The owner is `user:<name>`.
- Locally (neither), the app is single-user: owner ''.

Gradio's per-page `session_hash` is chosen by the client and changes on every page load, so it is
never used as an identity.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from aiuteur.domain import InputError

GUEST_COOKIE = "aiuteur_guest"
_GUEST_RE = re.compile(r"([0-9a-f]{24})\.([0-9a-f]{64})")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
    """A Space with `hf_oauth: true` (Spaces set SPACE_ID and OAUTH_CLIENT_ID)."""
    e = env if env is not None else os.environ
    return bool(e.get("SPACE_ID") and e.get("OAUTH_CLIENT_ID"))


def sign_in_available(env: dict[str, str] | None = None) -> bool:
    """Whether Gradio can serve Hugging Face sign-in here: on a real Space (`SYSTEM=spaces`), or
    elsewhere when this machine is logged in to the Hub (Gradio then mocks the sign-in with that
    account, its documented local-debug mode). Without either, Gradio's mocked routes would fail
    at start, so the app serves guests only and says so."""
    e = env if env is not None else os.environ
    if not oauth_enabled(env):
        return False
    if e.get("SYSTEM") == "spaces":
        return True
    try:
        from huggingface_hub import get_token

        return get_token() is not None
    except Exception:
        return False


def shared(env: dict[str, str] | None = None) -> bool:
    """Whether several people use this instance (sign-in or passwords), so owners matter."""
    return oauth_enabled(env) or auth_from_env(env) is not None


# --- the instance secret and guest identities ------------------------------------------------------


def instance_secret(home: Path, env: dict[str, str] | None = None) -> bytes:
    """The key that signs guest identities: `AIUTEUR_SECRET`, else a random key kept in the data folder.

    Kept on disk (mode 0600) so guests keep their projects across restarts of the app.
    """
    value = (env if env is not None else os.environ).get("AIUTEUR_SECRET", "")
    if value:
        return hashlib.sha256(value.encode("utf-8")).digest()
    path = home / "instance.secret"
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".instance.secret.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    try:  # first writer wins; a concurrent start reads the same key
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def sign_guest(secret: bytes, guest_id: str) -> str:
    return f"{guest_id}.{hmac.new(secret, guest_id.encode(), hashlib.sha256).hexdigest()}"


def verify_guest(secret: bytes, value: str | None) -> str | None:
    """The guest id in a signed cookie value, or None when it is missing, malformed or forged."""
    m = _GUEST_RE.fullmatch(value or "")
    if not m:
        return None
    expected = hmac.new(secret, m.group(1).encode(), hashlib.sha256).hexdigest()
    return m.group(1) if hmac.compare_digest(expected, m.group(2)) else None


def new_guest(secret: bytes) -> str:
    return sign_guest(secret, secrets.token_hex(12))


def _cookie_header(headers: list[tuple[bytes, bytes]]) -> str:
    return "; ".join(v.decode("latin-1") for k, v in headers if k.lower() == b"cookie")


def cookies_of(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_cookie_header(headers))
    except Exception:  # a malformed Cookie header gives no cookies, never an error
        return {}
    return {k: m.value for k, m in jar.items()}


class GuestIdentity:
    """ASGI middleware: every request carries a server-signed guest identity.

    A request without a valid `aiuteur_guest` cookie gets a fresh one: it is added to the request
    (so this very request already has it) and set on the response (so the browser or
    `gradio_client`, which keeps cookies from the app's config, sends it from then on).
    """

    def __init__(self, app: ASGIApp, secret: bytes, secure: bool = False) -> None:
        self.app = app
        self.secret = secret
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        if verify_guest(self.secret, cookies_of(headers).get(GUEST_COOKIE)):
            await self.app(scope, receive, send)
            return
        value = new_guest(self.secret)
        others = _cookie_header(headers)
        cookie = f"{others}; {GUEST_COOKIE}={value}" if others else f"{GUEST_COOKIE}={value}"
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in headers if k.lower() != b"cookie"] + [(b"cookie", cookie.encode())]
        attrs = "Path=/; HttpOnly; Max-Age=31536000; " + ("SameSite=None; Secure" if self.secure else "SameSite=Lax")
        set_cookie = (b"set-cookie", f"{GUEST_COOKIE}={value}; {attrs}".encode())

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), set_cookie]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# --- who is asking ---------------------------------------------------------------------------------


def _hf_name(session: Any) -> str | None:
    """The Hugging Face user name in Gradio's OAuth session, if signed in and not expired."""
    if session is None or not hasattr(session, "get"):
        return None
    info = session.get("oauth_info")
    if not isinstance(info, dict):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, (int, float)) and expires < time.time():
        return None
    name = (info.get("userinfo") or {}).get("preferred_username")
    return str(name) if name else None


def _request_cookies(request: Any) -> dict[str, str]:
    raw = getattr(request, "request", None)  # gr.Request wraps the Starlette request
    if raw is not None:
        try:
            return dict(raw.cookies)
        except Exception:
            pass
    try:
        return dict(getattr(request, "cookies", None) or {})
    except Exception:
        return {}


def _request_session(request: Any) -> Any:
    raw = getattr(request, "request", None)
    for obj in (raw, request):
        if obj is None:
            continue
        try:
            return obj.session  # set by Gradio's OAuth SessionMiddleware on Spaces
        except (AttributeError, AssertionError, KeyError):
            continue
    return None


def user_of(request: Any, secret: bytes | None = None, *, signin: bool | None = None,
            passwords: bool | None = None) -> str:
    """The owner id for a request ('' when the instance is single-user).

    Raises:
        InputError: a shared instance could not tell who is asking (no sign-in, no valid guest cookie).
    """
    if request is None:
        return ""
    username = getattr(request, "username", None)
    if username:
        return f"user:{username}"
    name = _hf_name(_request_session(request))  # only Gradio's signed OAuth session holds one
    if name:
        return f"hf:{name}"
    if oauth_enabled() if signin is None else signin:
        guest = verify_guest(secret, _request_cookies(request).get(GUEST_COOKIE)) if secret else None
        if guest:
            return f"guest:{guest}"
        raise InputError("This shared Aiuteur could not tell who you are: sign in with Hugging Face, "
                         "or allow cookies for this site and reload the page.")
    if auth_from_env() is not None if passwords is None else passwords:
        raise InputError("This Aiuteur is shared: sign in to see your projects.")
    return ""


def owner_of_scope(scope: Scope, secret: bytes | None) -> str:
    """`user_of` for a raw ASGI request (the file and upload gate sees no gr.Request)."""
    headers = list(scope.get("headers") or [])
    cookies = cookies_of(headers)
    app = scope.get("app")
    cookie_id = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", None)
    if cookie_id and isinstance(tokens, dict):
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
        if token and tokens.get(token):
            return f"user:{tokens[token]}"
    name = _hf_name(scope.get("session"))
    if name:
        return f"hf:{name}"
    if oauth_enabled():
        guest = verify_guest(secret, cookies.get(GUEST_COOKIE)) if secret else None
        if guest:
            return f"guest:{guest}"
        return "nobody:"
    if auth_from_env():
        return "nobody:"
    return ""
