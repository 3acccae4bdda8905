"""Choosing the region head's settings without test labels, and writing that choice's evidence.

Kept apart from the head itself (:mod:`ammcnet.regions`): the head is what scores; this package
only decides how it is set up, on normal training footage alone.

* :mod:`~ammcnet.regions.selection.validate`: held-out training videos (or stretches), every
  candidate window and part set fitted and measured, the best one chosen;
* :mod:`~ammcnet.regions.selection.synthetic`: the synthetic anomalies made from held-out normal
  footage that the candidates are measured on;
* :mod:`~ammcnet.regions.selection.dataset`: the same held-out videos and synthetic anomalies written
  as a labelled dataset (``ammcnet synthesize``), so any score can be compared on them.
"""
