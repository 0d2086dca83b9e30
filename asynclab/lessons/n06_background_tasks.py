"""Helpers for notebook 06 · Background tasks that are not lost, and for its checks.

What the lesson keeps asking, answered from the outside:

* What did the event loop complain about? `capture_loop_errors()` swaps the loop's exception
  handler for one that collects each complaint ("Task was destroyed but it is pending!",
  "Task exception was never retrieved", "Exception in callback ...") and restores the old one.
* What did the code log? `recording_logger(name)` is a logger whose records land in a list.
* Does a job queue survive a crashed worker? `WorkerLab` runs worker *processes* (this module
  is also their program), logs every job they start and finish to files, and lets the caller
  SIGKILL one mid-job:

      async with WorkerLab(dsn, schema) as wl:
          a = await wl.start("A")                  # a worker running this module's `work`
          await wl.wait_ready(["A"])
          ...enqueue jobs {"n": 0..19}...
          victim = await wl.wait_for_victim(10)    # the worker holding job VICTIM, mid-job
          victim.kill()                            # SIGKILL: no cleanup, no finally
          await wl.wait_done(range(20), within=8)

  Every job's handler writes "start" and "done" events; job `victim` blocks on its first
  attempt until its worker is killed, so the kill always lands mid-job. The check of exercise 2
  also names a `long` job (longer than the lease: a heartbeat must renew it), a `steal` job (its
  handler waits while the check takes the row over: a fenced completion must leave it alone)
  and a `poison` job (its handler always raises: retried up to MAX_ATTEMPTS, then 'failed').

This module is longer than most (about 700 lines) because it is also the worker *program*
(`python -m asynclab.lessons.n06_background_tasks`): the lesson's worker, the event log and the
process lab must stay importable from one module path that the worker processes run.

The jobs table of the course schema is shared by everyone on the lab's PostgreSQL (a notebook
and its checks may run at the same moment), so each user gets a private copy in a schema of
its own (`create_jobs_schema`), and pools point `jobs` at it through their search_path
(`open_pool`). The learner's SQL just says `jobs`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from ..instruments.timeline import Timeline

__all__ = ["CLAIM_SQL", "FINISH_SQL", "LEASE_SECONDS", "MAX_ATTEMPTS", "POLL_SECONDS", "RENEW_SQL", "RETRY_OR_FAIL_SQL",
           "Event", "WorkerLab", "WorkerProcess", "capture_loop_errors", "complaint_text", "create_jobs_schema",
           "drop_jobs_schema", "enqueue", "open_pool", "recording_logger", "renew_lease", "work"]

DSN_ENV = "ASYNCLAB_N06_DSN"  # the DSN reaches worker processes through the environment, not argv
LEASE_ENV = "ASYNCLAB_LEASE_SECONDS"
LEASE_SECONDS = float(os.environ.get(LEASE_ENV, "2"))
POLL_SECONDS = 0.1
MAX_ATTEMPTS = 3  # a job that failed (or killed its worker) this many times is marked 'failed': a poison job
MODULE = "asynclab.lessons.n06_background_tasks"  # this module's name, also when it runs as __main__
STALE_SCHEMA_SECONDS = 3600  # private schemas older than this were left by a crashed run: dropped


# -- what the loop and the logger saw ------------------------------------------------------

@contextlib.contextmanager
def capture_loop_errors(loop: asyncio.AbstractEventLoop | None = None) -> Iterator[list[dict[str, Any]]]:
    """Collect what the loop's exception handler receives; restore the previous handler after.

    The default handler *logs* each complaint (to the "asyncio" logger), which in a notebook
    is a traceback in some later cell. Here each one is a dict (`message`, `exception`,
    `task`, `future`, `handle`): `[c["message"] for c in seen]`.
    """
    loop = loop or asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


def complaint_text(context: dict[str, Any]) -> str:
    """One line for a complaint: the message, the task's name, the exception's type."""
    message = (str(context.get("message", "")).splitlines() or [""])[0]
    callback = re.match(r"(Exception in callback [\w.<>]+)\(", message)
    if callback:  # "Exception in callback f(<Task cancelled name=... coro=<... defined at /path...>>)"
        message = callback.group(1) + "(…)"
    message = re.sub(r" at 0x[0-9a-f]+", "", message)
    parts = [message]
    task = context.get("task") or context.get("future")
    if isinstance(task, asyncio.Task):
        parts.append(f"task {task.get_name()!r}")
    exc = context.get("exception")
    if exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return " · ".join(parts)


class RecordingHandler(logging.Handler):
    """Keeps every record it gets in `records`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def recording_logger(name: str) -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A logger (DEBUG and up, not propagated) whose records land in the returned list.

    Calling it again with the same name starts a fresh list.
    """
    logger = logging.getLogger(name)
    for old in [h for h in logger.handlers if isinstance(h, RecordingHandler)]:
        logger.removeHandler(old)
    handler = RecordingHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler.records


# -- a private copy of the jobs table ------------------------------------------------------

def _schema_name(prefix: str) -> str:
    return f"{prefix}_{int(time.time())}_{secrets.token_hex(3)}"


async def create_jobs_schema(dsn: str, prefix: str = "nb06") -> str:
    """A fresh schema `<prefix>_<unix time>_<hex>` holding an empty copy of the course's jobs table.

    The copy (`LIKE public.jobs INCLUDING ALL`) has the same columns, defaults, CHECK and
    indexes, and ids from a sequence of its own (so they start at 1). Schemas of the same prefix
    older than an hour (left by a crashed run) are dropped.
    """
    import asyncpg

    name = _schema_name(prefix)
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "asynclab-n06-setup"})
    try:
        async with asyncio.timeout(20):
            for (old,) in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{prefix}\\_%"):
                match = re.fullmatch(rf"{re.escape(prefix)}_(\d+)_[0-9a-f]+", old)
                if match and time.time() - int(match.group(1)) > STALE_SCHEMA_SECONDS:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
            await conn.execute(f'CREATE SCHEMA "{name}"')
            await conn.execute(f'''
                CREATE TABLE "{name}".jobs (LIKE public.jobs INCLUDING ALL);
                CREATE SEQUENCE "{name}".jobs_id_seq OWNED BY "{name}".jobs.id;
                ALTER TABLE "{name}".jobs ALTER COLUMN id SET DEFAULT nextval('"{name}".jobs_id_seq')''')
    finally:
        await conn.close()
    return name


async def drop_jobs_schema(dsn: str, name: str) -> None:
    """Drop a schema made by `create_jobs_schema` (and its table)."""
    import asyncpg

    if not re.fullmatch(r"[a-z0-9]+_\d+_[0-9a-f]+", name):
        raise ValueError(f"not a schema made by create_jobs_schema: {name!r}")
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "asynclab-n06-setup"})
    try:
        async with asyncio.timeout(20):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def open_pool(dsn: str, schema: str, *, max_size: int = 4, application_name: str = "asynclab-n06") -> asyncpg.Pool:
    """An asyncpg pool whose connections see the private `jobs` of `schema` as plain `jobs`."""
    import asyncpg

    return await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, timeout=10,
                                     server_settings={"search_path": schema, "application_name": application_name})


# -- the lab's durable worker (what section 7 of the notebook runs in its processes) -------

CLAIM_SQL = """
UPDATE jobs
   SET status = 'running', attempts = attempts + 1,
       locked_until = now() + make_interval(secs => $1), locked_by = $2
 WHERE id = (SELECT id FROM jobs
              WHERE status = 'queued'
                 OR (status = 'running' AND locked_until < now())
              ORDER BY id
              LIMIT 1
              FOR UPDATE SKIP LOCKED)
RETURNING id, payload, attempts
"""

# Every statement after the claim is *fenced* by the claim ($1 id, $2 locked_by, $3 attempts): a worker whose
# lease ran out, and whose job another worker has claimed since, changes nothing ("UPDATE 0").
FINISH_SQL = """
UPDATE jobs SET status = 'done', done_at = now(), locked_until = NULL
 WHERE id = $1 AND locked_by = $2 AND attempts = $3
"""

RENEW_SQL = """
UPDATE jobs SET locked_until = now() + make_interval(secs => $4)
 WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'running'
RETURNING id
"""

RETRY_OR_FAIL_SQL = """
UPDATE jobs SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END, locked_until = NULL
 WHERE id = $1 AND locked_by = $2 AND attempts = $3
"""

Fence = tuple[int, str, int]  # (id, locked_by, attempts) of one claim


async def enqueue(pool: asyncpg.Pool, payload: dict[str, Any]) -> int:
    """Insert one job; its id."""
    return int(await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload)))


async def renew_lease(pool: asyncpg.Pool, fence: Fence, lease: float = LEASE_SECONDS) -> None:
    """The heartbeat: extend the claim's lease every lease/3, until cancelled or the claim is lost.

    Without it, a handler that runs longer than the lease is claimed again by another worker and
    runs twice at the same time."""
    while True:
        await asyncio.sleep(lease / 3)
        if await pool.fetchval(RENEW_SQL, *fence, lease) is None:
            return  # someone else holds the job now: stop renewing (the fenced completion will change nothing)


async def work(pool: asyncpg.Pool, handler: Callable[[dict[str, Any]], Awaitable[Any]], *,
               stop: asyncio.Event) -> None:
    """Claim a job (with a lease kept alive by a heartbeat), run `handler(payload)`, mark it done; until `stop`.

    A handler that raises is logged and the job retried, up to MAX_ATTEMPTS attempts, then marked 'failed'."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    log = logging.getLogger(__name__)
    while not stop.is_set():
        row = await pool.fetchrow(CLAIM_SQL, LEASE_SECONDS, me)
        if row is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await stop.wait()
            continue
        fence = (row["id"], me, row["attempts"])
        if row["attempts"] > MAX_ATTEMPTS:  # its worker died on every attempt: give up on it
            await pool.execute(RETRY_OR_FAIL_SQL, *fence, MAX_ATTEMPTS)
            continue
        heartbeat = asyncio.create_task(renew_lease(pool, fence))
        try:
            await handler(json.loads(row["payload"]))
        except Exception:
            log.exception("job %s failed (attempt %s of %s)", row["id"], row["attempts"], MAX_ATTEMPTS)
            await pool.execute(RETRY_OR_FAIL_SQL, *fence, MAX_ATTEMPTS)
            continue
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await pool.execute(FINISH_SQL, *fence)


# -- worker processes and their event logs -------------------------------------------------

@dataclass(frozen=True)
class Event:
    """One line of a worker's event log: `kind` is ready, start, victim, steal-wait, done, returned, error, bad-payload."""

    t: float  # time.time() in the worker
    kind: str
    worker: str
    pid: int
    n: int | None = None
    text: str = ""


class _EventLog:
    """The worker side: append one JSON line per event, flushed at once (a SIGKILL loses nothing written)."""

    def __init__(self, path: Path, worker: str) -> None:
        self.path = path
        self.worker = worker
        self._file = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, kind: str, n: int | None = None, text: str = "") -> None:
        line = json.dumps({"t": time.time(), "kind": kind, "worker": self.worker, "pid": os.getpid(), "n": n,
                           "text": text})
        self._file.write(line + "\n")
        self._file.flush()


def read_events(folder: Path) -> list[Event]:
    """Every event of every worker in `folder`, in time order. A half-written last line is skipped."""
    events: list[Event] = []
    for path in sorted(folder.glob("*.events")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            events.append(Event(float(data["t"]), str(data["kind"]), str(data["worker"]), int(data["pid"]),
                                data.get("n"), str(data.get("text") or "")))
    return sorted(events, key=lambda e: e.t)


def _payload_number(payload: Any) -> int:
    """The job number `n` from what a worker handed the handler (a dict, JSON text, or a row with a payload)."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode()
    if isinstance(payload, str):
        payload = json.loads(payload)
    if not isinstance(payload, dict) and hasattr(payload, "keys") and "payload" in payload.keys():
        return _payload_number(payload["payload"])
    if isinstance(payload, dict) and "n" not in payload and "payload" in payload:
        return _payload_number(payload["payload"])
    return int(payload["n"])  # type: ignore[index]


@dataclass(frozen=True)
class Specials:
    """Job numbers whose handler misbehaves on purpose (-1: none)."""

    victim: int = -1  # the first attempt never ends (its worker is SIGKILLed)
    long: int = -1  # runs for long_seconds, longer than the lease
    long_seconds: float = 0.0
    poison: int = -1  # raises on every attempt
    steal: int = -1  # waits until the file "steal-go" exists (the check takes the job over meanwhile)


STEAL_WAIT = 30.0  # seconds the steal job waits for "steal-go" at most


def _make_handler(log: _EventLog, folder: Path, special: Specials, seconds: float) -> Callable[[Any], Awaitable[None]]:
    async def handler(payload: Any) -> None:
        try:
            n = _payload_number(payload)
        except Exception:
            log.write("bad-payload", text=repr(payload)[:200])
            raise ValueError(f"the handler expects the job's payload dict, got {payload!r:.80}") from None
        log.write("start", n)
        if n == special.poison:
            raise RuntimeError(f"poison job n={n}: this handler fails on every attempt")
        if n == special.long:
            await asyncio.sleep(special.long_seconds)
        if n == special.steal:
            log.write("steal-wait", n)
            deadline = time.monotonic() + STEAL_WAIT
            while not (folder / "steal-go").exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if n == special.victim:
            try:  # the first attempt at the victim job holds its worker until the worker is killed
                os.close(os.open(folder / "victim-taken", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                log.write("victim", n)
                await asyncio.sleep(3600)
        await asyncio.sleep(seconds)
        log.write("done", n)

    return handler


async def _watch_stop_file(path: Path, stop: asyncio.Event) -> None:
    while not path.exists():
        await asyncio.sleep(0.05)
    stop.set()


async def _run_durable(args: argparse.Namespace, log: _EventLog) -> None:
    import asyncpg

    if args.path:
        sys.path.insert(0, args.path)
    module = importlib.import_module(args.module)
    folder = Path(args.events)
    pool = await asyncpg.create_pool(os.environ[DSN_ENV], min_size=1, max_size=4, timeout=10,
                                     server_settings={"search_path": args.schema,
                                                      "application_name": f"asynclab-n06-{args.name}"})
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_stop_file(folder / f"{args.name}.stop", stop))
    try:
        log.write("ready")
        await module.work(pool, _make_handler(log, folder, _specials(args), args.handler_ms / 1000), stop=stop)
        log.write("returned", text="stopped" if stop.is_set() else "early")
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await pool.close()


async def _run_memory(args: argparse.Namespace, log: _EventLog) -> None:
    """The in-memory queue: jobs live in this process's asyncio.Queue, two consumer tasks run them."""
    folder = Path(args.events)
    handler = _make_handler(log, folder, _specials(args), args.handler_ms / 1000)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for n in range(args.jobs):
        queue.put_nowait({"n": n})
        log.write("accepted", n)

    async def consumer() -> None:
        while True:
            payload = await queue.get()
            await handler(payload)

    log.write("ready")
    consumers = [asyncio.create_task(consumer()) for _ in range(2)]
    stop_file = folder / f"{args.name}.stop"
    while not stop_file.exists():
        await asyncio.sleep(0.05)
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


def _specials(args: argparse.Namespace) -> Specials:
    return Specials(victim=args.victim, long=args.long, long_seconds=args.long_ms / 1000, poison=args.poison,
                    steal=args.steal)


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def _location(exc: BaseException, prefer: str = "") -> str:
    """Where in the learner's code `exc` was raised: the innermost frame outside asynclab and asyncio."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if prefer and f.filename.startswith(prefer)]
    if not mine:
        mine = [f for f in frames if not f.filename.startswith(_PACKAGE_DIR) and "asyncio" not in f.filename]
    if not mine:
        return ""
    last = mine[-1]
    return f" (at {Path(last.filename).name}, line {last.lineno}: {(last.line or '').strip()[:80]})"


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m asynclab.lessons.n06_background_tasks {durable,memory} --name A --events DIR ...`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=["durable", "memory"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--events", required=True, help="folder for the event logs")
    parser.add_argument("--module", default=MODULE, help="module with work(pool, handler, *, stop)")
    parser.add_argument("--path", default="", help="folder to put first on sys.path (for --module)")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--victim", type=int, default=-1, help="job number whose first attempt never ends")
    parser.add_argument("--handler-ms", type=int, default=100)
    parser.add_argument("--long", type=int, default=-1, help="job number whose handler runs --long-ms")
    parser.add_argument("--long-ms", type=int, default=0)
    parser.add_argument("--poison", type=int, default=-1, help="job number whose handler always raises")
    parser.add_argument("--steal", type=int, default=-1, help="job number that waits for the file steal-go")
    parser.add_argument("--jobs", type=int, default=20, help="memory mode: jobs accepted at start")
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        from ..services.child import watch_parent

        watch_parent(args.parent_pid)
    log = _EventLog(Path(args.events) / f"{args.name}.events", args.name)
    try:
        asyncio.run(_run_durable(args, log) if args.mode == "durable" else _run_memory(args, log))
    except SystemExit:
        return 0
    except BaseException as exc:  # the learner's code crashed: say what and where, for the verdict
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        log.write("error", text=f"{type(exc).__name__}: {exc}".rstrip(": ")[:300] + _location(exc, args.path))
        return 1
    return 0


class WorkerProcess:
    """A worker process started by `WorkerLab.start`."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, folder: Path) -> None:
        self.name = name
        self.process = process
        self._folder = folder
        self.killed_at: float | None = None  # time.time() of the SIGKILL

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows): the process gets no chance to clean up."""
        if self.alive:
            self.killed_at = time.time()
            self.process.kill()

    def request_stop(self) -> None:
        """Set the worker's `stop` event (through a file it watches); returns at once."""
        if self._folder.exists():
            (self._folder / f"{self.name}.stop").touch()

    async def stop(self, timeout: float = 3.0) -> bool:
        """Ask the worker to stop (its `stop` event is set); True if it exited within `timeout`, else it is killed."""
        if not self.alive:
            return True
        self.request_stop()
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
            return True
        except TimeoutError:
            self.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.process.wait()
            return False

    def output(self) -> str:
        path = self._folder / f"{self.name}.out"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"exited {self.process.returncode}"
        return f"<WorkerProcess {self.name} pid={self.pid} {state}>"


class WorkerLab:
    """Worker processes, their event logs, and a clean end: every worker still alive at exit is killed."""

    def __init__(self, dsn: str = "", schema: str = "public", *, victim: int = 6, handler_ms: int = 100,
                 lease_seconds: float | None = None, long: int = -1, long_ms: int = 0, poison: int = -1,
                 steal: int = -1) -> None:
        self.dsn = dsn
        self.schema = schema
        self.victim = victim
        self.handler_ms = handler_ms
        self.lease_seconds = lease_seconds
        self.specials = ["--long", str(long), "--long-ms", str(long_ms), "--poison", str(poison), "--steal", str(steal)]
        self.workers: dict[str, WorkerProcess] = {}
        self.folder = Path(tempfile.mkdtemp(prefix="asynclab-n06-"))
        self.wall0 = time.time()
        self._timeline: Timeline | None = None

    async def __aenter__(self) -> WorkerLab:
        from ..instruments.timeline import Timeline

        self._timeline = Timeline().__enter__()
        self.wall0 = time.time()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for worker in self.workers.values():
                worker.kill()
            for worker in self.workers.values():
                with contextlib.suppress(TimeoutError, ProcessLookupError):
                    async with asyncio.timeout(5):
                        await worker.process.wait()
        finally:
            if self._timeline is not None:
                self._timeline.__exit__(None, None, None)
            self._events_at_exit = read_events(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)

    async def start(self, name: str, mode: str = "durable", *, module: str = MODULE, path: str = "",
                    jobs: int = 20) -> WorkerProcess:
        """Start one worker process: `durable` runs `module.work` on this lab's schema; `memory` holds
        `jobs` jobs in its own asyncio.Queue."""
        env = {**os.environ, DSN_ENV: self.dsn, "PYTHONUNBUFFERED": "1"}
        if self.lease_seconds is not None:
            env[LEASE_ENV] = str(self.lease_seconds)
        cmd = [sys.executable, "-m", MODULE, mode, "--name", name, "--events", str(self.folder),
               "--module", module, "--schema", self.schema, "--victim", str(self.victim),
               "--handler-ms", str(self.handler_ms), "--jobs", str(jobs), "--parent-pid", str(os.getpid()),
               *self.specials]
        if path:
            cmd += ["--path", path]
        with open(self.folder / f"{name}.out", "wb") as out:
            process = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                           stderr=asyncio.subprocess.STDOUT, env=env,
                                                           cwd=path or None)
        worker = WorkerProcess(name, process, self.folder)
        self.workers[name] = worker
        return worker

    def events(self) -> list[Event]:
        if not self.folder.exists():
            return list(getattr(self, "_events_at_exit", []))
        return read_events(self.folder)

    async def wait_until(self, predicate: Callable[[list[Event]], bool], within: float) -> bool:
        """Poll the event logs until `predicate(events)` holds (True) or `within` seconds pass (False).

        It also gives up early once every worker has exited."""
        deadline = time.monotonic() + within
        while True:
            events = self.events()
            if predicate(events):
                return True
            if time.monotonic() > deadline or (self.workers and not any(w.alive for w in self.workers.values())):
                return predicate(self.events())
            await asyncio.sleep(0.02)

    async def wait_ready(self, names: Iterable[str], within: float = 15.0) -> bool:
        wanted = set(names)
        return await self.wait_until(lambda ev: wanted <= {e.worker for e in ev if e.kind == "ready"}, within)

    async def wait_for_victim(self, within: float) -> WorkerProcess | None:
        """The worker whose handler now holds the victim job, or None if none took it in time."""
        if not await self.wait_until(lambda ev: any(e.kind == "victim" for e in ev), within):
            return None
        event = next(e for e in self.events() if e.kind == "victim")
        return self.workers.get(event.worker)

    def release_steal(self) -> None:
        """Let the steal job's handler return (it waits for this file)."""
        if self.folder.exists():
            (self.folder / "steal-go").touch()

    def starts(self, n: int) -> list[Event]:
        """Every handler start of job n."""
        return [e for e in self.events() if e.kind == "start" and e.n == n]

    async def wait_done(self, numbers: Iterable[int], within: float) -> bool:
        wanted = set(numbers)
        return await self.wait_until(lambda ev: wanted <= {e.n for e in ev if e.kind == "done"}, within)

    def done_counts(self) -> Counter[int]:
        """How many times each job number was completed (a handler ran to its end)."""
        return Counter(e.n for e in self.events() if e.kind == "done" and e.n is not None)

    def attempts(self) -> list[tuple[int, str, float, float | None, str]]:
        """(n, worker, start, end, outcome) for each handler run; times in seconds since the lab started.

        outcome is "ok", "killed" (its worker was SIGKILLed first) or "running"."""
        runs: list[tuple[int, str, float, float | None, str]] = []
        open_runs: dict[tuple[str, int], int] = {}
        for e in self.events():
            if e.n is None:
                continue
            if e.kind == "start":
                open_runs[(e.worker, e.n)] = len(runs)
                runs.append((e.n, e.worker, e.t - self.wall0, None, "running"))
            elif e.kind == "done" and (e.worker, e.n) in open_runs:
                i = open_runs.pop((e.worker, e.n))
                n, w, start, _, _ = runs[i]
                runs[i] = (n, w, start, e.t - self.wall0, "ok")
        for (worker, _), i in open_runs.items():
            killed_at = self.workers[worker].killed_at if worker in self.workers else None
            if killed_at is not None:
                n, w, start, _, _ = runs[i]
                runs[i] = (n, w, start, killed_at - self.wall0, "killed")
        return runs

    def max_overlap(self, exclude_victim: bool = False) -> int:
        """The most handlers running at the same moment, across all workers."""
        now = time.time() - self.wall0
        points: list[tuple[float, int]] = []
        for n, _, start, end, _ in self.attempts():
            if exclude_victim and n == self.victim:
                continue
            points += [(start, 1), ((end if end is not None else now), -1)]
        running = peak = 0
        for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
            running += delta
            peak = max(peak, running)
        return peak

    def timeline(self) -> Timeline:
        """The handler runs as a Timeline (one bar per attempt), for `plot_timeline`."""
        from ..instruments.timeline import Span, Timeline

        tl = self._timeline if self._timeline is not None else Timeline()
        tl.spans = []
        for n, worker, start, end, outcome in sorted(self.attempts(), key=lambda r: (r[2], r[0])):
            tl.spans.append(Span(name=f"job {n:>2} · worker {worker}", start=start, end=end,
                                 outcome={"ok": "ok", "killed": "error"}.get(outcome, "running"),
                                 error="worker killed" if outcome == "killed" else None))
        return tl


if __name__ == "__main__":
    sys.exit(worker_main())
