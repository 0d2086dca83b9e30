# expect: pass
# Another style: the client's lifetime handed to a contextlib.AsyncExitStack.
import contextlib

import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self._base_url = base_url
        self._max = max_connections
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "ApiClient":
        limits = httpx.Limits(max_connections=self._max, max_keepalive_connections=self._max)
        self._http = await self._stack.enter_async_context(httpx.AsyncClient(limits=limits))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def get_json(self, path: str) -> dict:
        response = await self._http.get(f"{self._base_url}{path}")
        response.raise_for_status()
        return response.json()
