# expect: connection-per-query
# A pool created lazily on first use. create_pool awaits, so every lookup that arrives while
# the first pool is still connecting sees None and creates a pool of its own.
import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self.pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> "UserRepo":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT id, name, email FROM users WHERE id = $1", user_id)
        return dict(row) if row else None
