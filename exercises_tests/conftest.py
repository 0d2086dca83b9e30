"""Grading from the command line: `pytest exercises_tests --notebooks DIR`.

Options (--notebooks, --expect) are declared in the root conftest.py so they exist however
pytest is started.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Known answers grade the course's own checks: leave them out when a learner grades their work."""
    if config.getoption("--notebooks") == "solutions" and config.getoption("--expect") == "pass":
        return
    keep = [item for item in items if "test_known_answer" not in item.nodeid]
    dropped = [item for item in items if "test_known_answer" in item.nodeid]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
