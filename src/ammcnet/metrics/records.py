"""Which way each score record points, and how to turn it into an anomaly score.

The evaluator always works on an ANOMALY score (higher = more anomalous). PSNR-like records
are "higher = normal" and are flipped; error- and commitment-like records are used as they are.
Known names (ours and the authors') have fixed directions; any other name must say its
direction, e.g. ``--records my_score:1.0:anomalous``.

>>> direction_of("rgb_psnr"), direction_of("rgb_fea_comm_records")
('normal', 'anomalous')
"""

from __future__ import annotations

from ammcnet.errors import ConfigError

NORMAL = "normal"  # higher value = more normal (PSNR-like)
ANOMALOUS = "anomalous"  # higher value = more anomalous (error/commitment-like)

#: Directions of the records written by ``ammcnet test`` and of the authors' records.
KNOWN_DIRECTIONS: dict[str, str] = {
    "rgb_psnr": NORMAL,
    "rgb_commit": ANOMALOUS,
    "flow_error": ANOMALOUS,
    "flow_commit": ANOMALOUS,
    "motion_prior": ANOMALOUS,  # ammcnet.scoring.motion_prior: unlikely flow for the place
    "rgb_img_pred_records": NORMAL,
    "rgb_fea_comm_records": ANOMALOUS,
    "op_img_pred_records": NORMAL,
    "op_fea_comm_records": ANOMALOUS,
}
#: The appearance-stream records the paper fuses: ours first, then the authors' names.
PSNR_NAMES = ("rgb_psnr", "rgb_img_pred_records")
COMMIT_NAMES = ("rgb_commit", "rgb_fea_comm_records")
_ALIASES = {"high=normal": NORMAL, "normal": NORMAL, "+": NORMAL,
            "high=anomalous": ANOMALOUS, "anomalous": ANOMALOUS, "-": ANOMALOUS}


def register_direction(name: str, direction: str) -> None:
    """Give a new record a fixed direction (the scorer's record registry calls this)."""
    if direction not in (NORMAL, ANOMALOUS):
        raise ConfigError(f"record {name!r}: direction {direction!r} is not 'normal' or 'anomalous'")
    KNOWN_DIRECTIONS[name] = direction


def direction_of(name: str, override: str | None = None) -> str:
    """``"normal"`` or ``"anomalous"``: what a high value of record ``name`` means.

    Args:
        name: record name.
        override: explicit direction (``normal``/``anomalous``), needed for unknown names.
    """
    if override is not None:
        if override.lower() not in _ALIASES:
            raise ConfigError(f"record {name!r}: direction {override!r} is not 'normal' or 'anomalous'")
        return _ALIASES[override.lower()]
    if name in KNOWN_DIRECTIONS:
        return KNOWN_DIRECTIONS[name]
    lowered = name.lower()
    if "psnr" in lowered:
        return NORMAL
    if any(w in lowered for w in ("error", "commit", "mse", "loss", "anomaly")):
        return ANOMALOUS
    raise ConfigError(f"record {name!r}: unknown direction; write it as {name}:WEIGHT:normal (higher = normal) "
                      f"or {name}:WEIGHT:anomalous (higher = anomalous)")


def find_record(available: list[str], candidates: tuple[str, ...], what: str) -> str:
    """The first of ``candidates`` present in ``available`` (ours or the authors' name)."""
    for name in candidates:
        if name in available:
            return name
    raise ConfigError(f"the score file has no {what} record ({' or '.join(candidates)}); "
                      f"it holds: {', '.join(available)}")


def parse_records(spec: str) -> dict[str, tuple[float, str | None]]:
    """Parse ``"rgb_psnr:1.0,rgb_commit:0.1,x:0.5:anomalous"`` into name -> (weight, direction or None)."""
    out: dict[str, tuple[float, str | None]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        if len(parts) > 3 or not parts[0]:
            raise ConfigError(f"--records item {item!r}: write NAME[:WEIGHT[:normal|anomalous]]")
        try:
            weight = float(parts[1]) if len(parts) > 1 and parts[1] else 1.0
        except ValueError:
            raise ConfigError(f"--records item {item!r}: weight {parts[1]!r} is not a number") from None
        out[parts[0]] = (weight, direction_of(parts[0], parts[2]) if len(parts) == 3 else None)
    if not out:
        raise ConfigError("--records is empty: give at least one NAME[:WEIGHT], e.g. rgb_psnr:1.0")
    return out
