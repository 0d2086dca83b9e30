# expect: not-a-class
import httpx


async def ApiClient(base_url: str, max_connections: int = 10) -> httpx.AsyncClient:
    # A factory function is not an async context manager class.
    return httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=max_connections))
