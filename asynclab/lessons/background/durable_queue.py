"""The lab's durable job queue on PostgreSQL: the claim, the lease and its heartbeat, the fence.

This is what notebook 06 builds up in section 7 and what its worker processes run (`work`);
a learner's `work` (exercise 06-durable-worker) takes its place in the same processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

__all__ = ["CLAIM_SQL", "FINISH_SQL", "LEASE_ENV", "LEASE_SECONDS", "MAX_ATTEMPTS", "POLL_SECONDS", "RENEW_SQL",
           "RETRY_OR_FAIL_SQL", "Fence", "enqueue", "renew_lease", "work"]

LEASE_ENV = "ASYNCLAB_LEASE_SECONDS"  # a check shortens the lease of its worker processes through it
LEASE_SECONDS = float(os.environ.get(LEASE_ENV, "2"))
POLL_SECONDS = 0.1
MAX_ATTEMPTS = 3  # a job that failed (or killed its worker) this many times is marked 'failed': a poison job


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
