"""Judge tests: every verdict an exercise's judge.py can give, from recorded measurements.

No lab, no processes, no sleeps: each test builds a measurement by hand and runs in
milliseconds, so thresholds are tested just inside and just outside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed


def _reason_of(judge: Callable[..., Any], *args: Any) -> Reason | None:
    """The reason `judge(*args)` fails with, or None when it passes."""
    try:
        judge(*args)
    except CheckFailed as failure:
        assert failure.summary and failure.expected and failure.hint, "a verdict says what, what was expected and a hint"
        return failure.reason
    return None


@pytest.fixture
def reason_of() -> Callable[..., Reason | None]:
    return _reason_of


def _failure_of(judge: Callable[..., Any], *args: Any) -> CheckFailed:
    with pytest.raises(CheckFailed) as caught:
        judge(*args)
    return caught.value


@pytest.fixture
def failure_of() -> Callable[..., CheckFailed]:
    """The CheckFailed `judge(*args)` raises, for tests that read its text."""
    return _failure_of
