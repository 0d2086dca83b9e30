"""04-user-repo's judge, from recorded counts (see tests/judges/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.exercises.ex04_user_repo.judge import (
    PROBE,
    REPO_CALLS,
    REPO_MAX,
    judge_backends,
    judge_closed,
    judge_dsn_used,
    judge_results,
    verdict,
)
from asynclab.grading.reasons import Reason

TRUTH = {1: {"id": 1, "name": "Ada", "email": "ada@example.org"}}


def test_the_solutions_counts_pass() -> None:
    judge_backends(REPO_MAX, "while 24 lookups waited on the server", PROBE)
    judge_results([1, 0], [dict(TRUTH[1]), None], TRUTH)
    judge_dsn_used(REPO_MAX, 0)
    judge_closed(0)
    assert verdict(REPO_MAX, 0.4).ok


@pytest.mark.parametrize(("peak", "lookups", "reason"), [
    (REPO_MAX, PROBE, None),
    (REPO_MAX + 1, PROBE, Reason.POOL_TOO_LARGE),  # the default pool of 10 while 24 wait
    (int(PROBE * 0.75) - 1, PROBE, Reason.POOL_TOO_LARGE),
    (int(PROBE * 0.75), PROBE, Reason.CONNECTION_PER_QUERY),
    (int(PROBE * 0.75), REPO_CALLS, Reason.CONNECTION_PER_QUERY),  # measured against the probe's size
])
def test_backend_thresholds(reason_of: Any, peak: int, lookups: int, reason: Reason | None) -> None:
    assert reason_of(judge_backends, peak, "during the lookups", lookups) is reason


@pytest.mark.parametrize(("ids", "results"), [
    ([0], [{"id": 0}]),  # a missing user must be None
    ([1], [(1, "Ada", "ada@example.org")]),  # a Record-like, not a dict
    ([1], [{"id": 1, "name": "Ada"}]),  # no email
    ([1], [{"id": 1, "name": "Bob", "email": "ada@example.org"}]),
])
def test_wrong_results(reason_of: Any, ids: list[int], results: list[Any]) -> None:
    assert reason_of(judge_results, ids, results, TRUTH) is Reason.WRONG_RESULT


def test_the_dsn_must_be_used(reason_of: Any) -> None:
    assert reason_of(judge_dsn_used, 0, 0) is Reason.DSN_IGNORED
    assert reason_of(judge_dsn_used, 0, 1) is None


def test_backends_left_after_exit(reason_of: Any) -> None:
    assert reason_of(judge_closed, 1) is Reason.NOT_CLOSED
