"""The check of 04-api-client (notebook 04 · Connection pools, not a client per request): it measures.

It counts from the outside what the learner's ApiClient opens: TCP connections the lab API saw
(its scoped counter), sockets this process still holds after `async with` ends, httpx clients
made and left open, ResourceWarnings on gc. Last, a second ApiClient on a fresh scope gets a 503
(/error?rate=1) and a 404 (/users/0): each must raise the status error (httpx.HTTPStatusError;
httpx2's or aiohttp's own for answers written with those). judge.py gives the verdicts.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from ...grading.measure import (
    Stopwatch,
    client_constructions,
    entered_or,
    poll_until,
    require_context_manager_class,
)
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ...lessons.n04_pools import open_sockets_to
from .judge import API_CALLS, API_LIMIT, API_MS, CLOSE_WITHIN, ERROR_PATHS, Measurement, judge, judge_error_statuses

ERROR_WITHIN = 10.0  # seconds for the error calls


@exercise(__file__)
async def check_api_client(module: ModuleType, lab: Lab) -> Verdict:
    cls = require_context_manager_class(module, "ApiClient")
    api_handle = lab.api.scoped()
    port = urlsplit(api_handle.base_url).port
    assert port is not None
    sockets_before = open_sockets_to(port)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with client_constructions() as spy, Stopwatch() as sw:
            obj = cls(api_handle.url, max_connections=API_LIMIT)
            async with obj as entered:
                client = entered_or(entered, obj, "get_json")
                results = await asyncio.gather(*(client.get_json(f"/delay?ms={API_MS}&id={i}") for i in range(API_CALLS)))
        stats = await api_handle.stats()
        async def sockets_left() -> int:
            return max(0, open_sockets_to(port) - sockets_before)
        left = await poll_until(sockets_left, lambda n: n <= 0, within=CLOSE_WITHIN)
        m = Measurement(results=list(results), connections=int(stats["connections"]), peak=int(stats["peak_in_flight"]),
                        created=spy.created, still_open=spy.still_open, sockets_left=left, seconds=sw.seconds)
        # Nothing of the learner's may be left to warn: drop every reference, collect, look.
        del obj, entered, client, results
        spy.forget()
        for _ in range(2):
            gc.collect()
            await asyncio.sleep(0.05)
    m.resource_warnings = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    verdict = judge(m)
    judge_error_statuses(await _error_statuses(cls, lab.api.scoped().url))
    return verdict


async def _error_statuses(cls: type, url: str) -> list[tuple[str, int, Any]]:
    """(path, status, what get_json returned or raised) for each of ERROR_PATHS, on a fresh ApiClient."""
    outcomes: list[tuple[str, int, Any]] = []
    obj = cls(url, max_connections=2)
    async with asyncio.timeout(ERROR_WITHIN), obj as entered:
        client = entered_or(entered, obj, "get_json")
        for path, status in ERROR_PATHS:
            try:
                outcomes.append((path, status, await client.get_json(path)))
            except Exception as exc:
                outcomes.append((path, status, exc))
    return outcomes
