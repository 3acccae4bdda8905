"""Settings of the procedural walkway scene: size, video counts, crowd, anomalies, camera noise.

Speeds are in pixels per frame for a figure at the near (bottom) edge of the image; perspective
scales sizes and speeds down towards the top. At the default 128 x 192 frame a walker covers
1.2 px per frame, about a person's height every 25 frames, like UCSD Ped2's pedestrians.

>>> SceneConfig().validate().height
128
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ammcnet.errors import ConfigError

#: Anomaly kinds. Appearance: objects never seen in training. Motion: people moving too fast,
#: off the paths, or against the one-way path.
APPEARANCE_KINDS: tuple[str, ...] = ("cart", "vehicle")
MOTION_KINDS: tuple[str, ...] = ("cyclist", "runner", "lawn", "against")
ANOMALY_KINDS: tuple[str, ...] = APPEARANCE_KINDS + MOTION_KINDS


@dataclass
class SceneConfig:
    """Everything that shapes the generated dataset (the seed is passed separately).

    Attributes:
        height, width: frame size in pixels (H x W).
        train_videos, test_videos: number of videos per split.
        train_frames, test_frames: frames per video.
        walk_speed: walking speed, px/frame at the near edge; each walker gets 0.8-1.2 times it.
        person_height: a person's height at the near edge, as a fraction of ``height``.
        density: mean number of pedestrians in view.
        anomaly_kinds: kinds used in the test videos, assigned round-robin so every kind appears.
        anomalies_per_video: anomalous events per test video (each from its own entry frame).
        fast_factor: (low, high) speed of cyclists and runners in multiples of ``walk_speed``.
        flicker: amplitude of the global lighting flicker (fraction of brightness).
        noise_sigma: standard deviation of the Gaussian sensor noise, in 0..255 grey levels.
        jpeg_quality: quality of the written JPEG frames.
    """

    height: int = 128
    width: int = 192
    train_videos: int = 6
    test_videos: int = 6
    train_frames: int = 120
    test_frames: int = 120
    walk_speed: float = 1.2
    person_height: float = 0.24
    density: float = 6.0
    anomaly_kinds: tuple[str, ...] = ANOMALY_KINDS
    anomalies_per_video: int = 1
    fast_factor: tuple[float, float] = (3.0, 5.0)
    flicker: float = 0.03
    noise_sigma: float = 2.0
    jpeg_quality: int = 92

    def validate(self) -> SceneConfig:
        """Check every value at once; raise :class:`ConfigError` naming the field and the fix."""
        if self.height < 32 or self.width < 32:
            raise ConfigError(f"scene size {self.height}x{self.width} is too small: use at least 32x32 pixels")
        for name in ("train_videos", "test_videos"):
            if getattr(self, name) < 1:
                raise ConfigError(f"scene {name}={getattr(self, name)}: need at least 1 video")
        for name in ("train_frames", "test_frames"):
            if getattr(self, name) < 8:
                raise ConfigError(f"scene {name}={getattr(self, name)}: need at least 8 frames per video")
        unknown = [k for k in self.anomaly_kinds if k not in ANOMALY_KINDS]
        if unknown or not self.anomaly_kinds:
            raise ConfigError(
                f"scene anomaly_kinds {list(self.anomaly_kinds)}: choose one or more of {list(ANOMALY_KINDS)}"
            )
        if self.anomalies_per_video < 1:
            raise ConfigError("scene anomalies_per_video must be at least 1 (test videos need anomalies)")
        lo, hi = self.fast_factor
        if not 1.5 <= lo <= hi:
            raise ConfigError(f"scene fast_factor {self.fast_factor}: need 1.5 <= low <= high")
        if self.walk_speed <= 0 or self.density < 0 or not 0.05 <= self.person_height <= 0.6:
            raise ConfigError("scene walk_speed must be > 0, density >= 0 and person_height in [0.05, 0.6]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"scene jpeg_quality={self.jpeg_quality}: use 1..100")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` listing the known ones."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown scene settings {extra}: known are {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values).validate()
