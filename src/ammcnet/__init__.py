"""ammcnet: AMMC-Net video anomaly detection (Cai et al., AAAI 2021), re-implemented.

Train on normal video, then score any video or live stream frame by frame::

    import ammcnet
    run = ammcnet.train("data/ped2", preset="cpu-lite")
    result = ammcnet.test(run.model, "data/ped2")
    print(result.honest_auc)
    summary = ammcnet.detect("street.mp4", run.model, out="runs/street")

The functions live in :mod:`ammcnet.api` and are imported on first use, so ``import ammcnet``
and ``ammcnet --help`` start without torch or OpenCV. Each takes its settings as one options
object (``ammcnet.TestOptions``, ``ammcnet.DetectOptions``, ...) or as keyword arguments naming
its fields. ``ammcnet.api.export``, ``ammcnet.api.bench`` and ``ammcnet.api.demo`` share their names
with sub-packages, so they are reached through :mod:`ammcnet.api`.

>>> import ammcnet
>>> ammcnet.__version__
'0.1.0'
"""

from typing import TYPE_CHECKING, Any

from ammcnet.errors import AmmcError
from ammcnet.version import __version__

#: Names served lazily from :mod:`ammcnet.api`.
_API = ("train", "test", "detect", "evaluate", "load", "synthesize", "prepare", "verify", "calibrate", "detect_many",
        "watch", "info", "import_official", "Model", "TrainResult", "TestResult", "DetectResult", "EvaluateResult",
        "SynthesizeResult", "WatchResult", "TrainOptions", "TestOptions", "DetectOptions", "DetectorOptions",
        "CalibrateOptions", "PrepareOptions", "ExportOptions", "EvalOptions", "fit", "teach", "FitOptions",
        "TeachOptions", "AlarmOptions", "SinkOptions", "ZoneConfig", "load_zones", "AlarmEvent", "serve")

if TYPE_CHECKING:
    from ammcnet.api import (  # noqa: F401
        CalibrateOptions,
        DetectOptions,
        DetectorOptions,
        DetectResult,
        EvalOptions,
        EvaluateResult,
        ExportOptions,
        Model,
        PrepareOptions,
        SynthesizeResult,
        TestOptions,
        TestResult,
        TrainOptions,
        TrainResult,
        WatchResult,
        calibrate,
        detect,
        detect_many,
        evaluate,
        import_official,
        info,
        load,
        prepare,
        synthesize,
        test,
        train,
        verify,
        watch,
    )


def __getattr__(name: str) -> Any:
    # lazy: the API imports torch and OpenCV; only start-up time is saved, nothing cyclic is dodged
    if name == "detect":  # the subpackage, callable as the API function (see ammcnet.detect)
        import ammcnet.detect

        return ammcnet.detect
    if name in _API:
        from ammcnet import api

        return getattr(api, name)
    raise AttributeError(f"module 'ammcnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["AmmcError", "__version__", *_API]
