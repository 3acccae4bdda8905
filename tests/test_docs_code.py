"""The ``python`` code blocks of README.md and docs/*.md run, on tiny inputs.

Each page's blocks run top to bottom in one namespace (as a reader would paste them), in a copy of
a small sandbox folder that holds what the pages refer to:

- ``data/walkway``: a generated walkway scene (32x48 pixels, 2 training and 2 test videos, with
  frame labels and pixel masks), the dataset the pages use as their example;
- ``runs/walkway``: a model trained on it with the ``tiny`` preset (a few steps);
- ``street.mp4``: its first test video as an MP4 file.

Each page runs in its own folder with a copy of ``runs/`` and a link to ``data/``;
``$AMMCNET_CACHE`` points into the sandbox, so prepared data is shared between pages and nothing
is written to the home folder.

Markers, on the lines just before a block (HTML comments: invisible on GitHub and in the site):

- ``<!-- docs-test: sub "OLD" "NEW" -->`` replaces OLD by NEW in the next block before it runs
  (several per line allowed), so a page can show real settings (``preset="cpu-lite"``) while the
  test runs the same call at the tiny sizes;
- ``<!-- docs-test: skip REASON -->`` does not run the next block; the reason is required;
- ``<!-- docs-test: run -->`` before a ``bash`` block runs each of its commands (``ammcnet`` is
  this checkout's ``python -m ammcnet``). Other ``bash`` blocks are not run: they show commands
  on data or hardware a test does not have (full datasets, GPUs, cameras).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
SCENE = {"height": 32, "width": 48, "train_videos": 2, "test_videos": 2, "train_frames": 20, "test_frames": 24,
         "anomaly_kinds": ("cyclist",)}


@dataclass
class Block:
    """One fenced code block and the marker before it."""

    lang: str
    code: str
    line: int
    subs: list[tuple[str, str]] = field(default_factory=list)
    skip: str | None = None
    run: bool = False


def page_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, each with the ``docs-test`` marker just above it."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        block = Block(m.group(1), m.group(2), line)
        for before in reversed(text[: m.start()].rstrip("\n").split("\n")):
            marker = MARKER.search(before)
            if not marker:
                break
            word, _, rest = marker.group(1).partition(" ")
            if word == "sub":
                args = shlex.split(rest)
                assert len(args) % 2 == 0, f"{path.name}:{line}: sub needs OLD NEW pairs"
                block.subs = list(zip(args[::2], args[1::2], strict=True))
            elif word == "skip":
                assert rest.strip(), f"{path.name}:{line}: a skipped block needs a reason"
                block.skip = rest.strip()
            elif word == "run":
                block.run = True
            else:
                raise AssertionError(f"{path.name}:{line}: unknown docs-test marker {word!r}")
        blocks.append(block)
    return blocks


def _runnable(path: Path) -> bool:
    return any(b.lang == "python" or b.run for b in page_blocks(path))


RUNNABLE = [p for p in PAGES if _runnable(p)]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated scene and a tiny model trained on it (about 20 s on one core)."""
    from ammcnet.demo import SceneConfig, generate_scene_dataset
    from ammcnet.training import load_preset, train

    root = tmp_path_factory.mktemp("docs-sandbox")
    data = generate_scene_dataset(root / "data" / "walkway", SceneConfig(**SCENE), seed=0, progress=False)
    train(data, load_preset("tiny"), root / "runs" / "walkway", cache_dir=root / "cache", device="cpu",
          progress=False)
    frames = sorted((data / "testing" / "frames" / "01").iterdir())
    first = cv2.imread(str(frames[0]))
    writer = cv2.VideoWriter(str(root / "street.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, first.shape[1::-1])
    for path in frames:
        writer.write(cv2.imread(str(path)))
    writer.release()
    return root


def _apply(block: Block, page: Path) -> str:
    code = block.code
    for old, new in block.subs:
        assert old in code, f"{page.name}:{block.line}: sub target {old!r} is not in the block"
        code = code.replace(old, new)
    return code


def _run_bash(code: str, cwd: Path, page: Path, line: int) -> None:
    shim = cwd / ".bin"
    shim.mkdir(exist_ok=True)
    (shim / "ammcnet").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ammcnet "$@"\n')
    (shim / "ammcnet").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{page.name}:{line}: bash block failed:\n{proc.stdout}\n{proc.stderr}"


def test_readme_has_a_python_example() -> None:
    assert any(b.lang == "python" and not b.skip for b in page_blocks(REPO / "README.md"))


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(REPO)) for p in RUNNABLE])
def test_page_code_runs(page: Path, sandbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    shutil.copytree(sandbox / "runs", work / "runs")  # pages may add to runs/ and write beside them
    shutil.copy(sandbox / "street.mp4", work / "street.mp4")
    (work / "data").symlink_to(sandbox / "data")       # the data and its prepared cache are shared,
    monkeypatch.chdir(work)                            # so each page reuses the cache entry
    monkeypatch.setenv("AMMCNET_CACHE", str(sandbox / "cache"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in page_blocks(page):
        if block.skip:
            continue
        if block.lang == "python":
            code = compile(_apply(block, page), f"{page.name}:{block.line}", "exec")
            exec(code, namespace)  # noqa: S102 - the documentation's own example, run as a reader would
            ran += 1
        elif block.run:
            _run_bash(_apply(block, page), work, page, block.line)
            ran += 1
    assert ran > 0
