# expect: client-per-request
# The starter: a fresh httpx.AsyncClient (one TCP connection, one SSL context) for every call.
import httpx


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.max_connections = max_connections

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def get_json(self, path: str) -> dict:
        async with httpx.AsyncClient() as client:
            response = await client.get(self.base_url + path)
            return response.json()
