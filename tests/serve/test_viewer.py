"""The viewer in real headless Chromium (Debian's chromium and chromedriver, WebGL through
SwiftShader): upload the shared contrast-enhanced CT, wait for the result, check the findings
table, the QC flag and the Grad-CAM overlay drawn over the scan (for a UniCT run: the report and
the finding mask, category by category), and keep a screenshot.

Set ``HYPERCT_SCREENSHOT_DIR`` to keep the screenshots outside the tests' temporary folders.
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


def test_a_unict_study_shows_its_report_and_mask_overlay(browser, served_unict, real_ct, tmp_path):
    from hyperct.serve.client import Client

    unict, _, server = served_unict
    with server() as url:
        browser.get(url + "/")
        _wait(lambda: browser.execute_script("return document.querySelectorAll('#model option').length"),
              30, "the model list")
        assert browser.find_element("id", "model").get_attribute("value") == unict.name
        browser.find_element("id", "files").send_keys(str(real_ct / "ts_chest_crop.nii.gz"))
        browser.find_element("css selector", "#upload button").click()
        _wait(lambda: str(browser.execute_script("return document.body.dataset.overlay")).startswith("mask:"),
              180, "the mask overlay")
        time.sleep(2)  # let NiiVue draw the overlay
        shot = tmp_path / "viewer_unict.png"
        browser.save_screenshot(str(shot))
        study = browser.execute_script("return window.hyperctViewer.state.study")
        with Client(url) as client:
            result = client.result(study)
        report = browser.find_element("id", "report").text
        options = [o.get_attribute("value") for o in browser.find_elements("css selector", "#category option")]
        overlay = browser.execute_script("const v = window.hyperctViewer.nv.volumes;"
                                         "return [v.length, v[1].name, v[1].frame4D, v[1].nFrame4D];")
        selector_shown = browser.find_element("id", "categories").is_displayed()
        status_requests = browser.execute_script(
            "return performance.getEntriesByType('resource').map((e) => e.name)"
            f".filter((n) => n.includes('/v1/studies/{study}?'))")
        second = options[1]
        browser.execute_script("const s = document.getElementById('category');"
                               "s.value = arguments[0]; s.dispatchEvent(new Event('change'));", second)
        _wait(lambda: browser.execute_script("return document.body.dataset.overlay") == f"mask:{second}", 30,
              "the second category")
        frame = browser.execute_script("return window.hyperctViewer.nv.volumes[1].frame4D")
    if os.environ.get("HYPERCT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HYPERCT_SCREENSHOT_DIR"]) / "viewer_unict.png")
    found = [c for c in result["masks"]["categories"] if c["voxels"]]
    assert report == result["report"].strip() and report
    assert options == [c["name"] for c in found] and len(found) > 1 and selector_shown
    assert overlay == [2, "masks.nii.gz", found[0]["channel"], len(result["masks"]["categories"])]
    assert frame == found[1]["channel"]
    assert all("wait=" in n for n in status_requests) and 1 <= len(status_requests) <= 3
    canvas = _canvas_pixels(browser, shot)
    gray = (np.ptp(canvas, axis=-1) < 0.04) & (canvas.mean(axis=-1) > 0.15)
    red = (canvas[..., 0] > 0.5) & (canvas[..., 0] - canvas[..., 1] > 0.3) & (canvas[..., 0] - canvas[..., 2] > 0.3)
    assert gray.mean() > 0.02, "the CT is not drawn"
    assert red.mean() > 0.01, "the mask overlay is not drawn"
