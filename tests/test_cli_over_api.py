"""The command line is a skin over the Python API.

Every command module imports :mod:`ammcnet.api` inside its ``run`` and calls an API function
there (no library module is imported by a command), and the options object a command builds from
its flags is the one the API builds from the same values: ``ammcnet test RUN DATA --batch-size 8``
and ``ammcnet.test(RUN, DATA, batch_size=8)`` run the same :class:`~ammcnet.api.TestOptions`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import ammcnet.api as api
from ammcnet.cli import COMMANDS, build_parser, main

#: Library code a command may import (besides ``ammcnet.api``): light helpers of the command line itself.
ALLOWED = ("ammcnet.api", "ammcnet.commands", "ammcnet.errors", "ammcnet.choices")
#: Every options type: frozen, typed, each field documented.
OPTIONS = (api.TestOptions, api.DetectOptions, api.DetectorOptions, api.CalibrateOptions, api.TrainOptions,
           api.PrepareOptions, api.ExportOptions)


def _function(module: object, name: str) -> ast.FunctionDef:
    tree = ast.parse(Path(inspect.getsourcefile(module)).read_text())
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _imports(node: ast.AST) -> list[str]:
    """The ``ammcnet`` modules imported anywhere inside ``node`` (``from ammcnet import api`` -> ``ammcnet.api``)."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("ammcnet"):
            found += [f"{sub.module}.{a.name}" if sub.module == "ammcnet" else sub.module for a in sub.names]
        elif isinstance(sub, ast.Import):
            found += [a.name for a in sub.names if a.name.startswith("ammcnet")]
    return found


def _api_calls(node: ast.AST) -> set[str]:
    """Functions of :mod:`ammcnet.api` called as ``api.NAME(...)`` inside ``node``."""
    return {c.func.attr for c in ast.walk(node)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
            and isinstance(c.func.value, ast.Name) and c.func.value.id == "api"}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_runs_an_api_function(name: str) -> None:
    module = COMMANDS[name]
    run = _function(module, "run")
    assert "ammcnet.api" in _imports(run), f"{name}: run() does not import ammcnet.api"
    called = {c for c in _api_calls(run) if inspect.isfunction(getattr(api, c, None))
              and getattr(api, c).__module__ == "ammcnet.api"}
    assert called, f"{name}: run() calls no function defined in ammcnet.api"
    tree = ast.parse(Path(inspect.getsourcefile(module)).read_text())
    library = [m for m in _imports(tree) if not m.startswith(ALLOWED)]
    assert not library, f"{name}: imports library code directly (go through ammcnet.api): {library}"


def test_api_functions_are_documented_and_short() -> None:
    functions = {n: f for n, f in vars(api).items()
                 if inspect.isfunction(f) and f.__module__ == "ammcnet.api" and not n.startswith("_")}
    assert {"calibrate", "prepare", "verify", "export", "info", "watch", "bench", "import_official", "demo",
            "synthesize", "detect_many"} <= set(functions)
    for name, f in functions.items():
        assert f.__doc__ and len(f.__doc__.strip()) > 20, name
        named = [p for p in inspect.signature(f).parameters.values() if p.kind is not p.VAR_KEYWORD]
        assert len(named) <= 9, f"{name}: {len(named)} parameters; take an options object"


def test_long_signatures_take_options() -> None:
    from ammcnet.apps.calibrator import recalibrate
    from ammcnet.apps.exporter import export_run
    from ammcnet.apps.tester import run_test
    from ammcnet.detect import Detector, run_detection

    for f in (run_test, run_detection, recalibrate, export_run, Detector.__init__, Detector.from_run):
        params = inspect.signature(f).parameters
        assert "options" in params and len(params) <= 7, f.__qualname__


@pytest.mark.parametrize("kind", OPTIONS, ids=lambda k: k.__name__)
def test_options_are_frozen_typed_and_documented(kind: type) -> None:
    assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen
    doc = inspect.getdoc(kind) or ""
    described = dict(re.findall(r"^    (\w+): (.*?)(?=^    \w+: |\Z)", doc.split("Attributes:", 1)[-1], re.M | re.S))
    for f in dataclasses.fields(kind):
        assert f.type, f"{kind.__name__}.{f.name} has no type"
        assert f.name in described, f"{kind.__name__}'s docstring does not say what {f.name} is"
        assert "default" in described[f.name], f"{kind.__name__}'s docstring does not give {f.name}'s default"
    kind()  # every field has a default


def _args(argv: list[str]):
    return build_parser().parse_args(argv)


def test_test_flags_build_the_api_options() -> None:
    from ammcnet.commands import test as command

    args = _args(["test", "RUN", "DATA", "--batch-size", "8", "--score", "region", "--device", "cpu"])
    built = command.options(args)
    assert built == api.test_options(batch_size=8, score="region", device="cpu", plots=True, progress=True)
    assert built == api.TestOptions(batch_size=8, score="region")  # the library's defaults are the command's
    args = _args(["test", "RUN", "DATA", "--maps", "--no-plots", "--protocol", "paper", "--workers", "2",
                  "--cache-dir", "C", "--no-progress", "--device", "cpu", "--map-flow-weight", "0.5"])
    assert command.options(args) == api.test_options(maps=True, protocol="paper", workers=2, cache_dir="C",
                                                     device="cpu", map_flow_weight=0.5)


def test_detect_flags_build_the_api_options() -> None:
    from ammcnet.commands import detect as command

    args = _args(["detect", "a.mp4", "--model", "RUN", "--threshold", "0.5", "--fpr", "0.001", "--batch-size", "4",
                  "--device", "cpu", "--no-reconnect", "--no-progress", "--min-frames", "3", "--threads", "1"])
    assert command.options(args) == api.detect_options(threshold=0.5, fpr=0.001, batch_size=4, device="cpu",
                                                       reconnect=False, min_frames=3, threads=1)
    args = _args(["detect", "a.mp4", "--model", "RUN", "--device", "cpu", "--reconnect-attempts", "3"])
    assert command.options(args) == api.DetectOptions(reconnect=api.ReconnectPolicy(max_attempts=3))


def test_calibrate_and_train_flags_build_the_api_options() -> None:
    from ammcnet.commands import calibrate, train

    args = _args(["calibrate", "RUN", "DATA", "--set", "scoring.weights.flow_error=0.5", "--batch-size", "4",
                  "--device", "cpu", "--no-progress"])
    assert calibrate.options(args) == api.CalibrateOptions(overrides=["scoring.weights.flow_error=0.5"],
                                                           batch_size=4, device="cpu", progress=False)
    args = _args(["train", "DATA", "--preset", "tiny", "--set", "stage1.iterations=2", "--no-progress"])
    assert train.options(args) == api.TrainOptions(preset="tiny", overrides=["stage1.iterations=2"])


def test_command_and_api_run_the_same_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ammcnet test`` calls ``ammcnet.api.test``, which hands ``run_test`` the options the flags say."""
    seen = []

    def fake_run_test(model, data, out, options, *, score_with=None):
        seen.append((str(model), str(data), Path(out), options, score_with))
        return {"scored_frames": 0, "scoring_fps": 0.0, "honest": {"auc_micro": 0.5}}

    monkeypatch.setattr(api, "run_test", fake_run_test)
    out = tmp_path / "t"
    assert main(["test", "RUN", "DATA", "--out", str(out), "--batch-size", "8", "--score", "region",
                 "--device", "cpu", "--quiet"]) == 0
    result = api.test("RUN", "DATA", out=out, batch_size=8, score="region", device="cpu", plots=True, progress=True)
    assert result.honest_auc == 0.5 and result.out == out
    assert seen[0] == seen[1] and seen[0][3].batch_size == 8 and seen[0][3].score == "region"


def test_command_and_api_run_the_same_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake_run_detection(source, model, options, *, out=None, video=None):
        seen.append((str(source), str(model), options, str(out), video))
        return SimpleNamespace(report=lambda: "report")

    def fake_detect_many(sources, model, out, options, *, workers=1):
        seen.append((sources, str(model), options, str(out), workers))
        return [None for _ in sources]

    monkeypatch.setattr(api, "run_detection", fake_run_detection)
    monkeypatch.setattr(api, "detect_many_local", fake_detect_many)
    out = str(tmp_path / "d")
    flags = ["--model", "RUN", "--out", out, "--threshold", "0.5", "--batch-size", "4", "--device", "cpu",
             "--no-reconnect", "--no-progress"]
    assert main(["detect", "a.mp4", *flags]) == 0
    api.detect("a.mp4", "RUN", out=out, threshold=0.5, batch_size=4, device="cpu", reconnect=False)
    assert seen[0] == seen[1]
    assert main(["detect", "a.mp4", "b.mp4", *flags, "--workers", "2"]) == 0
    api.detect_many(["a.mp4", "b.mp4"], "RUN", out, workers=2, threshold=0.5, batch_size=4, device="cpu",
                    reconnect=False)
    assert seen[2] == seen[3] and seen[2][4] == 2


def test_api_refuses_an_unknown_option() -> None:
    with pytest.raises(TypeError, match="TestOptions has no field 'batch'"):
        api.test_options(batch=8)
