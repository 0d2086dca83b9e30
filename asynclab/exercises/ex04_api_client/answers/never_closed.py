# expect: not-closed
# One client with the right limits, but __aexit__ forgets to close it.
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

    async def __aenter__(self) -> "ApiClient":
        self.client = httpx.AsyncClient(base_url=self.base_url, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass  # the client, and its connections, live on

    async def get_json(self, path: str) -> dict:
        response = await self.client.get(path)
        return response.json()
