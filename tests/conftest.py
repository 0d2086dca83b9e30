"""Fixtures shared by the unit tests. Keep it small."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynclab.services.api_client import ApiHandle, start_api
from asynclab.services.child import Child


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio only: the course is about asyncio."""
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ApiHandle, Child]]:
    """A lab API server for one test module (module scope: each module gets its own)."""
    api, child = start_api()
    try:
        yield api, child
    finally:
        child.stop()
