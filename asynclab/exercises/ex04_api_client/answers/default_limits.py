# expect: too-many-connections
# One shared, closed client, but max_connections is ignored: httpx's default pool allows 100.
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url

    async def __aenter__(self) -> "ApiClient":
        self.client = httpx.AsyncClient(base_url=self.base_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def get_json(self, path: str) -> dict:
        response = await self.client.get(path)
        return response.json()
