# expect: connection-churn
# max_connections is honoured, but keep-alive is smaller: under a burst, httpcore closes the
# idle connections beyond it and opens new ones for the waiting requests.
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=2)

    async def __aenter__(self) -> "ApiClient":
        self.client = httpx.AsyncClient(base_url=self.base_url, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def get_json(self, path: str) -> dict:
        response = await self.client.get(path)
        return response.json()
