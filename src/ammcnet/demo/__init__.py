"""Procedural walkway scene (a dataset with known anomalies, no downloads) and the end-to-end demo.

>>> import tempfile, pathlib
>>> from ammcnet.demo import SceneConfig, generate_scene_dataset
>>> cfg = SceneConfig(height=32, width=48, train_videos=1, test_videos=1, train_frames=8, test_frames=8)
>>> generate_scene_dataset(pathlib.Path(tempfile.mkdtemp()) / "scene", cfg, progress=False).is_dir()
True
"""

from ammcnet.demo.config import ANOMALY_KINDS, APPEARANCE_KINDS, MOTION_KINDS, SceneConfig
from ammcnet.demo.job import demo_settings, run_demo
from ammcnet.demo.scene import Scene, build_scene
from ammcnet.demo.video import RenderedVideo, Track, render_video
from ammcnet.demo.writer import generate_scene_dataset, intervals

__all__ = [
    "ANOMALY_KINDS",
    "APPEARANCE_KINDS",
    "MOTION_KINDS",
    "RenderedVideo",
    "Scene",
    "SceneConfig",
    "Track",
    "build_scene",
    "demo_settings",
    "generate_scene_dataset",
    "intervals",
    "render_video",
    "run_demo",
]
