"""§10 One import at a time on both back ends: a second import is refused naming the first
(kind, file, user, since, process, host, in both languages); the lock of a killed process
or of a closed session is free again (SQLite: the lock file; PostgreSQL: a session advisory
lock, described in ``app_meta``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lockwait import wait_until_free
from sqlalchemy import text

from healthmap import dbhealth, importlock
from healthmap.cli import main
from healthmap.ingest import import_file

ROOT = Path(__file__).resolve().parents[2]
CSV = b"code,name,level,in_county\nH1,\xe5\x8c\xbb\xe9\x99\xa2,primary,true\n"
FILE = "住院病例_2024.csv"
# another process runs an import: it holds the lock until a line arrives on its stdin
HOLDER = f"""
import sys
from healthmap import dbhealth
with dbhealth.import_lock(sys.argv[1], "episodes", {FILE!r}, "zhang"):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture()
def holder(engine):
    """A second process holding the import lock of ``engine``'s database."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, _url(engine)], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == "held\n"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _info_row(engine):
    with engine.connect() as c:
        raw = c.execute(text("SELECT value FROM app_meta WHERE key = :k"),
                        {"k": importlock.INFO_KEY}).scalar()
    return json.loads(raw) if raw else None


def test_second_import_refused_naming_the_first(engine, holder, capsys):
    url = _url(engine)
    info = dbhealth.running_import(url)
    assert info is not None, "the other process's import is not seen"
    assert (info["kind"], info["file"], info["user"]) == ("episodes", FILE, "zhang")
    assert info["pid"] == holder.pid and info["host"] == os.uname().nodename
    res = import_file(engine, "institutions", CSV, "inst.csv", username="li", lang="en")
    assert not res.ok and res.problems["code"].tolist() == ["import_running"]
    en = res.problems["reason"].iloc[0]
    for part in ("another import is running", "episodes", FILE, "zhang", info["since"],
                 f"process {holder.pid}", os.uname().nodename):
        assert part in en, (part, en)
    zh = import_file(engine, "institutions", CSV, "inst.csv", username="li",
                     lang="zh").problems["reason"].iloc[0]
    for part in ("另一个导入正在进行", FILE, "zhang", info["since"], f"进程 {holder.pid}"):
        assert part in zh, (part, zh)
    # a summary rebuild is a writer too
    assert main(["refresh", "--db", url]) == 2
    assert FILE in capsys.readouterr().err
    # the holder finishes: the lock and its description are gone, the import goes ahead
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == "released\n"
    holder.wait()
    assert dbhealth.running_import(url) is None
    if engine.dialect.name == "postgresql":
        assert _info_row(engine) is None
    assert import_file(engine, "institutions", CSV, "inst.csv", username="li").ok


def test_lock_of_a_killed_import_is_free_again(engine, holder):
    url = _url(engine)
    assert dbhealth.running_import(url)["pid"] == holder.pid
    if engine.dialect.name == "postgresql":
        assert _info_row(engine)["pid"] == holder.pid
    holder.kill()
    holder.wait()
    wait_until_free(engine)
    if engine.dialect.name == "postgresql":  # its description stays behind, stale
        assert _info_row(engine)["pid"] == holder.pid
    assert dbhealth.running_import(url) is None
    assert import_file(engine, "institutions", CSV, "inst.csv", username="li").ok
    if engine.dialect.name == "postgresql":
        assert _info_row(engine) is None  # overwritten by the next holder, deleted at its end
    else:
        assert not dbhealth._lock_path(url).exists()


def test_lock_of_a_closed_session_is_free_again(engine):
    """PostgreSQL: the lock lives and dies with its session; a holder whose session the
    server ended (here pg_terminate_backend) neither blocks the next import nor fails at
    its own exit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a session advisory lock is a PostgreSQL matter")
    url = _url(engine)
    with dbhealth.import_lock(url, "refresh", "summary tables", "wang") as lock:
        assert dbhealth.running_import(url)["user"] == "wang"
        with engine.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:p, 60000)"),
                             {"p": lock.info["backend_pid"]}).scalar()
        wait_until_free(engine)
        assert dbhealth.running_import(url) is None
        assert import_file(engine, "institutions", CSV, "inst.csv", username="li").ok
    assert dbhealth.running_import(url) is None


def test_databases_of_one_server_do_not_block_each_other(engine, request):
    """The advisory lock is per database: an import into another database of the same
    server goes on."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's lock file is per file anyway")
    server = request.getfixturevalue("pg_empty")
    from healthmap.db import make_engine

    other = make_engine(server.create(template="hm_empty"))
    try:
        with dbhealth.import_lock(_url(engine), "episodes", FILE, "zhang"):
            assert dbhealth.running_import(_url(other)) is None
            assert import_file(other, "institutions", CSV, "inst.csv", username="li").ok
    finally:
        other.dispose()
        server.drop(other.url.database)


def test_a_stale_description_never_names_another_holder(engine):
    """PostgreSQL: a description left by a killed import, while some other session holds
    the lock without one (the instant between lock and row), names nobody falsely: the
    refusal says what the server knows of the holder."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the app_meta description is a PostgreSQL matter")
    url = _url(engine)
    stale = {"kind": "episodes", "file": "old.csv", "user": "ghost", "since": "2020-01-01",
             "pid": 1, "host": "gone", "backend_pid": 1}
    with engine.begin() as c:
        c.execute(text("INSERT INTO app_meta (key, value) VALUES (:k, :v)"),
                  {"k": importlock.INFO_KEY, "v": json.dumps(stale)})
    with engine.connect() as raw:
        raw.execute(text(f"SELECT pg_advisory_lock({importlock.IMPORT_LOCK_KEY})"))
        pid = raw.execute(text("SELECT pg_backend_pid()")).scalar()
        info = dbhealth.running_import(url)
        assert info["backend_pid"] == pid and "ghost" not in info.values()
        res = import_file(engine, "institutions", CSV, "inst.csv", username="li", lang="en")
        assert not res.ok and "another import is running" in res.problems["reason"].iloc[0]
        raw.execute(text(f"SELECT pg_advisory_unlock({importlock.IMPORT_LOCK_KEY})"))
        raw.rollback()
    assert dbhealth.running_import(url) is None
    assert import_file(engine, "institutions", CSV, "inst.csv", username="li").ok
