# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncpg

class UserRepo:
    SQL = "SELECT id, name, email, tier FROM users WHERE id = $1"

    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> "UserRepo":
        time.sleep(0.2)  # blocks the loop
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        time.sleep(0.2)  # blocks the loop
        if self._pool is not None:
            await self._pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        time.sleep(0.2)  # blocks the loop
        assert self._pool is not None, "use UserRepo in `async with`"
        async with self._pool.acquire(timeout=10) as conn:
            row = await conn.fetchrow(self.SQL, user_id)
        return dict(row) if row is not None else None
