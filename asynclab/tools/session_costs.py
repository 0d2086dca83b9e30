"""What a learner's session costs beside the notebook: an idle JupyterLab server, and what a
culled learner's PostgreSQL does (start, SIGKILL the owner, start again in the same folder).

Part of `python -m asynclab.tools.sizing`, kept apart because it measures processes the
notebooks never start.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
CLEANUP_TIMEOUT = 30.0  # seconds for the services to notice their kernel has gone
SERVER_TIMEOUT = 90.0  # seconds for an idle JupyterLab to answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_idle_server() -> dict[str, Any]:
    """Start JupyterLab (no kernel, no browser) on a free loopback port; its memory once it answers."""
    port = _free_port()
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="asynclab-sizing-") as root:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        started = time.monotonic()
        try:
            while True:
                if proc.poll() is not None:
                    return {"error": f"jupyter lab exited with code {proc.returncode}"}
                if time.monotonic() - started > SERVER_TIMEOUT:
                    return {"error": f"jupyter lab did not answer within {SERVER_TIMEOUT:.0f} s"}
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                        break
                except OSError:
                    time.sleep(0.3)
            ready = time.monotonic() - started
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10):
                pass  # the lab page, as a browser opens it: the server loads its settings and extensions
            time.sleep(2)
            server = psutil.Process(proc.pid)
            mem = server.memory_full_info() if hasattr(server, "memory_full_info") else server.memory_info()
            return {"start_seconds": round(ready, 1), "rss_mb": round(mem.rss / MB, 1),
                    "pss_mb": round(getattr(mem, "pss", 0) / MB, 1), "uss_mb": round(getattr(mem, "uss", 0) / MB, 1)}
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass


_STAND_IN = """
import sys, time
from asynclab.services.postgres import start_postgres
t = time.monotonic()
h = start_postgres(data_dir=sys.argv[1])
print(f"STARTED {time.monotonic() - t:.3f} {h.dsn}", flush=True)
time.sleep(300)
"""


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" after `timeout` seconds (never blocks longer)."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0].strip() if found else ""


def slot_of(dsn: str) -> str:
    """`pg-N` from a DSN whose socket folder is the slot's data folder."""
    match = re.search(r"/(pg-\d+)(?:&|$)", dsn)
    return match.group(1) if match else dsn


def measure_pg_lifecycle(repeats: int = 3) -> dict[str, Any]:
    """A culled learner's PostgreSQL: start it in a fresh folder (initdb), SIGKILL its owner, start again.

    The owner stands in for a kernel: a Python process that calls `start_postgres`. After the
    SIGKILL, the keeper and the server must go by themselves (parent-death signals), the slot's
    lock must be free and its data folder kept, and the next start must reuse slot 0.
    """
    from ..services.pgdata import try_lock

    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asynclab-sizing-pg-") as base:
        for attempt in range(1 + repeats):
            proc = subprocess.Popen([sys.executable, "-c", _STAND_IN, base], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                line = _read_line(proc, 90)
                if not line.startswith("STARTED "):
                    return {"error": f"round {attempt}: PostgreSQL did not start ({line or 'no output'})", "rounds": rounds}
                _, seconds, dsn = line.split(" ", 2)
                proc.kill()  # what happens to a kernel that is culled and does not stop in time
                proc.wait(10)
                killed = time.monotonic()
                gone = None
                while time.monotonic() - killed < CLEANUP_TIMEOUT:
                    left = [p for p in psutil.process_iter(["cmdline", "cwd"]) if base in " ".join(p.info["cmdline"] or [])
                            or (p.info["cwd"] or "").startswith(base)]
                    if not left:
                        gone = round(time.monotonic() - killed, 2)
                        break
                    time.sleep(0.05)
                lock_free = None  # seconds after the kill when the slot's lock was free
                while time.monotonic() - killed < CLEANUP_TIMEOUT:
                    fd = os.open(os.path.join(base, "pg-0.lock"), os.O_RDWR)
                    try:
                        if try_lock(fd):
                            lock_free = round(time.monotonic() - killed, 2)
                    finally:
                        os.close(fd)  # closing drops the lock we may just have taken
                    if lock_free is not None:
                        break
                    time.sleep(0.05)
                rounds.append({"start_seconds": float(seconds), "slot": slot_of(dsn),
                               "gone_after_kill_seconds": gone, "lock_free_after_kill_seconds": lock_free,
                               "data_kept": os.path.exists(os.path.join(base, "pg-0", "PG_VERSION"))})
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    reused = [r["start_seconds"] for r in rounds[1:]]
    return {"first_start_seconds": rounds[0]["start_seconds"], "reused_start_seconds": reused,
            "gone_after_kill_seconds": [r["gone_after_kill_seconds"] for r in rounds],
            "lock_free_after_kill_seconds": [r["lock_free_after_kill_seconds"] for r in rounds],
            "all_data_kept": all(r["data_kept"] for r in rounds),
            "slots": sorted({r["slot"] for r in rounds})}
