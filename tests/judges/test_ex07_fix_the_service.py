"""07-fix-the-service's judge, from what the check sees outside the app: one test per verdict, thresholds from both sides."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.exercises.ex07_fix_the_service.judge import (
    BLOCKED_SHARE,
    DEADLINE,
    DECISIVE_LAG,
    HEALTHY_OK,
    LAG_LIMIT,
    P99_MARGIN,
    POOL_LIMIT,
    Burst,
    Smoke,
    Steady,
    did_not_start,
    group_answers,
    judge_answered,
    judge_audit,
    judge_burst,
    judge_connections,
    judge_factory,
    judge_shutdown,
    judge_smoke,
    judge_steady,
)
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed

WANT = {"id": 7, "name": "Grace", "tier": "gold", "score": 42}
CALM = {"requests": 60, "peak_in_flight": 10, "connections": 10, "disconnects": 0}


def reason_of(judge: Any, *args: Any, **kwargs: Any) -> Reason:
    with pytest.raises(CheckFailed) as failure:
        judge(*args, **kwargs)
    return failure.value.reason


def stats(**changes: int) -> dict[str, int]:
    return {**CALM, **changes}


def steady(**changes: Any) -> Steady:
    values: dict[str, Any] = {"load": "200 clients, 50 requests/s for 3 s",
                              "answers": {"ok": [200] * 90, "hang": [503] * 4, "fail": [503] * 6},
                              "loop_lag": 0.05, "blocked_share": 0.01, "probes_unanswered": 0, "probes": 10,
                              "p50": 0.06, "p99": 1.02}
    return Steady(**{**values, **changes})


def test_before_the_load_the_app_must_be_a_factory_that_starts_and_answers() -> None:
    judge_factory(lambda settings: None)
    assert reason_of(judge_factory, "app") == Reason.NOT_A_FACTORY
    assert did_not_start("KeyError: 'dsn'").reason == Reason.APP_DID_NOT_START
    judge_answered(7, None)
    assert reason_of(judge_answered, 7, "ReadTimeout") == Reason.NO_ANSWER


def test_the_smoke_test_wants_metrics_and_the_profile() -> None:
    judge_smoke(Smoke({"loop": {}}, 200, "{}", {**WANT, "extra": 1}, WANT))
    assert reason_of(judge_smoke, Smoke(None, 200, "{}", WANT, WANT)) == Reason.NO_METRICS
    assert reason_of(judge_smoke, Smoke({"loop": {}}, 200, "{}", {**WANT, "score": 0}, WANT)) == Reason.WRONG_RESULT


def test_a_500_in_the_smoke_test_quotes_the_apps_log() -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_smoke(Smoke({"loop": {}}, 500, "Internal Server Error", None, WANT, log_line="NameError: pool"))
    assert failure.value.reason == Reason.WRONG_RESULT
    assert "(NameError: pool)" in failure.value.measured


def test_a_bounded_burst_passes() -> None:
    judge_burst(Burst(60, 60, 0.1, CALM, clients=1, held=10))


@pytest.mark.parametrize("clients", [None, 3, 62])
def test_one_call_at_a_time_is_a_blocked_loop(clients: int | None) -> None:
    burst = Burst(60, 12, 2.0, stats(peak_in_flight=1), clients=clients, held=1)
    assert reason_of(judge_burst, burst) == Reason.LOOP_BLOCKED


@pytest.mark.parametrize(("lag", "decisive"), [(DECISIVE_LAG, True), (DECISIVE_LAG - 0.01, False)])
def test_one_call_at_a_time_with_a_stalled_loop_is_not_measured_again(lag: float, decisive: bool) -> None:
    with pytest.raises(CheckFailed) as caught:
        judge_burst(Burst(60, 12, lag, stats(peak_in_flight=1), clients=1, held=1))
    assert caught.value.reason == Reason.LOOP_BLOCKED and caught.value.decisive is decisive


@pytest.mark.parametrize(("changes", "decisive"), [
    ({"loop_lag": DECISIVE_LAG}, True),
    ({"loop_lag": DECISIVE_LAG - 0.01}, False),
    ({"blocked_share": 0.9}, False),  # a stall share alone is measured again
    ({"probes_unanswered": 3, "silent": DECISIVE_LAG}, True),
    ({"probes_unanswered": 3, "silent": DECISIVE_LAG - 0.01}, False),
])
def test_only_a_loop_stalled_for_seconds_in_steady_traffic_is_not_measured_again(
        changes: dict[str, Any], decisive: bool) -> None:
    with pytest.raises(CheckFailed) as caught:
        judge_steady(steady(**changes))
    assert caught.value.reason == Reason.LOOP_BLOCKED and caught.value.decisive is decisive


@pytest.mark.parametrize(("lag", "silent", "blocked"), [
    (DECISIVE_LAG, 0.0, True),
    (1.0, DECISIVE_LAG, True),  # /metrics unanswered for two 1 s reads
    (DECISIVE_LAG - 0.01, DECISIVE_LAG - 0.01, False),
])
def test_a_burst_that_stalls_the_loop_for_seconds_is_decisively_blocked(lag: float, silent: float, blocked: bool) -> None:
    burst = Burst(24, 0, lag, CALM, clients=1, held=10, silent=silent)
    if not blocked:
        judge_burst(burst)  # the steady phase judges a shorter stall, and measures it again
        return
    with pytest.raises(CheckFailed) as caught:
        judge_burst(burst)
    assert caught.value.reason == Reason.LOOP_BLOCKED and caught.value.decisive


def test_a_burst_judges_connections_before_a_stall() -> None:
    burst = Burst(60, 12, DECISIVE_LAG, stats(connections=60), clients=60, held=10, silent=DECISIVE_LAG)
    assert reason_of(judge_burst, burst) == Reason.CLIENT_PER_REQUEST


def test_one_call_at_a_time_with_a_client_per_call_is_judged_as_clients() -> None:
    burst = Burst(60, 12, 2.0, stats(peak_in_flight=1, connections=60), clients=63, held=1)
    assert reason_of(judge_burst, burst) == Reason.CLIENT_PER_REQUEST


@pytest.mark.parametrize(("counters", "clients", "held", "reason"), [
    (stats(), 1, POOL_LIMIT, None),
    (stats(connections=60), 60, 10, Reason.CLIENT_PER_REQUEST),
    (stats(connections=3 * POOL_LIMIT + 1), None, 10, Reason.CLIENT_PER_REQUEST),  # no client count: connections
    (stats(connections=3 * POOL_LIMIT, disconnects=8), None, 10, None),  # ... just inside
    (stats(peak_in_flight=POOL_LIMIT + 1), 1, 10, Reason.UNBOUNDED_DOWNSTREAM),
    (stats(), 1, POOL_LIMIT + 1, Reason.UNBOUNDED_DOWNSTREAM),
    (stats(connections=POOL_LIMIT + 2 * 3 + 6, disconnects=3), 1, 10, Reason.CONNECTION_CHURN),
    (stats(connections=POOL_LIMIT + 2 * 3 + 5, disconnects=3), 1, 10, None),  # each cancelled call may cost two
])
def test_the_connection_rules(counters: dict[str, int], clients: int | None, held: int, reason: Reason | None) -> None:
    if reason is None:
        judge_connections(counters, clients, held, phase="a burst")
    else:
        assert reason_of(judge_connections, counters, clients, held, phase="a burst") == reason


def test_steady_traffic_within_the_deadline_passes() -> None:
    judge_steady(steady())
    judge_steady(steady(p99=DEADLINE + P99_MARGIN))  # just inside


@pytest.mark.parametrize(("changes", "reason"), [
    ({"loop_lag": LAG_LIMIT + 0.01}, Reason.LOOP_BLOCKED),
    ({"blocked_share": BLOCKED_SHARE + 0.01}, Reason.LOOP_BLOCKED),
    ({"probes_unanswered": 3}, Reason.LOOP_BLOCKED),
    ({"answers": {"ok": [200] * 90, "hang": [None, 503], "fail": [503]}}, Reason.NO_DEADLINE),
    ({"answers": {"ok": [200] * 90, "hang": [504, 503], "fail": [503]}}, Reason.WRONG_STATUS),
    ({"answers": {"ok": [200] * 90, "hang": [503], "fail": [500]}}, Reason.WRONG_STATUS),
    ({"p99": DEADLINE + P99_MARGIN + 0.01}, Reason.P99_TOO_HIGH),
])
def test_steady_traffic_that_breaks_a_promise_fails(changes: dict[str, Any], reason: Reason) -> None:
    assert reason_of(judge_steady, steady(**changes)) == reason


def test_healthy_users_need_half_their_answers_200() -> None:
    at_least = int(HEALTHY_OK * 10)
    judge_steady(steady(answers={"ok": [200] * at_least + [503] * (10 - at_least), "hang": [503], "fail": []}))
    too_few = {"ok": [200] * (at_least - 1) + [503] * (11 - at_least), "hang": [503], "fail": []}
    assert reason_of(judge_steady, steady(answers=too_few)) == Reason.WRONG_STATUS


def test_a_500_for_a_failing_partner_quotes_the_apps_log() -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_steady(steady(answers={"ok": [200], "hang": [], "fail": [500, 500]}, log_line="KeyError: 'score'"))
    assert failure.value.measured == "their answers: {'500': 2}; app log: KeyError: 'score'"


def test_answers_are_grouped_by_what_the_partner_did() -> None:
    assert group_answers([("ok", 200), ("hang", None), ("fail", 503), ("ok", 503)]) == \
        {"ok": [200, 503], "hang": [None], "fail": [503]}


def test_shutdown_and_audit() -> None:
    judge_shutdown(True, 0.4)
    assert reason_of(judge_shutdown, False, 8.0) == Reason.SHUTDOWN_HANGS
    judge_audit(30, 30, 0.5)
    judge_audit(30, 31, 0.5)  # an audit row from a request the load generator had given up on
    assert reason_of(judge_audit, 30, 29, 0.5) == Reason.AUDIT_LOST
