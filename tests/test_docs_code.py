"""The ``python`` code blocks of README.md and docs/*.md run, on tiny inputs.

Each page's blocks run top to bottom in one namespace (as a reader would paste them), in a copy of
a small sandbox folder that holds what the pages refer to:

- ``data/walkway``: a generated walkway scene (32x48 pixels, 2 training and 2 test videos, with
  frame labels and pixel masks), the dataset the pages use as their example;
- ``runs/walkway``: a model trained on it with the ``tiny`` preset (a few steps);
- ``street.mp4``: its first test video as an MP4 file.

Each page runs in a fresh Python process (so nothing it registers or changes leaks into other
tests), in its own folder with a copy of ``runs/`` and a link to ``data/``;
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

import json
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
    return any((b.lang == "python" or b.run) and not b.skip for b in page_blocks(path))


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


# Runs one page's steps in a fresh interpreter, so nothing a page does (registering a record,
# changing torch's threads) leaks into the other tests of the session.
DRIVER = """
import json, subprocess, sys, traceback
namespace = {"__name__": "__docs__"}
for step in json.load(open(sys.argv[1])):
    if step["lang"] == "python":
        try:
            exec(compile(step["code"], step["where"], "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"{step['where']}: python block failed")
    else:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", step["code"]], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{step['where']}: bash block failed:\\n{proc.stdout}\\n{proc.stderr}")
"""


def _environment(work: Path, sandbox: Path) -> dict[str, str]:
    """PATH with ``ammcnet`` = this checkout's ``python -m ammcnet``; this checkout's sources first."""
    shim = work / ".bin"
    shim.mkdir(exist_ok=True)
    (shim / "ammcnet").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ammcnet "$@"\n')
    (shim / "ammcnet").chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "AMMCNET_CACHE": str(sandbox / "cache"),
            "OMP_NUM_THREADS": "1",  # tiny models: one thread is fastest, and the machine may be shared
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def test_readme_has_a_python_example() -> None:
    assert any(b.lang == "python" and not b.skip for b in page_blocks(REPO / "README.md"))


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(REPO)) for p in RUNNABLE])
def test_page_code_runs(page: Path, sandbox: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(sandbox / "runs", work / "runs")  # pages may add to runs/ and write beside them
    shutil.copy(sandbox / "street.mp4", work / "street.mp4")
    (work / "data").symlink_to(sandbox / "data")       # the data and its prepared cache are shared,
    steps = [{"lang": b.lang, "code": _apply(b, page), "where": f"{page.name}:{b.line}"}  # so each page
             for b in page_blocks(page) if not b.skip and (b.lang == "python" or b.run)]  # reuses the cache
    assert steps
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "steps.json")], cwd=work,
                          env=_environment(work, sandbox), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
