# expect: wrong-result
# A good pool, but get_user hands back the asyncpg Record itself, which is not a dict.
import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size

    async def __aenter__(self) -> "UserRepo":
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.close()

    async def get_user(self, user_id: int) -> dict | None:
        return await self.pool.fetchrow("SELECT id, name, email FROM users WHERE id = $1", user_id)
