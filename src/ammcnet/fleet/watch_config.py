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

>>> cfg = WatchConfig.model_validate({"cameras": [{"name": "a", "source": "a.mp4", "model": "run"}]})
>>> cfg.cameras[0].threshold, cfg.cameras[0].fpr, cfg.restart.delay(3)
('auto', 0.01, 4.0)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ammcnet.errors import ConfigError


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
    """One camera: its source, the model that watches it and what counts as an alarm."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    model: str
    threshold: float | Literal["auto"] = "auto"
    fpr: float = Field(0.01, gt=0, lt=1)
    out: str | None = None
    loop: bool = False
    fps: float | None = Field(None, gt=0)
    min_gap: int = Field(0, ge=0)
    min_frames: int = Field(1, ge=1)
    max_failures: int = Field(30, ge=1)
    read_timeout: float = Field(10.0, gt=0)
    threads: int = Field(1, ge=0)


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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the watch config ({exc.strerror}); give an existing YAML file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
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
