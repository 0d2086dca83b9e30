# expect: pool-too-large
# A pool, opened and closed at the right moments, but max_size is ignored: asyncpg's default is 10.
import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn

    async def __aenter__(self) -> "UserRepo":
        self.pool = await asyncpg.create_pool(self.dsn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT id, name, email FROM users WHERE id = $1", user_id)
        return dict(row) if row else None
