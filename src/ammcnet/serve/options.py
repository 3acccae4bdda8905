"""The settings of the review app (``ammcnet serve``'s flags), one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Where the app listens unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
#: The default TCP port.
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class ServeOptions:
    """How :func:`ammcnet.api.serve` serves a folder (``ammcnet serve``'s flags).

    Attributes:
        host: the address to listen on (default ``127.0.0.1``, this machine only); any other
            than a loopback address needs ``token``.
        port: the TCP port (default 8765; 0 picks a free one).
        token: a shared secret every request must carry (``Authorization: Bearer``, or once as
            ``?token=`` which sets a cookie); default None: no token, loopback only. Never printed
            in full nor written anywhere.
        model: the model file "mark normal" updates (default None: the ``model`` of the ``start``
            line of the camera's ``events.jsonl``).
        open_browser: open the cameras page in the default browser once listening (default False).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    model: str | None = None
    open_browser: bool = False
