"""Property-based fuzzing: bad label files, ``--set`` overrides and YAML presets give AmmcError, nothing else.

Each reader is fed generated input, both random bytes and near-valid structures (the shapes
real mistakes take); it must either return a result or raise :class:`ammcnet.errors.AmmcError`
(one line for the user), never a ``KeyError``, ``IndexError``, ``ValueError`` or a traceback.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ammcnet.data.labels import load_labels
from ammcnet.errors import AmmcError
from ammcnet.training import load_config_file, load_preset

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a silent NaN cast is a bug too
FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
NUM_FRAMES = [5, 7]
VIDEOS = ["v0", "v1"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                         max_leaves=12)


def _accepts_or_ammc(call) -> None:
    try:
        masks = call()
    except AmmcError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    assert len(masks) == len(NUM_FRAMES)
    for m, n in zip(masks, NUM_FRAMES, strict=True):
        assert np.asarray(m).shape == (n,)


def _file(suffix: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / f"labels{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(st.binary(max_size=300))
@pytest.mark.parametrize("suffix", [".csv", ".json", ".mat", ".npy", ".m"])
def test_random_bytes(suffix, data):
    path = _file(suffix, data)
    _accepts_or_ammc(lambda: load_labels(path, NUM_FRAMES, VIDEOS))


cells = st.one_of(st.sampled_from(VIDEOS + ["../x", "", "v9"]), st.integers(-5, 12).map(str), st.text(max_size=4),
                  st.floats(allow_nan=True).map(str))


@FUZZ
@given(st.lists(st.lists(cells, min_size=0, max_size=4), max_size=6))
def test_csv_rows(rows):
    buf = io.StringIO()
    for row in rows:
        buf.write(",".join(row) + "\n")
    path = _file(".csv", buf.getvalue().encode())
    _accepts_or_ammc(lambda: load_labels(path, NUM_FRAMES, VIDEOS))


@FUZZ
@given(st.one_of(json_like, st.dictionaries(st.sampled_from(VIDEOS + ["../x"]), json_like, max_size=3)))
def test_json_structures(obj):
    path = _file(".json", json.dumps(obj).encode())
    _accepts_or_ammc(lambda: load_labels(path, NUM_FRAMES, VIDEOS))


@FUZZ
@given(st.one_of(
    st.lists(st.integers(-3, 3), max_size=20),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=14),
    st.lists(st.lists(st.integers(-2, 9), min_size=2, max_size=2), max_size=4),
))
def test_npy_arrays(values):
    folder = Path(tempfile.mkdtemp())
    path = folder / "labels.npy"
    np.save(path, np.asarray(values))
    _accepts_or_ammc(lambda: load_labels(path, NUM_FRAMES, VIDEOS))


@FUZZ
@given(st.lists(st.one_of(
    st.lists(st.lists(st.integers(-3, 12), min_size=1, max_size=3), max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=3),
    st.text(max_size=3),
), max_size=3))
def test_mat_gt_cells(entries):
    import scipy.io

    folder = Path(tempfile.mkdtemp())
    path = folder / "labels.mat"
    cell = np.empty((1, len(entries)), dtype=object)
    for i, e in enumerate(entries):
        cell[0, i] = np.asarray(e, dtype=object if isinstance(e, list) and e and isinstance(e[0], list) else None)
    try:
        scipy.io.savemat(path, {"gt": cell})
    except Exception:  # noqa: BLE001 - scipy cannot write every generated cell; such files cannot exist
        return
    _accepts_or_ammc(lambda: load_labels(path, NUM_FRAMES, VIDEOS))


keys = st.sampled_from(["stage1.iterations", "data.size", "model.features_root", "optim.lr_g", "run.select",
                        "loss.lam_int", "scoring.weights.rgb_psnr", "nope", "stage1", "data.size.0", ""])
values = st.one_of(st.sampled_from(["", "-1", "0", "1e99", "nan", "inf", "[1,2]", "[64, 64, 3]", "{a: 1}", "true",
                                    "null", "'x'", "[", "abc"]), st.text(max_size=6))


@FUZZ
@given(st.lists(st.tuples(keys, st.sampled_from(["=", "==", ":", ""]), values), min_size=1, max_size=3))
def test_set_overrides(parts):
    overrides = [f"{k}{sep}{v}" for k, sep, v in parts]
    try:
        load_preset("tiny", overrides)
    except AmmcError as exc:
        assert "\n" not in str(exc).strip()


@FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    json_like.map(lambda o: yaml.safe_dump(o).encode()),
    st.dictionaries(st.sampled_from(["name", "base", "extends", "data", "model", "stage1", "run", "optim", "x"]),
                    json_like, max_size=4).map(lambda o: yaml.safe_dump(o).encode()),
))
def test_yaml_presets(data):
    path = _file(".yaml", data)
    try:
        load_config_file(path)
    except AmmcError as exc:
        assert "\n" not in str(exc).strip()


@FUZZ
@given(st.dictionaries(st.sampled_from(VIDEOS + ["v9", "..", "x y"]),
                       st.one_of(st.lists(st.integers(-2, 3), max_size=9),
                                 st.lists(st.floats(allow_nan=True), max_size=8),
                                 st.binary(max_size=40)), max_size=3))
def test_npy_mask_folders(files):
    folder = Path(tempfile.mkdtemp()) / "masks"
    folder.mkdir()
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / f"{name}.npy").write_bytes(content)
        else:
            np.save(folder / f"{name}.npy", np.asarray(content))
    _accepts_or_ammc(lambda: load_labels(folder, NUM_FRAMES, VIDEOS))
