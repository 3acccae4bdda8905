"""Pixel-level ground truth: one reader per on-disk form, each answering "how many frames" and
"give me the masks".

Forms: a folder of mask images (``TestNNN_gt/*.bmp``, ``pixel_masks/<video>/*.png``), a
``<video>.npy`` array (ShanghaiTech ``test_pixel_mask``) and Avenue's ``<n>_label.mat``
(``volLabel``, one HxW array per frame).

>>> import tempfile, pathlib, numpy as np
>>> p = pathlib.Path(tempfile.mkdtemp()) / "01.npy"; np.save(p, np.zeros((3, 4, 4), np.uint8))
>>> MaskRef("npy", p).load(size=(2, 2)).shape
(3, 2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ammcnet.data.video import decode_image, list_frames
from ammcnet.errors import DataError

#: Mask kinds this module reads.
MASK_KINDS = ("folder", "npy", "mat")


def _load_vol_label(path: Path) -> list[np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise DataError(f"cannot read mask file {path} ({type(exc).__name__}); re-download it") from None
    if "volLabel" not in mat:
        raise DataError(f"{path} has no 'volLabel' variable; expected Avenue's testing_label_mask format")
    return [np.asarray(m) for m in np.asarray(mat["volLabel"], dtype=object).ravel()]


@dataclass(frozen=True)
class MaskRef:
    """Where one test video's pixel masks live.

    Attributes:
        kind: ``folder``, ``npy`` or ``mat``.
        path: the folder or file.
    """

    kind: str
    path: Path

    def count(self) -> int:
        """Number of mask frames, cheaply (no image decoding for folders)."""
        if self.kind == "folder":
            return len(list_frames(self.path))
        if self.kind == "npy":
            return int(np.load(self.path, mmap_mode="r").shape[0])
        return len(_load_vol_label(self.path))

    def load(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """All masks as (N, H, W) bool, resized to ``size`` = (H, W) with nearest neighbour if given."""
        if self.kind == "folder":
            frames = [decode_image(f)[..., 0] for f in list_frames(self.path)]
        elif self.kind == "npy":
            arr = np.load(self.path, mmap_mode="r")
            if arr.ndim != 3:
                raise DataError(f"{self.path} has shape {arr.shape}; pixel masks must be (frames, H, W)")
            frames = list(arr)
        else:
            frames = _load_vol_label(self.path)
        if not frames:
            raise DataError(f"no pixel masks in {self.path}; remove it or add the masks")
        out = []
        for m in frames:
            m = (np.asarray(m) > 0).astype(np.uint8)
            if size is not None and m.shape[:2] != tuple(size):
                m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            out.append(m.astype(bool))
        if len({m.shape for m in out}) != 1:
            raise DataError(f"pixel masks in {self.path} have different sizes; pass a size or fix the masks")
        return np.stack(out)
