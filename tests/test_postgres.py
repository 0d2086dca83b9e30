"""The embedded PostgreSQL: a real server, real drivers, real crashes. No mocks.

Every server runs in a temporary ASYNCLAB_DATA_DIR, never in the user's data folder. The
module shares one server (`pg`); tests about starting, crashing and slots use folders of
their own. A finalizer proves no PostgreSQL process of ours outlives the module.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import psutil
import psycopg
import pytest

from asynclab.errors import ServiceStartError
from asynclab.services.postgres import PgHandle, load_schema, schema_sql, start_postgres

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # every test starts a PostgreSQL


# -- helpers ---------------------------------------------------------------------------------


def postgres_under(root: Path) -> list[psutil.Process]:
    """Live PostgreSQL processes whose working directory (their PGDATA) is inside `root`."""
    prefix = os.path.realpath(root) + os.sep
    found = []
    for proc in psutil.process_iter(["name"]):
        if not (proc.info["name"] or "").startswith("postgres"):
            continue
        try:
            if (os.path.realpath(proc.cwd()) + os.sep).startswith(prefix):
                found.append(proc)
        except psutil.Error:  # gone or a zombie: not running
            continue
    return found


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of `pids` runs; return those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def postmaster_of(keeper_pid: int) -> psutil.Process:
    children = [c for c in psutil.Process(keeper_pid).children() if c.name().startswith("postgres")]
    assert len(children) == 1, children
    return children[0]


def socket_dir(dsn: str) -> Path:
    query = dict(part.split("=", 1) for part in urlsplit(dsn).query.split("&"))
    return Path(unquote(query["host"]))


def with_database(dsn: str, database: str) -> str:
    return urlsplit(dsn)._replace(path=f"/{database}").geturl()


def count_users(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_root() -> Iterator[Path]:
    """Parent of every data folder in this module; checked for leftovers, then removed.

    Not under tmp_path_factory: as root the server runs as `pgserver`, which must traverse
    every parent folder, and any pytest session that starts (another terminal, another
    user of the machine) resets /tmp/pytest-of-root to 0700, locking `pgserver` out mid-start.
    """
    root = Path(tempfile.mkdtemp(prefix="asynclab-pgtest-"))
    yield root
    deadline = time.monotonic() + 15
    while (left := postgres_under(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in left:  # do not leak them into the next run, but fail loudly
        proc.kill()
    assert not left, f"PostgreSQL processes left behind: {[p.pid for p in left]}"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def data_dir(lab_root: Path) -> Iterator[Path]:
    """The module's ASYNCLAB_DATA_DIR: start_postgres() without arguments must use it."""
    path = lab_root / "shared"
    before = os.environ.get("ASYNCLAB_DATA_DIR")
    os.environ["ASYNCLAB_DATA_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("ASYNCLAB_DATA_DIR", None)
    else:
        os.environ["ASYNCLAB_DATA_DIR"] = before


@pytest.fixture(scope="module")
def scratch(lab_root: Path) -> Path:
    """One folder for the start, crash and stop tests, which run one after another.

    Sharing it saves an initdb per test (seconds on a busy machine); each test leaves slot
    pg-0 free and its cluster startable, which the next test relies on and so checks.
    """
    return lab_root / "scratch"


@pytest.fixture(scope="module")
def pg(data_dir: Path) -> Iterator[PgHandle]:
    handle = start_postgres(timeout=60)
    yield handle
    handle.stop()


# -- the shared server -----------------------------------------------------------------------


def test_server_lives_in_the_data_dir_from_the_environment(pg: PgHandle, data_dir: Path) -> None:
    assert pg.owned
    assert socket_dir(pg.dsn) == data_dir / "pg-0"
    assert (data_dir / "pg-0" / "PG_VERSION").exists()


@pytest.mark.anyio
async def test_asyncpg_reads_the_seed_and_writes_events(pg: PgHandle) -> None:
    async with asyncio.timeout(30):
        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 1000
            assert await conn.fetchval("SELECT min(id) || '..' || max(id) FROM users") == "1..1000"
            assert await conn.fetchval("SELECT count(DISTINCT email) FROM users") == 1000
            event_id = await conn.fetchval(
                "INSERT INTO events (user_id, kind, payload) VALUES ($1, 'test', '{\"via\": \"asyncpg\"}') RETURNING id", 7
            )
            assert await conn.fetchval("SELECT payload->>'via' FROM events WHERE id = $1", event_id) == "asyncpg"
            assert await conn.fetchval("SELECT to_regclass('jobs') IS NOT NULL")
        finally:
            await conn.close()


def test_psycopg_sync_reads_the_seed_and_writes_events(pg: PgHandle) -> None:
    with psycopg.connect(pg.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1000,)
        row = conn.execute("INSERT INTO events (user_id, kind) VALUES (1, 'test') RETURNING payload").fetchone()
        assert row == ({},)
        job = conn.execute("INSERT INTO jobs (payload) VALUES ('{\"n\": 1}') RETURNING status, attempts").fetchone()
        assert job == ("queued", 0)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO jobs (payload, status) VALUES ('{}', 'lost')")


@pytest.mark.anyio
async def test_psycopg_async_reads_the_seed(pg: PgHandle) -> None:
    async with asyncio.timeout(30):
        async with await psycopg.AsyncConnection.connect(pg.dsn, connect_timeout=10) as conn:
            cur = await conn.execute("SELECT name, email, tier FROM users WHERE id = 1")
            assert await cur.fetchone() == ("Ada Allen", "ada.allen@example.com", "free")
            cur = await conn.execute("SELECT current_setting('TimeZone')")
            assert await cur.fetchone() == ("UTC",)


@pytest.mark.anyio
async def test_schema_load_is_idempotent(pg: PgHandle) -> None:
    census = """SELECT (SELECT count(*) FROM users),
                       (SELECT count(*) FROM events),
                       (SELECT count(*) FROM jobs),
                       (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
                         WHERE relnamespace = 'public'::regnamespace)"""
    conn = await asyncpg.connect(pg.dsn)
    try:
        before = await conn.fetchrow(census)
        await load_schema(pg.dsn)
        await load_schema(pg.dsn)
        assert await conn.fetchrow(census) == before
        assert before[0] == 1000
        assert "jobs_queued_idx" in before[3] and "jobs_lease_idx" in before[3]
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_concurrent_schema_loads_on_a_fresh_database(pg: PgHandle) -> None:
    """Without the advisory lock, CREATE TABLE IF NOT EXISTS races and one loader fails."""
    admin = await asyncpg.connect(pg.dsn)
    try:
        await admin.execute("DROP DATABASE IF EXISTS race WITH (FORCE)")
        await admin.execute("CREATE DATABASE race")
        dsn = with_database(pg.dsn, "race")
        async with asyncio.timeout(60):
            await asyncio.gather(*(load_schema(dsn) for _ in range(4)))
        assert count_users(dsn) == 1000
    finally:
        await admin.execute("DROP DATABASE IF EXISTS race WITH (FORCE)")
        await admin.close()


@pytest.mark.anyio
async def test_pg_stat_activity_counts_connections_by_application_name(pg: PgHandle) -> None:
    query = """SELECT application_name, count(*) FROM pg_stat_activity
               WHERE application_name IN ('t-asyncpg', 't-psycopg') GROUP BY 1"""
    async with asyncio.timeout(30):
        watcher = await asyncpg.connect(pg.dsn)
        opened = [await asyncpg.connect(pg.dsn, server_settings={"application_name": "t-asyncpg"}) for _ in range(3)]
        sync_conns = [psycopg.connect(pg.dsn, application_name="t-psycopg", connect_timeout=10) for _ in range(2)]
        try:
            assert dict(await watcher.fetch(query)) == {"t-asyncpg": 3, "t-psycopg": 2}
        finally:
            for conn in opened:
                await conn.close()
            for sync_conn in sync_conns:
                sync_conn.close()
        while dict(await watcher.fetch(query)):  # backends leave the view as they exit
            await asyncio.sleep(0.05)
        assert int(await watcher.fetchval("SHOW max_connections")) >= 100
        await watcher.close()


def test_postmaster_has_no_tcp_listener(pg: PgHandle) -> None:
    assert pg._keeper is not None
    postmaster = postmaster_of(pg._keeper.process.pid)
    inet = postmaster.net_connections(kind="inet")
    assert [c.laddr for c in inet if c.status == psutil.CONN_LISTEN] == []
    with psycopg.connect(pg.dsn, connect_timeout=10) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)


def test_external_handle_loads_the_schema_and_never_stops_the_server(pg: PgHandle) -> None:
    with psycopg.connect(pg.dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("DROP DATABASE IF EXISTS elsewhere WITH (FORCE)")
        conn.execute("CREATE DATABASE elsewhere")
    try:
        external = PgHandle.external(with_database(pg.dsn, "elsewhere"))
        assert not external.owned
        assert count_users(external.dsn) == 1000
        external.stop()
        assert count_users(pg.dsn) == 1000  # the server that was not ours still answers
    finally:
        with psycopg.connect(pg.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("DROP DATABASE IF EXISTS elsewhere WITH (FORCE)")


def test_external_handle_explains_an_unreachable_address(tmp_path: Path) -> None:
    dsn = f"postgresql://someone:secret@/nowhere?host={tmp_path}&port=5432"
    with pytest.raises(ServiceStartError) as info:
        PgHandle.external(dsn, timeout=10)
    assert "secret" not in str(info.value)
    assert "DATABASE_URL" in str(info.value)


# -- starting, slots and crashes (each in a data folder of its own) --------------------------


def test_two_keepers_at_once_get_two_slots(lab_root: Path) -> None:
    base = lab_root / "pair"
    with ThreadPoolExecutor(2) as pool:  # both race for pg-0; the threads end right after
        futures = [pool.submit(start_postgres, 60, base) for _ in range(2)]
        handles = [f.result() for f in futures]
    try:
        assert sorted(socket_dir(h.dsn) for h in handles) == [base / "pg-0", base / "pg-1"]
        time.sleep(1)  # the spawning threads are gone: the keepers must not have followed them
        assert [count_users(h.dsn) for h in handles] == [1000, 1000]
    finally:
        for handle in handles:
            handle.stop()


def test_restart_after_a_crash_reuses_the_slot_and_keeps_the_data(scratch: Path) -> None:
    base = scratch
    handle = start_postgres(timeout=60, data_dir=base)
    assert handle._keeper is not None
    keeper = handle._keeper.process
    with psycopg.connect(handle.dsn, connect_timeout=10) as conn:
        conn.execute("INSERT INTO events (kind) VALUES ('before-the-crash')")
    postmaster = postmaster_of(keeper.pid)
    os.kill(postmaster.pid, signal.SIGKILL)  # the postmaster first, so it cannot clean up
    os.kill(keeper.pid, signal.SIGKILL)
    keeper.wait(10)
    assert wait_gone([postmaster.pid], timeout=10) == []
    assert (base / "pg-0" / "postmaster.pid").exists()  # stale: it names a dead process
    version_stamp = (base / "pg-0" / "PG_VERSION").stat().st_mtime_ns

    again = start_postgres(timeout=60, data_dir=base)
    try:
        assert socket_dir(again.dsn) == base / "pg-0"
        assert (base / "pg-0" / "PG_VERSION").stat().st_mtime_ns == version_stamp  # no second initdb
        with psycopg.connect(again.dsn, connect_timeout=10) as conn:
            assert conn.execute("SELECT count(*) FROM events WHERE kind = 'before-the-crash'").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (1000,)
    finally:
        again.stop()
    assert postgres_under(base) == []


def test_an_orphan_server_on_a_free_slot_is_stopped(scratch: Path) -> None:
    """A server nobody owns (pg_ctl-started, as a macOS crash would leave one) blocks no start."""
    base = scratch
    first = start_postgres(timeout=60, data_dir=base)
    assert first._keeper is not None
    bin_dir = Path(postmaster_of(first._keeper.process.pid).exe()).parent
    first.stop()
    pgdata = base / "pg-0"
    as_server: dict[str, object] = {"user": "pgserver", "group": "pgserver"} if os.geteuid() == 0 else {}
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "30", "-D", str(pgdata), "-l", str(pgdata / "orphan.log"),
         "-o", f"-c listen_addresses= -c unix_socket_directories={pgdata}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=pgdata, timeout=60,
        **as_server,  # type: ignore[arg-type]
    )  # fmt: skip
    orphan_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    assert running(orphan_pid) and psutil.Process(orphan_pid).ppid() != os.getpid()

    handle = start_postgres(timeout=60, data_dir=base)
    try:
        assert socket_dir(handle.dsn) == pgdata
        assert not running(orphan_pid)
        assert count_users(handle.dsn) == 1000
    finally:
        handle.stop()


def test_a_sigkilled_parent_leaves_no_postgres_behind(scratch: Path) -> None:
    base = scratch
    script = textwrap.dedent(f"""
        import time
        from asynclab.services.postgres import start_postgres
        handle = start_postgres(timeout=60, data_dir={str(base)!r})
        print(handle._keeper.process.pid, flush=True)
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(parent.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(90)
        assert line and line[0].strip().isdigit(), f"the parent did not start PostgreSQL: {line}"
        keeper_pid = int(line[0])
        postmaster = postmaster_of(keeper_pid)
        server_pids = [p.pid for p in postgres_under(base)]
        assert postmaster.pid in server_pids
    finally:
        parent.kill()
        parent.wait(10)
    assert wait_gone([keeper_pid, *server_pids], timeout=15) == []
    assert not (base / "pg-0" / "postmaster.pid").exists()  # a clean shutdown, not a crash


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux-only")
def test_a_sigkilled_keeper_takes_postgres_with_it(scratch: Path) -> None:
    """The postmaster's parent-death signal: even the keeper's own SIGKILL leaves no server."""
    handle = start_postgres(timeout=60, data_dir=scratch)
    assert handle._keeper is not None
    keeper = handle._keeper.process
    server_pids = [p.pid for p in postgres_under(scratch)]
    os.kill(keeper.pid, signal.SIGKILL)
    keeper.wait(10)
    assert wait_gone(server_pids, timeout=15) == []
    assert not (scratch / "pg-0" / "postmaster.pid").exists()  # a fast shutdown, not a crash


def test_keeper_stops_postgres_on_sigterm_and_prints_no_runtime_dir_warning(scratch: Path, tmp_path: Path) -> None:
    base = scratch
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["HOME"] = str(tmp_path)  # where the keeper makes its private runtime folder
    keeper = subprocess.Popen(
        [sys.executable, "-m", "asynclab.services.postgres", "--data-dir", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        lines: list[str] = []

        def read_until_ready() -> None:
            assert keeper.stdout is not None
            for out in keeper.stdout:
                lines.append(out)
                if out.startswith("ASYNCLAB_PG_DSN="):
                    return

        reader = threading.Thread(target=read_until_ready, daemon=True)
        reader.start()
        reader.join(90)
        assert lines and lines[-1].startswith("ASYNCLAB_PG_DSN="), lines
        assert len(lines) == 1, f"the keeper printed more than its ready line: {lines}"
        runtime_dir = tmp_path / ".cache" / "asynclab-runtime"
        assert runtime_dir.is_dir() and (runtime_dir.stat().st_mode & 0o777) == 0o700
        server_pids = [p.pid for p in postgres_under(base)]
        assert server_pids
        keeper.send_signal(signal.SIGTERM)
        assert keeper.wait(30) == 0
        assert wait_gone(server_pids, timeout=10) == []
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait(10)


def test_a_server_that_cannot_start_reports_its_log_and_a_hint(scratch: Path) -> None:
    start_postgres(timeout=60, data_dir=scratch).stop()  # initdb'ed, if no test before did
    conf = scratch / "pg-0" / "postgresql.conf"
    original = conf.read_bytes()
    try:
        conf.write_bytes(original + b"\nthis line is not a setting\n")
        with pytest.raises(ServiceStartError) as info:
            start_postgres(timeout=60, data_dir=scratch)
        message = str(info.value)
        assert "syntax error" in message and "postgresql.conf" in message
        assert "Hint:" in message
        assert postgres_under(scratch) == []
    finally:
        conf.write_bytes(original)
    start_postgres(timeout=60, data_dir=scratch).stop()  # mended: it starts again


@pytest.mark.parametrize("folder", ["with space+plus", ("Application Support " * 5).strip()])
def test_awkward_data_paths_work_with_both_drivers(lab_root: Path, folder: str) -> None:
    """Spaces and '+' must survive the DSN; a path too long for a socket gets a short folder."""
    base = lab_root / folder / "asynclab"
    handle = start_postgres(timeout=60, data_dir=base)
    try:
        sockets = socket_dir(handle.dsn)
        if len(os.fsencode(base / "pg-0" / ".s.PGSQL.5432")) <= 100:  # fits in sun_path
            assert sockets == base / "pg-0"
        else:
            assert sockets != base / "pg-0" and len(str(sockets)) < 80
        assert count_users(handle.dsn) == 1000
        assert asyncio.run(_asyncpg_count(handle.dsn)) == 1000
    finally:
        handle.stop()
    assert sockets.exists() == (sockets == base / "pg-0")  # a temporary socket folder is removed


async def _asyncpg_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM users"))
    finally:
        await conn.close()


def test_schema_sql_is_one_transaction_under_an_advisory_lock() -> None:
    sql = schema_sql()
    assert sql.index("BEGIN;") < sql.index("pg_advisory_xact_lock") < sql.index("CREATE TABLE")
    assert sql.rstrip().endswith("COMMIT;")
