"""§10 A read-only database serves the read-only pages; a login is refused with a named
message (not Streamlit's exception page); the CLI names the problem for write commands.

As root ``chmod`` does not stop writes, so the database is opened through SQLite's
read-only mode (``sqlite:///file:<path>?mode=ro&uri=true``); one test also runs the app's
code as the unprivileged user ``nobody`` on a 0444 file in a read-only folder.
"""

import datetime as dt
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from dbcopy import copy_database
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from healthmap import auth
from healthmap.access import Actor
from healthmap.bootstrap import init_database
from healthmap.cli import main
from healthmap.db import make_engine
from healthmap.demo import INSTITUTIONS
from healthmap.ingest import import_frame
from healthmap.models import AuditLog
from healthmap.points import ledger
from points_helpers import ROOT_DIR, add_residents, resident_rows

APP = f"{ROOT_DIR}/app.py"
PASSWORD = "Lantern-Harbour-2024"


def _episodes():
    import pandas as pd

    rows = [(f"E{i}", f"P{i % 7}", ["331083001", "331083002"][i % 2], ["C18.9", "I10"][i % 3 > 0],
             f"2024-0{1 + i % 9}-1{i % 9}", ["inpatient", "outpatient"][i % 2], "YH001",
             f"{100 + i}.00", ["M", "F"][i % 2], str(40 + i)) for i in range(60)]
    return pd.DataFrame(rows, columns=["record_id", "person_id", "area_code", "icd10", "date",
                                       "setting", "institution_code", "total_cost", "sex",
                                       "age"])


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """A small real database: institutions, 60 episodes of 2024, residents R1-R6 (R2 with
    25 points) and one staff account; its WAL folded into the file (a read-only copy
    then needs no -wal file)."""
    path = tmp_path_factory.mktemp("ro") / "small.db"
    e = make_engine(f"sqlite:///{path}")
    init_database(e)
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    assert import_frame(e, "institutions", inst, "inst.csv").ok
    res = import_frame(e, "episodes", _episodes(), "ep.csv")
    assert res.ok, res.problems
    add_residents(e)
    with Session(e) as s, s.begin():
        ledger.award(s, Actor("zhou", "points"), "R2", "annual_checkup", "t-chk",
                     dt.date(2024, 3, 1))
    auth.create_user(e, "zhou", PASSWORD, "points", actor="cli:test")
    e.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return path


@pytest.fixture()
def ro_url(small_db, tmp_path):
    copy = tmp_path / "county.db"
    copy_database(small_db, copy)
    return f"sqlite:///file:{copy}?mode=ro&uri=true", copy


def _app(url, monkeypatch, lang=None):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=120)
    if lang:
        at.session_state["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at):
    return " ".join(e.value for kind in ("error", "warning", "info", "caption", "markdown")
                    for e in getattr(at, kind))


def _audit_rows(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    finally:
        con.close()


def test_map_is_served_from_a_read_only_database(ro_url, monkeypatch):
    url, path = ro_url
    before = path.read_bytes()
    at = _app(url, monkeypatch)
    assert at.metric and at.get("plotly_chart"), _texts(at)  # the public map: figures, map
    assert not at.error, [e.value for e in at.error]
    assert path.read_bytes() == before  # nothing written
    assert not (Path(os.getcwd()) / "file:").exists()  # no stray folder from the URL


def test_a_staff_session_gets_the_public_view_on_a_read_only_database(ro_url, monkeypatch):
    """Staff views audit what they show, which a read-only database cannot record."""
    url, _path = ro_url
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["user"] = {"username": "zhou", "role": "points", "demo": False}
    at.run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state
    assert any("公众视图" in c.value for c in at.caption)
    assert at.metric and not at.error


def test_login_on_a_read_only_database_says_so_in_chinese_and_english(ro_url, monkeypatch):
    url, path = ro_url
    at = _app(url, monkeypatch)
    at.switch_page("pages/login.py").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "只读" in errors and "无法登录" in errors and str(path) in errors, errors
    assert not at.text_input  # no login form that could only fail
    at.session_state["lang"] = "en"  # the sidebar's language switch
    at.run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "read-only" in errors and "logins are not possible" in errors, errors


def test_public_points_lookup_page_on_a_read_only_database(ro_url, monkeypatch):
    """The page is served; a look-up (throttled and audited, so it must write) is refused
    with a named message instead of failing."""
    url, path = ro_url
    at = _app(url, monkeypatch)
    at.switch_page("pages/points_lookup.py").run()
    assert not at.exception, at.exception
    person = resident_rows().set_index("resident_id").loc["R2"]
    at.text_input(key="pl_id").set_value(person["id_number"])
    at.text_input(key="pl_second").set_value(person["name"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "只读" in errors and str(path) in errors, errors
    assert _audit_rows(path) == _audit_rows(path)


def test_cli_names_the_read_only_database_for_write_commands(ro_url, capsys):
    url, path = ro_url
    csv = path.parent / "inst.csv"
    csv.write_text("code,name,level,in_county\nH9,新医院,primary,true\n", encoding="utf-8")
    for argv in (["import", "institutions", str(csv)], ["refresh"],
                 ["users", "add", "liwei", "--role", "points", "--password", PASSWORD]):
        code = main([*argv, "--db", url])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert "read-only" in err and str(path) in err, (argv, err)
        assert "OperationalError" not in err and "attempt to write" not in err, err
    # reading commands still work (``report`` writes its audit entry: named like the rest)
    assert main(["check", "--db", url]) == 0, capsys.readouterr()


def _as_nobody(fn) -> dict:
    """Run ``fn()`` in a forked child that has become the user ``nobody`` (everything it
    needs is imported before: nobody cannot read this checkout); its dict comes back."""
    import json

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = json.dumps(fn()).encode()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = json.dumps({"child_error": repr(exc)}).encode()
        os.write(write, out)
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become the user nobody")
def test_as_nobody_a_0444_file_in_a_read_only_folder(small_db, tmp_path, capsys):
    """The plain URL, as an unprivileged user: the data are read, the database is known
    to be read-only (so the login page says so), and a write command names the file."""
    import contextlib
    import io

    from healthmap import dbhealth, queries

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "county.db"
    copy_database(small_db, db, readable_by_all=True)
    os.chmod(db, 0o444)
    os.chmod(folder, 0o555)
    for parent in (tmp_path, *tmp_path.parents):  # nobody may walk down to the folder
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    url = f"sqlite:///{db}"

    def check() -> dict:
        engine = make_engine(url)
        towns = len(queries.area_set(engine, "township").areas)
        years = queries.periods(engine)
        problem = dbhealth.read_only(url)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["users", "add", "liwei", "--role", "points", "--password", PASSWORD,
                         "--db", url])
        return {"towns": towns, "years": years, "problem": problem and problem.code, "code": code,
                "err": err.getvalue(), "writable": os.access(db, os.W_OK)}

    got = _as_nobody(check)
    assert "child_error" not in got, got
    assert got["writable"] is False
    assert got["towns"] == 11 and got["years"] == [2024]
    assert got["problem"] == "readonly_file"
    assert got["code"] == 2 and "read-only" in got["err"] and str(db) in got["err"], got
    assert "OperationalError" not in got["err"], got
