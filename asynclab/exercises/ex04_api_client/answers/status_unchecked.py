# expect: status-unchecked
# One shared, limited, closed client, but no status check: a 503's or a 404's JSON body comes back as data.
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

    async def __aenter__(self) -> "ApiClient":
        self._client = httpx.AsyncClient(base_url=self.base_url, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def get_json(self, path: str) -> dict:
        response = await self._client.get(path)
        return response.json()
