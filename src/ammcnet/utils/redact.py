"""Credentials out of everything ammcnet prints or writes.

Camera URLs often carry a user and password (``rtsp://admin:secret@10.0.0.5/stream``) or a token
in the query. Every message, log line, summary and events file names a source through
:func:`mask_url`, so that a log shared for help or a dashboard does not leak the password.

>>> mask_url("rtsp://admin:s3cr:t@cam.local:554/live?token=abc&ch=1")
'rtsp://admin:***@cam.local:554/live?token=***&ch=1'
>>> mask_url("http://user@host/x"), mask_url("street.mp4"), mask_url(3)
('http://user@host/x', 'street.mp4', '3')
>>> mask_text("cannot open stream rtsp://u:p@h/s; check the URL")
'cannot open stream rtsp://u:***@h/s; check the URL'
"""

from __future__ import annotations

import re
from typing import Any

#: ``scheme://user:password@`` (the password ends at the last ``@`` before the host).
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):(?P<secret>[^\s/]*)@")
#: Query parameters that commonly hold secrets.
_QUERY = re.compile(
    r"(?P<head>[?&](?:password|passwd|pass|pwd|token|access_token|auth|key|apikey|api_key|secret|sig|signature)=)"
    r"(?P<secret>[^&#\s]*)",
    re.IGNORECASE,
)
MASK = "***"


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it, and secret query values, replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m.group('head')}{MASK}" if m.group("secret") else m.group(0), text)


def mask_url(source: Any) -> str:
    """A source (URL, path, camera index, capture) as text that is safe to print or store."""
    return mask_text(str(source))
