"""Alarm messages to an HTTP receiver: one JSON POST per lifecycle message, in order, retried until delivered.

Generic webhooks are what operators without a home-automation hub ask for: any small web service
(a chat bot, a ticket system, a serverless function) can take a POST. Each lifecycle message is
sent as its JSON body (``Content-Type: application/json``), with ``Authorization: Bearer <token>``
when a token is set. It uses the standard library's ``urllib`` (no extra dependency).

What the receiver's answer means:

- 2xx: delivered; the message leaves the spool.
- 408, 429, 5xx, no answer (down, timeout, reset): retried with exponential backoff (from
  ``backoff_initial_s``, doubling up to ``backoff_max_s``; ``Retry-After`` is honoured up to that
  maximum) for as long as the process lives; the spool keeps the message across restarts.
- any other 4xx, or a redirect: refused for good. Logged, counted in ``stats()["rejected"]`` and
  moved to ``<spool_dir>/rejected/`` with the reason beside it, so the messages after it go on.

The token comes from ``token``, else from the environment variable ``token_env``, else from
``AMMCNET_WEBHOOK_TOKEN`` when that is set; it never appears in stats, logs or errors.

>>> WebhookSink(WebhookOptions(url="ftp://example.com/hook", spool_dir="spool"))
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: webhook URL 'ftp://example.com/hook' is not an http:// or https:// URL with a host: give one such as https://hooks.example.com/ammcnet
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, ClassVar

from ammcnet.alarms.sink import (
    DEFAULT_BACKOFF_INITIAL_S,
    DEFAULT_BACKOFF_MAX_S,
    DeliveryError,
    RejectedError,
    SpoolingSink,
    check_backoff,
    secret_from_env,
)
from ammcnet.alarms.spool import DEFAULT_MAX_MESSAGES
from ammcnet.errors import ConfigError
from ammcnet.utils.redact import mask_url
from ammcnet.version import __version__

#: The environment variable read for the bearer token when neither ``token`` nor ``token_env`` is given.
DEFAULT_TOKEN_ENV = "AMMCNET_WEBHOOK_TOKEN"
#: Seconds to wait for the receiver's answer to one POST.
DEFAULT_TIMEOUT_S = 5.0
#: HTTP statuses that mean "not now" rather than "never": request timeout, too many requests.
RETRY_STATUSES = frozenset({408, 429})
#: Characters of a refusal's body quoted in the error (receivers often say why).
_BODY_QUOTE = 200
#: Bytes of an accepting answer's body read at most (nothing in it is used).
_BODY_READ = 64 * 1024


@dataclass
class WebhookOptions:
    """Settings of a :class:`WebhookSink` (plain types: a pydantic model or YAML can hold them).

    Attributes:
        url: the receiver, ``http://`` or ``https://`` with a host. A ``user:password@`` in it is
            sent as HTTP basic authentication (and masked everywhere).
        spool_dir: folder of the on-disk spool of undelivered messages (one sink per folder; keep
            it across restarts, e.g. ``<output folder>/spool/webhook``).
        token: bearer token sent as ``Authorization: Bearer <token>``; prefer ``token_env``.
        token_env: name of the environment variable holding the token (an error if it is unset);
            None: ``AMMCNET_WEBHOOK_TOKEN`` if set, else no token.
        timeout_s: seconds to wait for the receiver's answer to one POST.
        backoff_initial_s: seconds before the first retry after a failure; doubled after each one.
        backoff_max_s: the longest wait between two retries, in seconds.
        max_messages: undelivered messages kept at most; beyond it the oldest are dropped.
    """

    url: str
    spool_dir: str
    token: str | None = None
    token_env: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    max_messages: int = DEFAULT_MAX_MESSAGES


def check_webhook_url(url: str) -> tuple[str, str | None]:
    """Split ``url`` into the URL to POST to and its basic-auth credentials ``"user:password"`` (or None).

    Raises:
        ConfigError: not an http(s) URL with a host, or a bad port (one line, password masked).
    """
    bad = ConfigError(f"webhook URL {mask_url(url)!r} is not an http:// or https:// URL with a host: give one "
                      "such as https://hooks.example.com/ammcnet")
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise bad
    credentials = None
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urllib.parse.urlunsplit(parts), credentials


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would turn the POST into a GET and lose the message."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookSink(SpoolingSink):
    """POSTs each lifecycle message as JSON to ``options.url``, in order (see the module docstring).

    Args:
        options: the settings; the URL and the token are checked here.

    Raises:
        ConfigError: a bad URL, a token with spaces or control characters, an unset ``token_env``,
            or bad retry settings.
        FolderBusyError: another running sink uses ``spool_dir``.
    """

    kind: ClassVar[str] = "webhook"

    def __init__(self, options: WebhookOptions) -> None:
        self.options = options
        self._url, basic = check_webhook_url(options.url)
        check_backoff(options.backoff_initial_s, options.backoff_max_s, options.timeout_s)
        token = secret_from_env(options.token, options.token_env, DEFAULT_TOKEN_ENV, "webhook token")
        if token is not None and (not token.isprintable() or any(c.isspace() for c in token)):
            raise ConfigError("the webhook token holds spaces or control characters: check token / token_env")
        self._headers = {"Content-Type": "application/json", "User-Agent": f"ammcnet/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif basic:
            self._headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        self._opener = urllib.request.build_opener(_NoRedirect())
        super().__init__(spool_dir=options.spool_dir, max_messages=options.max_messages,
                         backoff_initial_s=options.backoff_initial_s, backoff_max_s=options.backoff_max_s,
                         target=mask_url(options.url), secrets=(token, basic, basic and basic.split(":", 1)[1]))
        self._start()

    def _send(self, payload: bytes) -> None:
        request = urllib.request.Request(self._url, data=payload, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.options.timeout_s) as response:
                response.read(_BODY_READ)
                status = response.status
        except urllib.error.HTTPError as exc:
            self._refused(exc)
            return
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DeliveryError(f"cannot reach {self.target}: {reason}") from None
        if not 200 <= status < 300:  # 1xx never reaches here; anything else that is not 2xx is an odd answer
            raise RejectedError(f"{self.target} answered HTTP {status}, not 2xx")

    def _refused(self, exc: urllib.error.HTTPError) -> None:
        """Turn a non-2xx answer into a retry (408, 429, 5xx) or a rejection (other 4xx, redirects)."""
        status = exc.code
        try:
            body = exc.read(_BODY_QUOTE).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            body = ""
        finally:
            exc.close()
        said = f"HTTP {status} {exc.reason}" + (f": {' '.join(body.split())}" if body else "")
        if status in RETRY_STATUSES or status >= 500:
            raise DeliveryError(f"{self.target} answered {said}", _retry_after(exc.headers))
        if 300 <= status < 400:
            where = mask_url(exc.headers.get("Location", "?"))
            raise RejectedError(f"{self.target} redirects (HTTP {status}) to {where}: configure that URL instead")
        raise RejectedError(f"{self.target} refused the message: {said}")


def _retry_after(headers: Any) -> float | None:
    """Seconds of an HTTP ``Retry-After`` header (the delta-seconds form), or None."""
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError, AttributeError):
        return None
    return value if value >= 0 else None

