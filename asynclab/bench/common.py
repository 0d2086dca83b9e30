"""Small helpers shared by the row families."""

from __future__ import annotations

import asyncio
import gc
import importlib
import statistics
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import httpx

from ..services.api_client import ApiHandle

T = TypeVar("T")


def client(lib: str = "httpx", **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client as the notebooks make one (the default pool), never behind a proxy.

    `lib="httpx2"` makes the same client with httpx's maintained fork (same API), for rows whose
    lesson httpx's own pool cost would hide (docs/bench.md, 03 against the 429 cap).
    """
    kwargs.setdefault("timeout", 30.0)
    module = importlib.import_module(lib)
    made: httpx.AsyncClient = module.AsyncClient(trust_env=False, **kwargs)
    return made


async def timed(awaitable: Awaitable[T]) -> tuple[float, T]:
    """(seconds, result) of one await, on the monotonic clock."""
    started = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - started, result


def settle() -> None:
    """Collect garbage before a timed section, so one variant does not pay for the last one's."""
    gc.collect()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


async def stats_now(http: httpx.AsyncClient, api: ApiHandle) -> dict[str, Any]:
    """A scope's counters through a client we already hold (ApiHandle.stats opens one per call)."""
    response = await http.get(f"{api.base_url}/_lab/stats", params={"scope": api.scope or "default"})
    result: dict[str, Any] = response.raise_for_status().json()
    return result


class InFlightWatcher:
    """Poll a scope's in-flight count in the background, remembering every sample.

        async with InFlightWatcher(api) as watcher:
            ...
        watcher.zero_after(t)   # seconds from t until the server was seen with nothing in flight

    A sample is (sent, received, in_flight) on time.perf_counter(). `zero_after(t)` takes the
    first sample sent at or after `t` that saw 0 in flight and counts to when its answer came
    back: an upper bound, with a resolution of `every` plus one loopback request.
    """

    def __init__(self, api: ApiHandle, every: float = 0.01) -> None:
        self.api = api
        self.every = every
        self.samples: list[tuple[float, float, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> InFlightWatcher:
        self._http = client(timeout=5.0)
        await stats_now(self._http, self.api)  # open the connection before anything is timed
        self._task = asyncio.create_task(self._poll(), name="bench-in-flight-poller")
        return self

    async def _poll(self) -> None:
        assert self._http is not None
        while True:
            sent = time.perf_counter()
            stats = await stats_now(self._http, self.api)
            self.samples.append((sent, time.perf_counter(), int(stats["in_flight"])))
            await asyncio.sleep(self.every)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._http is not None:
            await self._http.aclose()

    def zero_after(self, t: float) -> float | None:
        for sent, received, in_flight in self.samples:
            if sent >= t and in_flight == 0:
                return received - t
        return None

    async def wait_zero_after(self, t: float, within: float) -> float | None:
        """Wait (at most `within` s) until a sample after `t` sees nothing in flight."""
        deadline = time.perf_counter() + within
        # a poll on purpose: the samples come from another task that knows nothing of this wait
        while (found := self.zero_after(t)) is None and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(self.every)
        return found
