"""A private copy of the course's jobs table per user, and a pool that calls it `jobs`.

The jobs table of the course schema is shared by everyone on the lab's PostgreSQL (a notebook
and its checks may run at the same moment), so each user gets an empty copy in a schema of its
own, and pools point `jobs` at it through their search_path. The learner's SQL just says `jobs`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

__all__ = ["STALE_SCHEMA_SECONDS", "create_jobs_schema", "drop_jobs_schema", "open_pool"]

STALE_SCHEMA_SECONDS = 3600  # private schemas older than this were left by a crashed run: dropped


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
