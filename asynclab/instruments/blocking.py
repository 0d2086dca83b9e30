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
import linecache
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from types import FrameType, TracebackType
from typing import Any

from .blocking_report import SLOW_STEP_ADVICE, SLOW_STEP_PHRASE, BlockingCall, BlockingReport, classify
from .learner_frames import LearnerSite, describe_location, ipython_cells, learner_site

__all__ = ["BlockingCall", "BlockingReport", "find_blocking"]

# blockbuster functions we leave alone: lock waits fire on every contended lock in the kernel's
# own machinery (print, logging, zmq) and would bury the findings a learner can act on.
SKIPPED_BLOCKBUSTER = {"threading.Lock.acquire", "threading.Lock.acquire_lock"}
PSYCOPG_METHODS = [("Connection", "execute"), ("Connection", "commit"), ("Connection", "rollback"),
                   ("Cursor", "execute"), ("Cursor", "executemany"), ("ServerCursor", "execute"),
                   ("ServerCursor", "fetchone"), ("ServerCursor", "fetchmany"), ("ServerCursor", "fetchall")]

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
        self._samples: deque[tuple[float, LearnerSite | None]] = deque(maxlen=50_000)
        self._loop_thread = threading.get_ident()
        self._stop_sampler = threading.Event()

    # -- findings ---------------------------------------------------------------------------
    def _site(self, frame: FrameType | None) -> LearnerSite | None:
        site_ = learner_site(frame)
        if site_ is None or site_.infrastructure:
            return None
        return site_

    def _record(self, patched: str, site_: LearnerSite, started: float, ended: float) -> None:
        function = patched
        if site_.callee is not None and classify(site_.callee)[0] != "other":
            function = site_.callee  # "httpx.Client.get" says more than "socket.socket.connect"
        elif site_.callee is not None and classify(patched)[0] == "other":
            function = site_.callee
        self._add(self.report.calls, function, site_, ended - started)
        self._intervals.append((started, ended))

    def _add(self, bucket: list[BlockingCall], function: str, site_: LearnerSite, seconds: float,
             kind: str | None = None, phrase: str | None = None, advice: str | None = None) -> None:
        k, p, a = classify(function)
        kind = kind or k
        # One finding per line and kind: `with psycopg.connect(dsn) as conn:` is one lesson, not two.
        key = (kind, site_.filename, site_.lineno)
        with self._lock:
            finding = self._index.get(key)
            if finding is None:
                if site_.filename not in self._cells:
                    self._cells = ipython_cells()
                location, cell = describe_location(site_.filename, site_.lineno, self._cells)
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
                self._add(self.report.slow_steps, "code that held the GIL", LearnerSite("<unknown>", 0, None, False, True,
                          (0, 0)), seconds, kind="slow-step", phrase=SLOW_STEP_PHRASE, advice=SLOW_STEP_ADVICE)
            return
        charged: dict[tuple[str, int], float] = {}
        sites: dict[tuple[str, int], LearnerSite] = {}
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
