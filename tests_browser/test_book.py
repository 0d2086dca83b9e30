"""The course website as a reader meets it: `make book`'s _build/book/ in headless Chromium.

Served by a local http.server on 127.0.0.1; every page loads without console errors, every
image loads, every internal link (and its #anchor) resolves, and each notebook's launch links
point where the README says. Run with `make test-browser` (it builds the site first).
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "book"
CHROMIUM = os.environ.get("ASYNCLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Lazy images load only when scrolled to: make each one load now, then report whether it did.
IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = "eager";
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  return imgs.map(img => [img.currentSrc || img.src, img.naturalWidth]);
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (SITE / "index.html").exists():
        pytest.fail(f"{SITE}/index.html is missing: run `make book` first (make test-browser does)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("ASYNCLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _pages() -> list[str]:
    return ["index.html", "syllabus.html", *(f"notebooks/{n}.html" for n in NOTEBOOKS),
            "docs/instructor.html", "docs/bench.html", "docs/deploy-jupyterhub.html"]


def _visit(browser: object, url: str, screenshot: Path | None = None) -> dict[str, object]:
    """Open one page; return its console errors, failed requests, images and links."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        response = page.goto(url, wait_until="load", timeout=30_000)
        assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
        images = page.evaluate(IMAGES_JS)
        links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        launch = {key: page.eval_on_selector_all(f"#launch-{key}", "els => els.map(e => e.getAttribute('href') || e.textContent)")
                  for key in ("binder", "jupyterhub", "local")}
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        return {"errors": errors, "images": images, "links": links, "launch": launch}
    finally:
        page.close()


@pytest.fixture(scope="module")
def visited(site: str, browser: object) -> dict[str, dict[str, object]]:
    shots = Path(os.environ.get("ASYNCLAB_SCREENSHOTS", ARTIFACTS))
    shots.mkdir(parents=True, exist_ok=True)
    named = {"index.html": shots / "book-index.png", f"notebooks/{NOTEBOOKS[1]}.html": shots / "book-01.png"}
    return {path: _visit(browser, site + path, named.get(path)) for path in _pages()}


@pytest.mark.timeout(300)
def test_every_page_loads_without_console_errors(visited: dict[str, dict[str, object]]) -> None:
    problems = {path: seen["errors"] for path, seen in visited.items() if seen["errors"]}
    assert not problems, problems


@pytest.mark.timeout(300)
def test_every_image_loads(visited: dict[str, dict[str, object]]) -> None:
    broken = {path: [src for src, width in seen["images"] if not width] for path, seen in visited.items()}  # type: ignore[attr-defined]
    assert not {p: b for p, b in broken.items() if b}, broken
    assert any(visited["notebooks/00_welcome.html"]["images"]), "notebook 00's page shows no picture"  # type: ignore[arg-type]
    meter = [src for src, _ in visited["notebooks/00_welcome.html"]["images"] if "meter-" in src]  # type: ignore[attr-defined]
    assert len(meter) >= 2, f"notebook 00's page must show the meter screenshots, shows {meter}"


@pytest.mark.timeout(300)
def test_every_internal_link_resolves(site: str, visited: dict[str, dict[str, object]]) -> None:
    ids: dict[str, set[str]] = {}
    broken = []
    for path, seen in visited.items():
        for link in seen["links"]:  # type: ignore[attr-defined]
            if not link.startswith(site):
                continue
            target, anchor = urldefrag(link)
            if target not in ids:
                try:
                    with urllib.request.urlopen(target, timeout=10) as response:
                        body = response.read().decode("utf-8", errors="replace")
                except OSError as exc:
                    broken.append(f"{path}: {link} ({exc})")
                    ids[target] = set()
                    continue
                ids[target] = {html.unescape(m) for m in re.findall(r'\bid="([^"]+)"', body)}
            if anchor and unquote(anchor) not in ids[target]:
                broken.append(f"{path}: {link} (no #{anchor} on that page)")
    assert not broken, "\n".join(broken)


def _readme_commands() -> list[str]:
    block = re.search(r"^## Start.*?```bash\n(.*?)```", README, re.MULTILINE | re.DOTALL)
    assert block, "the README's Start section has no bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.timeout(300)
def test_launch_links_point_where_the_readme_says(visited: dict[str, dict[str, object]]) -> None:
    badge = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", README)
    assert badge, "the README has no Binder badge"
    owner_repo = re.match(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/", badge.group(0))
    assert owner_repo
    for name in NOTEBOOKS:
        launch = visited[f"notebooks/{name}.html"]["launch"]
        want_binder = re.sub(r"notebooks/[^)\s]+\.ipynb$", f"notebooks/{name}.ipynb", badge.group(0))
        assert launch["binder"] == [want_binder], (name, launch["binder"])  # type: ignore[index]
        [hub] = launch["jupyterhub"]  # type: ignore[index]
        query = urlparse(hub).query
        assert urlparse(hub).path.endswith("/hub/user-redirect/git-pull"), hub
        assert f"repo={'https%3A//github.com/' + owner_repo.group(1)}" in query.replace("%2F", "/"), hub
        assert unquote(query).endswith(f"urlpath=lab/tree/{owner_repo.group(1).split('/')[1]}/notebooks/{name}.ipynb"), hub
        [local] = launch["local"]  # type: ignore[index]
        assert local.strip().splitlines() == _readme_commands(), local
