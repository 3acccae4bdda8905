"""Shared test helpers: tiny frames, videos and on-disk datasets in every supported layout.

Test modules import these by name (``from helpers import moving_frames``); fixtures that several
modules use live in ``conftest.py``. Nothing here is a test.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch

from ammcnet.data import prepare_dataset
from ammcnet.demo import SceneConfig, generate_scene_dataset
from ammcnet.models import AMMCNet, ModelConfig, save_model_file
from ammcnet.scoring.calibration import calibration_from_records
from ammcnet.scoring.inference import score_prepared

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AMMCNET_SHARED", REPO.parent / "shared"))

H, W = 24, 32


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, skipping the calling test if it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: this test needs the shared benchmark data beside the checkout")
    return path


def texture(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth random RGB texture (flow estimators need texture to lock on)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (5, 5), 1.5)


def moving_frames(n: int, seed: int = 0, dx: int = 1, h: int = H, w: int = W) -> list[np.ndarray]:
    """n RGB frames of one texture sliding dx pixels right per frame."""
    base = texture(seed, h, w + dx * n)
    return [np.ascontiguousarray(base[:, (n - i) * dx : (n - i) * dx + w]) for i in range(n)]


def write_frames(folder: Path, frames: list[np.ndarray], ext: str = ".jpg", start: int = 0, digits: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i + start:0{digits}d}{ext}"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def write_avi(path: Path, frames: list[np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def write_masks(folder: Path, n: int, anomalous: range, ext: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        m = np.zeros((H, W), np.uint8)
        if i in anomalous:
            m[4:10, 5:12] = 255
        cv2.imwrite(str(folder / f"{i:03d}{ext}"), m)
    return folder


def make_frames_layout(root: Path, train=(8, 9), test=(7, 10), with_masks: bool = True) -> Path:
    """ROOT/{training,testing}/frames/<video>/NNN.jpg + ROOT/<name>.mat + pixel masks."""
    for i, n in enumerate(train):
        write_frames(root / "training" / "frames" / f"{i + 1:02d}", moving_frames(n, seed=i))
    gt = np.empty((1, len(test)), dtype=object)
    for i, n in enumerate(test):
        write_frames(root / "testing" / "frames" / f"{i + 1:02d}", moving_frames(n, seed=10 + i))
        gt[0, i] = np.array([[3], [n - 1]], dtype=np.float64)  # 1-based inclusive: frames 2..n-2 (0-based)
        if with_masks:
            write_masks(root / "testing" / "pixel_masks" / f"{i + 1:02d}", n, range(2, n - 1))
    scipy.io.savemat(root / f"{root.name}.mat", {"gt": gt})
    return root


def make_ucsd_layout(root: Path, train=(6,), test=(6, 7)) -> Path:
    for i, n in enumerate(train):
        write_frames(root / "Train" / f"Train{i + 1:03d}", moving_frames(n, seed=i), ext=".tif", start=1)
    lines = ["TestVideoFile = {};"]
    for i, n in enumerate(test):
        write_frames(root / "Test" / f"Test{i + 1:03d}", moving_frames(n, seed=20 + i), ext=".tif", start=1)
        write_masks(root / "Test" / f"Test{i + 1:03d}_gt", n, range(1, 3), ext=".bmp")
        lines.append("TestVideoFile{end+1}.gt_frame = [2:3];")
    (root / "Test" / f"{root.name}.m").write_text("\n".join(lines) + "\n")
    return root


def make_avenue_layout(root: Path, train=(6,), test=(7,)) -> Path:
    for i, n in enumerate(train):
        write_avi(root / "training_videos" / f"{i + 1:02d}.avi", moving_frames(n, seed=i))
    mdir = root / "ground_truth_demo" / "testing_label_mask"
    mdir.mkdir(parents=True)
    for i, n in enumerate(test):
        write_avi(root / "testing_videos" / f"{i + 1:02d}.avi", moving_frames(n, seed=30 + i))
        vol = np.empty((1, n), dtype=object)
        for k in range(n):
            m = np.zeros((H, W), np.uint8)
            if k >= n - 2:
                m[2:5, 2:5] = 1
            vol[0, k] = m
        scipy.io.savemat(mdir / f"{i + 1}_label.mat", {"volLabel": vol})
    return root


def make_shanghaitech_layout(root: Path, train=(6,), test=(6,)) -> Path:
    for i, n in enumerate(train):
        write_avi(root / "training" / "videos" / f"01_{i + 1:03d}.avi", moving_frames(n, seed=i))
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    (root / "testing" / "test_pixel_mask").mkdir(parents=True)
    for i, n in enumerate(test):
        name = f"01_{i + 1:04d}"
        write_frames(root / "testing" / "frames" / name, moving_frames(n, seed=40 + i))
        lab = np.zeros(n, np.uint8)
        lab[-2:] = 1
        np.save(root / "testing" / "test_frame_mask" / f"{name}.npy", lab)
        pm = np.zeros((n, H, W), np.uint8)
        pm[-2:, 3:6, 3:6] = 1
        np.save(root / "testing" / "test_pixel_mask" / f"{name}.npy", pm)
    return root


def make_custom_layout(root: Path, train=(6, 7), test=(8,), labels: str | None = "csv") -> Path:
    write_frames(root / "train" / "walk", moving_frames(train[0], seed=1), ext=".png")
    write_avi(root / "train" / "cam.avi", moving_frames(train[1], seed=2))
    for i, n in enumerate(test):
        write_frames(root / "test" / f"t{i}", moving_frames(n, seed=50 + i))
    if labels == "csv":
        (root / "labels.csv").write_text("video,start,end\nt0,3,4\n")
    elif labels == "json":
        (root / "labels.json").write_text('{"t0": [[3, 4]]}')
    return root


def write_square_video(folder: Path, n: int, offset: int) -> None:
    """n 48x48 PNG frames of one bright square sliding 3 px per frame (offset shifts its row and start)."""
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((48, 48, 3), 40, np.uint8)
        x = (3 * i + 7 * offset) % 36
        cv2.rectangle(img, (x, 10 + 5 * offset), (x + 10, 20 + 5 * offset), (200, 180, 90), -1)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)


def tiny_scene_run(root: Path, size: tuple[int, int] = (32, 32)) -> dict:
    """A small generated scene (3 test videos), its prepared test split and a run folder holding a
    random tiny model calibrated on the first test video: what the fleet tests score and watch."""
    cfg = SceneConfig(height=32, width=48, train_videos=1, test_videos=3, train_frames=8, test_frames=12)
    data = generate_scene_dataset(root / "scene", cfg, progress=False)
    prepared = prepare_dataset(data, size=size, flow="dis", flow_preset="ultrafast", cache_dir=root / "cache",
                               splits=("test",), progress=False)
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    single = score_prepared(model, prepared, "test", batch_size=4)
    cal = calibration_from_records([{k: v[0][4:] for k, v in single.records.items()}])
    run = root / "run"
    save_model_file(run / "model.pt", model, calibration=cal,
                    train_config={"data": {"size": list(size), "flow": "dis", "flow_preset": "ultrafast"}})
    folders = sorted(p for p in (data / "testing" / "frames").iterdir() if p.is_dir())
    return {"root": root, "prepared": prepared, "model": model, "single": single, "run": run, "folders": folders}
