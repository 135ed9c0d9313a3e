"""One import at a time per database: the lock every writer of episodes and summaries takes
(imports, ``refresh``, Spark's ``spark-load``, ``backup``).

A second writer is refused at once with :class:`ImportRunning`, which names the running one
(kind, file, user, since, process, host); :func:`running_import` tells ``check`` and the
refusal who holds the lock.

SQLite
    A small owner-only file ``<database>.import-lock`` beside the database, created with
    ``O_EXCL`` and holding the description as JSON; a file left by a killed process (its pid
    no longer alive on this host) is taken over.

PostgreSQL
    A session-level advisory lock, ``pg_try_advisory_lock(IMPORT_LOCK_KEY)``, on a
    connection of its own opened for the ``with`` block and closed at its end. The server
    releases a session lock whenever the session ends, whatever ended it (the process
    killed, the network cut, ``pg_terminate_backend``), so no lock outlives its holder.
    Advisory locks belong to one database: imports into other databases of the same server
    go on.

    The description goes into the ``app_meta`` row ``import_running`` (JSON, with the
    holder's backend pid), written on that connection in its own committed statement right
    after the lock is taken, and deleted just before the lock is released. A reader trusts
    the row only while ``pg_locks`` shows that backend holding the advisory lock: the row of
    a killed process stays behind but is stale and ignored (the next holder overwrites it).
    A row, not the session's ``application_name``: that is cut at 63 bytes (21 Chinese
    characters of a file name) and every user of the server can read it, whereas
    ``app_meta`` is readable only by the database's own users.

    A transaction-pooling proxy (PgBouncer in transaction mode) between the app and the
    server breaks session locks: connect directly or through session pooling.

Examples
--------
>>> import tempfile, pathlib
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'county.db'}"
>>> with import_lock(url, "episodes", "big_2024.csv", "zhang"):
...     running_import(url)["file"]
...     try:
...         import_lock(url, "areas", "areas.csv", "li").__enter__()
...     except ImportRunning as exc:
...         print(exc.message("en").split(" by ")[0])
'big_2024.csv'
another import is running: episodes file 'big_2024.csv'
>>> running_import(url) is None
True
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

# the advisory lock of HealthMap imports: "HmImport" in ASCII, one fixed bigint for every
# HealthMap database (advisory locks are scoped to their database)
IMPORT_LOCK_KEY = 0x486D_496D_706F_7274
INFO_KEY = "import_running"  # the app_meta row that describes the holder (PostgreSQL)

# pg_locks shows a bigint advisory key as its two 32-bit halves, objsubid 1
_HOLDER_SQL = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
    f"AND classid = {IMPORT_LOCK_KEY >> 32} AND objid = {IMPORT_LOCK_KEY & 0xFFFFFFFF} "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def _lock_path(url: str) -> Path | None:
    from healthmap.dbhealth import sqlite_path

    path = sqlite_path(url)
    return None if path is None else path.with_name(path.name + ".import-lock")


def _is_postgresql(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name() == "postgresql"


def _server_engine(url: str):
    """An engine for one dedicated connection: no pool (closing closes), autocommit (each
    statement its own transaction: the session lock does not depend on one)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def _process_start(pid: int) -> str | None:
    """Linux: the boot and the start time (clock ticks since boot) of process ``pid``;
    a pid reused after the lock's holder was killed (a container restarted) starts at
    another time. ``None`` where ``/proc`` does not tell."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` lives and, when ``started`` is known, is the process that
    started then (not another one given the same pid since)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        pass
    if started:
        now = _process_start(pid)
        return now is None or now == started
    return True


def _has_meta(conn) -> bool:
    from sqlalchemy import text

    return conn.execute(text("SELECT to_regclass('app_meta') IS NOT NULL")).scalar()


def _pg_holder(conn) -> dict | None:
    """The running import as the advisory lock and the ``app_meta`` row tell it, or
    ``None`` when nobody holds the lock (a row without the lock is stale)."""
    from sqlalchemy import text

    holder = conn.execute(text(_HOLDER_SQL)).scalar()
    if holder is None:
        return None
    info = None
    if _has_meta(conn):
        raw = conn.execute(text("SELECT value FROM app_meta WHERE key = :k"),
                           {"k": INFO_KEY}).scalar()
        try:
            info = json.loads(raw) if raw else None
        except ValueError:
            info = None
    if info and info.get("backend_pid") == holder:
        return info
    # held, but not (yet) described: the instant between lock and row, or the row of a
    # killed holder still there while a new one starts; what the server knows
    row = conn.execute(text("SELECT backend_start, client_addr FROM pg_stat_activity "
                            "WHERE pid = :p"), {"p": holder}).first()
    since = (row[0].astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
             if row and row[0] else "?")
    return {"kind": "?", "file": "?", "user": "?", "since": since, "pid": "?",
            "host": str(row[1]) if row and row[1] else "?", "backend_pid": holder}


def running_import(url: str) -> dict | None:
    """The import running on this database (kind, file, user, since, pid, host), or
    ``None``. A lock left by a killed process is not a running import."""
    if _is_postgresql(url):
        engine = _server_engine(url)
        try:
            with engine.connect() as conn:
                return _pg_holder(conn)
        finally:
            engine.dispose()
    lock = _lock_path(url)
    if lock is None or not lock.exists():
        return None
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("host") == os.uname().nodename and not _alive(int(info.get("pid", 0)),
                                                              info.get("started")):
        return None
    return info


class ImportRunning(RuntimeError):
    """Another import is running on the same database."""

    def __init__(self, info: dict):
        self.info = info
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        i = self.info
        if lang == "en":
            return (f"another import is running: {i.get('kind')} file {i.get('file')!r} by "
                    f"{i.get('user')} since {i.get('since')} (process {i.get('pid')} on "
                    f"{i.get('host')}); try again when it has finished")
        return (f"另一个导入正在进行：{i.get('kind')} 文件 “{i.get('file')}”，由 {i.get('user')} "
                f"于 {i.get('since')} 开始（{i.get('host')} 上的进程 {i.get('pid')}）；"
                "请在其结束后再试")


class import_lock:
    """``with import_lock(url, kind, file, user):`` — refuse at once
    (:class:`ImportRunning`, naming the running import) when another import holds the
    database. SQLite: a lock file beside the database; PostgreSQL: a session advisory lock
    on a connection of its own, described in ``app_meta`` (see the module's docstring).
    Other databases (in-memory SQLite): no lock."""

    def __init__(self, url: str, kind: str, filename: str, user: str | None):
        self.url = url
        self.postgresql = _is_postgresql(url)
        self.lock = None if self.postgresql else _lock_path(url)
        self._conn = self._engine = None
        self.info = {"kind": kind, "file": str(filename)[:200], "user": user or "?",
                     "since": dt.datetime.now().isoformat(sep=" ", timespec="seconds"),
                     "pid": os.getpid(), "host": os.uname().nodename}
        if not self.postgresql:  # tells a pid reused after a kill from the holder
            self.info["started"] = _process_start(os.getpid())

    def __enter__(self):
        if self.postgresql:
            self._enter_postgresql()
            return self
        if self.lock is None or not self.lock.parent.is_dir():
            self.lock = None
            return self
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                other = running_import(self.url)
                if other is not None:
                    raise ImportRunning(other) from None
                self.lock.unlink(missing_ok=True)  # left by a killed process
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.info, fh, ensure_ascii=False)
            return self
        raise ImportRunning(running_import(self.url) or self.info)

    def _enter_postgresql(self) -> None:
        from sqlalchemy import text

        engine = _server_engine(self.url)
        conn = engine.connect()
        try:
            for _ in range(3):  # a holder may finish between the try and the look-up
                if conn.execute(text(f"SELECT pg_try_advisory_lock({IMPORT_LOCK_KEY})")).scalar():
                    break
                other = _pg_holder(conn)
                if other is not None:
                    raise ImportRunning(other)
            else:
                raise ImportRunning(_pg_holder(conn) or self.info)
            # an idle session limit would end the session, and the lock with it, mid-import
            if int(conn.execute(text("SHOW server_version_num")).scalar()) >= 140000:
                conn.execute(text("SET idle_session_timeout = 0"))
            conn.execute(text("SET application_name = 'healthmap import lock'"))
            self.info["backend_pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            if _has_meta(conn):
                conn.execute(text("INSERT INTO app_meta (key, value) VALUES (:k, :v) "
                                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
                             {"k": INFO_KEY, "v": json.dumps(self.info, ensure_ascii=False)})
        except BaseException:
            conn.close()
            engine.dispose()
            raise
        self._conn, self._engine = conn, engine

    def __exit__(self, *exc):
        if self._conn is not None:
            from sqlalchemy import text
            from sqlalchemy.exc import DBAPIError

            try:  # the row first: once unlocked, the next holder's row must stay
                if _has_meta(self._conn):
                    self._conn.execute(text("DELETE FROM app_meta WHERE key = :k"),
                                       {"k": INFO_KEY})
                self._conn.execute(text(f"SELECT pg_advisory_unlock({IMPORT_LOCK_KEY})"))
            except DBAPIError:  # the session is gone, and its lock with it; the row is stale
                pass
            finally:
                self._conn.close()
                self._engine.dispose()
                self._conn = self._engine = None
        elif self.lock is not None:
            self.lock.unlink(missing_ok=True)
        return False
