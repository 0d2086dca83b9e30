# expect: connection-per-query
# The starter: asyncpg.connect for every lookup, so every lookup costs a PostgreSQL backend.
import asyncpg


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size

    async def __aenter__(self) -> "UserRepo":
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def get_user(self, user_id: int) -> dict | None:
        conn = await asyncpg.connect(self.dsn)
        try:
            row = await conn.fetchrow("SELECT id, name, email, tier FROM users WHERE id = $1", user_id)
        finally:
            await conn.close()
        return dict(row) if row else None
