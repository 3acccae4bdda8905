"""Beyond one machine: scoring archives and watching camera fleets, on Ray or on local processes.

* :mod:`ammcnet.fleet.cluster`: connecting to (or starting) a Ray cluster through the optional
  ``ray`` extra.
* :mod:`ammcnet.fleet.archive`: ``ammcnet detect A B C --ray`` and ``ammcnet test --ray``: each video
  a task on actors that load the model once, results published atomically per video.
* :mod:`ammcnet.fleet.watch`: ``ammcnet watch CONFIG.yaml``, one long-lived detector per camera.

Nothing here imports Ray at module level: everything but the ``--ray`` paths works without it.
"""
