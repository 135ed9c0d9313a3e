"""The one data-access entry point: engines, sessions, migrations and small meta helpers.

Engines are built from a URL (``HEALTHMAP_DATABASE_URL`` by default), so tests use
throw-away databases and deployments can use PostgreSQL. Callers own the engine; nothing
here keeps module-level state.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Integer, create_engine, event, inspect, select
from sqlalchemy.orm import Session

from healthmap.config import busy_timeout_ms, database_url
from healthmap.models import AppMeta

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: :func:`healthmap.config.database_url`).

    For SQLite the parent folder is created, foreign keys are enforced, WAL journaling
    lets the app read while an import writes, and a writer waits up to
    :func:`healthmap.config.busy_timeout_ms` for another's write lock.
    """
    from healthmap.dbhealth import read_only_url, sqlite_path

    url = database_url(url)
    path = sqlite_path(url)
    if path is not None and not read_only_url(url):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # created owner-only (0600); SQLite's -wal/-shm follow it
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    # a server may restart under a long-running app: test pooled connections before use
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        timeout = busy_timeout_ms()  # read when the engine is made (tests vary it)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            try:
                cur.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:  # a read-only file: read as it is
                if "readonly" not in str(exc):
                    raise
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={timeout}")
            cur.close()

    return engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it in an empty database).

    After migration 0012 moved a database's episodes and summaries into the episode store,
    the store's new manifest goes live at once (it was prepared inside the migration's
    transaction), and an SQLite file gives back the space of the dropped tables (``VACUUM``:
    in an upgraded demo database 36,410 of 57,800 pages were free, about 140 MB). A store
    written before the per-person roll-up gets it (:func:`healthmap.person_rollup.ensure`)."""
    from alembic.runtime.migration import MigrationContext

    cfg = alembic_config()
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    if before is not None and before < "0012":
        from healthmap.store import sync

        sync.tidy(engine)
        if engine.dialect.name == "sqlite":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
    from healthmap import person_rollup

    person_rollup.ensure(engine)  # a store written before the per-person roll-up


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def is_current(engine: Engine) -> bool:
    """Whether the database is initialised and no migration is waiting (:func:`upgrade`
    would do nothing)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if not is_initialised(engine):
        return False
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def ready_kind(engine: Engine) -> str | None:
    """``real`` or ``demo`` once the database holds what the app serves (a demo database
    only after its demo data are loaded), else ``None`` (the app's first start loads the
    demo data)."""
    kind = database_kind(engine)
    if kind == "real" or (kind == "demo" and get_meta(engine, "demo_data") is not None):
        return kind
    return None


def get_meta(engine: Engine, key: str, default: str | None = None) -> str | None:
    if not is_initialised(engine):
        return default
    with Session(engine) as s:
        row = s.get(AppMeta, key)
        return row.value if row else default


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(AppMeta, key)
    if row is None:
        session.add(AppMeta(key=key, value=value))
    else:
        row.value = value


class DemoDatabaseError(RuntimeError):
    """Demo data asked for in a real database, or real data in a demo database."""


def database_kind(engine: Engine) -> str | None:
    """``demo`` (made by ``demo`` or the app's first start), ``real`` (made by ``init``)
    or ``None`` (not initialised). Databases older than this setting count as demo when
    they hold demo data."""
    kind = get_meta(engine, "database_kind")
    if kind is None and get_meta(engine, "demo_data") == "1":
        return "demo"
    return kind if kind is not None else ("real" if is_initialised(engine) else None)


def is_demo(engine: Engine) -> bool:
    """Whether this is a demo database (synthetic data and published demo accounts)."""
    return database_kind(engine) == "demo"


def bump_version(session: Session) -> None:
    """Advance the data version (a cache key of the pages) inside the caller's transaction.

    Call it in every write that changes what a page shows: imports, refresh, ledger writes.
    """
    row = session.get(AppMeta, "data_version")
    if row is None:
        session.add(AppMeta(key="data_version", value="1"))
    else:
        row.value = str(int(row.value) + 1)
    session.flush()


def data_version(engine: Engine) -> int:
    """The current data version (0 before any write); see :func:`bump_version`."""
    return int(get_meta(engine, "data_version", "0") or 0)


def all_meta(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        return {m.key: m.value for m in s.scalars(select(AppMeta))}


def bulk_insert(conn, table, frame, chunk: int = 100_000, progress=None) -> int:
    """Insert a DataFrame's rows into ``table``: SQLite with the driver's executemany,
    PostgreSQL with ``COPY … FROM STDIN``.

    Much faster than ORM or dict-based inserts for the large tables (episodes, summaries).
    Missing values become NULL; for SQLite, dates are written as ISO text (what SQLAlchemy's
    Date type stores there too).
    """
    import datetime as _dt

    import pandas as pd

    if len(frame) == 0:
        return 0
    cols = list(frame.columns)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(cols)}) "
           f"VALUES ({', '.join([mark] * len(cols))})")
    columns = []
    for c in cols:  # column-wise to Python objects: much faster than row-wise conversion
        col = frame[c]
        missing = col.isna().to_numpy()
        values = col.astype(object).tolist() if missing.any() else col.tolist()
        if missing.any():
            values = [None if m else v for v, m in zip(values, missing)]
        first = next((v for v in values if v is not None), None)
        if conn.dialect.name == "sqlite" and isinstance(first, (_dt.date, pd.Timestamp)):
            values = [None if v is None else v.isoformat()[:10] for v in values]
        if (conn.dialect.name == "postgresql" and col.dtype.kind == "f" and c in table.c
                and isinstance(table.c[c].type, Integer)):  # COPY's text refuses "3.0"
            values = [None if v is None else int(v) for v in values]
        columns.append(values)
    rows = list(zip(*columns))
    if conn.dialect.name == "postgresql":
        return _copy_rows(conn, table, cols, rows, chunk, progress)
    for start in range(0, len(rows), chunk):
        conn.exec_driver_sql(sql, rows[start:start + chunk])
        if progress:
            progress(min(start + chunk, len(rows)) / len(rows))
    return len(rows)


def _copy_rows(conn, table, cols: list[str], rows: list[tuple], chunk: int, progress) -> int:
    """PostgreSQL: stream ``rows`` with ``COPY … FROM STDIN`` in the caller's transaction
    (psycopg 3; several times faster than executemany)."""
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
        for start in range(0, len(rows), chunk):
            for row in rows[start:start + chunk]:
                copy.write_row(row)
            if progress:
                progress(min(start + chunk, len(rows)) / len(rows))
    return len(rows)
