"""Back-end-neutral looks behind the app's back, for tests that run on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text


def trigger_names(conn, table_like: str) -> set[str]:
    """Names of the user triggers on the tables whose name is LIKE ``table_like``."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE :t"
    else:
        sql = ("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
               "WHERE NOT t.tgisinternal AND c.relname LIKE :t")
    return {r[0] for r in conn.execute(text(sql), {"t": table_like})}


def stored_bytes(engine, pg_server=None) -> bytes:
    """Every byte the database keeps on disk: SQLite's file and WAL; PostgreSQL's data
    files of this database and the write-ahead log, after a checkpoint (``pg_server``: the
    suite's server, whose folder the tests may read)."""
    if engine.dialect.name == "sqlite":
        paths = [Path(engine.url.database), Path(engine.url.database + "-wal")]
    else:
        with engine.connect() as conn:
            oid = conn.execute(text("SELECT oid FROM pg_database "
                                    "WHERE datname = current_database()")).scalar()
            conn.execute(text("CHECKPOINT"))
        data = pg_server.folder / "data"
        paths = [*(data / "base" / str(oid)).iterdir(), *(data / "pg_wal").glob("0*")]
    return b"".join(p.read_bytes() for p in paths if p.is_file())
