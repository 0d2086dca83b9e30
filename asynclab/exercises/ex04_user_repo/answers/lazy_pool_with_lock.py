# expect: pass
# Another style: the pool is created on first use, but under an asyncio.Lock, so only once.
import asyncio

import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=self.max_size)
        return self._pool

    async def __aenter__(self) -> "UserRepo":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        pool = await self._get_pool()
        row = await pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        return None if row is None else dict(row)
