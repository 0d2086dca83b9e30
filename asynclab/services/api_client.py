"""ApiHandle: the notebook's and the checks' handle on the fault-injecting HTTP API.

    api, child = start_api()            # a fresh server process, health-checked
    mine = api.scoped()                 # requests to mine.url count in a scope of their own
    httpx.get(f"{mine.url}/delay?ms=50")
    mine.stats_sync()["requests"]       # 1; `await mine.stats()` on a loop

A handle holds only URLs, never a client: it is used from the notebook's loop, from a check's
loop in a subprocess and from plain threads, and an httpx client belongs to one loop.
"""

from __future__ import annotations

import functools
import secrets
import ssl
import time
from typing import Any

import httpx

from ..errors import LabError, ServiceStartError
from .child import Child, spawn

READY_KEY = "ASYNCLAB_API_URL"
DEFAULT_SCOPE = "default"
_TIMEOUT = httpx.Timeout(10.0)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # httpx builds (and loads CA certificates into) an SSL context for every client, even for
    # plain http; sharing one makes a throwaway client ~20x cheaper.
    return ssl.create_default_context()


def _client_options() -> dict[str, Any]:
    # trust_env=False: a proxy set in the environment must never sit between us and loopback.
    return {"timeout": _TIMEOUT, "trust_env": False, "verify": _ssl_context()}


class ApiHandle:
    """Where the API is, and which scope this handle's requests count in.

    `url` is what learner code builds request URLs on: the server's base URL for the
    shared "default" scope, or `base/s/<scope>` for a scoped handle.
    """

    def __init__(self, base_url: str, scope: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.scope = scope
        self.url = self.base_url if scope is None else f"{self.base_url}/s/{scope}"

    def __repr__(self) -> str:
        return f"ApiHandle({self.url!r})"

    def scoped(self) -> ApiHandle:
        """A handle on a fresh scope, so concurrent users never mix their counts."""
        return ApiHandle(self.base_url, secrets.token_hex(6))

    def _control(self, action: str) -> tuple[str, dict[str, str]]:
        return f"{self.base_url}/_lab/{action}", {"scope": self.scope or DEFAULT_SCOPE}

    def _failed(self, exc: httpx.HTTPError) -> LabError:
        return LabError(f"the lab API at {self.base_url} did not answer ({type(exc).__name__}: {exc}); "
                        "`await asynclab.start()` starts one")

    async def stats(self) -> dict[str, Any]:
        """This scope's counters: requests, in_flight, peak_in_flight, connections, ..."""
        url, params = self._control("stats")
        try:
            async with httpx.AsyncClient(**_client_options()) as client:
                response = (await client.get(url, params=params)).raise_for_status()
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        result: dict[str, Any] = response.json()
        return result

    async def reset(self) -> None:
        """Zero this scope's counters (only this scope's: others may be in use right now)."""
        url, params = self._control("reset")
        try:
            async with httpx.AsyncClient(**_client_options()) as client:
                (await client.post(url, params=params)).raise_for_status()
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc

    def stats_sync(self) -> dict[str, Any]:
        """`stats()` for code with no running loop (pytest fixtures, threads). Blocks."""
        url, params = self._control("stats")
        try:
            with httpx.Client(**_client_options()) as client:
                response = client.get(url, params=params).raise_for_status()
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        result: dict[str, Any] = response.json()
        return result

    def reset_sync(self) -> None:
        """`reset()` for code with no running loop. Blocks."""
        url, params = self._control("reset")
        try:
            with httpx.Client(**_client_options()) as client:
                client.post(url, params=params).raise_for_status()
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc


def wait_until_healthy(base_url: str, timeout: float) -> dict[str, Any]:
    """Poll `GET /_lab/health` until it answers ok; return its body. Blocks.

    A printed ready line proves the port is bound; this proves the server answers HTTP.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    with httpx.Client(**{**_client_options(), "timeout": httpx.Timeout(2.0)}) as client:
        while True:
            try:
                response = client.get(f"{base_url.rstrip('/')}/_lab/health")
                body = response.json() if response.status_code == 200 else None
                if isinstance(body, dict) and body.get("ok") is True:
                    return body
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            if time.monotonic() > deadline:
                raise ServiceStartError(f"the lab API at {base_url} failed its health check for {timeout:.0f} s: {last}")
            time.sleep(0.05)


def start_api(timeout: float = 30) -> tuple[ApiHandle, Child]:
    """Start the API in a child process of ours; return its handle once it answers.

    The process dies with ours; call `child.stop()` to end it sooner.
    """
    deadline = time.monotonic() + timeout
    child = spawn("http-api", "asynclab.services.http_api", ["--port", "0"], READY_KEY, timeout)
    try:
        wait_until_healthy(child.value, max(1.0, deadline - time.monotonic()))
    except BaseException:
        child.stop()
        raise
    return ApiHandle(child.value), child
