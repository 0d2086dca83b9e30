"""Notebook 03 · Semaphores: `03-bounded-fetch`, 1,000 requests with at most 50 in flight.

Every variant gets the same client, made as the notebook makes its own (the default pool:
100 connections, 20 kept alive), with a 60 s timeout so that the pool timeout never decides a
row: httpx for the /delay rows, httpx2 (same API) for the /capped rows.

Rows
- wall time against /delay with seeded jitter (MS ± JITTER ms): the semaphore fix against the
  ideal ceil(N / limit) × the mean latency (the mean of what the server really slept), and
  against a baseline no notebook contains, `gather` over chunks of `limit` (each chunk waits
  for its slowest request, so jitter costs it every round).
- against /capped?limit=50 (429 above 50 in flight), until all 1,000 answers are 200 OK. The
  fix gets there in one pass. The broken starter starts all 1,000 at once; the bench then calls
  it again with the URLs that got 429, until none is left (or CAPPED_GIVE_UP s pass). Three rows:
  * 429 answers the server sent, the lesson's metric and the target: 0 for the fix, at least
    MIN_429 for the broken code (it refuses about half of every unbounded pass);
  * requests sent per 200 answer (ideal 1): the retries the 429s force, as information;
  * the time it took (ideal ceil(N / limit) × CAPPED_MS), as information for the broken code.
  These rows use an httpx2 client (CAPPED_CLIENT, below): with httpx the broken code's time was
  mostly httpx's own CPU, which follows the machine's load more than the lesson.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator

import httpx
import httpx2

from ..lab import Lab
from .cells import NotAvailable, load_pair
from .common import client, settle
from .report import Row, Skip, Target

TITLE = "03 bounded fetch"
DEADLINE = 150  # the broken /capped pass alone may take CAPPED_GIVE_UP s and more to cancel under load
NOTEBOOK, EXERCISE = "03", "03-bounded-fetch"
N, LIMIT = 1000, 50
MS, JITTER, SEED = 200, 100, 3
CAPPED_MS = 200
# httpx2, not httpx, for the /capped rows: with 1,000 requests queued, httpx's pool (httpcore 1.0)
# spends seconds of CPU per pass (encode/httpcore#1035) and, on a loaded machine, sent 100 requests
# (load 10) or none (load 18) in CAPPED_GIVE_UP s: the rows measured httpx, not the lesson. The
# `clients` rows measure that cost on its own.
CAPPED_CLIENT = "httpx2"
MIN_429 = 100  # the broken code's 429 answers must reach this (the fix's must be 0)
CAPPED_GIVE_UP = 35.0  # seconds the broken variant gets to collect every answer (then: a lower bound)
TIMEOUT = 60.0


async def fetch_all_chunked(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    """The baseline: `limit` at a time with gather, chunk after chunk (a batch waits for its slowest)."""
    bodies: list[str] = []
    for start in range(0, len(urls), limit):
        responses = await asyncio.gather(*(client.get(url) for url in urls[start:start + limit]))
        bodies.extend(response.text for response in responses)
    return bodies


def _ok(body: str) -> bool:
    try:
        return json.loads(body).get("ok") is True
    except (ValueError, AttributeError):
        return False


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    try:
        variants = load_pair(NOTEBOOK, EXERCISE)
    except NotAvailable as exc:
        yield Skip(TITLE, str(exc))
        return
    n, limit = (60, 10) if quick else (N, LIMIT)
    give_up = 20.0 if quick else CAPPED_GIVE_UP

    # 1. Wall time on jittered /delay: semaphore against the ideal and against chunks.
    name = f"{EXERCISE}: wall time, {n} requests, limit {limit}, /delay {MS}±{JITTER} ms"
    times: dict[str, float] = {}
    peaks: dict[str, int] = {}
    mean = 0.0
    async with client(timeout=TIMEOUT) as http:
        for variant, fetch_all in (("fixed", variants["fixed"].fetch_all), ("baseline", fetch_all_chunked)):
            api = lab.api.scoped()
            urls = [f"{api.url}/delay?ms={MS}&jitter={JITTER}&seed={SEED}&id={i}" for i in range(n)]
            settle()
            async with asyncio.timeout(TIMEOUT):
                started = time.perf_counter()
                bodies = await fetch_all(http, urls, limit)
                times[variant] = time.perf_counter() - started
            peaks[variant] = (await api.stats())["peak_in_flight"]
            slept = [json.loads(b)["slept_ms"] for b in bodies]
            mean = sum(slept) / len(slept) / 1000  # the same for both: the jitter is seeded by id
    ideal = math.ceil(n / limit) * mean
    fixed = Row(name, "fixed", times["fixed"], ideal, "s", target=Target.within(1.3),
                note=f"one Semaphore({limit}); peak {peaks['fixed']} in flight; "
                     f"ideal = ceil({n}/{limit}) × mean latency {mean * 1000:.0f} ms")
    yield fixed
    yield Row(name, "baseline", times["baseline"], ideal, "s",
              note=f"gather over chunks of {limit}; peak {peaks['baseline']} in flight").against(fixed)

    # 2. Time until every answer is a 200, against a server that answers 429 above `limit` in flight.
    name = f"{EXERCISE}: time until all {n} answers are 200, /capped?limit={limit} ({CAPPED_MS} ms)"
    ideal = math.ceil(n / limit) * CAPPED_MS / 1000
    name_429 = f"{EXERCISE}: 429 answers until all {n} are 200, /capped?limit={limit} ({CAPPED_MS} ms)"
    name_rpa = f"{EXERCISE}: requests sent per 200 answer, /capped?limit={limit} ({CAPPED_MS} ms)"
    limit_429 = 10 if quick else MIN_429
    capped: dict[str, Row] = {}
    refusals: dict[str, Row] = {}
    per_answer: dict[str, Row] = {}
    for variant in ("fixed", "broken"):
        fetch_all = variants[variant].fetch_all
        api = lab.api.scoped()
        urls = [f"{api.url}/capped?limit={limit}&ms={CAPPED_MS}&i={i}" for i in range(n)]
        remaining, passes = urls, 0
        errors: list[str] = []
        async with client(CAPPED_CLIENT, timeout=TIMEOUT) as http:
            settle()
            started = time.perf_counter()
            while remaining and time.perf_counter() - started < give_up:
                passes += 1
                try:
                    async with asyncio.timeout(give_up - (time.perf_counter() - started)):
                        bodies = await fetch_all(http, remaining, limit)
                except TimeoutError:  # our give-up time (TimeoutError is an OSError: catch it first)
                    break
                # a transport error fails the whole pass: try it again
                except (httpx.HTTPError, httpx2.HTTPError, OSError) as exc:
                    errors.append(type(exc).__name__)
                    continue
                remaining = [url for url, body in zip(remaining, bodies, strict=True) if not _ok(body)]
            seconds = time.perf_counter() - started
        stats = await api.stats()
        counted = (f"the server counted {stats['requests']} requests, {stats['status'].get('429', 0)} answered 429, "
                   f"peak {stats['peak_in_flight']} in flight; {passes} pass{'es' if passes != 1 else ''}")
        if errors:
            counted += f", {len(errors)} of them ended by a transport error ({', '.join(sorted(set(errors)))})"
        if remaining:
            counted = (f"gave up at {give_up:.0f} s (the cancelled pass had stopped by {seconds:.0f} s) with "
                       f"{len(remaining)} answers missing: a lower bound; ") + counted
        sent, refused = int(stats["requests"]), int(stats["status"].get("429", 0))
        answered = n - len(remaining)
        label = "one Semaphore: " if variant == "fixed" else "all at once, then again with the URLs that got 429: "
        capped[variant] = Row(name, variant, seconds, ideal, "s",
                              target=Target.within(1.3) if variant == "fixed" else None, note=label + counted)
        refusals[variant] = Row(name_429, variant, refused, 0, "answers",
                                target=Target.under(1) if variant == "fixed" else Target.at_least(limit_429),
                                note=label + counted)
        per_answer[variant] = Row(name_rpa, variant, sent / max(answered, 1), 1.0, "requests",
                                  target=Target.within(1.3) if variant == "fixed" else None,
                                  note=f"{sent} requests for {answered} answers of 200; {passes} pass{'es' * (passes != 1)}"
                                       + ("; no answer at all: a lower bound" if answered == 0 else ""))
        if variant == "broken":
            capped[variant].against(capped["fixed"])
            per_answer[variant].against(per_answer["fixed"])
        if sent == 0:  # under heavy load httpx's pool can spend the whole give-up time before sending
            reason = (f"the {variant} code sent no request in {give_up:.0f} s (the client's pool sorting "
                      f"{n} queued requests on a loaded machine): no count to report")
            yield Skip(name_429 + f" [{variant}]", reason)
            yield Skip(name_rpa + f" [{variant}]", reason)
        else:  # each variant's rows as soon as they are measured
            yield refusals[variant]
            yield per_answer[variant]
        yield capped[variant]
