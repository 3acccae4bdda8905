"""Applications: what a command does, built on the library layers below.

``ammcnet.apps.tester`` is ``ammcnet test``, ``ammcnet.apps.calibrator`` is ``ammcnet
calibrate`` and ``ammcnet.apps.exporter`` is ``ammcnet export`` (the int8 graph's training clips
are opened there, so the export library never reaches training). Library packages (data, flow, metrics, models, scoring, training, export) never
import this package; the import-linter contracts in ``pyproject.toml`` hold that.

>>> from ammcnet.apps.tester import default_out_dir
>>> default_out_dir("runs/ped2/model.pt").as_posix()
'runs/ped2/test'
"""
