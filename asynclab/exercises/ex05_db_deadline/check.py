"""The check of 05-db-deadline: `query_with_deadline(pool, sql, seconds)` against queries that do not
end in time (notebook 05 · Timeouts on everything).

On an event loop of its own (`run_on_own_loop`: code that swallows `CancelledError` still gets a
verdict in seconds), with an asyncpg pool whose connections carry a tag in application_name, it:

1. runs a fast query (3 users) and one of 0.3 s under a 1.5 s deadline: the rows must come back;
2. runs `pg_sleep(10)` under SLOW_DEADLINE: ServiceUnavailable within the deadline + SLACK (no
   driver exception), then no tagged query left active in pg_stat_activity within SERVER_SETTLE;
3. queries a missing table, last: the caller's bug must raise, and not as ServiceUnavailable.

Afterwards it terminates the pool and cancels whatever the learner's code left running on the
server. What each measurement means is decided in judge.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from ...grading.measure import bounded_call, poll_until, require_coroutine_function, run_on_own_loop
from ...grading.registry import Verdict, exercise, passed
from ...lab import Lab
from .judge import (
    FAST_DEADLINE,
    SERVER_SETTLE,
    SLOW_DEADLINE,
    FastQuery,
    SlowQuery,
    judge_fast,
    judge_gave_up,
    judge_query_ended,
    judge_sql_error,
)

BOUND_EXTRA = 1.5  # how long past the deadline a call may run before the check stops it

Query = Callable[..., Awaitable[Any]]


async def _active(monitor: Any, tag: str) -> list[Any]:
    return await monitor.fetch(
        "select pid, extract(epoch from clock_timestamp() - query_start)::float8 as age from pg_stat_activity "
        "where state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()", tag)


async def _fast(query: Query, pool: Any, monitor: Any, sql: str, seconds: float, what: str) -> FastQuery:
    expected = [tuple(r) for r in await monitor.fetch(sql)]
    call = await bounded_call(lambda: query(pool, sql, seconds), seconds + BOUND_EXTRA)
    return FastQuery(what, seconds, expected, call)


async def _cases(query: Query, pool: Any, monitor: Any, tag: str) -> str:
    fast = judge_fast(await _fast(query, pool, monitor, f"select id, name from users where id <= 3 order by id /* {tag} */",
                                  FAST_DEADLINE, "a fast query (3 users)"))
    judge_fast(await _fast(query, pool, monitor, f"select 42 as answer from pg_sleep(0.3) /* {tag} */", 1.5,
                           "a query of 0.3 s with a 1.5 s deadline"))
    sql = f"select 1 as never from pg_sleep(10) /* {tag} */"
    slow = SlowQuery(await bounded_call(lambda: query(pool, sql, SLOW_DEADLINE), SLOW_DEADLINE + BOUND_EXTRA,
                                        look=lambda: _active(monitor, tag)))
    judge_gave_up(slow)
    slow.active = await poll_until(lambda: _active(monitor, tag), lambda active: not active, within=SERVER_SETTLE)
    gave_up = judge_query_ended(slow)
    sql_error = judge_sql_error(await bounded_call(
        lambda: query(pool, f"select * from asynclab_no_such_table /* {tag} */", FAST_DEADLINE), FAST_DEADLINE + BOUND_EXTRA))
    return f"fast {fast:.2f} s; {gave_up}; SQL with no such table raised {sql_error}"


@exercise(__file__)
async def check_db_deadline(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    query = require_coroutine_function(module, "query_with_deadline")
    dsn = lab.pg.dsn

    async def body() -> str:
        tag = f"asynclab05_{secrets.token_hex(5)}"
        monitor = await asyncpg.connect(dsn, server_settings={"application_name": "asynclab-05-check"})
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3, server_settings={"application_name": tag})
        try:
            return await _cases(query, pool, monitor, tag)
        finally:
            pool.terminate()  # first: code still running (a swallowed cancel) can start no new query
            await monitor.execute(  # then stop what was left running: abandoned tasks, threads
                "select pg_cancel_backend(pid) from pg_stat_activity where state = 'active' "
                "and query like '%' || $1 || '%' and pid <> pg_backend_pid()", tag)
            await monitor.close()

    measured = await run_on_own_loop(body, 40, name="asynclab-05-learner-loop")
    return passed("fast queries came back; a slow one raised ServiceUnavailable in time and was cancelled "
                  "on the server; failing SQL was raised as the caller's error.", measured=measured)
