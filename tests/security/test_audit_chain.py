"""§9 The audit log shows tampering: a keyed hash chain, checked by `audit verify`."""

import sqlite3
import threading

from sqlalchemy import text

from healthmap import audit
from healthmap.cli import main


def _db_path(engine):
    return engine.url.database


def _fill(engine, n=6):
    for i in range(n):
        audit.record(engine, f"user{i}", "login", role="leader", detail=f"n={i}")


def _behind_the_back(engine, *sql):
    """Edit the database as an intruder would: lift the trigger, edit, put the trigger
    back (SQLite: the file with plain sqlite3; PostgreSQL: as the database owner)."""
    from tests.dbutil import trigger_names

    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            assert trigger_names(c, "audit_log") == {"audit_log_no_change",
                                                     "audit_log_no_truncate"}
            c.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
            for s in sql:
                c.exec_driver_sql(s)
            c.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
        return
    engine.dispose()
    con = sqlite3.connect(_db_path(engine))
    trig = con.execute("SELECT sql FROM sqlite_master WHERE type='trigger' "
                       "AND tbl_name='audit_log'").fetchall()
    assert len(trig) == 2  # the append-only triggers are there
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("DROP TRIGGER audit_log_no_delete")
    for s in sql:
        con.execute(s)
    for (t,) in trig:
        con.execute(t)
    con.commit()
    con.close()


def test_intact_log_verifies(engine, capsys):
    _fill(engine)
    assert audit.verify(engine).ok
    assert main(["--db", str(engine.url), "audit", "verify"]) == 0
    assert "6 rows" in capsys.readouterr().out


def test_edited_row_is_named(engine, capsys):
    _fill(engine)
    _behind_the_back(engine, "UPDATE audit_log SET actor='nobody' WHERE id=3")
    v = audit.verify(engine)
    assert v.broken_id == 3
    assert main(["--db", str(engine.url), "audit", "verify"]) == 2
    assert "row 3" in capsys.readouterr().err


def test_edit_with_a_recomputed_plain_hash_is_still_caught(engine):
    """Without the key an intruder cannot recompute the chain (it is an HMAC)."""
    import hashlib

    _fill(engine)
    fake = hashlib.sha256(b"forged").hexdigest()
    _behind_the_back(engine, f"UPDATE audit_log SET detail='x', row_hash='{fake}' WHERE id=2")
    assert audit.verify(engine).broken_id == 2


def test_deleted_middle_row_and_forged_row_are_named(engine):
    _fill(engine)
    _behind_the_back(engine, "DELETE FROM audit_log WHERE id=4")
    assert audit.verify(engine).broken_id == 5
    engine.dispose()


def test_forged_insert_at_the_end_is_named(engine):
    _fill(engine)
    # inserts are allowed by the triggers
    _behind_the_back(engine, "INSERT INTO audit_log (at, actor, role, action) "
                             "VALUES ('2025-01-01 00:00:00.000000', 'admin', 'admin', 'login')")
    assert audit.verify(engine).broken_id == 7


def test_cut_tail_is_reported(engine):
    _fill(engine)
    _behind_the_back(engine, "DELETE FROM audit_log WHERE id >= 5")
    v = audit.verify(engine)
    assert not v.ok and "end" in v.reason


def test_concurrent_appends_keep_one_linear_chain(engine):
    def worker(k):
        for i in range(15):
            audit.record(engine, f"w{k}", "export", detail=str(i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    v = audit.verify(engine)
    assert v.ok and v.rows == 60, v


def test_record_signature_and_session_form(engine):
    from sqlalchemy.orm import Session

    with Session(engine) as s, s.begin():
        audit.record(s, "a", "user_add", "b", "role=leader", role="admin")
    audit.record(engine, "a", "login", role="admin")
    assert audit.verify(engine).ok
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM audit_log WHERE row_hash IS NULL")
                         ).scalar() == 0
