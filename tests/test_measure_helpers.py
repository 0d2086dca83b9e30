"""grading/measure.py's helpers, which every check shares: each does what its verdicts rely on."""

from __future__ import annotations

import asyncio
import types

import httpx
import pytest

from asynclab.grading.measure import (
    client_constructions,
    entered_or,
    exception_leaves,
    group_name,
    outcome_of,
    poll_until,
    require_context_manager_class,
    require_methods,
    settled_peak,
)
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed


class _Manager:
    async def __aenter__(self) -> _Manager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Plain:
    pass


def _module(**names: object) -> types.ModuleType:
    module = types.ModuleType("cell")
    module.__dict__.update(names)
    return module


@pytest.mark.parametrize(("value", "reason"), [(_Manager, None), (_Plain, Reason.NOT_A_CONTEXT_MANAGER),
                                               (lambda: None, Reason.NOT_A_CLASS)])
def test_require_context_manager_class(value: object, reason: Reason | None) -> None:
    if reason is None:
        assert require_context_manager_class(_module(Repo=value), "Repo") is value
        return
    with pytest.raises(CheckFailed) as caught:
        require_context_manager_class(_module(Repo=value), "Repo")
    assert caught.value.reason is reason


def test_require_methods_names_the_first_missing_one() -> None:
    with pytest.raises(CheckFailed) as caught:
        require_methods(_Manager, "Registry", ("__aenter__", "spawn", "drain"), expected="spawn and drain", hint="h")
    assert caught.value.reason is Reason.MISSING_METHOD and caught.value.summary == "Registry has no spawn()."


def test_entered_or_falls_back_to_the_object() -> None:
    obj = _Manager()
    assert entered_or(None, obj, "__aenter__") is obj and entered_or(obj, None, "__aenter__") is obj


def test_client_constructions_counts_every_client_and_restores_the_constructor() -> None:
    original = httpx.AsyncClient.__init__

    class Mine(httpx.AsyncClient):
        pass

    with client_constructions() as spy:
        a, b = httpx.AsyncClient(), Mine()
    asyncio.run(a.aclose())
    assert (spy.created, spy.still_open) == (2, 1)
    spy.forget()
    assert spy.created == 0 and httpx.AsyncClient.__init__ is original
    asyncio.run(b.aclose())


def test_exception_leaves_and_group_name() -> None:
    group = ExceptionGroup("outer", [ValueError("a"), ExceptionGroup("inner", [KeyError("b")])])
    assert [type(e) for e in exception_leaves(group)] == [ValueError, KeyError]
    assert group_name(group) == "ExceptionGroup(KeyError, ValueError)" and group_name(ValueError()) == "ValueError"


def test_outcome_of_returns_the_value_or_the_exception() -> None:
    async def main() -> tuple[object, object, object]:
        async def value() -> int:
            return 1

        async def boom() -> int:
            raise ValueError("x")

        async def hang() -> int:
            await asyncio.sleep(10)
            return 0

        return (await outcome_of(value, within=1), await outcome_of(boom, within=1),
                await outcome_of(hang, within=0.01))

    one, boom, hang = asyncio.run(main())
    assert one == 1 and isinstance(boom, ValueError) and isinstance(hang, TimeoutError)


def test_poll_until_returns_the_first_value_that_is_done_or_the_last_one() -> None:
    async def main() -> tuple[int, int]:
        counts = iter(range(100))

        async def read() -> int:
            return next(counts)

        done = await poll_until(read, lambda n: n >= 3, within=5, every=0)
        never = await poll_until(read, lambda n: n < 0, within=0.02, every=0.005)
        return done, never

    done, never = asyncio.run(main())
    assert done == 3 and never > 4


def test_settled_peak_stops_once_the_count_stays_put() -> None:
    async def main() -> int:
        counts = iter([0, 1, 3, 2, 2, 2, 2, 2] + [2] * 1000)

        async def read() -> int:
            return next(counts)

        return await settled_peak(read, enough=lambda n: False, quiet=0.01, within=2, every=0.005)

    assert asyncio.run(main()) == 3
