"""The ``ammcnet watch`` configuration: which cameras, which model, where events go.

Example ``cameras.yaml`` (relative paths are relative to the file)::

    out: watch/                      # events.jsonl, status.json, one folder per camera
    restart: {initial_delay_s: 1, max_delay_s: 60}
    cameras:
      - name: gate
        source: rtsp://user:pass@10.0.0.5/stream1
        model: runs/ped2
        fpr: 0.001                   # threshold calibrated for this false-alarm rate per frame
      - name: hall
        source: /videos/hall.mp4
        model: runs/ped2
        threshold: 2.5               # or a fixed threshold on the score
        loop: true                   # replay the file forever (a test camera)
        fps: 25                      # pace a file at a camera's frame rate
        alarms_per_hour: 2           # or: a threshold that held-out normal footage crosses twice an hour
        webhook: http://hass.local:8123/api/webhook/ammcnet   # token from $AMMCNET_WEBHOOK_TOKEN
        mqtt: broker.local:1883      # events on ammcnet/hall/events, availability on ammcnet/available
        zones:                       # polygons in fractions of the frame (or pixels)
          mask: [[[0, 0], [1, 0], [1, 0.2], [0, 0.2]]]     # never scored
          zones: {door: [[0.6, 0.4], [0.9, 0.4], [0.9, 1], [0.6, 1]]}
          required_zones: [door]     # alarm only there

>>> cfg = WatchConfig.model_validate({"cameras": [{"name": "a", "source": "a.mp4", "model": "run"}]})
>>> cfg.cameras[0].threshold, cfg.cameras[0].fpr, cfg.restart.delay(3)
('auto', 0.01, 4.0)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ammcnet.alarms.pipeline import AlarmOptions
from ammcnet.alarms.sinks_config import SinkOptions
from ammcnet.alarms.zones import ZoneConfig
from ammcnet.errors import ConfigError
from ammcnet.utils.io import read_yaml_file


class RestartPolicy(BaseModel):
    """How a camera whose detector stopped (source dropped, process crashed) is started again.

    Attributes:
        initial_delay_s: wait before the first restart; doubled after every failed run.
        max_delay_s: the longest wait.
        healthy_s: a run that lasted this long resets the backoff.
    """

    model_config = ConfigDict(extra="forbid")
    initial_delay_s: float = Field(1.0, ge=0)
    max_delay_s: float = Field(60.0, ge=0)
    healthy_s: float = Field(30.0, gt=0)

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed runs in a row (1-based)."""
        return min(self.initial_delay_s * 2 ** max(failures - 1, 0), self.max_delay_s)


class CameraConfig(BaseModel):
    """One camera: its source, the model that watches it, what counts as an alarm and where it goes.

    The alarm fields are those of ``ammcnet detect``'s flags (:class:`~ammcnet.alarms.pipeline.AlarmOptions`):
    ``min_gap`` (default: one second of frames), ``alarms_per_hour``, ``zones``, ``webhook``,
    ``mqtt`` / ``mqtt_user`` (password from ``$AMMCNET_MQTT_PASSWORD``), ``snapshots``, ``clips``,
    ``pre_capture_s``, ``post_capture_s``, ``update_every_s``, ``keep_mb``, ``keep_days``.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    model: str
    threshold: float | Literal["auto"] = "auto"
    fpr: float = Field(0.01, gt=0, lt=1)
    out: str | None = None
    loop: bool = False
    fps: float | None = Field(None, gt=0)
    min_gap: int | None = Field(None, ge=0)
    min_frames: int = Field(1, ge=1)
    max_failures: int = Field(30, ge=1)
    read_timeout: float = Field(10.0, gt=0)
    threads: int = Field(1, ge=0)
    alarms_per_hour: float | None = Field(None, ge=0)
    zones: ZoneConfig | None = None
    webhook: str | None = None
    mqtt: str | None = None
    mqtt_user: str | None = None
    snapshots: bool = True
    clips: bool = True
    pre_capture_s: float = Field(3.0, ge=0)
    post_capture_s: float = Field(5.0, ge=0)
    update_every_s: float = Field(5.0, ge=0)
    keep_mb: float | None = Field(None, gt=0)
    keep_days: float | None = Field(None, gt=0)

    def alarm_options(self) -> AlarmOptions:
        """This camera's alarm settings as ``detect`` takes them."""
        return AlarmOptions(camera=self.name, update_every_s=self.update_every_s, zones=self.zones,
                            snapshots=self.snapshots, clips=self.clips, pre_s=self.pre_capture_s,
                            post_s=self.post_capture_s,
                            sinks=SinkOptions(webhook=self.webhook, mqtt=self.mqtt, mqtt_user=self.mqtt_user,
                                              mqtt_per_camera_availability=True),
                            keep_mb=self.keep_mb, keep_days=self.keep_days)


class WatchConfig(BaseModel):
    """The whole watch: output folder, restart policy and the cameras (unique names)."""

    model_config = ConfigDict(extra="forbid")
    out: str = "watch"
    restart: RestartPolicy = RestartPolicy()
    status_every_s: float = Field(1.0, gt=0)
    cameras: list[CameraConfig] = Field(min_length=1)

    @field_validator("cameras")
    @classmethod
    def _unique(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        names = [c.name for c in cams]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(dup)}")
        return cams

    @model_validator(mode="after")
    def _folders(self) -> WatchConfig:
        for cam in self.cameras:
            cam.out = cam.out or str(Path(self.out) / cam.name)
        return self


def _resolve(value: str, base: Path) -> str:
    """A relative file path made relative to the config's folder (URLs and camera indices kept)."""
    if "://" in value or value.isdigit() or Path(value).is_absolute():
        return value
    return str(base / value)


def load_watch_config(path: str | os.PathLike[str]) -> WatchConfig:
    """Read and validate a watch YAML file; relative paths are taken from the file's folder.

    Raises:
        ConfigError: one line naming the file, the field and the fix.
    """
    path = Path(path)
    raw = read_yaml_file(path, "watch config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'cameras:'; see docs/distributed.md")
    base = path.resolve().parent
    raw = dict(raw)
    raw["out"] = _resolve(str(raw.get("out", "watch")), base)
    cams = raw.get("cameras")
    if isinstance(cams, list):
        raw["cameras"] = [
            {**c, **{k: _resolve(str(c[k]), base) for k in ("source", "model", "out") if c.get(k) is not None}}
            if isinstance(c, dict) else c for c in cams
        ]
    try:
        return WatchConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {err['msg']}; fix that entry (docs/distributed.md lists the fields)") from None
