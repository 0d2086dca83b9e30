"""The verdicts of 04-user-repo, from recorded counts (check.py measures).

Pure functions: tests/judges/test_ex04_user_repo.py gives every verdict and threshold from
hand-made counts, in milliseconds.
"""

from __future__ import annotations

from typing import Any

from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

REPO_MAX = 4  # the check asks for 4, not the default 5: the argument must be honoured
PROBE = 24  # lookups held on the server to count the repo's backends exactly
REPO_CALLS = 200
CLOSE_WITHIN = 2.0  # seconds for backends to go after the `async with` ends


def judge_backends(peak: int, when: str, lookups: int) -> None:
    """At most REPO_MAX backends at once; about one per lookup means a connection per query."""
    if peak <= REPO_MAX:
        return
    measured = f"{peak} backends at once {when} (counted in pg_stat_activity)"
    expected = f"at most max_size={REPO_MAX}"
    if peak >= min(lookups, PROBE) * 0.75:
        raise fail(Reason.CONNECTION_PER_QUERY, "every lookup opened a connection (or a pool) of its own.", measured=measured,
                   expected=expected, hint="Open one pool when the repo is entered and borrow from it in get_user "
                   "(and create it once: a lazy `if self.pool is None: self.pool = await create_pool()` races).")
    raise fail(Reason.POOL_TOO_LARGE, "the pool holds more connections than max_size allows.", measured=measured,
               expected=expected, hint="Pass max_size (and a min_size no larger) to asyncpg.create_pool: both default to 10.")


def judge_results(ids: list[int], results: list[Any], truth: dict[int, dict[str, Any]]) -> None:
    """Each lookup returns its user as a dict with id, name and email, or None for a missing id."""
    for user_id, got in zip(ids, results, strict=True):
        want = truth.get(user_id)
        if want is None:
            if got is not None:
                raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) should be None: there is no such user.",
                           measured=f"returned {got!r:.120}", expected="None",
                           hint="`fetchrow` returns None when no row matches; return None then.")
            continue
        if not isinstance(got, dict):
            raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) did not return a dict.",
                       measured=f"returned a {type(got).__name__}: {got!r:.100}", expected="a dict with id, name, email",
                       hint="An asyncpg Record is not a dict: return `dict(row)`.")
        missing = [k for k in ("id", "name", "email") if k not in got]
        wrong = [k for k, v in got.items() if k in want and v != want[k]]
        if missing or wrong:
            raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) returned the wrong user.",
                       measured=f"returned {got!r:.150}", expected=f"{ {k: want[k] for k in ('id', 'name', 'email')} }",
                       hint="Select the user by id (`WHERE id = $1`) and return its id, name and email.")


def judge_dsn_used(held: int, sampled: int) -> None:
    """Some backend must carry the dsn's application_name: the repo connected with the dsn it was given."""
    if held == 0 and not sampled:
        raise fail(Reason.DSN_IGNORED, "no backend carried the application_name of the dsn the repo was given.",
                   measured="0 backends seen with that application_name",
                   expected="connections made from the dsn argument, unchanged",
                   hint="Pass the dsn you are given to asyncpg unchanged, and don't override application_name.")


def judge_closed(left: int) -> None:
    if left:
        raise fail(Reason.NOT_CLOSED, "the repo's connections stayed open after `async with` ended.",
                   measured=f"{left} backend(s) of the repo still in pg_stat_activity {CLOSE_WITHIN:.0f} s after exit",
                   expected="0: closing the repo releases every connection",
                   hint="`await self._pool.close()` in `__aexit__`.")


def verdict(peak: int, seconds: float) -> Verdict:
    return passed(f"{REPO_CALLS} lookups were right and shared at most {peak} backend(s); all released on exit.",
                  measured=f"peak {peak} of max_size={REPO_MAX} backends; {seconds:.2f} s for {REPO_CALLS} lookups")
