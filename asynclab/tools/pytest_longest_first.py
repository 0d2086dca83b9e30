"""A pytest plugin: start the longest tests first under xdist.

xdist hands out whole files in order of their number of tests, so the capstone notebook (few
cells, the longest run) started last and one worker idled while it ran. Longest first is the
classic fix (LPT scheduling): the short ones fill in around the long ones at the end.

Whole files go longest first, each kept together. Under `--dist loadfile` (nbval: a notebook's
cells run in order, in one kernel) the tests inside a file keep their order; under `--dist load`,
which hands out tests one by one, they go longest first too (the known answers: one file, 0.1-20 s
apart). Files stay together so that a module's fixtures are not set up again for every test.

How long a test takes: its last measured time on this machine (pytest's cache, written at the end
of every run with the cache on; per test, so a `-k` run updates only what it ran), else the order
in the `longest_first` ini option, which names files and test ids (a fresh clone and CI have no
cache).

    python -m pytest -p asynclab.tools.pytest_longest_first -n 2 --dist loadfile --nbval solutions
"""

from __future__ import annotations

import pytest

CACHE_KEY = "asynclab/test-seconds"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("longest_first", type="linelist", default=[],
                  help="test files and test ids known to take longest, longest first (used until the cache has timings)")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # xdist would re-sort by test count: keep our order
    if not hasattr(config, "workerinput"):  # the controller sees every report, the workers only theirs
        config.pluginmanager.register(_Timer(config), "asynclab-longest-first-timer")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def file_order(files: list[str], measured: dict[str, float], listed: list[str]) -> list[str]:
    """`files` (each once, in collection order), longest first: by measured seconds when every
    file has a timing, else the `listed` ones in their order, then the rest as collected."""
    if files and all(f in measured for f in files):
        return sorted(files, key=lambda f: -measured[f])
    rank = {name: i for i, name in enumerate(listed)}
    return sorted(files, key=lambda f: rank.get(f, len(rank)))  # stable: unlisted keep their order


def order_tests(nodeids: list[str], measured: dict[str, float], listed: list[str]) -> list[str]:
    """`nodeids` inside one file, longest first: by measured seconds when every test has a timing,
    else the `listed` test ids in their order, then the rest as collected."""
    if nodeids and all(n in measured for n in nodeids):
        return sorted(nodeids, key=lambda n: -measured[n])
    rank = {name: i for i, name in enumerate(listed)}
    return sorted(nodeids, key=lambda n: rank.get(n, len(rank)))


ONE_BY_ONE = ("load", "worksteal")  # xdist modes that hand out single tests, not whole files


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    seconds: dict[str, float] = cache.get(CACHE_KEY, {}) if cache is not None else {}
    listed: list[str] = config.getini("longest_first")
    files: dict[str, list[str]] = {}
    for item in items:
        files.setdefault(_file_of(item.nodeid), []).append(item.nodeid)
    measured = {name: sum(seconds[n] for n in ids) for name, ids in files.items() if all(n in seconds for n in ids)}
    # A file listed only through its test ids ranks where its first one is listed.
    listed_files = list(dict.fromkeys(_file_of(entry) for entry in listed))
    order = file_order(list(files), measured, listed_files)
    if getattr(config.option, "dist", "no") in ONE_BY_ONE:
        # Files stay together, so a module's fixtures are set up once per worker, not once per test.
        files = {name: order_tests(ids, seconds, listed) for name, ids in files.items()}
    position = {nodeid: i for i, nodeid in enumerate(n for name in order for n in files[name])}
    items.sort(key=lambda item: position[item.nodeid])


class _Timer:
    """Adds up each test's setup, call and teardown seconds and saves them when the run ends."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.seconds:
            return
        saved = dict(cache.get(CACHE_KEY, {}))
        saved.update({nodeid: round(s, 3) for nodeid, s in self.seconds.items()})
        cache.set(CACHE_KEY, saved)
