# Exercise: 04-api-client
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.max_connections = max_connections

    async def __aenter__(self) -> "ApiClient":
        n = self.max_connections
        self._client = httpx.AsyncClient(base_url=self.base_url, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def get_json(self, path: str) -> dict:
        r = await self._client.get(path)
        r.raise_for_status()
        return r.json()
