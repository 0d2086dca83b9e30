# Exercise: 04-user-repo
import asyncpg

SQL = "SELECT id, name, email, tier FROM users WHERE id = $1"

class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size

    async def __aenter__(self) -> "UserRepo":
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        async with self._pool.acquire() as conn: row = await conn.fetchrow(SQL, user_id)
        return dict(row) if row else None
