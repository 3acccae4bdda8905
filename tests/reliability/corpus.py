"""The bad-input corpus: one row per case, each built into a fresh folder and run through the CLI.

A row is ``Case(id, build, argv, code, pattern)``: ``build(folder)`` writes the bad input,
``argv`` is the command (``{d}`` stands for the folder, ``{out}`` for the output folder the
command is given), ``code`` the expected exit status and ``pattern`` a regex the one-line error
(or, for code 0, stdout) must match. After every case the output folder must hold no partial
file: nothing at all when the command failed, and no temporary file in any case.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .damage import flip_weight_bits, truncate
from .helpers import CALIBRATION, write_squares_video


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], None]
    argv: tuple[str, ...]
    code: int
    pattern: str


def _model(d: Path, **edit) -> Path:
    from ammcnet.models import AMMCNet, ModelConfig, save_model_file

    torch.manual_seed(0)
    path = d / "run" / "model.pt"
    save_model_file(path, AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)), calibration=CALIBRATION,
                    train_config={"data": {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"}},
                    meta={"preset": "tiny"})
    return path


def _resave(path: Path, fn: Callable[[dict], None], reseal: bool) -> None:
    from ammcnet.utils.digest import DIGEST_KEY, content_digest

    obj = torch.load(path, weights_only=True)
    fn(obj)
    if reseal:
        obj[DIGEST_KEY] = content_digest(obj)
    torch.save(obj, path)


def _nan_weights(obj: dict) -> None:
    key = next(k for k, v in obj["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    obj["state_dict"][key][0] = float("inf")


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)

    return build


def _dataset(*, bad: str | None = None, sizes: tuple[int, ...] = (48, 48)) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        write_squares_video(d / "data" / "train" / "v0", 8, 0, size=sizes[0])
        write_squares_video(d / "data" / "train" / "v1", 8, 1, size=sizes[1])
        if bad == "truncated-jpeg":
            import cv2

            cv2.imwrite(str(d / "data" / "train" / "v0" / "003.jpg"), np.zeros((48, 48, 3), np.uint8))
            (d / "data" / "train" / "v0" / "003.png").unlink()
            truncate(d / "data" / "train" / "v0" / "003.jpg", 0.3)
        elif bad == "empty-jpeg":
            (d / "data" / "train" / "v0" / "003.png").unlink()
            (d / "data" / "train" / "v0" / "003.jpg").write_bytes(b"")

    return build


def _scores_and_labels(labels_name: str, labels: bytes | Callable[[Path], None]) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        from ammcnet.metrics import save_score_file

        save_score_file(d / "scores.npz", {"rgb_psnr": [np.linspace(30, 20, 6), np.linspace(25, 35, 7)]}, [6, 7],
                        ["v0", "v1"])
        if callable(labels):
            labels(d)
        else:
            (d / labels_name).write_bytes(labels)

    return build


def _mat_wrong_count(d: Path) -> None:
    import scipy.io

    cell = np.empty((1, 3), dtype=object)
    for i in range(3):
        cell[0, i] = np.array([[1], [2]])
    scipy.io.savemat(d / "labels.mat", {"gt": cell})


def _no_digest(d: Path) -> None:
    _resave(_model(d), lambda o: o.pop("digest"), reseal=False)


def _both(*builds: Callable[[Path], None]) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        for b in builds:
            b(d)

    return build


M = "{d}/run/model.pt"
DAMAGED = "damaged or changed outside ammcnet"

CASES: list[Case] = [
    # -- data folders and frames
    Case("prepare-missing-folder", lambda d: None, ("prepare", "{d}/nope", "--cache-dir", "{out}"), 2, r"nope"),
    Case("prepare-empty-folder", lambda d: (d / "empty").mkdir(), ("prepare", "{d}/empty", "--cache-dir", "{out}"), 2,
         r"empty"),
    Case("prepare-truncated-jpeg", _dataset(bad="truncated-jpeg"),
         ("prepare", "{d}/data", "--size", "32", "32", "--flow-preset", "ultrafast", "--cache-dir", "{out}",
          "--no-progress"), 2, r"003\.jpg"),
    Case("prepare-empty-jpeg", _dataset(bad="empty-jpeg"),
         ("prepare", "{d}/data", "--size", "32", "32", "--flow-preset", "ultrafast", "--cache-dir", "{out}",
          "--no-progress"), 2, r"003\.jpg"),
    # -- videos and sources for detect
    Case("detect-missing-source", _model, ("detect", "--model", M, "{d}/none.mp4", "--threshold", "1", "--out", "{out}"),
         2, r"none\.mp4 does not exist"),
    Case("detect-text-as-mp4", _both(_model, _bytes("fake.mp4", b"this is not a video\n" * 20)),
         ("detect", "--model", M, "{d}/fake.mp4", "--threshold", "1", "--out", "{out}"), 2, r"fake\.mp4"),
    Case("detect-empty-mp4", _both(_model, _bytes("empty.mp4", b"")),
         ("detect", "--model", M, "{d}/empty.mp4", "--threshold", "1", "--out", "{out}"), 2, r"empty\.mp4"),
    Case("detect-rtsp-password-closed-port", _model,
         ("detect", "--model", M, "rtsp://admin:hunter2@127.0.0.1:1/live", "--threshold", "1", "--out", "{out}"), 2,
         r"^(?!.*hunter2).*admin:\*\*\*@127\.0\.0\.1"),
    Case("detect-bad-max-invalid", _both(_model, _dataset()),
         ("detect", "--model", M, "{d}/data/train/v0", "--max-invalid", "0", "--threshold", "1", "--out", "{out}"),
         2, r"--max-invalid"),
    # -- model files
    Case("model-random-bytes", _bytes("run/model.pt", os.urandom(4096)),
         ("detect", "--model", M, "x.mp4", "--out", "{out}"), 2, r"model\.pt: not a readable model file"),
    Case("model-empty", _bytes("run/model.pt", b""), ("info", M), 2, r"file is empty"),
    Case("model-truncated", lambda d: truncate(_model(d), 0.5), ("info", M), 2, r"not a readable model file"),
    Case("model-json-as-pt", _bytes("run/model.pt", json.dumps({"format": "x"}).encode()), ("info", M), 2,
         r"not a readable model file"),
    Case("model-bit-flips-detect", lambda d: flip_weight_bits(_model(d)),
         ("detect", "--model", M, "x.mp4", "--out", "{out}"), 2, DAMAGED),
    Case("model-bit-flips-export", lambda d: flip_weight_bits(_model(d)),
         ("export", M, "--onnx", "{out}/m.onnx", "--size", "32x32"), 2, DAMAGED),
    Case("model-bit-flips-info", lambda d: flip_weight_bits(_model(d)), ("info", M), 2, r"MISMATCH"),
    Case("model-setting-edited", lambda d: _resave(_model(d), lambda o: o["meta"].update(preset="x"), reseal=False),
         ("detect", "--model", M, "x.mp4", "--out", "{out}"), 2, DAMAGED),
    Case("model-inf-weights-sealed", lambda d: _resave(_model(d), _nan_weights, reseal=True),
         ("detect", "--model", M, "x.mp4", "--out", "{out}"), 2, r"hold NaN or inf"),
    Case("model-without-digest-info", _no_digest, ("info", M), 0, r"none stored \(older file\)"),
    Case("model-official-weights", _bytes("run/model.pt", b""), ("info", "{d}/run/missing.pt"), 2,
         r"no such model file"),
    Case("run-folder-without-model", lambda d: (d / "run").mkdir(), ("info", "{d}/run"), 2, r"has no model\.pt"),
    # -- labels
    Case("labels-escape-names-csv", _scores_and_labels("labels.csv", b"../x,1,3\n../../etc/passwd,1,2\n"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2,
         r"'\.\./\.\./etc/passwd' is not among the scored videos"),
    Case("labels-negative-csv", _scores_and_labels("labels.csv", b"v0,-3,2\n"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2, r"labels"),
    Case("labels-out-of-range-csv", _scores_and_labels("labels.csv", b"v0,2,99\n"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2, r"labels"),
    Case("labels-non-numeric-csv", _scores_and_labels("labels.csv", b"v0,a,b\n"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2, r"labels"),
    Case("labels-binary-csv", _scores_and_labels("labels.csv", b"\x80\xff\x00v0"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2, r"labels"),
    Case("labels-json-list", _scores_and_labels("labels.json", b"[1, 2, 3]"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.json", "--json", "{out}/m.json"), 2, r"labels"),
    Case("labels-mat-wrong-count", _scores_and_labels("labels.mat", _mat_wrong_count),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.mat", "--json", "{out}/m.json"), 2, r"3"),
    Case("labels-npy-empty-file", _scores_and_labels("labels.npy", b""),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.npy", "--json", "{out}/m.json"), 2, r"labels"),
    Case("scores-not-npz", _bytes("scores.npz", b"PK\x03\x04junk"),
         ("evaluate", "{d}/scores.npz", "--labels", "{d}/labels.csv", "--json", "{out}/m.json"), 2, r"scores\.npz"),
    # -- settings
    Case("train-unknown-preset", _dataset(), ("train", "{d}/data", "--preset", "nope", "--out", "{out}"), 2,
         r"unknown preset 'nope'"),
    Case("train-unknown-set-key", _dataset(),
         ("train", "{d}/data", "--preset", "tiny", "--set", "stage1.nope=1", "--out", "{out}"), 2,
         r"unknown config key"),
    Case("train-bad-set-value", _dataset(),
         ("train", "{d}/data", "--preset", "tiny", "--set", "stage1.iterations=abc", "--out", "{out}"), 2,
         r"stage1\.iterations"),
    Case("train-set-without-equals", _dataset(),
         ("train", "{d}/data", "--preset", "tiny", "--set", "stage1.iterations", "--out", "{out}"), 2,
         r"expected key=value"),
    Case("train-preset-not-utf8", _both(_dataset(), _bytes("p.yaml", b"\x80\x81name: x")),
         ("train", "{d}/data", "--preset", "{d}/p.yaml", "--out", "{out}"), 2, r"not UTF-8"),
    Case("train-preset-not-yaml", _both(_dataset(), _bytes("p.yaml", b"a: [1, 2\n")),
         ("train", "{d}/data", "--preset", "{d}/p.yaml", "--out", "{out}"), 2, r"not valid YAML"),
    Case("train-preset-list", _both(_dataset(), _bytes("p.yaml", b"- 1\n- 2\n")),
         ("train", "{d}/data", "--preset", "{d}/p.yaml", "--out", "{out}"), 2, r"config mapping"),
    Case("train-resume-truncated-only-checkpoint", _both(
        _dataset(), _bytes("out/checkpoints/stage1-0000002.pt", b"PK\x03\x04trunc")),
         ("train", "{d}/data", "--preset", "tiny", "--resume", "--out", "{d}/out", "--no-progress",
          "--cache-dir", "{d}/cache"), 2, r"none of the 1 stage-1 checkpoints is intact"),
    # -- alarms: sinks, zones, teach and fit
    Case("detect-webhook-not-http", _model,
         ("detect", "--model", M, "{d}/none.mp4", "--webhook", "ftp://hooks.example.com/x", "--out", "{out}"), 2,
         r"ftp://.*http"),
    Case("detect-mqtt-bad-port", _model,
         ("detect", "--model", M, "{d}/none.mp4", "--mqtt", "broker.local:notaport", "--out", "{out}"), 2,
         r"notaport"),
    Case("detect-zones-two-points", _both(_model, _bytes("zones.yaml", b"zones:\n  door: [[0, 0], [1, 1]]\n")),
         ("detect", "--model", M, "{d}/none.mp4", "--zones", "{d}/zones.yaml", "--out", "{out}"), 2,
         r"zones\.yaml.*door.*at least 3"),
    Case("detect-zones-unknown-required", _both(_model, _bytes("zones.yaml", b"required_zones: [gate]\n")),
         ("detect", "--model", M, "{d}/none.mp4", "--zones", "{d}/zones.yaml", "--out", "{out}"), 2,
         r"gate.*not a zone"),
    Case("teach-unknown-event", _both(_model, _bytes("events.jsonl", b'{"kind": "end", "event": {"id": "a-1"}}\n')),
         ("teach", M, "--normal-event", "{d}/events.jsonl:nope", "--out", "{out}/t.pt"), 2, r"no event 'nope'.*a-1"),
    Case("teach-event-without-log", _model, ("teach", M, "--normal-event", "nope", "--out", "{out}/t.pt"), 2,
         r"EVENTS\.jsonl:ID"),
    Case("teach-nothing", _model, ("teach", M, "--out", "{out}/t.pt"), 2, r"nothing to teach"),
    Case("fit-missing-footage", lambda d: None, ("fit", "{d}/none.mp4", "--out", "{out}/m.pt"), 2, r"none\.mp4"),
    Case("fit-stream-without-seconds", lambda d: None, ("fit", "rtsp://user:pw@cam/x", "--out", "{out}/m.pt"), 2,
         r"--seconds"),
]
