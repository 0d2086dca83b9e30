# expect: not-closed
# The source article's "good" pattern: a lazily created module-level client. Only one client
# is made (no await between the check and the assignment), but nothing ever closes it, and it
# belongs to whichever event loop used it first.
import httpx

_client: httpx.AsyncClient | None = None


def get_client(max_connections: int) -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        )
    return _client


class ApiClient:
    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        self.base_url = base_url
        self.max_connections = max_connections

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def get_json(self, path: str) -> dict:
        response = await get_client(self.max_connections).get(self.base_url + path)
        return response.json()
