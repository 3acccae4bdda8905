"""``ammcnet serve``: a small local web app to review a ``detect`` or ``watch`` output folder.

The pages list the cameras with their state and a live score line, the alarm events (filterable
by camera, zone and time) and each event with its snapshot and clip; an event can be acknowledged
or marked normal, which is recorded in ``reviews.jsonl`` beside the events and, where the model
file is writable and a teach-normal update is given, also updates the model.

Only :mod:`ammcnet.utils` and the standard library are imported here; Starlette and uvicorn (the
``serve`` extra) are imported when an app is built, so importing this package stays light.
"""

from ammcnet.serve.app import create_app
from ammcnet.serve.options import ServeOptions
from ammcnet.serve.server import serve_folder

__all__ = ["ServeOptions", "create_app", "serve_folder"]
