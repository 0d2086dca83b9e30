# expect: pass
# small_keepalive.py with httpx2, httpx's maintained fork: the same limits, but its pool counts only
# idle connections against max_keepalive_connections, so a busy pool keeps its connections
# (httpx2 2.16; httpx 0.28/0.29 on httpcore 1.0 churns: encode/httpcore#1000).
import httpx2


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=2)

    async def __aenter__(self) -> "ApiClient":
        self.client = httpx2.AsyncClient(base_url=self.base_url, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def get_json(self, path: str) -> dict:
        response = await self.client.get(path)
        response.raise_for_status()
        return response.json()
