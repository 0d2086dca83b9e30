# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import httpx

class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "ApiClient":
        time.sleep(0.2)  # blocks the loop
        self._client = httpx.AsyncClient(base_url=self.base_url, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        time.sleep(0.2)  # blocks the loop
        if self._client is not None:
            await self._client.aclose()

    async def get_json(self, path: str) -> dict:
        time.sleep(0.2)  # blocks the loop
        assert self._client is not None, "use ApiClient in `async with`"
        response = await self._client.get(path)
        response.raise_for_status()
        return response.json()
