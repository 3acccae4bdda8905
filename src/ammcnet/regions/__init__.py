"""Region features and a density head fitted on normal footage: the honest default score.

AMMC-Net's records are frame means: one small anomaly is diluted among many normal pixels and a
crowded scene's normal error swamps a quiet scene's anomaly. This package scores *regions*
(square windows of an analysis grid at close to the source resolution) with features that do not
depend on how well a generator predicts them, and asks how likely they are under normal footage:

* ``speed``: the window's mean flow speed (the training-free "largest local speed" rule);
* ``place``: the speed over the normal 99.9th percentile at that place (the per-position rule);
* ``direction``: a kNN density over (direction histogram, position) of moving windows: which way
  things move where;
* ``appearance``: the distance of the window's look (gradient energies by direction, and tone) to
  the normal looks kept at that place: what does not move unusually (a bag left behind, a person
  lying down) but does not look like that place's normal either (tried by the choice only when
  asked: ``RegionHeadConfig.try_appearance``);
* ``moving_look``: a kNN density over (look, position) of moving windows: what moves (a cart at
  walking speed looks like nothing that moved in training); its score is added to the frame's,
  not weighed in the max (tried with the appearance part).

Each part is scaled by its scores on normal training videos it was *not* fitted on
(leave-videos-out), so 1.0 means "as high as the highest normal frames of unseen normal videos".
A frame's score is the largest weighted part over its windows (plus the added parts'); the
winning window is the box to draw. Nothing here sees a test label or a test-video statistic.

>>> import numpy as np
>>> from ammcnet.regions import RegionHead, RegionHeadConfig
>>> rng = np.random.default_rng(0)
>>> def video(speed):   # 12 frames of 48x64 flow: a 10x10 block moving right at `speed` px/frame
...     f = np.zeros((12, 48, 64, 2), np.float32); f[:, 20:30, 20:30, 0] = speed
...     return f + rng.normal(0, 0.01, f.shape).astype(np.float32)
>>> head = RegionHead.fit([video(1.0), video(1.2), video(0.8)], RegionHeadConfig(window=0.25))
>>> normal, fast = head.score_flows(video(1.0)).score, head.score_flows(video(4.0)).score
>>> bool(fast.mean() > 2 * normal.mean())
True

The analysis grid and its flow (:func:`analysis_size`, :class:`ammcnet.flow.analysis.AnalysisFlow`)
live in :mod:`ammcnet.flow` beside the network's flow; ``analysis_size`` is named here too.
"""

from ammcnet.flow.analysis import analysis_size
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import WindowFeatures, window_features
from ammcnet.regions.head import FrameScores, RegionHead

__all__ = ["FrameScores", "RegionHead", "RegionHeadConfig", "WindowFeatures", "analysis_size", "window_features"]
