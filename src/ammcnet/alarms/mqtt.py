"""Alarm messages to an MQTT broker, the way Frigate NVR publishes its events.

Home Assistant, Node-RED and most video tools already listen to MQTT, and expect Frigate's shape:

- ``<topic_prefix>/<camera>/events`` (default ``ammcnet/<camera>/events``): each lifecycle message,
  exactly ``{"type": "new"|"update"|"end", "before": ..., "after": ...}`` as JSON, QoS 1.
- ``<topic_prefix>/available``: ``online`` (retained) when connected; ``offline`` (retained) as
  the last will, sent by the broker when the process dies or the network drops, and published
  by :meth:`MqttSink.close` on a clean stop.

Messages go through the on-disk spool (:mod:`ammcnet.alarms.spool`) like every sink's: while the
broker is unreachable they wait there, in order, also across restarts; paho reconnects on its own
(``reconnect_delay_set`` with the sink's backoff) and the spool is then sent, one message at a time
so that order holds. A message counts as delivered (and leaves the spool) when the broker's PUBACK
arrived. The camera in the topic is ``camera`` when set, else the message's ``after.camera``, so
one sink can serve every camera of a watch (one connection, one ``available`` topic).

The password comes from ``password``, else the environment variable ``password_env``, else
``AMMCNET_MQTT_PASSWORD`` when that is set; the broker is shown as ``mqtt://user:***@host:1883``
in stats, logs and errors. paho-mqtt is an optional dependency (``pip install 'ammcnet[mqtt]'``),
imported only when a sink is made.

>>> parse_broker("broker.local"), parse_broker("10.0.0.2:1884"), parse_broker("[::1]:8883")
(('broker.local', 1883), ('10.0.0.2', 1884), ('::1', 8883))
>>> parse_broker("broker.local:notaport")
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: MQTT broker 'broker.local:notaport' is not HOST[:PORT] with a port from 1 to 65535: give one such as localhost:1883
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
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
from ammcnet.utils.optional import require
from ammcnet.utils.redact import MASK, mask_text

log = logging.getLogger("ammcnet.alarms")

#: The MQTT port when the broker spec names none.
DEFAULT_PORT = 1883
#: The environment variable read for the password when neither ``password`` nor ``password_env`` is given.
DEFAULT_PASSWORD_ENV = "AMMCNET_MQTT_PASSWORD"
#: First level of every topic (Frigate uses ``frigate``).
DEFAULT_TOPIC_PREFIX = "ammcnet"
#: Seconds between keep-alive pings; the broker sends the last will after 1.5 times this without a word.
DEFAULT_KEEPALIVE_S = 60
#: At least once: the broker acknowledges each message (PUBACK).
QOS = 1
ONLINE, OFFLINE = "online", "offline"
#: Characters that cannot stand in one topic level (level separator, wildcards, NUL).
_TOPIC_UNSAFE = re.compile(r"[/+#\x00]")
#: Seconds a message waits for a connection in progress before the try counts as failed (then backoff).
_CONNECT_WAIT_S = 2.0
#: Seconds :meth:`MqttSink.close` waits at least for the broker to take "offline".
_OFFLINE_WAIT_S = 1.0


def _split_broker(spec: str) -> tuple[str, int | None]:
    """``(host, port or None)`` of ``HOST[:PORT]``, ``[IPv6]:PORT`` or ``mqtt://HOST[:PORT]``."""
    text = str(spec).strip()
    bad = ConfigError(f"MQTT broker {mask_text(text)!r} is not HOST[:PORT] with a port from 1 to 65535: give one "
                      "such as localhost:1883")
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in ("mqtt", "tcp"):
            raise bad
        text = rest.rstrip("/")
    if "@" in text:
        user = text.rsplit("@", 1)[0].split(":", 1)[0]
        raise ConfigError(f"MQTT broker '{user}:{MASK}@{text.rsplit('@', 1)[1]}' carries credentials: give them as "
                          f"username and password_env (or {DEFAULT_PASSWORD_ENV}) instead")
    port_text: str | None = None
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        if tail:
            if not tail.startswith(":"):
                raise bad
            port_text = tail[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # a name, or a bare IPv6 address
        host = text
    if not host or any(c.isspace() for c in host):
        raise bad
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise bad
    return host, int(port_text)


def parse_broker(spec: str) -> tuple[str, int]:
    """``(host, port)`` of a broker spec ``HOST[:PORT]`` (port 1883 when absent; ``[::1]:1883`` for IPv6).

    Raises:
        ConfigError: an empty host, a port that is not a number from 1 to 65535, or credentials in it.
    """
    host, port = _split_broker(spec)
    return host, DEFAULT_PORT if port is None else port


@dataclass
class MqttOptions:
    """Settings of an :class:`MqttSink` (plain types: a pydantic model or YAML can hold them).

    Attributes:
        host: the broker's host name or address; ``HOST:PORT`` is accepted too (its port wins).
        spool_dir: folder of the on-disk spool of undelivered messages (one sink per folder; keep
            it across restarts, e.g. ``<output folder>/spool/mqtt``).
        port: the broker's port.
        camera: the camera level of the events topic; None: each message's ``after.camera``.
            Characters that cannot stand in a topic level (``/ + #``) become ``_``.
        username: user name for the broker, if it asks for one.
        password: its password; prefer ``password_env``.
        password_env: name of the environment variable holding the password (an error if unset);
            None: ``AMMCNET_MQTT_PASSWORD`` if set (and ``username`` is given).
        client_id: the MQTT client id; None: ``ammcnet-<pid>-<6 random hex>``.
        topic_prefix: first level(s) of every topic (``<prefix>/<camera>/events``, ``<prefix>/available``).
        keepalive_s: seconds between keep-alive pings (the broker notices a silent death after 1.5x).
        backoff_initial_s: seconds before the first reconnect or retry; doubled after each failure.
        backoff_max_s: the longest wait between two reconnects or retries, in seconds.
        max_messages: undelivered messages kept at most; beyond it the oldest are dropped.
        availability_topic: where ``online``/``offline`` go (None: ``<prefix>/available``). ``watch``
            runs one process per camera, so each camera's goes to ``<prefix>/<camera>/available``:
            one camera stopping must not say the others are offline.
    """

    host: str
    spool_dir: str
    port: int = DEFAULT_PORT
    camera: str | None = None
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    client_id: str | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    max_messages: int = DEFAULT_MAX_MESSAGES
    availability_topic: str | None = None


def topic_level(name: Any) -> str:
    """``name`` as one safe topic level: ``/``, ``+``, ``#`` and NUL become ``_``; empty becomes ``unknown``."""
    return _TOPIC_UNSAFE.sub("_", str(name or "").strip()) or "unknown"


def _check_prefix(prefix: str) -> str:
    prefix = str(prefix).strip().strip("/")
    if not prefix or "+" in prefix or "#" in prefix or "\x00" in prefix:
        raise ConfigError(f"MQTT topic_prefix {prefix!r} must be non-empty and free of + and #: e.g. ammcnet")
    return prefix


def broker_display(host: str, port: int, username: str | None, password: str | None) -> str:
    """The broker as it may be shown: ``mqtt://user:***@host:1883`` (never the password)."""
    where = f"[{host}]" if ":" in host else host
    user = f"{username}:{MASK}@" if username and password else f"{username}@" if username else ""
    return f"mqtt://{user}{where}:{port}"


class MqttSink(SpoolingSink):
    """Publishes lifecycle messages to an MQTT broker, Frigate-style (see the module docstring).

    Args:
        options: the settings; the broker spec, prefix and credentials are checked here. The
            connection is made in the background: an unreachable broker raises nothing.

    Raises:
        ConfigError: a bad broker spec or port, a password without a user, an unset ``password_env``.
        MissingDependencyError: paho-mqtt is not installed (``pip install 'ammcnet[mqtt]'``).
        FolderBusyError: another running sink uses ``spool_dir``.
    """

    kind: ClassVar[str] = "mqtt"

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        host, port = _split_broker(options.host)
        port = options.port if port is None else port
        try:
            port = int(str(port).strip())
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise ConfigError(f"MQTT port {options.port!r} is not a number from 1 to 65535: e.g. 1883")
        check_backoff(options.backoff_initial_s, options.backoff_max_s)
        if int(options.keepalive_s) < 0:
            raise ConfigError(f"MQTT keepalive_s must be 0 (off) or more seconds, got {options.keepalive_s}")
        prefix = _check_prefix(options.topic_prefix)
        default_env = DEFAULT_PASSWORD_ENV if options.username else ""  # read only when there is a user
        password = secret_from_env(options.password, options.password_env, default_env, "MQTT password")
        if password and not options.username:
            raise ConfigError("an MQTT password needs a username: set username too")
        self.host, self.port = host, port
        self.available_topic = options.availability_topic or f"{prefix}/available"
        self._prefix = prefix
        self._mqtt = require("paho.mqtt.client", extra="mqtt", purpose="the MQTT alarm sink")
        self._connected = threading.Event()
        self._acked: set[int] = set()
        self._acked_cond = threading.Condition()
        self._connect_failures = 0
        self._client = self._make_client(password)
        super().__init__(spool_dir=options.spool_dir, max_messages=options.max_messages,
                         backoff_initial_s=options.backoff_initial_s, backoff_max_s=options.backoff_max_s,
                         target=broker_display(host, port, options.username, password), secrets=(password,))
        self._start()
        try:
            self._client.connect_async(host, port, keepalive=int(options.keepalive_s))
            self._client.loop_start()
        except Exception:
            self.close(timeout_s=0.0)
            raise

    def _make_client(self, password: str | None) -> Any:
        """A paho client with the last will, the reconnect backoff and this sink's callbacks (not connected)."""
        mqtt, opts = self._mqtt, self.options
        client_id = opts.client_id or f"ammcnet-{os.getpid()}-{secrets.token_hex(3)}"
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if opts.username:
            client.username_pw_set(opts.username, password)
        client.will_set(self.available_topic, OFFLINE, qos=QOS, retain=True)
        client.reconnect_delay_set(min_delay=opts.backoff_initial_s, max_delay=opts.backoff_max_s)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def events_topic(self, message: dict[str, Any] | None = None) -> str:
        """``<prefix>/<camera>/events`` for ``message`` (its ``after.camera`` unless ``camera`` is set)."""
        after = message.get("after") if isinstance(message, dict) else None
        camera = self.options.camera or (after.get("camera") if isinstance(after, dict) else None)
        return f"{self._prefix}/{topic_level(camera)}/events"

    # -- paho's callbacks (its network thread) -----------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._connection_problem(f"the MQTT broker {self.target} refused the connection: {reason_code}")
            return
        client.publish(self.available_topic, ONLINE, qos=QOS, retain=True)
        self._connect_failures = 0
        self._connected.set()
        log.info("mqtt alarm sink: connected to %s", self.target)
        self._kick()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._connection_problem(f"cannot reach the MQTT broker {self.target} (retrying)")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing:
            self._connection_problem(f"lost the connection to the MQTT broker {self.target}: {reason_code} "
                                     "(reconnecting)")

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._acked_cond:
            self._acked.add(mid)
            self._acked_cond.notify_all()

    def _connection_problem(self, text: str) -> None:
        """Remember a connection problem; warn on the first of a streak only (paho retries every backoff)."""
        text = self._note_error(text)
        self._connect_failures += 1
        log.log(logging.WARNING if self._connect_failures == 1 else logging.DEBUG, "mqtt alarm sink: %s", text)

    # -- delivery (the sink's thread) --------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        if not self._wait_connected(_CONNECT_WAIT_S):
            raise DeliveryError(f"not connected to the MQTT broker {self.target}")
        try:
            message = json.loads(payload)
        except ValueError:
            raise RejectedError("a spooled message is not JSON (edited by hand?)") from None
        with self._acked_cond:
            self._acked.clear()  # only this message is in flight: no stale id can match it
        info = self._client.publish(self.events_topic(message), payload, qos=QOS)
        if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):
            raise DeliveryError(f"paho could not queue the message for {self.target}: "
                                f"{self._mqtt.error_string(info.rc)}")
        self._wait_acked(info.mid)

    def _wait_connected(self, timeout_s: float) -> bool:
        """Wait (abortably) for the connection, so that a connect in progress is not counted as a failure."""
        deadline = self._give_up_at(timeout_s)
        while not self._connected.wait(0.05):
            if self._aborted or time.monotonic() > deadline:
                return False
        return True

    def _wait_acked(self, mid: int) -> None:
        """Wait for the broker's PUBACK of ``mid``; paho re-sends the message itself after a reconnect."""
        with self._acked_cond:
            while mid not in self._acked:
                if self._aborted:
                    raise DeliveryError(f"closed before {self.target} acknowledged the message")
                self._acked_cond.wait(0.1)
            self._acked.discard(mid)

    def _finish(self, timeout_s: float) -> None:
        """Say "offline" (retained) on a clean stop, then disconnect; the will covers every other end."""
        try:
            if self._connected.is_set():
                info = self._client.publish(self.available_topic, OFFLINE, qos=QOS, retain=True)
                with self._acked_cond:
                    self._acked_cond.wait_for(lambda: info.mid in self._acked, max(timeout_s, _OFFLINE_WAIT_S))
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def stats(self) -> dict[str, Any]:
        """:meth:`SpoolingSink.stats` plus ``connected`` (to the broker, now)."""
        return {**super().stats(), "connected": self._connected.is_set()}
