"""The fault-injecting HTTP API, driven over real loopback connections.

One server per module; each test works in a scope of its own (`api` fixture), so the tests
are independent of each other and of their order. Timings are asserted as ratios or with
generous bounds: the machine has two noisy cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest

from asynclab.services.api_client import ApiHandle, start_api
from asynclab.services.child import Child


@pytest.fixture
def api(server: tuple[ApiHandle, Child]) -> ApiHandle:
    return server[0].scoped()


def client(**kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 10.0)
    return httpx.AsyncClient(trust_env=False, **kwargs)


async def wait_for_stats(api: ApiHandle, done: Callable[[dict[str, Any]], bool], within: float = 5.0) -> dict[str, Any]:
    """Poll the counters until `done(stats)`, for at most `within` seconds; return the last ones seen."""
    deadline = time.monotonic() + within
    while True:
        stats = await api.stats()
        if done(stats) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.02)


# --- endpoints ---------------------------------------------------------------------------

@pytest.mark.anyio
async def test_health_and_unknown_paths(server: tuple[ApiHandle, Child], api: ApiHandle) -> None:
    async with asyncio.timeout(10), client() as c:
        health = await c.get(f"{server[0].url}/_lab/health")
        assert health.status_code == 200 and health.json()["ok"] is True
        assert health.json()["pid"] == server[1].process.pid
        missing = await c.get(f"{api.url}/no-such-thing")
    assert missing.status_code == 404
    assert any("/delay" in line for line in missing.json()["endpoints"])
    assert (await api.stats())["status"] == {"404": 1}


@pytest.mark.slow
@pytest.mark.anyio
async def test_delay_sleeps_and_jitter_repeats_with_the_same_seed(api: ApiHandle) -> None:
    async with asyncio.timeout(30), client() as c:
        async def slept(seed: int) -> list[int]:
            responses = await asyncio.gather(*(
                c.get(f"{api.url}/delay", params={"ms": 50, "jitter": 40, "seed": seed, "id": i}) for i in range(20)))
            assert [r.json()["id"] for r in responses] == [str(i) for i in range(20)]
            return [r.json()["slept_ms"] for r in responses]

        first, again, other = await slept(1), await slept(1), await slept(2)

        started = time.monotonic()
        plain = await c.get(f"{api.url}/delay", params={"ms": 600})
        slow = time.monotonic() - started
        started = time.monotonic()
        await c.get(f"{api.url}/delay", params={"ms": 0})
        fast = time.monotonic() - started
    assert first == again
    assert first != other
    assert all(10 <= ms <= 90 for ms in first + other) and len(set(first)) > 1
    assert plain.json() == {"id": None, "slept_ms": 600}
    assert slow >= 0.5 and fast < slow / 2


@pytest.mark.slow
@pytest.mark.anyio
async def test_error_rate_is_seeded_and_close_to_the_rate(api: ApiHandle) -> None:
    async with asyncio.timeout(30), client() as c:
        async def statuses(seed: int) -> list[int]:
            responses = await asyncio.gather(*(
                c.get(f"{api.url}/error", params={"rate": 0.3, "status": 503, "seed": seed, "id": f"u{i}"})
                for i in range(200)))
            return [r.status_code for r in responses]

        first, again, other = await statuses(7), await statuses(7), await statuses(8)
    assert set(first) <= {200, 503}
    assert first == again and first != other
    assert 0.2 <= first.count(503) / 200 <= 0.4
    stats = await api.stats()
    assert stats["status"] == {"200": 600 - 2 * first.count(503) - other.count(503),
                               "503": 2 * first.count(503) + other.count(503)}


@pytest.mark.anyio
async def test_error_without_id_repeats_after_a_reset(api: ApiHandle) -> None:
    async with asyncio.timeout(30), client() as c:
        async def sequence() -> list[int]:
            return [(await c.get(f"{api.url}/error", params={"rate": 0.5, "seed": 3})).status_code for _ in range(20)]

        first = await sequence()
        await api.reset()
        again = await sequence()
    assert first == again and {200, 500} == set(first)


@pytest.mark.anyio
async def test_trickle_sends_headers_now_then_one_byte_per_chunk(api: ApiHandle) -> None:
    # The read timeout (1 s) is longer than the gap between bytes (0.15 s), so httpx never
    # fires it although the whole answer takes about 1.5 s: per-read timeouts are no deadline.
    async with asyncio.timeout(20), client(timeout=httpx.Timeout(5, read=1.0)) as c:
        started = time.monotonic()
        async with c.stream("GET", f"{api.url}/trickle", params={"bytes": 10, "every_ms": 150}) as response:
            headers_after = time.monotonic() - started
            chunks = [chunk async for chunk in response.aiter_raw()]
        total = time.monotonic() - started
    assert response.status_code == 200
    assert chunks == [str(i).encode() for i in range(10)]
    assert total >= 1.3
    assert headers_after < total / 3


@pytest.mark.anyio
async def test_slow_headers_hold_back_the_status_line(api: ApiHandle) -> None:
    async with asyncio.timeout(20):
        async with client(timeout=httpx.Timeout(5, read=0.2)) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.get(f"{api.url}/slow-headers", params={"ms": 600})
        async with client(timeout=5) as patient:
            started = time.monotonic()
            response = await patient.get(f"{api.url}/slow-headers", params={"ms": 600})
            waited = time.monotonic() - started
    assert response.status_code == 200 and response.json()["ok"] is True
    assert waited >= 0.5


@pytest.mark.anyio
async def test_hang_never_answers_and_giving_up_counts_as_a_disconnect(api: ApiHandle) -> None:
    async with client() as c:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await c.get(f"{api.url}/hang")
        with pytest.raises(httpx.ReadTimeout):
            async with asyncio.timeout(10):
                await c.get(f"{api.url}/hang", timeout=httpx.Timeout(5, read=0.3))
    async with asyncio.timeout(10):
        stats = await wait_for_stats(api, lambda s: s["disconnects"] == 2 and s["in_flight"] == 0)
    assert stats["requests"] == 2 and stats["completed"] == 0
    assert stats["disconnects"] == 2 and stats["in_flight"] == 0 and stats["status"] == {}


@pytest.mark.anyio
async def test_a_cancelled_request_is_a_disconnect_and_in_flight_drops_promptly(api: ApiHandle) -> None:
    async with asyncio.timeout(20), client() as c:
        task = asyncio.create_task(c.get(f"{api.url}/delay", params={"ms": 10_000}))
        running = await wait_for_stats(api, lambda s: s["in_flight"] == 1)
        assert running["in_flight"] == 1
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = await wait_for_stats(api, lambda s: s["in_flight"] == 0)
        noticed = time.monotonic() - cancelled_at
    assert stats["in_flight"] == 0 and stats["disconnects"] == 1 and stats["completed"] == 0
    assert noticed < 3  # far below the 10 s the handler would otherwise have slept


@pytest.mark.slow
@pytest.mark.anyio
async def test_in_flight_and_peak_follow_concurrent_requests(api: ApiHandle) -> None:
    async with asyncio.timeout(20), client() as c:
        requests = asyncio.gather(*(c.get(f"{api.url}/delay", params={"ms": 2000}) for _ in range(10)))
        during = await wait_for_stats(api, lambda s: s["in_flight"] == 10)
        responses = await requests
    after = await api.stats()
    assert during["in_flight"] == 10
    assert [r.status_code for r in responses] == [200] * 10
    assert after["in_flight"] == 0 and after["peak_in_flight"] == 10 and after["completed"] == 10


@pytest.mark.anyio
async def test_items_and_users_are_deterministic(api: ApiHandle) -> None:
    async with asyncio.timeout(10), client() as c:
        items = (await c.get(f"{api.url}/items", params={"n": 5})).json()["items"]
        items_again = (await c.get(f"{api.url}/items", params={"n": 5})).json()["items"]
        none = (await c.get(f"{api.url}/items", params={"n": 0})).json()["items"]
        user = (await c.get(f"{api.url}/users/7")).json()
        user_again = (await c.get(f"{api.url}/users/7")).json()
        missing = [(await c.get(f"{api.url}/users/{uid}")).status_code for uid in (0, -3)]
    assert items == items_again and none == []
    assert [item["id"] for item in items] == [1, 2, 3, 4, 5]
    assert all(isinstance(item["name"], str) and isinstance(item["price"], float) for item in items)
    assert user == user_again and user["id"] == 7
    assert user["tier"] in {"free", "pro", "enterprise"} and isinstance(user["score"], int)
    assert missing == [404, 404]


# --- connections, caps and limits ---------------------------------------------------------

@pytest.mark.anyio
async def test_a_client_per_request_opens_a_connection_per_request(api: ApiHandle) -> None:
    async with asyncio.timeout(30):
        for _ in range(8):
            async with client() as c:
                (await c.get(f"{api.url}/delay", params={"ms": 0})).raise_for_status()
    stats = await api.stats()
    assert stats["requests"] == 8 and stats["connections"] == 8


@pytest.mark.anyio
async def test_a_shared_client_opens_at_most_its_pool_size(api: ApiHandle) -> None:
    async with asyncio.timeout(30), client(limits=httpx.Limits(max_connections=5)) as c:
        responses = await asyncio.gather(*(c.get(f"{api.url}/delay", params={"ms": 50}) for _ in range(60)))
    stats = await api.stats()
    assert [r.status_code for r in responses] == [200] * 60
    assert stats["requests"] == 60 and 1 <= stats["connections"] <= 5 and stats["peak_in_flight"] <= 5


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_concurrency_cap_holds_under_500_concurrent_requests(api: ApiHandle) -> None:
    # Ten clients of 50 connections: one pool of 500 costs httpx more CPU than the whole test.
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with asyncio.timeout(60), contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(limits=limits, timeout=30)) for _ in range(10)]
        responses = await asyncio.gather(*(
            clients[i % 10].get(f"{api.url}/capped", params={"limit": 20, "ms": 2000}) for i in range(500)))
    codes = [r.status_code for r in responses]
    admitted = [r.json()["in_flight"] for r in responses if r.status_code == 200]
    assert set(codes) == {200, 429}
    assert max(admitted) <= 20 and len(admitted) >= 20
    assert (await api.stats())["status"] == {"200": codes.count(200), "429": codes.count(429)}


@pytest.mark.anyio
async def test_the_token_bucket_answers_429_with_retry_after(api: ApiHandle) -> None:
    async with asyncio.timeout(20), client() as c:
        started = time.monotonic()
        responses = [await c.get(f"{api.url}/rate", params={"rps": 1, "burst": 3}) for _ in range(8)]
        elapsed = time.monotonic() - started
    codes = [r.status_code for r in responses]
    assert codes[:3] == [200, 200, 200] and 429 in codes
    assert codes.count(200) <= 3 + int(elapsed * 1) + 1
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.anyio
async def test_an_outage_fails_with_retry_after_then_recovers(api: ApiHandle) -> None:
    async with asyncio.timeout(20), client() as c:
        first = await c.get(f"{api.url}/outage", params={"down_ms": 300, "status": 503, "retry_after": 2})
        bare = await c.get(f"{api.url}/outage", params={"down_ms": 300, "status": 429, "retry_after": 0})
        await asyncio.sleep(0.4)  # the clock started with the scope's first /outage request
        after = await c.get(f"{api.url}/outage", params={"down_ms": 300})
        await api.reset()  # a reset starts the outage again
        again = await c.get(f"{api.url}/outage", params={"down_ms": 300})
    assert first.status_code == 503 and first.headers["Retry-After"] == "2" and first.json()["retry_after"] == 2
    assert bare.status_code == 429 and "Retry-After" not in bare.headers
    assert after.status_code == 200 and after.json() == {"ok": True, "recovered": True}
    assert again.status_code == 503


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "param"), [
    ("/delay?ms=-1", "ms"),
    ("/delay?ms=abc", "ms"),
    ("/delay?jitter=x", "jitter"),
    ("/delay?seed=-5", "seed"),
    ("/delay?id=" + "x" * 300, "id"),
    ("/error?rate=1.5", "rate"),
    ("/error?rate=nan", "rate"),
    ("/error?status=200", "status"),
    ("/trickle?bytes=0", "bytes"),
    ("/trickle?every_ms=0", "every_ms"),
    ("/slow-headers?ms=999999", "ms"),
    ("/capped?limit=0", "limit"),
    ("/rate?rps=0", "rps"),
    ("/rate?burst=0", "burst"),
    ("/items?n=-1", "n"),
    ("/users/abc", "user_id"),
    ("/outage?down_ms=-1", "down_ms"),
    ("/outage?status=404", "status"),
    ("/outage?status=200", "status"),
    ("/outage?retry_after=x", "retry_after"),
])
async def test_bad_parameters_get_a_400_naming_the_parameter(api: ApiHandle, path: str, param: str) -> None:
    async with asyncio.timeout(10), client() as c:
        response = await c.get(api.url + path)
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(f"{param}: ") and ", got " in message
    assert (await api.stats())["status"] == {"400": 1}


@pytest.mark.anyio
async def test_a_bad_scope_name_gets_a_400(server: tuple[ApiHandle, Child]) -> None:
    base = server[0].base_url
    async with asyncio.timeout(10), client() as c:
        responses = [await c.get(f"{base}/s/no!way/delay"), await c.get(f"{base}/_lab/stats", params={"scope": "a b"})]
    for response in responses:
        assert response.status_code == 400 and response.json()["error"].startswith("scope: ")


# --- scopes and the control plane -----------------------------------------------------------

@pytest.mark.anyio
async def test_scopes_do_not_mix_and_reset_resets_one_scope(server: tuple[ApiHandle, Child]) -> None:
    a, b = server[0].scoped(), server[0].scoped()
    assert a.url != b.url and a.url.startswith(server[0].base_url + "/s/")
    async with asyncio.timeout(20), client() as c:
        await asyncio.gather(*(c.get(f"{a.url}/delay", params={"ms": 50}) for _ in range(7)),
                             *(c.get(f"{b.url}/delay", params={"ms": 50}) for _ in range(3)))
        over_http = (await c.get(f"{a.url}/_lab/stats")).json()
    stats_a, stats_b = await a.stats(), await b.stats()
    assert stats_a["requests"] == 7 and stats_b["requests"] == 3
    assert over_http == stats_a  # /_lab/* itself is never counted
    await a.reset()
    assert (await a.stats())["requests"] == 0 and (await a.stats())["status"] == {}
    assert (await b.stats())["requests"] == 3


def test_sync_helpers_for_code_without_a_loop(server: tuple[ApiHandle, Child]) -> None:
    api = server[0].scoped()
    with httpx.Client(trust_env=False, timeout=10) as c:
        c.get(f"{api.url}/delay", params={"ms": 0}).raise_for_status()
    assert api.stats_sync()["requests"] == 1
    api.reset_sync()
    assert api.stats_sync()["requests"] == 0


# --- the process ------------------------------------------------------------------------------

def test_the_server_listens_on_loopback_only(server: tuple[ApiHandle, Child]) -> None:
    connections = psutil.Process(server[1].process.pid).net_connections(kind="inet")
    listening = [conn for conn in connections if conn.status == psutil.CONN_LISTEN]
    assert listening
    assert all(conn.laddr.ip == "127.0.0.1" for conn in listening)


@pytest.mark.slow
@pytest.mark.anyio
async def test_sigterm_stops_the_server_even_with_a_request_hanging() -> None:
    api, child = await asyncio.to_thread(start_api)
    try:
        async with asyncio.timeout(20), client() as c:
            hanging = asyncio.create_task(c.get(f"{api.url}/hang"))
            await wait_for_stats(api, lambda s: s["in_flight"] == 1)
            child.process.terminate()
            code = await asyncio.to_thread(child.process.wait, 10)
            with pytest.raises(httpx.TransportError):
                await hanging
        assert code == 0
    finally:
        child.stop()


PARENT = textwrap.dedent("""
    import time
    from asynclab.services.api_client import start_api
    api, child = start_api()
    print(child.process.pid, flush=True)
    time.sleep(120)
""")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # nobody may reap it here
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_the_server_dies_with_its_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child_pid = None
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 30)
        assert ready, "the parent did not report its server within 30 s"
        child_pid = int(parent.stdout.readline())
        assert not _gone(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child_pid), "the API server outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait(10)
        if child_pid is not None and not _gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_throughput_tool_measures_both_servers_with_both_clients() -> None:
    from asynclab.services.throughput import format_table, measure

    rows = measure(requests=40, concurrency=4, delays_ms=(0, 5), clients=("httpx", "aiohttp"))
    assert len(rows) == 8
    assert {(r["client"], r["server"]) for r in rows} == {
        (c, s) for c in ("httpx", "aiohttp") for s in ("aiohttp (lab API)", "ThreadingHTTPServer")}
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows)
    assert [r["ideal_rps"] for r in rows[:4]] == [None, None, 800, 800]
    assert format_table(rows).count("\n") == 9
