"""A missing optional module names the extra to install and the command that needed it."""

from __future__ import annotations

import sys

import pytest

from ammcnet.cli import main
from ammcnet.errors import AmmcError
from ammcnet.utils.optional import EXTRAS, MissingDependencyError, require, try_import


@pytest.fixture
def hide(monkeypatch):
    """Make ``import NAME`` fail as if NAME were not installed (``None`` in ``sys.modules``)."""

    def _hide(*names: str) -> None:
        for name in names:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, loaded)
            monkeypatch.setitem(sys.modules, name, None)

    return _hide


def test_require_names_extra_and_purpose(hide):
    hide("onnx")
    with pytest.raises(MissingDependencyError) as err:
        require("onnx", extra="onnx", purpose="ammcnet export")
    text = str(err.value)
    assert text.startswith("ammcnet export needs the optional module onnx")
    assert 'pip install -e ".[onnx]"' in text
    assert isinstance(err.value, AmmcError) and "\n" not in text


def test_require_dotted_module_reports_top_level(hide):
    hide("onnxruntime")
    with pytest.raises(MissingDependencyError, match=r"optional module onnxruntime.*\.\[onnx\]"):
        require("onnxruntime.quantization", extra="onnx", purpose="ammcnet export --int8")
    assert try_import("onnxruntime") is None


def test_every_extra_module_is_known():
    assert set(EXTRAS["onnx"]) == {"onnx", "onnxruntime"}


def test_export_cli_without_onnx(hide, tmp_path, capsys):
    from ammcnet.models import AMMCNet, ModelConfig, save_model_file

    model = tmp_path / "model.pt"
    save_model_file(model, AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)))
    hide("onnx")
    out = tmp_path / "out.onnx"
    assert main(["export", str(model), "--onnx", str(out), "--size", "32x32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ammcnet export: error: ammcnet export needs the optional module onnx")
    assert 'pip install -e ".[onnx]"' in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.glob("*.tmp*")) == []


def test_onnx_backend_without_onnxruntime(hide, tmp_path):
    from ammcnet.export import OnnxBackend

    hide("onnxruntime")
    with pytest.raises(MissingDependencyError, match=r"onnxruntime.*\.\[onnx\].*"):
        OnnxBackend(tmp_path / "m.onnx")
