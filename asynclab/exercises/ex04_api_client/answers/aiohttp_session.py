# expect: pass
# Another library: one aiohttp ClientSession whose connector allows max_connections.
import aiohttp


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.max_connections = max_connections

    async def __aenter__(self) -> "ApiClient":
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.max_connections))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def get_json(self, path: str) -> dict:
        async with self.session.get(self.base_url + path) as response:
            response.raise_for_status()  # aiohttp's ClientResponseError for a 4xx or 5xx
            return await response.json()
