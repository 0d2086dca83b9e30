"""The check of 04-user-repo (notebook 04 · Connection pools, not a client per request): it measures.

It counts backends in pg_stat_activity. The repo gets a DSN with its own application_name (so its
backends can be counted) and a search_path that points `users` at a private copy of the table.
Locking that copy holds every lookup on the server, so the number of backends the repo opens for
24 concurrent lookups is counted exactly, not sampled by luck; then 200 lookups run free while a
sampler counts concurrently. judge.py gives the verdicts; instructor.md lists them in order.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

from ...grading.measure import Stopwatch, entered_or, require_context_manager_class, settled_peak
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ...lessons.n04_pools import CHECKER_APP, BackendSampler, count_backends, tagged_dsn, unique_tag, wait_for_backends
from .judge import (
    CLOSE_WITHIN,
    PROBE,
    REPO_CALLS,
    REPO_MAX,
    judge_backends,
    judge_closed,
    judge_dsn_used,
    judge_results,
    verdict,
)

MISSING_IDS = (0, 1001, 5000, 10**6)


@exercise(__file__)
async def check_user_repo(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    cls = require_context_manager_class(module, "UserRepo")
    tag = unique_tag("chk04")
    admin = await asyncpg.connect(tagged_dsn(lab.pg.dsn, CHECKER_APP))
    try:
        await _drop_stale_schemas(admin, tag)
        await admin.execute(f"CREATE SCHEMA {tag}; CREATE TABLE {tag}.users AS TABLE public.users; "
                            f"ALTER TABLE {tag}.users ADD PRIMARY KEY (id)")
        truth = {r["id"]: dict(r) for r in await admin.fetch("SELECT * FROM public.users")}
        repo_dsn = tagged_dsn(lab.pg.dsn, tag, search_path=f"{tag},public")
        return await _run_repo(cls, repo_dsn, lab.pg.dsn, tag, admin, truth)
    finally:
        try:
            async with asyncio.timeout(5):
                await admin.execute(f"DROP SCHEMA IF EXISTS {tag} CASCADE")
        finally:
            await admin.close()


async def _drop_stale_schemas(admin: Any, tag: str) -> None:
    """Drop the private schemas of earlier checks that died before their cleanup (a deadline kill).

    Each check holds a session advisory lock named after its schema while it lives, taken before
    the schema exists; a schema whose lock can be taken has no living owner.
    """
    await admin.execute("SELECT pg_advisory_lock(hashtext($1))", tag)
    rows = await admin.fetch(r"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'chk04\_%'")
    for name in (r["nspname"] for r in rows):
        if name != tag and await admin.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name):
            try:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            finally:
                await admin.execute("SELECT pg_advisory_unlock(hashtext($1))", name)


async def _run_repo(cls: type, repo_dsn: str, dsn: str, tag: str, admin: Any, truth: dict[int, dict[str, Any]]) -> Verdict:
    import asyncpg

    probe_ids = list(range(1, PROBE + 1))
    ids = [*(1 + (i * 37) % 1000 for i in range(REPO_CALLS - len(MISSING_IDS))), *MISSING_IDS]
    obj = cls(repo_dsn, max_size=REPO_MAX)
    async with obj as entered:
        repo = entered_or(entered, obj, "get_user")
        # Phase 1: hold every lookup on the server (a lock on the repo's copy of users) and count
        # the backends the repo opened for them, exactly.
        locker = await asyncpg.connect(tagged_dsn(dsn, CHECKER_APP))
        tasks: list[asyncio.Task[Any]] = []
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute(f"LOCK TABLE {tag}.users IN ACCESS EXCLUSIVE MODE")
            tasks = [asyncio.create_task(repo.get_user(i)) for i in probe_ids]
            held = await settled_peak(lambda: count_backends(admin, tag),
                                      enough=lambda n: n >= len(tasks) or all(t.done() for t in tasks))
            await tx.commit()
            probe_results = await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await locker.close()
        judge_backends(held, "while 24 lookups waited on the server", PROBE)
        judge_results(probe_ids, probe_results, truth)
        # Phase 2: 200 lookups at once, counted concurrently from another connection.
        async with BackendSampler(dsn, tag) as sampler:
            with Stopwatch() as sw:
                results = await asyncio.gather(*(repo.get_user(i) for i in ids))
        judge_results(ids, results, truth)
        judge_dsn_used(held, len(sampler.pids))
        judge_backends(sampler.peak, f"during {REPO_CALLS} concurrent lookups", REPO_CALLS)
    # Phase 3: after exit, every backend of the repo must go.
    judge_closed(await wait_for_backends(admin, tag, at_most=0, timeout=CLOSE_WITHIN))
    return verdict(max(held, sampler.peak), sw.seconds)
