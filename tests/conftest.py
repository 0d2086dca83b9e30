"""Fixtures shared by the unit tests. Keep it small: each test module owns its own servers."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio only: the course is about asyncio."""
    return "asyncio"
