"""The demo job end to end on a tiny scene and model, and the ``ammcnet demo`` command in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ammcnet.cli import main
from ammcnet.demo import SceneConfig
from browser import browser_paths, chrome_driver

# Cyclists cross the 48-px frame in about 12 frames, so each 24-frame test video has both classes.
TINY_SCENE = SceneConfig(height=32, width=48, train_videos=1, test_videos=2, train_frames=12, test_frames=24,
                         anomaly_kinds=("cyclist",))
TINY_TRAIN = [
    "data.size=[32,48]", "data.flow_preset=ultrafast", "model.features_root=4", "model.embed_dim=8",
    "model.n_embed=16", "disc.widths=[8,16,16]", "stage1.iterations=1", "stage2.iterations=1",
    "stage1.batch_size=2", "stage2.batch_size=2", "run.checkpoint_every=1", "run.log_every=1",
    "run.val_max_batches=1", "data.val_fraction=0.3",
]


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine two spinning threads make tiny convolutions far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_run_demo_end_to_end(tmp_path, one_thread):
    pytest.importorskip("ammcnet.training")
    from ammcnet.demo.job import run_demo

    result = run_demo(tmp_path / "demo", quick=True, scene=TINY_SCENE, overrides=TINY_TRAIN, progress=False)
    assert 0.0 <= result["auc"] <= 1.0
    metrics = json.loads((Path(result["test_dir"]) / "metrics.json").read_text())
    assert metrics["num_videos"] == 2 and metrics["honest"]["auc_micro"] == pytest.approx(result["auc"])
    page = Path(result["report"])
    report = page.read_text()
    assert page.name == "report-quick.html" and page.parent == tmp_path / "demo"
    assert "honest causal AUC" in report and "cyclist" in report and 'href="detect-quick/annotated.mp4"' in report
    # the generated scene has pixel masks, so the test measured localisation and the report shows it
    pixel_auc = metrics["pixel"]["pixel_auc"]
    assert f"<dt>pixel AUC (localisation)</dt><dd>{pixel_auc:.4f}</dd>" in report
    assert "](report-quick.html)" in Path(result["summary"]).read_text()
    assert Path(result["model"]).is_file() and set(result["seconds"]) >= {"scene", "prepare", "train", "test"}
    assert Path(result["detect"]["annotated"]).is_file()
    _opens_in_chromium_from_a_copy(page, tmp_path)


def _opens_in_chromium_from_a_copy(page: Path, tmp_path: Path) -> None:
    """The demo's report.html, opened from a copied folder (the original gone), shows every image."""
    try:
        browser_paths()
    except pytest.skip.Exception:
        return  # the browser tests say why; the rest of the demo was checked above
    copy = tmp_path / "mailed"
    shutil.copytree(page.parent, copy)
    shutil.rmtree(page.parent)
    with chrome_driver(tmp_path) as driver:
        driver.get((copy / page.name).as_uri())
        images = driver.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert images and all(images)


def test_cli_scene_only(tmp_path, capsys, monkeypatch):
    import ammcnet.demo.job as job

    monkeypatch.setattr(job, "demo_settings", lambda quick=False, overrides=(): (TINY_SCENE, None))
    out = tmp_path / "walk"
    assert main(["demo", "--scene-only", "--out", str(out), "--no-progress", "--seed", "1"]) == 0
    assert "scene dataset:" in capsys.readouterr().out
    assert (out / "walk.mat").is_file() and len(list((out / "testing" / "frames").iterdir())) == 2
    # another seed into the same folder: one-line error, exit status 2, nothing overwritten
    assert main(["demo", "--scene-only", "--out", str(out), "--no-progress", "--seed", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ammcnet demo: error:") and "choose another folder" in err and "Traceback" not in err
    assert '"seed": 1' in (out / "scene.json").read_text()
