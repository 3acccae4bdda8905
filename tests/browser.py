"""A headless Chromium driven by Selenium, for the tests that open a page in a real browser.

``chrome_driver(tmp_path)`` starts Debian's ``chromium`` through its ``chromedriver`` and quits it
afterwards; the calling test is skipped, with the install command, when either or Selenium is
missing. Nothing is downloaded: the driver is the one installed beside the browser.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SKIP_BROWSER = "chromium/chromedriver not installed (apt-get install chromium chromium-driver)"
SKIP_SELENIUM = "selenium not installed (pip install 'ammcnet[browser]')"
#: Where Debian installs them, when they are not on PATH.
CHROMIUM = ("chromium", "chromium-browser", "/usr/bin/chromium")
CHROMEDRIVER = ("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
#: Window size in CSS pixels.
WINDOW = (1280, 1000)


def _find(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or skip the calling test when either is missing."""
    chromium, driver = _find(CHROMIUM), _find(CHROMEDRIVER)
    if chromium is None or driver is None:
        pytest.skip(SKIP_BROWSER)
    return chromium, driver


@contextlib.contextmanager
def chrome_driver(tmp_path: Path, window: tuple[int, int] = WINDOW) -> Iterator[Any]:
    """A headless Chromium WebDriver (``--no-sandbox``, its profile and log under ``tmp_path``), quit on exit."""
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip(SKIP_SELENIUM)
    chromium, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--window-size={window[0]},{window[1]}", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn  # the serve extra: imported only by the tests that serve

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_for(driver: Any, script: str, timeout: float = 10.0) -> Any:
    """Run ``script`` in the page until it returns something truthy (returned), or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    return None
