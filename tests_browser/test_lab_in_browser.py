"""`make lab` as a learner meets it: token auth, then notebook 00 run in real headless Chromium.

Run with `make test-browser` (CI does). Needs Debian's chromium (`apt-get install chromium`)
and Playwright from PyPI; it never downloads a browser of its own. Without Chromium the tests
skip, unless ASYNCLAB_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ASYNCLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = os.environ.get("ASYNCLAB_BROWSER_NOTEBOOK", "00_welcome.ipynb")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab_url() -> Iterator[tuple[str, str]]:
    """`make lab` on a free port; yields (base URL, token). Stops the whole process group after."""
    port = _free_port()
    log_path = ARTIFACTS / "make-lab.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        token = None
        while token is None:
            assert proc.poll() is None, f"make lab exited early:\n{log_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"make lab printed no URL in 90 s:\n{log_path.read_text()[-2000:]}"
            match = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=([0-9a-f]+)", log_path.read_text())
            token = match.group(1) if match else None
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", token
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole group (make, jupyter, kernels), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_make_lab_listens_on_loopback_with_token_auth(lab_url: tuple[str, str]) -> None:
    base, token = lab_url
    assert _status(f"{base}/api/status?token={token}") == 200
    assert _status(f"{base}/api/status") in (401, 403), "without the token the API must refuse"


def test_notebook_00_runs_in_chromium_with_a_live_meter_and_no_errors(lab_url: tuple[str, str]) -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("ASYNCLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    base, token = lab_url
    shots = Path(os.environ.get("ASYNCLAB_SCREENSHOTS", ARTIFACTS))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all'], li.lm-Menu-item[data-command='notebook:run-all-cells']").first.click(timeout=10_000)
            # While the blocking demo runs, the meter must say so, live.
            blocked = page.wait_for_selector("text=/loop blocked for/", timeout=90_000)
            assert blocked is not None
            blocked.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "meter-blocked.png"))
            # Then every cell finishes: no prompt left as [*].
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent);
                    return prompts.length > 0 && !prompts.some(t => t.includes('*'))
                        && document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]') !== null;
                }""",
                timeout=180_000,
            )
            page.screenshot(path=str(shots / "notebook00-done.png"), full_page=True)
            widgets = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
            assert widgets > 0, "no widget rendered: is the ipywidgets front end missing?"
            healthy = page.locator("text=/heartbeats ran/").first
            healthy.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "meter-healthy.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            texts = [errors.nth(i).inner_text() for i in range(errors.count())]
            assert not [t for t in texts if "Error" in t or "Traceback" in t], texts
        finally:
            browser.close()
