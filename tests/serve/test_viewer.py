"""The viewer in real headless Chromium (Debian's chromium and chromedriver, WebGL through
SwiftShader): upload the shared contrast-enhanced CT, wait for the result, check the findings
table, the QC flag and the Grad-CAM overlay drawn over the scan, and keep a screenshot.

Set ``HYPERCT_SCREENSHOT_DIR`` to keep the screenshot outside the test's temporary folder.
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("Debian chromium and chromium-driver are needed (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _canvas_pixels(driver, png: Path) -> np.ndarray:
    import matplotlib.image

    rect = driver.execute_script("const r = document.getElementById('gl').getBoundingClientRect();"
                                 "return [r.left, r.top, r.width, r.height, window.devicePixelRatio];")
    left, top, width, height, ratio = (float(v) for v in rect)
    image = matplotlib.image.imread(png)[..., :3]
    y0, x0 = int(top * ratio), int(left * ratio)
    return image[y0 : y0 + int(height * ratio), x0 : x0 + int(width * ratio)]


def test_upload_shows_findings_flag_and_overlay(browser, served, real_ct, tmp_path):
    _, server = served
    with server() as url:
        browser.get(url + "/")
        _wait(lambda: browser.execute_script("return document.querySelectorAll('#model option').length"),
              30, "the model list")
        browser.find_element("id", "files").send_keys(str(real_ct / "ts_chest_crop.nii.gz"))
        browser.find_element("css selector", "#upload button").click()
        _wait(lambda: len(browser.find_elements("css selector", "tr.finding")) == 25, 180,
              "the 25 findings")
        _wait(lambda: browser.execute_script("return document.body.dataset.overlay"), 180,
              "the saliency overlay")
        time.sleep(2)  # let NiiVue draw the overlay
        shot = tmp_path / "viewer.png"
        browser.save_screenshot(str(shot))
        groups = [e.text for e in browser.find_elements("css selector", "tr.group th")]
        flags = browser.find_element("id", "flags").text
        volumes = browser.execute_script("return window.hyperctViewer.nv.volumes.length")
        studies = browser.find_elements("css selector", "#studies li")
    if os.environ.get("HYPERCT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HYPERCT_SCREENSHOT_DIR"]) / "viewer.png")
    assert [g.lower() for g in groups] == ["conventional", "opportunistic"]
    assert "contrast-enhanced" in flags
    assert volumes == 2 and len(studies) == 1
    canvas = _canvas_pixels(browser, shot)
    gray = (np.ptp(canvas, axis=-1) < 0.04) & (canvas.mean(axis=-1) > 0.15)
    warm = (canvas[..., 0] > 0.6) & (canvas[..., 0] - canvas[..., 2] > 0.3)
    assert gray.mean() > 0.05, "the CT is not drawn"
    assert warm.mean() > 0.002, "the overlay is not drawn"
