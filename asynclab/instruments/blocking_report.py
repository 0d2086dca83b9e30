"""What find_blocking() reports: each blocking call by kind, in a learner's words, with what to do instead."""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field

# (name prefix, kind, how to say it, advice); first match wins, names are "module.qualname".
RULES: list[tuple[str, str, str, str]] = [
    ("time.sleep", "sleep", "time.sleep called {where}", "use await asyncio.sleep(...)"),
    ("httpx.", "http", "sync HTTP ({function})", "use httpx.AsyncClient"),
    ("requests.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("urllib3.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("urllib.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("http.client.", "http", "sync HTTP ({function})", "use httpx.AsyncClient (or aiohttp)"),
    ("psycopg.", "database", "sync database call ({function})", "use asyncpg or psycopg.AsyncConnection"),
    ("psycopg2.", "database", "sync database call ({function})", "use asyncpg or psycopg.AsyncConnection"),
    ("sqlite3.", "database", "sync database call ({function})", "use aiosqlite, or await asyncio.to_thread(...)"),
    ("socket.", "socket", "blocking socket call ({function})",
     "use asyncio streams (await asyncio.open_connection(...)) or an async client"),
    ("ssl.", "socket", "blocking socket call ({function})",
     "use asyncio streams (await asyncio.open_connection(...)) or an async client"),
    ("subprocess.", "process", "blocking subprocess call ({function})",
     "use await asyncio.create_subprocess_exec(...)"),
    ("builtins.input", "input", "input() called {where}",
     "don't read stdin on the loop: await asyncio.to_thread(input)"),
    ("io.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("os.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("pathlib.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
    ("shutil.", "file", "blocking file I/O ({function})", "use await asyncio.to_thread(...) for file work"),
]
OTHER = ("other", "blocking call ({function})", "move it off the loop: await asyncio.to_thread(...)")
SLOW_STEP_PHRASE = "slow step ({function}) blocked the loop for about {seconds:.2f} s"
SLOW_STEP_ADVICE = ("no known blocking call was seen: CPU work or a C extension? "
                    "move it off the loop with await asyncio.to_thread(...) or a process pool")


def classify(function: str) -> tuple[str, str, str]:
    """(kind, phrase template, advice) for a function name such as "httpx.Client.get"."""
    for prefix, kind, phrase, advice in RULES:
        if function == prefix or function.startswith(prefix):
            return kind, phrase, advice
    return OTHER


@dataclass
class BlockingCall:
    """One finding: what blocked the loop, where in the learner's code, and what to use instead."""

    function: str
    kind: str
    location: str
    advice: str
    filename: str
    lineno: int
    cell: int | None = None
    in_coroutine: bool = True
    count: int = 1
    seconds: float = 0.0
    phrase: str = "{function}"
    #: Every function seen blocking on this line for this reason, e.g. psycopg.connect and the
    #: psycopg.Connection.__exit__ that commits at the end of `with psycopg.connect(...) as conn:`.
    functions: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The learner's line of code (IPython registers cell sources with linecache)."""
        return linecache.getline(self.filename, self.lineno).strip()

    @property
    def message(self) -> str:
        where = "inside a coroutine" if self.in_coroutine else "on the event loop"
        what = self.phrase.format(function=self.function, where=where, seconds=self.seconds)
        return f"{what} at {self.location}: {self.advice}"

    def __str__(self) -> str:
        return self.message


class BlockingReport:
    """What `find_blocking()` found. `calls`: recognised blocking calls; `slow_steps`: loop steps
    that ran too long without one (debug mode, async form only)."""

    def __init__(self) -> None:
        self.calls: list[BlockingCall] = []
        self.slow_steps: list[BlockingCall] = []

    @property
    def findings(self) -> list[BlockingCall]:
        return self.calls + self.slow_steps

    def functions(self) -> set[str]:
        """Every blocking function seen, e.g. {"time.sleep", "httpx.get"}."""
        return {name for c in self.calls for name in c.functions}

    def kinds(self) -> set[str]:
        return {c.kind for c in self.findings}

    def summary(self) -> str:
        """Several lines a learner can act on; one line when nothing blocked."""
        if not self.findings:
            return "No blocking calls found on the event loop."
        n = len(self.findings)
        lines = [f"Found {n} blocking call{'s' if n != 1 else ''} on the event loop:"]
        for f in self.findings:
            if f.kind == "slow-step":
                lines.append(f"  - {f.message}")
            else:
                lines.append(f"  - {f.message} ({f.count} call{'s' if f.count != 1 else ''}, {f.seconds:.2f} s)")
            if f.code:
                lines.append(f"      {f.code}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<BlockingReport {len(self.calls)} calls, {len(self.slow_steps)} slow steps>"
