"""The data-access layer on both back ends (issue 14): bulk loads (COPY on PostgreSQL),
append-only triggers, key files of server databases."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import (Boolean, Column, Date, Float, Integer, MetaData, String, Table,
                        select, text)

from healthmap import db

ROOT = Path(__file__).resolve().parent.parent


def _table():
    return Table("bulk_probe", MetaData(), Column("id", Integer, primary_key=True),
                 Column("name", String(40)), Column("day", Date), Column("n", Integer),
                 Column("cost", Float), Column("flag", Boolean))


def test_bulk_insert_round_trips_awkward_values(engine, monkeypatch):
    t = _table()
    frame = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "name": ["玉环\t市", "back\\slash", "line\nbreak", None],
        "day": [dt.date(2024, 2, 29), None, dt.date(2000, 1, 1), dt.date(2025, 12, 31)],
        "n": [3.0, None, 0.0, 7.0],  # a pandas integer column with a gap is float
        "cost": [0.1 + 0.2, 1e-7, None, 3_000_000.0],
        "flag": [True, False, None, True],
    })
    if engine.dialect.name == "postgresql":  # COPY there, never executemany
        from sqlalchemy.engine import Connection

        plain = Connection.exec_driver_sql

        def refuse(self, sql, *a, **k):
            assert not sql.startswith("INSERT INTO bulk_probe"), "executemany on PostgreSQL"
            return plain(self, sql, *a, **k)

        monkeypatch.setattr(Connection, "exec_driver_sql", refuse)
    with engine.begin() as conn:
        t.create(conn)
        done = []
        assert db.bulk_insert(conn, t, frame, chunk=3, progress=done.append) == 4
    monkeypatch.undo()
    assert done == [0.75, 1.0]
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.id)).all()
    assert [r.name for r in rows] == ["玉环\t市", "back\\slash", "line\nbreak", None]
    assert [r.day for r in rows] == [dt.date(2024, 2, 29), None, dt.date(2000, 1, 1),
                                     dt.date(2025, 12, 31)]
    assert [r.n for r in rows] == [3, None, 0, 7]
    assert [r.cost for r in rows] == [0.1 + 0.2, 1e-7, None, 3_000_000.0]  # bit for bit
    assert [r.flag for r in rows] == [True, False, None, True]


def test_bulk_insert_is_part_of_the_callers_transaction(engine):
    t = _table()
    with engine.begin() as conn:
        t.create(conn)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            db.bulk_insert(conn, t, pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}))
            raise RuntimeError("the import fails after the load")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM bulk_probe")).scalar() == 0


@pytest.mark.parametrize("verb", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"])
def test_append_only_triggers_refuse_update_and_delete(engine, verb):
    from healthmap import audit

    audit.record(engine, "admin", "login", role="admin")
    with pytest.raises(Exception, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(verb))
    assert audit.verify(engine).ok


def test_every_append_only_table_refuses_truncate_on_postgresql(engine):
    """TRUNCATE fires no row triggers: each append-only table has a statement trigger too
    (migration 0017), so the audit log and every ledger refuse it, not only the points."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE fires the row trigger")
    from healthmap import audit

    audit.record(engine, "admin", "login", role="admin")
    expected = {"audit_log", "points_ledger", "screening_events", "catalogue_decisions"}
    with engine.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE right(trigger_name, 10) = '_no_change'")).scalars())
        assert expected <= tables, tables
        for table in sorted(tables):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
            conn.rollback()
    assert audit.verify(engine).ok


def test_key_file_of_a_server_database_ignores_the_password(monkeypatch, tmp_path):
    from healthmap import config

    monkeypatch.delenv("HEALTHMAP_SECRET_FILE", raising=False)
    monkeypatch.setenv("HEALTHMAP_KEY_DIR", str(tmp_path))
    a = config.secret_path("postgresql+psycopg://hm:old@db:5432/county")
    b = config.secret_path("postgresql+psycopg://hm:new@db:5432/county")
    c = config.secret_path("postgresql+psycopg://hm:new@db:5432/other")
    assert a == b != c and a.name.startswith("county-") and "old" not in str(a)


def test_app_on_an_empty_server_database_asks_for_init_and_writes_nothing(pg_server,
                                                                         monkeypatch):
    """The first start loads the demo into a new SQLite file; a server database is never
    filled with demo data by a visitor: the page says to run `init` (or `demo`)."""
    from streamlit.testing.v1 import AppTest
    from sqlalchemy import create_engine, inspect

    url = pg_server.create()
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("healthmap init" in e.value for e in at.error), [e.value for e in at.error]
    e = create_engine(url)
    assert inspect(e).get_table_names() == []
    e.dispose()


def test_pg_dump_backup_restores_with_chain_and_triggers(engine, request, tmp_path):
    """The README's PostgreSQL backup: pg_dump, pg_restore into an empty database; the copy
    checks, its audit chain verifies and its triggers still refuse edits."""
    import subprocess

    from sqlalchemy.engine import make_url

    from healthmap import audit
    from healthmap.cli import main

    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite is backed up by `backup` (tests/security/test_environment.py)")
    server = request.getfixturevalue("pg_server")
    for i in range(3):
        audit.record(engine, "admin", "login", role="admin", detail=str(i))
    libpq = make_url(engine.url).set(drivername="postgresql").render_as_string(False)
    dump = tmp_path / "county.dump"
    subprocess.run([str(server.bin / "pg_dump"), "-Fc", "-f", str(dump), libpq], check=True)
    copy = server.create()
    subprocess.run([str(server.bin / "pg_restore"), "-d",
                    make_url(copy).set(drivername="postgresql").render_as_string(False),
                    str(dump)], check=True)
    assert main(["check", "--db", copy]) == 0
    restored = db.make_engine(copy)
    assert audit.verify(restored).rows == audit.verify(engine).rows >= 3
    with pytest.raises(Exception, match="append-only"):
        with restored.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    restored.dispose()
    server.drop(make_url(copy).database)
