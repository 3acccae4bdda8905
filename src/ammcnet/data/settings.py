"""The ``data`` section of a run's settings: how a dataset is prepared (cached) and split.

It lives with the data because more than training reads it: a model file stores it with its
training settings, and ``ammcnet test``, ``detect``, ``export`` and ``calibrate`` prepare data at
the model's grid and flow from it (through :mod:`ammcnet.scoring.model_file`, without the
training package).

>>> DataSettings(size=(64, 96)).size, DataSettings().flow
((64, 96), 'dis')
>>> DataSettings(size=(30, 30))
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: DataSettings: data.size=[30, 30]: height and width must be positive multiples of 8
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ammcnet.settings import Int, Str, settings


@settings
class DataSettings:
    """How the dataset is prepared (cached) and split.

    Args:
        size: (H, W) frames and flows are resized to; divisible by 8.
        flow: optical-flow backend name for ``prepare_dataset``.
        flow_preset: backend preset (e.g. DIS "medium").
        workers: DataLoader worker processes (0 = load in the main process).
        val_fraction: last fraction of every training video's clips (by target frame) held out as
            normal validation clips; never trained on.
    """

    size: tuple[Int, Int] = (256, 256)
    flow: Str = "dis"
    flow_preset: Str = "medium"
    workers: Int = Field(0, ge=0)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _size_fits_the_network(self) -> DataSettings:
        h, w = self.size
        if h % 8 or w % 8 or h <= 0 or w <= 0:
            raise ValueError(f"data.size={list(self.size)}: height and width must be positive multiples of 8")
        return self
