"""`make lab` as a learner meets it: token auth, then notebook 00 run in real headless Chromium.

Run with `make test-browser` (CI does). Needs Debian's chromium (`apt-get install chromium`)
and Playwright from PyPI; it never downloads a browser of its own. Without Chromium the tests
skip, unless ASYNCLAB_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import json
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
BLOCKING_DEMO = "time.sleep(1.0)  # holds the thread"
HEALTHY_DEMO = "100 tasks awaiting asyncio.sleep(1)"
# JupyterLab renders a traceback as stderr output of its own; plain stderr text is not a failure.
STDERR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
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
    learner_copy = ROOT / "notebooks" / NOTEBOOK
    original = learner_copy.read_bytes()  # the test saves outputs into it; put it back after
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
        learner_copy.write_bytes(original)


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


# Page facts as JavaScript expressions, shared by the waits and by the failure report.
PROMPTS_JS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim())"
STATUS_BAR_JS = "[...document.querySelectorAll('.jp-StatusBar-Widget')].map(w => w.textContent).join(' · ')"
KERNEL_IDLE_JS = f"/\\| Idle/.test({STATUS_BAR_JS})"  # "Python 3 (ipykernel) | Idle"
FAILED_JS = (f"[...document.querySelectorAll({json.dumps(STDERR_OUTPUT)})]"
             ".some(o => o.textContent.includes('Traceback'))")


def _run_all(page: object, attempts: int = 3) -> None:
    """Run → Run All Cells, as a learner would, once the kernel is there to take the cells.

    Under load JupyterLab can open the page before it knows the kernel: it then asks which
    kernel to start (the learner clicks Select, so do we), or takes a Run All that reaches no
    kernel and leaves every prompt at `[ ]`. So wait for the status bar to say Idle, and if no
    cell has started 20 s after the click, click again, as the learner would.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        deadline = time.monotonic() + 60
        while not page.evaluate(f"() => {KERNEL_IDLE_JS}"):  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, f"the kernel was not idle 60 s after the page opened: {_state(page)}"
            dialog = page.locator(".jp-Dialog", has_text="Select Kernel")  # type: ignore[attr-defined]
            if dialog.count():
                print("JupyterLab asked which kernel to start: Select")
                dialog.locator(".jp-mod-accept").first.click(timeout=10_000)
            time.sleep(0.2)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)  # type: ignore[attr-defined]
        page.locator("li.lm-Menu-item[data-command='runmenu:run-all'], "  # type: ignore[attr-defined]
                     "li.lm-Menu-item[data-command='notebook:run-all-cells']").first.click(timeout=10_000)
        try:
            page.wait_for_function(f"() => {PROMPTS_JS}.some(t => t !== '[ ]:')", timeout=20_000)  # type: ignore[attr-defined]
            return
        except PlaywrightTimeout:
            print(f"Run All started no cell in 20 s, clicking it again: {_state(page)}")
    raise AssertionError(f"Run All started no cell in {attempts} tries: {_state(page)}")


def _state(page: object) -> dict[str, str]:
    """Prompts, kernel status and any open dialog: enough for a CI log to say what went wrong."""
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        f"""() => ({{prompts: {PROMPTS_JS}.join(' '),
                    status_bar: {STATUS_BAR_JS},
                    dialog: document.querySelector('.jp-Dialog')?.textContent ?? 'none'}})""")


def _wait_until_all_ran(page: object, timeout_ms: int = 60_000) -> None:
    """Every code cell shows an execution number and the kernel is idle, or a cell failed.

    "No `[*]` prompt" is not enough: right after Run All is clicked, and before the kernel has
    picked the cells up, every prompt is still `[ ]` and the kernel idle. Numbers cannot be there
    before the cells ran. A failed cell stops Run All, so its error ends the wait at once and the
    test reports it instead of timing out.
    """
    try:
        page.wait_for_function(  # type: ignore[attr-defined]
            f"""() => {FAILED_JS} || (numbered => numbered.length > 0 && numbered.every(t => /^\\[\\d+\\]:$/.test(t)))
                ({PROMPTS_JS}) && {KERNEL_IDLE_JS}""",
            timeout=timeout_ms,
        )
    except Exception as exc:  # say where it stood, so a CI log explains itself
        page.screenshot(path=str(ARTIFACTS / "not-all-ran.png"), full_page=True)  # type: ignore[attr-defined]
        raise AssertionError(f"not every cell ran within {timeout_ms / 1000:.0f} s: {_state(page)}") from exc
    failed = page.locator(STDERR_OUTPUT, has_text="Traceback")  # type: ignore[attr-defined]
    assert failed.count() == 0, f"a cell failed in the browser:\n{(failed.first.text_content() or '')[-1500:]}"


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


@pytest.mark.timeout(300)  # its own waits are shorter and say what they waited for
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
            # ?reset: a fresh workspace, so tabs restored from an earlier session cannot take the focus.
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?reset&token={token}", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            _run_all(page)
            _wait_until_all_ran(page)
            page.screenshot(path=str(shots / "notebook00-done.png"), full_page=True)
            # JupyterLab renders only the cells in view, and Run All does not follow the running
            # cell. So bring the blocking demo into view and run it again: while time.sleep holds
            # the kernel's loop, the meter (driven by a thread) must say so, live.
            demo = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=BLOCKING_DEMO)).first
            demo.scroll_into_view_if_needed(timeout=30_000)
            demo.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            try:
                page.wait_for_selector("text=/loop blocked for/", timeout=30_000)
            except Exception as exc:  # say what the cell showed instead, so CI's log explains itself
                raise AssertionError(f"the meter never showed 'loop blocked for' in 30 s; the cell shows:\n"
                                     f"{(demo.text_content() or '')[-1500:]}") from exc
            page.screenshot(path=str(shots / "meter-blocked.png"))
            _wait_until_all_ran(page)
            healthy = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=HEALTHY_DEMO)).first
            healthy.scroll_into_view_if_needed(timeout=30_000)
            page.screenshot(path=str(shots / "meter-healthy.png"))
            widgets = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
            assert widgets > 0, "no widget rendered: is the ipywidgets front end missing?"
            # Off-screen cells are not in the DOM, so read every output from the saved model.
            page.keyboard.press("Control+S")
            page.wait_for_selector(".jp-mod-dirty", state="detached", timeout=30_000)
        finally:
            browser.close()
    outputs = [(i, o) for i, c in enumerate(_saved_cells(base, token)) for o in c.get("outputs", [])]
    assert outputs, "the saved notebook has no outputs: did Run All run?"
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, o in outputs if o["output_type"] == "error"]
    stderr = [f"cell {i}: {o.get('text', '')[:200]}" for i, o in outputs
              if o.get("name") == "stderr" and ("Error" in o.get("text", "") or "Traceback" in o.get("text", ""))]
    assert not errors + stderr, errors + stderr
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for _, o in outputs)


def _saved_cells(base: str, token: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/contents/{NOTEBOOK}?token={token}", timeout=30) as response:
        return list(json.load(response)["content"]["cells"])
