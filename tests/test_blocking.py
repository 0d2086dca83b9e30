"""find_blocking(): names time.sleep, sync httpx and sync psycopg by file and line (or cell and line).

Real calls only: a local http.server thread for httpx, a real PostgreSQL for psycopg (from
ASYNCLAB_PG_DSN, else the lab's embedded one; skipped when neither is available).
"""

from __future__ import annotations

import asyncio
import http.server
import inspect
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from nbclient import NotebookClient

from asynclab import find_blocking
from asynclab.instruments import BlockingCall, BlockingReport

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


def here() -> int:
    """The caller's current line number, so tests need no hard-coded line numbers."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    dsn = os.environ.get("ASYNCLAB_PG_DSN")
    if dsn:
        yield dsn
        return
    try:
        from asynclab.services.postgres import start_postgres
    except ImportError as exc:
        pytest.skip(f"no PostgreSQL: ASYNCLAB_PG_DSN is not set and the embedded one is missing ({exc})")
    try:
        handle = start_postgres()
    except Exception as exc:
        pytest.skip(f"no PostgreSQL: ASYNCLAB_PG_DSN is not set and the embedded one did not start ({exc})")
    try:
        yield handle.dsn
    finally:
        handle.stop()


def finding(report: BlockingReport, function: str) -> BlockingCall:
    matches = [c for c in report.calls if c.function == function]
    assert len(matches) == 1, report.summary()
    return matches[0]


async def test_time_sleep_is_named_with_file_and_line() -> None:
    async with asyncio.timeout(10):
        async with find_blocking() as report:
            time.sleep(0.05)
            line = here() - 1
    call = finding(report, "time.sleep")
    assert call.kind == "sleep" and call.in_coroutine
    assert call.location == f"{os.path.relpath(__file__)}:{line}"
    assert call.advice == "use await asyncio.sleep(...)"
    assert call.message == (f"time.sleep called inside a coroutine at {call.location}: "
                            "use await asyncio.sleep(...)")
    assert call.seconds >= 0.04 and call.count == 1
    assert report.summary().startswith("Found 1 blocking call on the event loop:")


async def test_sync_httpx_is_named(http_url: str) -> None:
    async with asyncio.timeout(20):
        with httpx.Client() as client:  # made outside: creating a client is slow CPU work of its own
            async with find_blocking() as report:
                client.get(http_url)
                client_line = here() - 1
                httpx.get(http_url)
                function_line = here() - 1
    client_call = finding(report, "httpx.Client.get")
    assert client_call.kind == "http" and client_call.location.endswith(f"test_blocking.py:{client_line}")
    assert client_call.advice == "use httpx.AsyncClient"
    assert client_call.message.startswith("sync HTTP (httpx.Client.get) at ")
    function_call = finding(report, "httpx.get")
    assert function_call.location.endswith(f"test_blocking.py:{function_line}")


async def test_sync_psycopg_is_named(pg_dsn: str) -> None:
    import psycopg

    async with asyncio.timeout(60):
        async with find_blocking() as report:
            conn = psycopg.connect(pg_dsn)
            connect_line = here() - 1
            try:
                conn.execute("select pg_sleep(0.05)").fetchall()
                execute_line = here() - 1
            finally:
                conn.close()
    connect = finding(report, "psycopg.connect")
    assert connect.kind == "database" and connect.location.endswith(f"test_blocking.py:{connect_line}")
    assert connect.advice == "use asyncpg or psycopg.AsyncConnection"
    execute = finding(report, "psycopg.Connection.execute")
    assert execute.location.endswith(f"test_blocking.py:{execute_line}") and execute.seconds >= 0.04
    assert psycopg.connect.__func__ is psycopg.Connection.connect.__func__  # type: ignore[attr-defined]  # restored


async def test_async_code_has_no_findings(http_url: str) -> None:
    async with asyncio.timeout(20), httpx.AsyncClient() as client, find_blocking() as report:
        await asyncio.sleep(0.1)
        await client.get(http_url)
        await asyncio.to_thread(time.sleep, 0.05)
    assert report.calls == [], report.summary()
    assert report.summary() == "No blocking calls found on the event loop."


async def test_cpu_work_is_a_slow_step_at_its_line() -> None:
    def busy(seconds: float) -> int:
        end, n = time.perf_counter() + seconds, 0
        while time.perf_counter() < end:
            n += 1
        return n

    busy_line = inspect.getsourcelines(busy)[1] + 2  # the `while` loop is where the time goes
    async with asyncio.timeout(10):
        async with find_blocking(slow_callback_duration=0.05) as report:
            busy(0.3)
    assert report.calls == []
    lines = {s.lineno for s in report.slow_steps}
    assert lines & {busy_line, busy_line + 1}, report.summary()
    step = max(report.slow_steps, key=lambda s: s.seconds)
    assert step.kind == "slow-step" and 0.3 * 0.5 <= step.seconds <= 0.3 * 2, report.summary()
    assert "to_thread" in step.advice


async def test_everything_is_restored_even_when_the_body_raises() -> None:
    loop = asyncio.get_running_loop()
    before = (time.sleep, socket.socket.connect, loop.get_debug(), loop.slow_callback_duration,
              list(logging.getLogger("asyncio").filters))
    with pytest.raises(RuntimeError, match="learner bug"):
        async with asyncio.timeout(10), find_blocking() as report:
            time.sleep(0.01)
            raise RuntimeError("learner bug")
    after = (time.sleep, socket.socket.connect, loop.get_debug(), loop.slow_callback_duration,
             list(logging.getLogger("asyncio").filters))
    assert after == before
    assert report.functions() == {"time.sleep"}
    assert not [t for t in threading.enumerate() if t.name == "asynclab-blocking-sampler"]


async def test_sync_form_around_code_that_runs_on_the_loop() -> None:
    def handler() -> None:
        time.sleep(0.02)

    line = inspect.getsourcelines(handler)[1] + 1
    with find_blocking() as report:  # a sync handler called from a coroutine
        handler()
    (call,) = report.calls
    assert call.function == "time.sleep" and call.location.endswith(f"test_blocking.py:{line}")
    assert time.sleep.__module__ == "time" and type(time.sleep).__name__ == "builtin_function_or_method"


def test_sync_form_around_asyncio_run() -> None:
    async def main() -> None:
        time.sleep(0.02)

    with find_blocking() as report:
        asyncio.run(main())
    assert report.functions() == {"time.sleep"}
    assert report.calls[0].in_coroutine


@pytest.mark.slow
def test_cells_are_named_in_a_kernel(tmp_path: Path) -> None:
    """In a notebook the finding says "cell N, line L": the learner's own numbering."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "import asyncio, time\nfrom asynclab import find_blocking",
        "async def handler():\n    await asyncio.sleep(0)\n    time.sleep(0.05)",
        "async with find_blocking() as report:\n    await handler()\nprint(report.summary())",
        "with find_blocking() as report:\n    time.sleep(0.02)\nprint(report.summary())",
    )]
    client = NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = nb.cells[2].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs
    text = outputs[0].text
    assert "time.sleep called inside a coroutine at cell 2, line 3: use await asyncio.sleep(...)" in text, text
    assert "time.sleep(0.05)" in text  # the learner's line, from IPython's cell cache
    # A plain cell runs on the kernel's loop too: same finding, without "inside a coroutine".
    text = nb.cells[3].outputs[0].text
    assert "time.sleep called on the event loop at cell 4, line 2" in text, text


def test_learner_files_are_not_library_files() -> None:
    from asynclab.instruments.learner_frames import is_library_file as _is_library_file

    assert not _is_library_file(__file__)
    assert not _is_library_file("/tmp/ipykernel_123/456.py")
    assert _is_library_file(httpx.__file__)
    assert _is_library_file(asyncio.__file__)
    assert _is_library_file(sys.modules["asynclab"].__file__ or "")
