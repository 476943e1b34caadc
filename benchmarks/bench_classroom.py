"""Time from a dose-slider key press to the new figure in the browser, on the classroom page.

Usage::

    .venv/bin/python benchmarks/bench_classroom.py [--moves 20] [--chromium /usr/bin/chromium]

Serves the page (``python -m sim.teaching --serve``) on a free port, opens it in Debian's Chromium through
Playwright (``--no-sandbox --disable-gpu --no-first-run``; no downloaded browser), focuses the dose slider and
presses ArrowRight / ArrowLeft alternately ``--moves`` times (5.00 <-> 5.25 mg/kg/day). Each time is measured in
the page: ``performance.now()`` at the ``keydown`` (capture phase) to the mutation of the figure ``<img>``'s
``src`` that follows it. Prints the median, 90th percentile and maximum; the target is a median <= 0.25 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
from playwright.sync_api import sync_playwright

TARGET_S = 0.25
LISTEN = """() => {
  window.__keys = []; window.__figures = [];
  document.addEventListener('keydown', () => window.__keys.push(performance.now()), true);
  const img = document.querySelector('img.synaprune-figure');
  new MutationObserver(() => window.__figures.push(performance.now())).observe(img, {attributes: true,
    attributeFilter: ['src']});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20, help="number of timed slider moves")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sim.teaching", "--serve", "--no-browser", f"--port={port}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _up(f"{url}/voila/static/"):
            if time.monotonic() > deadline:
                raise SystemExit("voila did not start within 60 s")
            time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            page = browser.new_page(viewport={"width": 1366, "height": 620})
            start = time.perf_counter()
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".synaprune-readout b", timeout=120_000)
            print(f"page load to first figure: {time.perf_counter() - start:.1f} s")
            page.evaluate(LISTEN)
            handle = page.locator(".synaprune-dose-mg-per-kg .noUi-handle")
            handle.focus()
            times = []
            for i in range(args.moves + 2):  # the first two moves are warm-up (not timed)
                n = page.evaluate("window.__figures.length")
                handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                page.wait_for_function(f"window.__figures.length > {n}", timeout=30_000)
                time.sleep(0.2)  # let the kernel go idle: one move at a time, as a teacher presses keys
                keys, figures = page.evaluate("[window.__keys, window.__figures]")
                if i >= 2:
                    times.append((figures[n] - keys[-1]) / 1e3)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    t = np.array(times)
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {args.chromium}")
    print(
        f"slider key press -> new figure in the browser, {t.size} moves: median {np.median(t):.3f} s, "
        f"90th percentile {np.percentile(t, 90):.3f} s, max {t.max():.3f} s (target: median <= {TARGET_S} s)"
    )


if __name__ == "__main__":
    main()
