"""Who may use the review app, and which files it may send.

By default the app listens on 127.0.0.1 only and, against DNS rebinding, answers only requests
whose ``Host`` is a loopback name. For remote use a token is required: it is checked on every
route (``Authorization: Bearer TOKEN``, or ``?token=TOKEN`` once, which sets an HttpOnly cookie and
redirects to the same page without it, so a browser can be given one link). The token is never
stored: the cookie holds an HMAC of it, and the pages carry another HMAC as the form field that
actions need (a cross-site form cannot know it), which is checked with the ``Origin`` header.
Media paths come from event files and URLs: each is resolved (symlinks included) and must stay
inside the served folder (:func:`safe_file`).

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, True, False)
>>> mask_token("s3cret-token-value")
's3***'
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from ammcnet.errors import ConfigError
from ammcnet.utils.redact import MASK

#: The shortest token accepted (characters).
MIN_TOKEN_CHARS = 8
#: The cookie that stands for the token in a browser (an HMAC of it, never the token).
COOKIE = "ammcnet_serve"
#: The form field, or header, that every action must carry: proof that the page came from this app.
CSRF_FIELD, CSRF_HEADER = "csrf", "x-ammcnet-csrf"
#: The one route open without the token: the form that asks for it.
LOGIN_PATH = "/login"
#: Host names that are this machine.
LOOPBACK_NAMES = ("localhost",)
#: The query parameter that carries the token once.
TOKEN_PARAM = "token"


class Refused(Exception):
    """A request for a file that may not be sent: ``status`` 403 (outside the folder, not media) or 404."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a listening address other than loopback without a token, and a token too short.

    Raises:
        ConfigError: one line naming the fix.
    """
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"--token is shorter than {MIN_TOKEN_CHARS} characters: use a long random one, e.g. "
                          "python -c 'import secrets; print(secrets.token_urlsafe())'")
    if token is None and not is_loopback(host):
        raise ConfigError(f"--host {host} is reachable from other machines: give --token (or set "
                          "AMMCNET_SERVE_TOKEN), or keep the default --host 127.0.0.1")


def mask_token(token: str | None) -> str:
    """The token as it may be printed: its first two characters at most."""
    return "none" if not token else f"{token[:2] if len(token) >= 12 else ''}{MASK}"


def derive(secret: str, purpose: str) -> str:
    """An HMAC of ``secret`` for one ``purpose`` (the cookie, the form field): the secret stays unknown."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a value from a request with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def host_name(host_header: str) -> str:
    """The host name of a ``Host`` header (``[::1]:8765`` -> ``::1``, ``localhost:8765`` -> ``localhost``)."""
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:  # "[bad": no host this app answers to
        return ""


def safe_file(root: Path, rel: str, suffixes: tuple[str, ...]) -> Path:
    """The file ``rel`` under ``root`` if it may be sent: resolved, inside ``root``, with one of ``suffixes``.

    Raises:
        Refused: 403 for a path that leaves ``root`` (``..``, absolute, a symlink out) or a file
            that is not media; 404 for one that does not exist.
    """
    try:
        path = (root / rel).resolve()
    except (OSError, ValueError):  # a NUL byte, a symlink loop
        raise Refused(403, "not a valid path") from None
    if not path.is_relative_to(root):
        raise Refused(403, "outside the served folder")
    if path.suffix.lower() not in suffixes:
        raise Refused(403, "not a snapshot or clip")
    if not path.is_file():
        raise Refused(404, "no such file")
    return path


class Guard:
    """The checks of one app: its token (or none), the loopback names it answers, the action secret."""

    def __init__(self, token: str | None, host: str) -> None:
        self.token = token
        self.hosts = {"localhost", "127.0.0.1", "::1", host_name(host) or host.lower()}
        secret = token if token is not None else secrets.token_hex(32)  # without a token: one per process
        self.csrf = derive(secret, "ammcnet-serve-action")
        self.cookie = derive(token, "ammcnet-serve-cookie") if token is not None else ""

    def host_ok(self, host_header: str | None) -> bool:
        """With a token any Host will do; without one, only this machine's names (no DNS rebinding)."""
        return self.token is not None or host_name(host_header or "") in self.hosts

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return self.token is not None and scheme.lower() == "bearer" and same(value.strip(), self.token)

    def authorized(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        """No token set, or the request carries it (bearer header or cookie)."""
        return self.token is None or self.bearer_ok(headers) or same(cookies.get(COOKIE), self.cookie)

    def action_ok(self, headers: Mapping[str, str], form: Mapping[str, str]) -> bool:
        """An action (POST) came from a page of this app, or from a client holding the token itself."""
        return self.bearer_ok(headers) or same(form.get(CSRF_FIELD) or headers.get(CSRF_HEADER), self.csrf)


def same_origin(headers: Mapping[str, str]) -> bool:
    """A POST whose ``Origin`` (when the browser sends one) is this app's own host."""
    origin = headers.get("origin")
    if origin is None:
        return True
    try:
        return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()
    except ValueError:
        return False


Denied = Callable[[Any], Any]


class GuardMiddleware:
    """ASGI middleware applying :class:`Guard` to every HTTP request before any route sees it.

    ``denied(request)`` makes the 401 answer (the app's page that asks for the token).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], guard: Guard, denied: Denied) -> None:
        self.app, self.guard, self.denied = app, guard, denied

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = self._check(scope)
        await (response or self.app)(scope, receive, send)

    def _check(self, scope: dict[str, Any]) -> Any:
        """None to go on, else the response that ends the request."""
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        request = Request(scope)
        headers = request.headers
        if not self.guard.host_ok(headers.get("host")):
            return PlainTextResponse("unexpected Host header: open the app as http://127.0.0.1:PORT/", 403)
        if request.method not in ("GET", "HEAD") and not same_origin(headers):
            return PlainTextResponse("cross-site request refused", 403)
        if self.guard.token is None or request.url.path == LOGIN_PATH:
            return None
        given = request.query_params.get(TOKEN_PARAM)
        if given is not None and same(given, self.guard.token) and request.method in ("GET", "HEAD"):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_PARAM]
            response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.guard.cookie, httponly=True, samesite="strict")
            return response
        if self.guard.authorized(headers, request.cookies):
            return None
        return self.denied(request)
