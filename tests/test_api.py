"""The Python API (``import ammcnet``) end to end, and a CLI that starts without torch or OpenCV."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: The README's Python example, run here as written (on a tiny generated scene, in a temporary folder).
EXAMPLE = textwrap.dedent('''
    import ammcnet

    run = ammcnet.train("scene", preset="tiny", out="runs/scene", overrides=["stage1.iterations=2", "stage2.iterations=2"])
    result = ammcnet.test(run.model, "scene")                      # honest protocol: no test label is used
    print(f"honest frame AUC {result.honest_auc:.3f}")
    summary = ammcnet.detect("scene/testing/frames/01", run.model, out="runs/scene/detect")
    print(summary.frames_scored, "frames scored,", len(summary.events), "alarm events")
    report = ammcnet.evaluate(result.out / "scores.npz", "scene/scene.mat")  # honest: no test statistic
    print(report.results[0].name, round(report.results[0].auc_micro, 3))
    model = ammcnet.load(run.model)                                 # network, scorer and fusion settings
''')


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ammcnet.demo import SceneConfig, generate_scene_dataset

    generate_scene_dataset(tmp_path / "scene", SceneConfig(height=48, width=64, train_videos=2, test_videos=2,
                                                           train_frames=12, test_frames=14), progress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMMCNET_CACHE", str(tmp_path / "cache"))
    assert len([line for line in EXAMPLE.strip().splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(EXAMPLE, "README example", "exec"), namespace)  # noqa: S102 - the example is this file's own text
    result, summary, model = namespace["result"], namespace["summary"], namespace["model"]
    assert result.honest_auc is not None and 0.0 <= result.honest_auc <= 1.0
    assert json.loads((result.out / "metrics.json").read_text())["honest"]["auc_micro"] == result.honest_auc
    assert summary.frames_scored == 14 - 4 and (tmp_path / "runs/scene/detect/frames.jsonl").is_file()
    report = namespace["report"]
    assert report.protocol == "honest" and 0.0 <= report.results[0].auc_micro <= 1.0
    assert set(model.scorer.components) == {"motion_prior", "region_head"} and model.path.name == "model.pt"


def test_evaluate_default_equals_the_command_default(tmp_path: Path) -> None:
    """``ammcnet.evaluate`` and ``ammcnet evaluate`` with no protocol give the same number on the same
    file: the honest one (one scale for both videos), not per-video min-max."""
    import inspect

    import numpy as np

    import ammcnet
    from ammcnet.choices import DEFAULT_EVAL_PROTOCOL
    from ammcnet.cli import main
    from ammcnet.metrics import EvalOptions, save_score_file

    rng = np.random.default_rng(5)
    labels = [np.r_[np.zeros(12), np.ones(6)], np.r_[np.zeros(9), np.ones(7)]]
    psnr = [38 - 3 * labels[0] + rng.normal(0, 0.5, 18), 24 - 3 * labels[1] + rng.normal(0, 0.5, 16)]
    scores = tmp_path / "scores.npz"
    save_score_file(scores, {"rgb_psnr": psnr}, [18, 16], videos=["a", "b"])
    (tmp_path / "labels.csv").write_text("video,start,end\na,13,18\nb,10,16\n")
    api = ammcnet.evaluate(scores, tmp_path / "labels.csv")
    assert main(["evaluate", str(scores), "--labels", str(tmp_path / "labels.csv"), "--quiet",
                 "--json", str(tmp_path / "cli.json")]) == 0
    cli = json.loads((tmp_path / "cli.json").read_text())
    assert inspect.signature(ammcnet.api.evaluate).parameters["protocol"].default == DEFAULT_EVAL_PROTOCOL
    assert api.protocol == cli["protocol"] == "honest" and api.header() == cli["protocol_text"]
    assert api.results[0].auc_micro == cli["auc_micro"] < 0.9
    per_video = ammcnet.evaluate(scores, tmp_path / "labels.csv", protocol="custom",
                                 options=EvalOptions(normalise="video"))
    assert per_video.results[0].auc_micro == 1.0  # what the default would give with per-video min-max


def test_results_are_typed_and_names_consistent() -> None:
    import dataclasses
    import inspect

    import ammcnet

    for name in ("Model", "TrainResult", "TestResult"):
        assert dataclasses.is_dataclass(getattr(ammcnet, name)), name
    assert dataclasses.is_dataclass(ammcnet.DetectResult) and dataclasses.is_dataclass(ammcnet.EvaluateResult)
    params = {f: list(inspect.signature(getattr(ammcnet.api, f)).parameters) for f in ("train", "test", "detect")}
    assert params["train"][0] == "data" and params["test"][:2] == ["model", "data"]
    assert params["detect"][:2] == ["source", "model"]
    assert callable(ammcnet.detect) and ammcnet.detect.Detector is not None  # the package, callable as the function


def test_help_starts_without_torch_or_opencv() -> None:
    code = ("import sys, contextlib, io\n"
            "from ammcnet.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'cv2', 'numpy', 'scipy', 'sklearn', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_train_adds_the_network_to_a_fitted_and_taught_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ammcnet fit`` then ``ammcnet teach`` then ``ammcnet train --set scoring.head_from=...``: the trained
    model keeps the taught head as it is (what was taught is not lost), and scores with it."""
    import ammcnet
    from ammcnet.demo import SceneConfig, generate_scene_dataset

    data = generate_scene_dataset(tmp_path / "scene", SceneConfig(height=48, width=64, train_videos=2, test_videos=2,
                                                                  train_frames=24, test_frames=14), progress=False)
    monkeypatch.setenv("AMMCNET_CACHE", str(tmp_path / "cache"))
    head = tmp_path / "cam.pt"
    ammcnet.fit(data, head, choose=False)
    first = sorted((data / "training" / "frames").iterdir())[0]
    taught = ammcnet.teach(head, normal=[str(first)], force=True, out=tmp_path / "cam-taught.pt").model
    run = ammcnet.train(data, preset="tiny", out=tmp_path / "run", overrides=[
        "stage1.iterations=2", "stage2.iterations=2", f"scoring.head_from={taught}"])
    kept = ammcnet.load(run.model).scorer.components["region_head"].head
    source = ammcnet.load(taught).scorer.components["region_head"].head
    assert kept.scales == source.scales and len(kept.taught_scores) == len(source.taught_scores) == 1
    with pytest.raises(ammcnet.AmmcError, match="no region head"):
        ammcnet.train(data, preset="tiny", out=tmp_path / "run2", overrides=[
            "stage1.iterations=1", "stage2.iterations=1", f"scoring.head_from={run.model.parent / 'stage1.pt'}"])
