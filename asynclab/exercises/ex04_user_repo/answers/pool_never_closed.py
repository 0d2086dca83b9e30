# expect: not-closed
# The right pool, but nobody closes it: its connections stay open after the repo is done.
import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size

    async def __aenter__(self) -> "UserRepo":
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def get_user(self, user_id: int) -> dict | None:
        row = await self.pool.fetchrow("SELECT id, name, email FROM users WHERE id = $1", user_id)
        return dict(row) if row else None
