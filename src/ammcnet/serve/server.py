"""Run the review app with uvicorn until Ctrl-C.

The socket is bound here, before uvicorn starts, so that an address in use or a host that does
not resolve is one line naming the flag to change, not a log of uvicorn's. Uvicorn's access log
is off: a request line may carry ``?token=``, and the token is never printed.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import webbrowser

from ammcnet.errors import ConfigError
from ammcnet.serve.actions import Teach
from ammcnet.serve.app import PURPOSE, create_app
from ammcnet.serve.options import ServeOptions
from ammcnet.serve.security import check_bind, mask_token
from ammcnet.utils.optional import require

#: Seconds between listening and opening the browser with ``open_browser``.
OPEN_DELAY_S = 0.5


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv4 or IPv6), ready for uvicorn.

    Raises:
        ConfigError: the host does not resolve or the port is taken.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: {exc.strerror}; give an address of this machine") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port") from None
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    """The address to open in a browser (the port the socket got; IPv6 in brackets)."""
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def serve_folder(folder: str | os.PathLike[str], options: ServeOptions | None = None, *,
                 teach: Teach | None = None, announce: bool = True) -> None:
    """Serve the review pages of ``folder`` until Ctrl-C (see :func:`ammcnet.api.serve`).

    Raises:
        ConfigError: a non-loopback host without a token, a short token, a port in use.
        DataError: ``folder`` is not an output folder.
        MissingDependencyError: the ``serve`` extra is not installed.
    """
    o = options or ServeOptions()
    check_bind(o.host, o.token)
    uvicorn = require("uvicorn", extra="serve", purpose=PURPOSE)
    app = create_app(folder, o, teach=teach)
    sock = bind(o.host, o.port)
    url = url_of(o.host, sock)
    if announce:
        print(f"ammcnet serve: {app.state.review.folder.kind} folder {folder} on {url} (token: {mask_token(o.token)}); "
              "Ctrl-C stops", file=sys.stderr)
    if o.open_browser:
        threading.Timer(OPEN_DELAY_S, webbrowser.open, (url,)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, proxy_headers=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
