"""find_blocking(): name the blocking calls made on the event loop, in learner terms.

    async with find_blocking() as report:
        await handler()
    print(report.summary())
    # time.sleep called inside a coroutine at cell 5, line 3: use await asyncio.sleep(...)
    # sync HTTP (httpx.Client.get) at cell 6, line 4: use httpx.AsyncClient

Three sources, because no single one sees everything:

1. blockbuster's patches of time.sleep, socket, ssl, file and sqlite3 calls, which fire when such a
   call is made in a thread that runs an event loop. blockbuster raises BlockingError by default,
   which would stop the learner's code half-way; we record the call instead and let it run.
2. An extra patch of psycopg's sync Connection/Cursor methods: psycopg waits for the server in C
   (`psycopg.waiting.wait_c`) and connects through `select`, so blockbuster never sees it.
3. asyncio debug mode with a low `slow_callback_duration`: the loop logs every step that ran too
   long. A sampling thread remembers which line of the learner's code was running, so a slow step
   that no patch recognised (CPU work, a C extension) is still named by cell and line.

Findings point at the learner's own line: "cell N, line L" inside IPython (the kernel compiles cells
into files such as /tmp/ipykernel_<pid>/<hash>.py; IPython maps them to execution counts in
`get_ipython().compile._filename_map`), "path/file.py:L" elsewhere. Everything is restored on
exit, also when the body raises. The plain `with` form installs the patches only (it cannot yield
to the loop, which debug-mode timing needs).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import linecache
import logging
import os
import site
import sys
import sysconfig
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

__all__ = ["BlockingCall", "BlockingReport", "find_blocking"]

# blockbuster functions we leave alone: lock waits fire on every contended lock in the kernel's
# own machinery (print, logging, zmq) and would bury the findings a learner can act on.
SKIPPED_BLOCKBUSTER = {"threading.Lock.acquire", "threading.Lock.acquire_lock"}
# Callees that are the lab's or the notebook's plumbing, not the learner's blocking call.
INFRASTRUCTURE = {"IPython", "ipykernel", "ipywidgets", "comm", "zmq", "jupyter_client", "traitlets", "tornado",
                  "matplotlib_inline", "debugpy", "asynclab", "logging", "asyncio", "warnings", "linecache",
                  "traceback", "inspect", "importlib", "_pytest", "pytest", "pluggy", "blockbuster"}
PSYCOPG_METHODS = [("Connection", "execute"), ("Connection", "commit"), ("Connection", "rollback"),
                   ("Cursor", "execute"), ("Cursor", "executemany"), ("ServerCursor", "execute"),
                   ("ServerCursor", "fetchone"), ("ServerCursor", "fetchmany"), ("ServerCursor", "fetchall")]
CO_COROUTINE = inspect.CO_COROUTINE

# (name prefix, kind, how to say it, advice); first match wins, names are "module.qualname".
RULES: list[tuple[str, str, str, str]] = [
    ("time.sleep", "sleep", "time.sleep called {where}", "use await asyncio.sleep(...)"),
    ("httpx.", "http", "sync HTTP ({function})", "use httpx.AsyncClient"),
    ("requests.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("urllib3.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("urllib.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("http.client.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("psycopg.", "database", "sync database call ({function})", "use asyncpg or psycopg.AsyncConnection"),
    ("psycopg2.", "database", "sync database call ({function})", "use asyncpg or psycopg.AsyncConnection"),
    ("sqlite3.", "database", "sync database call ({function})", "use aiosqlite, or await asyncio.to_thread(...)"),
    ("socket.", "socket", "blocking socket call ({function})",
     "use asyncio streams (await asyncio.open_connection(...)) or an async client"),
    ("ssl.", "socket", "blocking socket call ({function})",
     "use asyncio streams (await asyncio.open_connection(...)) or an async client"),
    ("subprocess.", "process", "blocking subprocess call ({function})",
     "use await asyncio.create_subprocess_exec(...)"),
    ("builtins.input", "input", "input() called {where}",
     "don't read stdin on the loop: await asyncio.to_thread(input)"),
    ("io.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("os.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("pathlib.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("shutil.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
]
OTHER = ("other", "blocking call ({function})", "move it off the loop: await asyncio.to_thread(...)")
SLOW_STEP_PHRASE = "slow step ({function}) blocked the loop for about {seconds:.2f} s"
SLOW_STEP_ADVICE = ("no known blocking call was seen: CPU work or a C extension? "
                    "move it off the loop with await asyncio.to_thread(...) or a process pool")


def classify(function: str) -> tuple[str, str, str]:
    """(kind, phrase template, advice) for a function name such as "httpx.Client.get"."""
    for prefix, kind, phrase, advice in RULES:
        if function == prefix or function.startswith(prefix):
            return kind, phrase, advice
    return OTHER


@dataclass
class BlockingCall:
    """One finding: what blocked the loop, where in the learner's code, and what to use instead."""

    function: str
    kind: str
    location: str
    advice: str
    filename: str
    lineno: int
    cell: int | None = None
    in_coroutine: bool = True
    count: int = 1
    seconds: float = 0.0
    phrase: str = "{function}"
    #: Every function seen blocking on this line for this reason, e.g. psycopg.connect and the
    #: psycopg.Connection.__exit__ that commits at the end of `with psycopg.connect(...) as conn:`.
    functions: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The learner's line of code (IPython registers cell sources with linecache)."""
        return linecache.getline(self.filename, self.lineno).strip()

    @property
    def message(self) -> str:
        where = "inside a coroutine" if self.in_coroutine else "on the event loop"
        what = self.phrase.format(function=self.function, where=where, seconds=self.seconds)
        return f"{what} at {self.location}: {self.advice}"

    def __str__(self) -> str:
        return self.message


class BlockingReport:
    """What `find_blocking()` found. `calls`: recognised blocking calls; `slow_steps`: loop steps
    that ran too long without one (debug mode, async form only)."""

    def __init__(self) -> None:
        self.calls: list[BlockingCall] = []
        self.slow_steps: list[BlockingCall] = []

    @property
    def findings(self) -> list[BlockingCall]:
        return self.calls + self.slow_steps

    def functions(self) -> set[str]:
        """Every blocking function seen, e.g. {"time.sleep", "httpx.get"}."""
        return {name for c in self.calls for name in c.functions}

    def kinds(self) -> set[str]:
        return {c.kind for c in self.findings}

    def summary(self) -> str:
        """Several lines a learner can act on; one line when nothing blocked."""
        if not self.findings:
            return "No blocking calls found on the event loop."
        n = len(self.findings)
        lines = [f"Found {n} blocking call{'s' if n != 1 else ''} on the event loop:"]
        for f in self.findings:
            if f.kind == "slow-step":
                lines.append(f"  - {f.message}")
            else:
                lines.append(f"  - {f.message} ({f.count} call{'s' if f.count != 1 else ''}, {f.seconds:.2f} s)")
            if f.code:
                lines.append(f"      {f.code}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<BlockingReport {len(self.calls)} calls, {len(self.slow_steps)} slow steps>"


# -- where is the learner's code? -------------------------------------------------------------
def _library_dirs() -> tuple[str, ...]:
    dirs: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(paths[key])
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except Exception:  # some embedded interpreters lack these
        pass
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the asynclab package
    out = set()
    for d in dirs:
        for variant in (d, os.path.realpath(d)):
            out.add(variant.rstrip(os.sep) + os.sep)
    return tuple(sorted(out))


_LIBRARY_DIRS = _library_dirs()


@functools.lru_cache(maxsize=4096)
def _is_library_file(filename: str) -> bool:
    if filename.startswith("<"):  # "<frozen ...>" is the stdlib; "<ipython-input-...>", "<string>" are code a user ran
        return filename.startswith("<frozen")
    if any(part in filename for part in (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")):
        return True
    return filename.startswith(_LIBRARY_DIRS) or os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def _ipython_cells() -> dict[str, int]:
    shell_mod = sys.modules.get("IPython")
    if shell_mod is None:
        return {}
    try:
        shell = shell_mod.get_ipython()
        return dict(getattr(getattr(shell, "compile", None), "_filename_map", None) or {})
    except Exception:
        return {}


def _module_path(frame: FrameType) -> str:
    """ "httpx.Client.get" for a frame of httpx._client.Client.get: public module part + qualname."""
    module = str(frame.f_globals.get("__name__") or "")
    public: list[str] = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    qualname = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    # Prefer the name the learner typed: psycopg.Connection rather than psycopg.connection.Connection.
    head = qualname.split(".")[0]
    defined = frame.f_globals.get(head)
    for i in range(1, len(public)):
        package = sys.modules.get(".".join(public[:i]))
        if defined is not None and getattr(package, head, None) is defined:
            public = public[:i]
            break
    return ".".join([*public, qualname]) if public else qualname


@dataclass
class _Site:
    filename: str
    lineno: int
    callee: str | None  # the function the learner's line called, if it is Python code
    infrastructure: bool
    in_coroutine: bool
    frame_id: tuple[int, int]


def _learner_site(start: FrameType | None) -> _Site | None:
    """The innermost frame of the learner's code on this stack, and what it called."""
    callee: FrameType | None = None
    frame: FrameType | None = start
    while frame is not None:
        if not _is_library_file(frame.f_code.co_filename):
            break
        callee, frame = frame, frame.f_back
    if frame is None:
        return None
    module = str(callee.f_globals.get("__name__") or "") if callee is not None else ""
    top = module.split(".")[0]
    # The lab's own machinery is infrastructure; the lessons' workloads are what learners call.
    infrastructure = top in INFRASTRUCTURE and not module.startswith("asynclab.lessons")
    in_coroutine, depth = False, 0
    f: FrameType | None = frame
    while f is not None and depth < 50:
        if not _is_library_file(f.f_code.co_filename) and f.f_code.co_flags & CO_COROUTINE:
            in_coroutine = True
            break
        f, depth = f.f_back, depth + 1
    return _Site(frame.f_code.co_filename, frame.f_lineno, _module_path(callee) if callee is not None else None,
                 infrastructure, in_coroutine, (id(frame), frame.f_lasti))


def _location(filename: str, lineno: int, cells: dict[str, int]) -> tuple[str, int | None]:
    if filename == "<unknown>":
        return "an unknown line (no sample: the code held the GIL)", None
    cell = cells.get(filename)
    if cell is not None:
        return f"cell {cell}, line {lineno}", cell
    try:
        rel = os.path.relpath(filename)
        shown = rel if not rel.startswith("..") else filename
    except ValueError:  # another drive on Windows
        shown = filename
    return f"{shown}:{lineno}", None


# -- recording ---------------------------------------------------------------------------------
class _Busy(threading.local):
    value = False


_busy = _Busy()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _SlowStepFilter(logging.Filter):
    """Takes asyncio's "Executing <handle> took 0.812 seconds" records for the finder and drops them."""

    def __init__(self, finder: _Finder) -> None:
        super().__init__()
        self.finder = finder

    def filter(self, record: logging.LogRecord) -> bool:
        if (isinstance(record.msg, str) and record.msg.startswith("Executing ") and "took" in record.msg
                and isinstance(record.args, tuple) and len(record.args) >= 2):
            seconds = record.args[-1]
            if not isinstance(seconds, (int, float)):
                return True
            self.finder._slow_step(float(seconds))
            return False
        return True


class _Finder:
    """The context manager behind `find_blocking()`; see the module docstring."""

    def __init__(self, slow_callback_duration: float, sample_interval: float) -> None:
        self.report = BlockingReport()
        self.slow_callback_duration = slow_callback_duration
        self.sample_interval = sample_interval
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._cells: dict[str, int] = {}
        self._index: dict[tuple[str, str, int], BlockingCall] = {}
        self._last_site: dict[tuple[str, str, int], tuple[int, int]] = {}
        self._intervals: list[tuple[float, float]] = []
        self._samples: deque[tuple[float, _Site | None]] = deque(maxlen=50_000)
        self._loop_thread = threading.get_ident()
        self._stop_sampler = threading.Event()

    # -- findings ---------------------------------------------------------------------------
    def _site(self, frame: FrameType | None) -> _Site | None:
        site_ = _learner_site(frame)
        if site_ is None or site_.infrastructure:
            return None
        return site_

    def _record(self, patched: str, site_: _Site, started: float, ended: float) -> None:
        function = patched
        if site_.callee is not None and classify(site_.callee)[0] != "other":
            function = site_.callee  # "httpx.Client.get" says more than "socket.socket.connect"
        elif site_.callee is not None and classify(patched)[0] == "other":
            function = site_.callee
        self._add(self.report.calls, function, site_, ended - started)
        self._intervals.append((started, ended))

    def _add(self, bucket: list[BlockingCall], function: str, site_: _Site, seconds: float,
             kind: str | None = None, phrase: str | None = None, advice: str | None = None) -> None:
        k, p, a = classify(function)
        kind = kind or k
        # One finding per line and kind: `with psycopg.connect(dsn) as conn:` is one lesson, not two.
        key = (kind, site_.filename, site_.lineno)
        with self._lock:
            finding = self._index.get(key)
            if finding is None:
                if site_.filename not in self._cells:
                    self._cells = _ipython_cells()
                location, cell = _location(site_.filename, site_.lineno, self._cells)
                finding = BlockingCall(function, kind, location, advice or a, site_.filename, site_.lineno, cell,
                                       site_.in_coroutine, count=0, phrase=phrase or p)
                self._index[key] = finding
                bucket.append(finding)
            if function not in finding.functions:
                finding.functions.append(function)
            if self._last_site.get(key) != site_.frame_id:  # one learner call may block several times
                finding.count += 1
                self._last_site[key] = site_.frame_id
            finding.seconds += seconds

    def _slow_step(self, seconds: float) -> None:
        """A loop step just took `seconds`: explain it by a recorded call, or by where the learner's code was."""
        busy, _busy.value = _busy.value, True
        try:
            self._explain_slow_step(seconds)
        finally:
            _busy.value = busy

    def _explain_slow_step(self, seconds: float) -> None:
        """Charge the step's time to the learner's lines the sampler saw running, minus recorded calls.

        Each sample stands for the time since the previous one; samples taken while a recorded
        blocking call ran are already explained by that call. Lines that account for at least
        half the slow-step threshold are reported.
        """
        end = time.perf_counter()
        start = end - seconds
        intervals = [(a, b) for a, b in self._intervals if b >= start and a <= end]
        window = [(t, s) for t, s in list(self._samples) if start <= t <= end]
        if not window:  # the sampler never got the GIL: a C call held it, or a garbage collection ran
            if seconds >= 10 * self.slow_callback_duration:
                self._add(self.report.slow_steps, "code that held the GIL", _Site("<unknown>", 0, None, False, True,
                          (0, 0)), seconds, kind="slow-step", phrase=SLOW_STEP_PHRASE, advice=SLOW_STEP_ADVICE)
            return
        charged: dict[tuple[str, int], float] = {}
        sites: dict[tuple[str, int], _Site] = {}
        previous = start
        for t, site_ in window:
            weight = min(t - previous, 4 * self.sample_interval)
            previous = t
            if site_ is None or any(a <= t <= b for a, b in intervals):
                continue
            key = (site_.filename, site_.lineno)
            charged[key] = charged.get(key, 0.0) + weight
            sites.setdefault(key, site_)
        for key, spent in sorted(charged.items(), key=lambda item: -item[1]):
            known = [f for (kind, *where), f in self._index.items() if kind != "slow-step" and tuple(where) == key]
            if known:  # the line already has its finding (httpx.get also builds a client): add the time there
                known[0].seconds += spent
                continue
            if spent < self.slow_callback_duration / 2:
                continue
            site_ = sites[key]
            code = linecache.getline(site_.filename, site_.lineno).strip()
            function = site_.callee or (code[:60] + ("…" if len(code) > 60 else "")) or "your code"
            self._add(self.report.slow_steps, function, site_, spent, kind="slow-step", phrase=SLOW_STEP_PHRASE,
                      advice=SLOW_STEP_ADVICE)

    # -- patches ----------------------------------------------------------------------------
    def _recorder(self, name: str, checker: Callable[..., Any], original: Callable[..., Any],
                  blocking_error: type[BaseException]) -> Callable[..., Any]:
        finder = self

        def recorder(*args: Any, **kwargs: Any) -> Any:
            if _busy.value:
                return original(*args, **kwargs)
            try:
                return checker(*args, **kwargs)  # blockbuster's verdict; it runs the call when it is fine
            except blocking_error:
                pass
            return finder._run_recorded(name, original, sys._getframe(1), args, kwargs)

        with contextlib.suppress(AttributeError, TypeError):
            functools.update_wrapper(recorder, original)
        return recorder

    def _wrapper(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        finder = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _busy.value or not _loop_running():
                return original(*args, **kwargs)
            return finder._run_recorded(name, original, sys._getframe(1), args, kwargs)

        return wrapper

    def _run_recorded(self, name: str, original: Callable[..., Any], frame: FrameType,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        _busy.value = True
        try:
            site_ = self._site(frame)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if site_ is not None:
                    self._record(name, site_, started, time.perf_counter())
        finally:
            _busy.value = False

    def _patch_blockbuster(self) -> None:
        from blockbuster import BlockBuster, BlockingError

        try:
            import forbiddenfruit
        except ImportError:  # not CPython: blockbuster then skips the C types too
            forbiddenfruit = None
        bb = BlockBuster()
        functions = [f for name, f in bb.functions.items() if name not in SKIPPED_BLOCKBUSTER]
        for fn in functions:
            fn.activate()
            if not fn.activated or fn.original_func is None:
                continue
            self._stack.callback(fn.deactivate)  # blockbuster puts the original back
            checker = getattr(fn.module, fn.func_name)
            recorder = self._recorder(fn.full_name, checker, fn.original_func, BlockingError)
            try:
                setattr(fn.module, fn.func_name, recorder)
            except TypeError:
                if forbiddenfruit is not None:
                    forbiddenfruit.curse(fn.module, fn.func_name, recorder)

    def _patch_psycopg(self) -> None:
        try:
            import psycopg
        except ImportError:
            return
        connect = psycopg.Connection.__dict__.get("connect")
        if isinstance(connect, classmethod):
            self._set(psycopg.Connection, "connect",
                      classmethod(self._wrapper("psycopg.connect", connect.__func__)), connect)
        self._set(psycopg, "connect", self._wrapper("psycopg.connect", psycopg.connect), psycopg.connect)
        for cls_name, method in PSYCOPG_METHODS:
            cls = getattr(psycopg, cls_name, None)
            original = cls.__dict__.get(method) if cls is not None else None
            if callable(original):
                self._set(cls, method, self._wrapper(f"psycopg.{cls_name}.{method}", original), original)

    def _set(self, owner: Any, name: str, value: Any, original: Any) -> None:
        setattr(owner, name, value)
        self._stack.callback(setattr, owner, name, original)

    # -- debug mode and the sampler ---------------------------------------------------------
    def _enable_debug(self, loop: asyncio.AbstractEventLoop) -> None:
        logger = logging.getLogger("asyncio")
        slow_filter = _SlowStepFilter(self)
        logger.addFilter(slow_filter)
        self._stack.callback(logger.removeFilter, slow_filter)
        if not logger.isEnabledFor(logging.WARNING):
            self._stack.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.WARNING)
        was_debug, was_slow = loop.get_debug(), loop.slow_callback_duration
        self._stack.callback(setattr, loop, "slow_callback_duration", was_slow)
        self._stack.callback(loop.set_debug, was_debug)
        loop.set_debug(True)
        loop.slow_callback_duration = self.slow_callback_duration

    def _start_sampler(self) -> None:
        thread = threading.Thread(target=self._sample, name="asynclab-blocking-sampler", daemon=True)
        thread.start()

        def stop() -> None:
            self._stop_sampler.set()
            thread.join(timeout=2.0)

        self._stack.callback(stop)

    def _sample(self) -> None:
        while not self._stop_sampler.wait(self.sample_interval):
            try:
                frame = sys._current_frames().get(self._loop_thread)
                site_ = self._site(frame)
                self._samples.append((time.perf_counter(), site_))
            except Exception:  # never print from a thread; a lost sample costs nothing
                continue
            finally:
                frame = None  # do not keep the loop thread's frames alive

    # -- context manager protocol -----------------------------------------------------------
    def __enter__(self) -> BlockingReport:
        try:
            self._patch_psycopg()
            self._patch_blockbuster()
        except BaseException:
            self._stack.close()
            raise
        return self.report

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    async def __aenter__(self) -> BlockingReport:
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            self._enable_debug(loop)
            self._start_sampler()
            self._patch_psycopg()
            self._patch_blockbuster()
        except BaseException:
            self._stack.close()
            raise
        await asyncio.sleep(0)  # debug timing applies from the next loop step on: start one
        return self.report

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            await asyncio.sleep(0)  # end the current step so the loop logs it while our filter listens
        finally:
            self._stack.close()


def find_blocking(*, slow_callback_duration: float = 0.05, sample_interval: float = 0.005) -> _Finder:
    """Record blocking calls made on the event loop, and let the code finish.

        async with find_blocking() as report:     # or `with find_blocking() as report:`
            await handler()
        print(report.summary())

    `slow_callback_duration` (s): a loop step longer than this is reported as a slow step
    when no recognised call explains it. `sample_interval` (s): how often the sampling thread
    notes which line of your code is running.
    """
    return _Finder(slow_callback_duration, sample_interval)
