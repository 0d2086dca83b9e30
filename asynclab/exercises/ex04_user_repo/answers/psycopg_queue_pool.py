# expect: pass
# Another driver: psycopg 3 async connections, max_size of them, handed out through an asyncio.Queue
# (psycopg_pool does this for real; it is not installed here).
import asyncio

import psycopg
from psycopg.rows import dict_row


class UserRepo:
    def __init__(self, dsn: str, max_size: int = 5) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._idle: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        self._all: list[psycopg.AsyncConnection] = []

    async def __aenter__(self) -> "UserRepo":
        for _ in range(self.max_size):
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, row_factory=dict_row)
            self._all.append(conn)
            self._idle.put_nowait(conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self._all:
            await conn.close()

    async def get_user(self, user_id: int) -> dict | None:
        conn = await self._idle.get()
        try:
            cur = await conn.execute("SELECT id, name, email, tier FROM users WHERE id = %s", (user_id,))
            return await cur.fetchone()
        finally:
            self._idle.put_nowait(conn)
