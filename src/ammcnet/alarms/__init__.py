"""ammcnet.alarms: alarm events and where they are delivered.

The sinks take each lifecycle message (``{"type": "new"|"update"|"end", "before", "after"}``)
without ever waiting on a network: a message is spooled on disk, then delivered in order by a
thread of the sink, retried until the receiver acknowledges it, also after a restart.

- :class:`JsonlSink`: one fsync-ed JSON line per message in a local file.
- :class:`WebhookSink` (:class:`WebhookOptions`): an HTTP POST per message, bearer token optional.
- :class:`MqttSink` (:class:`MqttOptions`): Frigate-style MQTT topics, ``pip install 'ammcnet[mqtt]'``
  (paho-mqtt is imported only when an MQTT sink is made).

>>> from ammcnet.alarms import parse_broker
>>> parse_broker("localhost")
('localhost', 1883)
"""

from ammcnet.alarms.mqtt import MqttOptions, MqttSink, parse_broker
from ammcnet.alarms.sink import JsonlSink, Sink, SpoolingSink
from ammcnet.alarms.spool import DEFAULT_MAX_MESSAGES, Spool
from ammcnet.alarms.webhook import WebhookOptions, WebhookSink

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "JsonlSink",
    "MqttOptions",
    "MqttSink",
    "Sink",
    "Spool",
    "SpoolingSink",
    "WebhookOptions",
    "WebhookSink",
    "parse_broker",
]
