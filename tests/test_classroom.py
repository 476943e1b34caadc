"""The classroom page in a real browser: Voila serves ``python -m sim.teaching --serve``, Debian's Chromium opens it.

Playwright (``pytest-playwright``) drives the ``chromium`` package found on ``PATH`` (or ``$CHROMIUM``) through its
executable path; browsers are never downloaded (no ``playwright install``). Without Chromium, Playwright or Voila
the tests are skipped, except under ``CI=true``, where that is a failure (``.ci/run`` installs ``chromium``).

The window is a 1366 x 768 projector less the browser's bars (:data:`VIEWPORT`): the figure must be above the fold.
Screenshots of each step go to pytest-playwright's output directory (``test-results/`` unless ``--output``).
The server runs with a 2-s idle-kernel cull so that the last check sees the kernel of a closed page shut down.

The browser checks are one test (:func:`test_classroom_page_in_a_browser`, two clearly separated steps): under
``pytest -n 2`` two tests of this module could land on both workers, and each would start its own Voila server,
kernel and Chromium (about 20 s more on two cores).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
#: A 1366 x 768 projector less about 150 px of browser tabs, address bar and taskbar [px].
VIEWPORT = {"width": 1366, "height": 620}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
SERVER_START_TIMEOUT_S = 30
PAGE_TIMEOUT_MS = 45_000
CONTROLS = ["drug", "dose-mg-per-kg", "days", "follow-up-days", "genotype", "depleted", "stressed"]


try:
    import playwright  # noqa: F401
    import pytest_playwright  # noqa: F401
    import voila  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installed extras
    if IN_CI:
        raise
    pytest.skip(f"{error.name} not installed (pip install -e '.[dev]')", allow_module_level=True)
if CHROMIUM is None and not IN_CI:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium, never a downloaded browser."""
    if CHROMIUM is None:
        pytest.fail("chromium is required when CI=true (.ci/run installs it with apt-get)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int | None:
    """HTTP status of a GET of ``url``; None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _kernel_id(page) -> str:
    """The id of the page's kernel, from Voila's page configuration."""
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    return config["kernelId"]


@pytest.fixture(scope="module")
def server():
    """``python -m sim.teaching --serve`` on a free port (its own process group, ended after the module)."""
    port = _free_port()
    command = [sys.executable, "-m", "sim.teaching", "--serve", "--no-browser", f"--port={port}"]
    command += ["--cull-idle-timeout-s=2", "--cull-interval-s=1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            if _status(f"{url}/voila/static/") is not None:  # the server answers (without starting a kernel)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.poll() is not None else ""
                pytest.fail(f"voila did not start within {SERVER_START_TIMEOUT_S} s: {output[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)  # it stops Voila, which stops its kernels, then removes the page
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _readout(page) -> str:
    return page.locator(".synaprune-readout").inner_text()


def _density(text: str) -> float:
    """The percentage of 'Spine density on day 7 (...): 87.0 % of baseline'."""
    return float(text.split(":")[-1].split("%")[0])


@pytest.fixture(scope="module")
def classroom(server, browser, browser_context_args):
    """The page, opened once for the module (a page load starts a kernel: about 5-15 s on two busy cores)."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    _open(page, server)
    yield page
    context.close()


def _open(page, url: str) -> None:
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(
        "img.synaprune-figure[src^='blob:'], img.synaprune-figure[src^='data:']", timeout=PAGE_TIMEOUT_MS
    )
    page.wait_for_function(
        "document.querySelector('.synaprune-readout') && "
        "document.querySelector('.synaprune-readout').innerText.includes('%')",
        timeout=PAGE_TIMEOUT_MS,
    )


def test_classroom_page_in_a_browser(server, classroom, output_path):
    """One Voila server, one Chromium, one page: first what the class sees and does, then the page is closed."""
    _check_page_opens_at_the_lesson_and_the_dose_slider_moves_the_day7_density(classroom, output_path)
    _check_the_kernel_of_a_closed_page_is_culled(server, classroom)  # closes the page: always last


def _check_page_opens_at_the_lesson_and_the_dose_slider_moves_the_day7_density(classroom, output_path) -> None:
    """Lesson defaults, every control, one figure above the fold, no developer text; then the dose slider."""
    page = classroom
    page.screenshot(path=Path(output_path) / "1-opened.png")
    for name in CONTROLS:
        assert page.locator(f".synaprune-{name}").count() == 1, name
    assert page.locator(".synaprune-drug select").input_value() == "diazepam"
    assert page.locator(".synaprune-dose-mg-per-kg .widget-readout").inner_text().strip() == "5.00"
    assert page.locator(".synaprune-days .widget-readout").inner_text().strip() == "7"
    assert page.locator("img").count() == 1  # one figure, no frozen copy
    box = page.locator("img.synaprune-figure").bounding_box()
    assert box["width"] >= 800 and box["x"] + box["width"] <= VIEWPORT["width"]
    assert box["y"] + box["height"] <= VIEWPORT["height"], box  # the spine and memory panels are above the fold
    assert "Spine density on day 7" in _readout(page)
    assert page.locator(".synaprune-caveat").inner_text().strip() == ""  # the lesson's defaults are calibrated
    body = page.locator("body").inner_text()
    for developer_text in ("compute", " ms", "Traceback", "TeachingApp", "import "):
        assert developer_text not in body, developer_text

    # moving the dose slider with the keyboard changes the plotted day-7 density, outside the arms with a caveat
    before = _readout(page)
    figure_before = page.locator("img.synaprune-figure").get_attribute("src")
    handle = page.locator(".synaprune-dose-mg-per-kg .noUi-handle")
    handle.focus()
    handle.press("ArrowRight")  # 5 -> 5.25 mg/kg/day
    page.wait_for_function(
        "before => document.querySelector('.synaprune-readout').innerText !== before", arg=before, timeout=20_000
    )
    after = _readout(page)
    assert page.locator(".synaprune-dose-mg-per-kg .widget-readout").inner_text().strip() == "5.25"
    assert _density(after) < _density(before)  # a larger dose prunes more by day 7
    assert page.locator("img.synaprune-figure").get_attribute("src") != figure_before
    assert page.locator(".synaprune-caveat").inner_text().strip().startswith("Outside the calibrated range")
    page.screenshot(path=Path(output_path) / "2-dose-5.25.png")
    handle.press("End")  # the slider's maximum, 20 mg/kg/day
    page.wait_for_function(
        "() => document.querySelector('.synaprune-dose-mg-per-kg .widget-readout').innerText.trim() === '20.00' && "
        "document.querySelector('.synaprune-readout').innerText !== " + json.dumps(after),
        timeout=20_000,
    )
    caveat = page.locator(".synaprune-caveat").inner_text()
    assert "Outside the calibrated range" in caveat and "20 mg/kg/day is above 5 mg/kg/day" in caveat
    assert page.locator(".synaprune-caveat").is_visible()
    page.screenshot(path=Path(output_path) / "3-dose-20-caveat.png")


def _check_the_kernel_of_a_closed_page_is_culled(server, classroom) -> None:
    """A tab closed without Voila's shutdown request: the idle-kernel culler ends its kernel within 30 s."""
    page = classroom
    kernel = f"{server}/api/kernels/{_kernel_id(page)}"
    assert _status(kernel) == 200
    page.close()  # a closed tab without its unload handlers (Voila's own shutdown request): only the culler helps
    deadline = time.monotonic() + 30
    start = time.monotonic()
    while _status(kernel) == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _status(kernel) == 404
    print(f"kernel culled {time.monotonic() - start:.1f} s after the page closed (idle timeout 2 s, interval 1 s)")
