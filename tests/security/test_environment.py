"""§10 A broken environment gets a named message (CLI and app); `check`, `backup` with a
tested restore; one import at a time, the second refused naming the first."""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from healthmap import audit, dbhealth
from healthmap.cli import main
from healthmap.db import make_engine
from healthmap.ingest import import_file


def _err(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_not_a_database(tmp_path, capsys):
    f = tmp_path / "notes.db"
    f.write_text("this is a text file, not a database\n" * 50)
    code, err = _err(capsys, "report", "incidence", "--db", f"sqlite:///{f}")
    assert code == 2 and "is not an SQLite database file" in err and str(f) in err
    assert "Error:" not in err and "DatabaseError" not in err


def test_missing_tables_says_run_init(tmp_path, capsys):
    f = tmp_path / "empty.db"
    code, err = _err(capsys, "report", "incidence", "--db", f"sqlite:///{f}")
    assert code == 2 and "has no HealthMap tables" in err and "init" in err, err
    assert "no such table" not in err


def test_folder_cannot_be_made(tmp_path, capsys):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    code, err = _err(capsys, "init", "--skip-admin", "--db", f"sqlite:///{blocker}/sub/x.db")
    assert code == 2 and "cannot be made" in err and str(blocker) in err, err
    assert "FileExistsError" not in err and "NotADirectoryError" not in err


@pytest.mark.sqlite_only  # the database file itself
def test_truncated_database(engine, tmp_path, capsys):
    audit.record(engine, "admin", "login", role="admin")
    path = engine.url.database
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 3)
    code, err = _err(capsys, "check", "--db", f"sqlite:///{path}")
    assert code == 2 and "damaged" in err and "backup" in err, err
    code, err = _err(capsys, "report", "incidence", "--db", f"sqlite:///{path}")
    assert code == 2 and "damaged" in err, err


@pytest.mark.sqlite_only  # the database file itself
def test_read_only_file_and_folder_named(engine, tmp_path, monkeypatch, capsys):
    path = engine.url.database
    real = os.access

    def denied(p, mode, **kw):  # the tests run as root, for whom chmod changes nothing
        if mode & os.W_OK and str(p) in (path, os.path.dirname(path)):
            return False
        return real(p, mode, **kw)

    monkeypatch.setattr(os, "access", denied)
    p = dbhealth.diagnose(f"sqlite:///{path}")
    assert p.code == "readonly_file" and path in p.message("en")
    assert "只读" in p.message("zh")
    # the driver's own words for a write to a read-only database are named too
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as exc:
        ro.execute("INSERT INTO app_meta VALUES ('x', 'y')")
    ro.close()
    assert dbhealth.explain(exc.value, f"sqlite:///{path}").code == "readonly_file"


def test_app_names_the_problem_instead_of_crashing(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    f = tmp_path / "garbage.db"
    f.write_bytes(b"PK\x03\x04 not a database" * 40)
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", f"sqlite:///{f}")
    at = AppTest.from_file(str(dbhealth.Path(__file__).resolve().parents[2] / "app.py"),
                           default_timeout=60)
    at.run()
    assert not at.exception
    assert any("不是 SQLite 数据库文件" in e.value and str(f) in e.value for e in at.error)


def test_check_reports_integrity_migration_key_disk(engine, capsys):
    audit.record(engine, "admin", "login", role="admin")
    code = main(["check", "--db", str(engine.url)])
    out = capsys.readouterr().out
    assert code == 0, out
    items = (("integrity", "migration", "key", "audit chain", "disk")
             if engine.dialect.name == "sqlite" else
             ("server", "PostgreSQL 1", "MB", "migration", "key", "audit chain"))
    for item in items:
        assert item in out
    assert "BAD" not in out


def test_backup_of_a_server_database_is_refused_naming_pg_dump(engine, tmp_path, capsys):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite databases are backed up by `backup` (the test above)")
    assert main(["backup", str(tmp_path / "copy.db"), "--db", str(engine.url)]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()


def test_unreachable_server_is_named_without_the_password(capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://hm:s3cret@127.0.0.1:{port}/county"
    code, err = _err(capsys, "report", "incidence", "--db", url)
    assert code == 2 and "cannot be reached" in err and f"127.0.0.1:{port}/county" in err, err
    assert "s3cret" not in err


@pytest.mark.sqlite_only  # the database file itself
def test_backup_while_writing_and_restore(engine, tmp_path, capsys):
    for i in range(50):
        audit.record(engine, "admin", "login", role="admin", detail=str(i))
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            audit.record(engine, "w", "export", detail=str(i))
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        dest = tmp_path / "backups" / "copy.db"
        assert main(["backup", str(dest), "--db", str(engine.url)]) == 0
    finally:
        stop.set()
        t.join()
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600"
    assert main(["backup", str(dest), "--db", str(engine.url)]) == 2  # no silent overwrite
    # restore: the copy becomes the database of a new place; it opens, checks and verifies
    restored = tmp_path / "restored" / "county.db"
    restored.parent.mkdir()
    shutil.copy(dest, restored)
    e2 = make_engine(f"sqlite:///{restored}")
    with e2.connect() as c:
        n = c.execute(text("SELECT COUNT(*) FROM audit_log")).scalar()
    assert n >= 50
    assert audit.verify(e2).ok
    capsys.readouterr()
    assert main(["check", "--db", f"sqlite:///{restored}"]) == 0


@pytest.mark.sqlite_only  # the database file itself
def test_second_import_refused_naming_the_running_one(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    csv = b"code,name,level,in_county\nH1,\xe5\x8c\xbb\xe9\x99\xa2,primary,true\n"
    with dbhealth.import_lock(url, "episodes", "big_2024.csv", "zhang"):
        res = import_file(engine, "institutions", csv, "inst.csv", username="li", lang="en")
        assert not res.ok
        reason = res.problems["reason"].iloc[0]
        assert "episodes" in reason and "big_2024.csv" in reason and "zhang" in reason
        assert dbhealth.running_import(url)["user"] == "zhang"
    assert dbhealth.running_import(url) is None
    assert import_file(engine, "institutions", csv, "inst.csv", username="li").ok


@pytest.mark.sqlite_only  # the database file itself
def test_lock_of_a_killed_import_is_taken_over(engine):
    url = engine.url.render_as_string(hide_password=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = dbhealth._lock_path(url)
    lock.write_text('{"kind": "episodes", "file": "x.csv", "user": "u", "since": "s", '
                    f'"pid": {dead.pid}, "host": "{os.uname().nodename}"}}')
    assert dbhealth.running_import(url) is None
    csv = b"code,name,level,in_county\nH1,\xe5\x8c\xbb\xe9\x99\xa2,primary,true\n"
    assert import_file(engine, "institutions", csv, "inst.csv", username="li").ok
    assert not lock.exists()


@pytest.mark.sqlite_only  # the database file itself
def test_app_names_a_damaged_database_met_while_drawing(engine, tmp_path, monkeypatch):
    """A file whose header is fine but whose pages are cut off fails only when a page
    reads it: the app still names the problem instead of showing the exception page."""
    from streamlit.testing.v1 import AppTest

    from healthmap.ingest import import_file

    csv = "".join(f"H{i},医院{i},primary,true\n" for i in range(3000))
    assert import_file(engine, "institutions", ("code,name,level,in_county\n" + csv).encode(),
                       "inst.csv").ok
    path = engine.url.database
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", f"sqlite:///{path}")
    at = AppTest.from_file(str(dbhealth.Path(__file__).resolve().parents[2] / "app.py"),
                           default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert any("已损坏" in e.value and path in e.value for e in at.error), \
        [e.value for e in at.error]
