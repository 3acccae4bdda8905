"""Which sinks a stream's events go to, as ``detect``'s flags and ``watch``'s YAML give them.

Secrets never sit in the options: a bearer token or an MQTT password is read from the
environment variable named here (Frigate's convention), so no config file or log holds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ammcnet.alarms.mqtt import MqttOptions, MqttSink, parse_broker, topic_level
from ammcnet.alarms.webhook import WebhookOptions, WebhookSink, check_webhook_url
from ammcnet.errors import ConfigError

#: Environment variables read by default for the webhook's token and the broker's password.
WEBHOOK_TOKEN_ENV, MQTT_PASSWORD_ENV = "AMMCNET_WEBHOOK_TOKEN", "AMMCNET_MQTT_PASSWORD"
#: The spool folders, inside the output folder (or the system's temporary folder without one).
SPOOL_DIR = "spool"


@dataclass(frozen=True)
class SinkOptions:
    """Where events are pushed besides the event log.

    Attributes:
        webhook: URL an HTTP POST of each lifecycle message goes to (None: no webhook).
        webhook_token_env: environment variable holding the webhook's bearer token (None:
            ``$AMMCNET_WEBHOOK_TOKEN`` when set, else no token).
        mqtt: broker as ``HOST[:PORT]`` (None: no MQTT).
        mqtt_user: broker user name (the password comes from ``mqtt_password_env``).
        mqtt_password_env: environment variable holding the broker password (None: ``$AMMCNET_MQTT_PASSWORD``).
        mqtt_prefix: topic prefix: events on ``PREFIX/<camera>/events``, availability on ``PREFIX/available``.
        mqtt_per_camera_availability: availability on ``PREFIX/<camera>/available`` instead (``watch``
            runs one process per camera, each with its own connection and last will: one camera
            stopping must not mark the others offline).
    """

    webhook: str | None = None
    webhook_token_env: str | None = None
    mqtt: str | None = None
    mqtt_user: str | None = None
    mqtt_password_env: str | None = None
    mqtt_prefix: str = "ammcnet"
    mqtt_per_camera_availability: bool = False

    def __post_init__(self) -> None:
        if self.webhook:
            check_webhook_url(self.webhook)  # a malformed URL or broker is refused before any work
        if self.mqtt:
            parse_broker(self.mqtt)

    @property
    def any(self) -> bool:
        return bool(self.webhook or self.mqtt)


def _spool(out: Path | None, name: str, camera: str) -> Path:
    if out is not None:
        return out / SPOOL_DIR / name
    import tempfile

    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in camera) or "camera"
    return Path(tempfile.gettempdir()) / "ammcnet-spool" / safe / name


def make_sinks(options: SinkOptions, camera: str, out: Path | None) -> list[Any]:
    """The sinks ``options`` ask for, each spooling undelivered messages under ``out/spool``.

    Raises:
        ConfigError: a malformed URL or broker (one line, naming the flag).
    """
    sinks: list[Any] = []
    if options.webhook:
        sinks.append(WebhookSink(WebhookOptions(url=options.webhook, token_env=options.webhook_token_env,
                                                spool_dir=str(_spool(out, "webhook", camera)))))
    if options.mqtt:
        host, port = parse_broker(options.mqtt)
        sinks.append(MqttSink(MqttOptions(host=host, port=port, username=options.mqtt_user,
                                          password_env=options.mqtt_password_env, camera=camera,
                                          topic_prefix=options.mqtt_prefix, spool_dir=str(_spool(out, "mqtt", camera)),
                                          availability_topic=f"{options.mqtt_prefix}/{topic_level(camera)}/available"
                                          if options.mqtt_per_camera_availability else None)))
    return sinks


def check_env(options: SinkOptions) -> None:
    """Refuse, before any work, a broker user whose password variable is unset."""
    env = options.mqtt_password_env or MQTT_PASSWORD_ENV
    if options.mqtt and options.mqtt_user and not os.environ.get(env):
        raise ConfigError(f"--mqtt-user {options.mqtt_user}: set the password in the environment variable "
                          f"{env} (it is never read from a flag or a file)")
