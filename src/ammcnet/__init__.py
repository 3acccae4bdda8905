"""ammcnet: AMMC-Net video anomaly detection (Cai et al., AAAI 2021), re-implemented.

Train on normal video, then score any video or live stream frame by frame.

>>> import ammcnet
>>> ammcnet.__version__
'0.1.0'
"""

__version__ = "0.1.0"

from ammcnet.errors import AmmcError  # noqa: E402

__all__ = ["AmmcError", "__version__"]
