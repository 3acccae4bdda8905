"""Real receivers for the alarm sink tests: a local HTTP server and a mosquitto broker.

- :class:`HttpReceiver`: a ``ThreadingHTTPServer`` on 127.0.0.1 that records each POST's JSON
  body and headers, answers with chosen statuses (and an optional delay), and can be stopped and
  started again on the same port, like a receiver that goes down and comes back.
- :class:`Mosquitto`: the real broker on a free port with a minimal config in a temporary folder
  (anonymous, or with a password file made by ``mosquitto_passwd``), persistent so that a
  restarted broker keeps the sessions of persistent subscribers.
- :class:`Subscriber`: a paho client collecting the messages of a topic.

Fixtures ``http_receiver``, ``mosquitto`` and ``mosquitto_auth``: import their functions
(``http_receiver_fixture``, ...) into a test module, whose tests then take them by those names.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
SKIP_MOSQUITTO = "mosquitto not installed (apt-get install mosquitto)"
#: Seconds to wait for a server to accept connections, or for expected messages.
WAIT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_S, every: float = 0.02) -> Any:
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(every)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


# -- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver got: JSON body (None if not JSON), headers, path, the status it answered."""

    body: Any
    headers: dict[str, str]
    path: str
    status: int


@dataclass
class HttpReceiver:
    """A webhook receiver on 127.0.0.1 (see the module docstring); use as a context manager or fixture.

    Attributes:
        statuses: answers for the next requests, consumed first (e.g. ``[503, 400]``); then ``status``.
        status: the answer once ``statuses`` is used up (200).
        delay_s: seconds each answer is held back (a slow receiver).
        headers_out: extra response headers (e.g. ``{"Retry-After": "0"}``).
    """

    port: int = field(default_factory=free_port)
    statuses: list[int] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    headers_out: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    @property
    def delivered(self) -> list[Any]:
        """JSON bodies answered with 2xx, in arrival order."""
        with self._lock:
            return [r.body for r in self.requests if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Any]:
        """The delivered bodies once there are at least ``count`` of them."""
        wait_until(lambda: len(self.delivered) >= count, timeout)
        return self.delivered

    def _answer(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else self.status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver._answer()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver._lock:
                    receiver.requests.append(Received(body, dict(self.headers), self.path, status))
                self.send_response(status)
                for key, value in receiver.headers_out.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> HttpReceiver:
        """Listen on ``port`` (the same one after a :meth:`stop`)."""
        self._server = ThreadingHTTPServer((HOST, self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@pytest.fixture(name="http_receiver")
def http_receiver_fixture() -> Iterator[HttpReceiver]:
    """A running :class:`HttpReceiver` on a free port."""
    with HttpReceiver() as receiver:
        yield receiver


# -- MQTT ----------------------------------------------------------------------------------------


@dataclass
class Mosquitto:
    """A mosquitto broker on 127.0.0.1 (see the module docstring); :meth:`stop` / :meth:`start` restart it.

    Attributes:
        folder: where its config, password file, log and persistence live.
        users: user name -> password; empty: anonymous access.
    """

    folder: Path
    users: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    host: str = HOST

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [f"listener {self.port} {HOST}", "persistence true", f"persistence_location {self.folder}/"]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise it drops to user "mosquitto", who cannot read the folder
        if self.users:
            passwd = self.folder / "passwd"
            for i, (user, password) in enumerate(self.users.items()):
                subprocess.run([MOSQUITTO_PASSWD, "-b", *(["-c"] if i == 0 else []), str(passwd), user, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Mosquitto:
        """Start the broker and wait until it accepts connections."""
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while not _accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self.log[-2000:]}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM: it saves its sessions and retained messages)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _broker(tmp_path: Path, users: dict[str, str]) -> Iterator[Mosquitto]:
    if not MOSQUITTO:
        pytest.skip(SKIP_MOSQUITTO)
    broker = Mosquitto(tmp_path / "mosquitto", users=users).start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running anonymous :class:`Mosquitto` on a free port, killed at teardown."""
    yield from _broker(tmp_path, {})


#: The user and password of ``mosquitto_auth``.
AUTH_USER, AUTH_PASSWORD = "alarms", "s3cret-Pa55word"


@pytest.fixture(name="mosquitto_auth")
def mosquitto_auth_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running :class:`Mosquitto` that requires ``AUTH_USER`` / ``AUTH_PASSWORD``."""
    if not MOSQUITTO_PASSWD:
        pytest.skip("mosquitto_passwd not installed (apt-get install mosquitto)")
    yield from _broker(tmp_path, {AUTH_USER: AUTH_PASSWORD})


@dataclass
class Got:
    """One message a :class:`Subscriber` received."""

    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """Collects the messages of ``topic`` (wildcards allowed) at QoS 1; re-subscribes after a reconnect.

    Args:
        broker: the broker to connect to.
        topic: what to subscribe to.
        client_id: fixed client id (needed with ``persistent``).
        persistent: a persistent session (clean_session False): the broker keeps what arrives while
            this subscriber is away, also across a broker restart.
        username, password: credentials, if the broker asks.
    """

    def __init__(self, broker: Mosquitto, topic: str, *, client_id: str = "", persistent: bool = False,
                 username: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[Got] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=not persistent)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise AssertionError(f"could not subscribe to {topic}")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append(Got(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def got(self) -> list[Got]:
        with self._lock:
            return list(self.messages)

    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.got()]

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Got]:
        """The messages once there are at least ``count``."""
        wait_until(lambda: len(self.got()) >= count, timeout)
        return self.got()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- messages ------------------------------------------------------------------------------------


def event_dict(event_id: str, camera: str = "front", *, top_score: float = 4.7, ended: bool = False) -> dict[str, Any]:
    """An event dict of the shared spec (``docs/alarms.md``), small but complete."""
    return {"id": event_id, "camera": camera, "label": "anomaly", "score": 3.1, "top_score": top_score,
            "start_frame": 120, "end_frame": 180 if ended else None, "peak_frame": 150,
            "start_time": 1733570000.12, "end_time": 1733570006.12 if ended else None, "stream_time": 12.0,
            "box": [10, 20, 74, 84], "zones": ["door"], "current_zones": ["door"], "snapshot": None,
            "clip": None, "has_snapshot": False, "has_clip": False, "alarmed_frames": 31, "false_positive": False}


def lifecycle(event_id: str, camera: str = "front") -> list[dict[str, Any]]:
    """The three lifecycle messages of one event: ``new``, ``update`` (higher peak), ``end``."""
    first = event_dict(event_id, camera)
    higher = event_dict(event_id, camera, top_score=5.2)
    ended = event_dict(event_id, camera, top_score=5.2, ended=True)
    return [{"type": "new", "before": None, "after": first},
            {"type": "update", "before": first, "after": higher},
            {"type": "end", "before": higher, "after": ended}]


def numbered(count: int, start: int = 0, camera: str = "front") -> list[dict[str, Any]]:
    """``count`` distinct ``new`` messages whose ids are ``e<start>``, ``e<start+1>``, ... (to check order)."""
    return [{"type": "new", "before": None, "after": event_dict(f"e{i}", camera)} for i in range(start, start + count)]


def ids(bodies: list[Any]) -> list[str]:
    """The ``after.id`` of each lifecycle message body."""
    return [b["after"]["id"] for b in bodies]
