"""report.html in a real browser (headless Chromium): a copy moved to another folder shows every
image, requests nothing, sorts its per-video table on a click and runs no script from a video name.

With ``AMMCNET_DOC_SCREENSHOTS=1`` the screenshot is also written to ``docs/images/report.png``
(the docs' picture of the report is made here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ammcnet.report import write_report
from browser import chrome_driver
from report_fixtures import synthetic_inputs

REPO = Path(__file__).resolve().parents[1]
DOC_SCREENSHOT = REPO / "docs" / "images" / "report.png"
#: Size of the docs' screenshot (CSS pixels): the summary and the per-video table.
DOC_WINDOW = (1200, 1700)

IMAGES_LOADED = "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0);"
RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name);"
FIRST_COLUMN = "return Array.from(document.querySelectorAll('#video-table tbody tr')).map(r => r.cells[0].textContent.trim());"
COLUMN_KEYS = ("return Array.from(document.querySelectorAll('#video-table tbody tr'))"
               ".map(r => Number(r.cells[arguments[0]].dataset.sort));")


def _moved_report(tmp_path: Path, names: list[str] | None = None) -> Path:
    """Write a report, copy its folder elsewhere and delete the original: the copy is what is opened."""
    first = tmp_path / "written" / "test"
    write_report(first, synthetic_inputs(first, names))
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, moved)
    shutil.rmtree(tmp_path / "written")
    return moved / "report.html"


def _sort_by(driver, header: str) -> list[str]:
    from selenium.webdriver.common.by import By

    heads = driver.find_elements(By.CSS_SELECTOR, "#video-table thead th")
    col = [h.text.strip(" \u2195\u25b2\u25bc") for h in heads].index(header)
    heads[col].click()
    return driver.execute_script(COLUMN_KEYS, col)


def test_moved_report_loads_and_sorts(tmp_path) -> None:
    page = _moved_report(tmp_path)
    with chrome_driver(tmp_path, DOC_WINDOW) as driver:
        driver.get(page.as_uri())
        loaded = driver.execute_script(IMAGES_LOADED)
        assert len(loaded) == 6 + 2 and all(loaded), loaded  # a curve per video, the ROC, the top frames
        assert [r for r in driver.execute_script(RESOURCES) if not r.startswith("data:")] == []
        before = driver.execute_script(FIRST_COLUMN)
        assert before == [f"{i + 1:02d}" for i in range(6)]
        ascending = _sort_by(driver, "peak score")
        after = driver.execute_script(FIRST_COLUMN)
        assert after != before and sorted(after) == before and ascending == sorted(ascending)
        descending = _sort_by(driver, "peak score")  # a second click reverses the order
        assert descending == sorted(ascending, reverse=True)
        for href in driver.execute_script("return Array.from(document.querySelectorAll('a[href]'))"
                                          ".filter(a => !a.getAttribute('href').startsWith('#')).map(a => a.href);"):
            assert href.startswith(page.parent.as_uri() + "/"), href  # resolved inside the moved copy
        driver.execute_script("window.scrollTo(0, 0);")
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("AMMCNET_DOC_SCREENSHOTS") == "1":
            DOC_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOC_SCREENSHOT)


def test_a_script_in_a_video_name_does_not_run(tmp_path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    hostile = "<script>alert(1)</script>"
    page = _moved_report(tmp_path, ["01", hostile])
    with chrome_driver(tmp_path) as driver:
        driver.get(page.as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - reading it raises when no alert is open
        assert hostile in driver.execute_script(FIRST_COLUMN)
