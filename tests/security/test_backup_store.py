"""§10 Backups include the episode store: `backup DEST` copies the SQLite database and, to
`DEST.store/`, the store's manifest and exactly the files it names (0600 files, 0700
folders), under the import lock and the store's writer lock, so the pair agrees; restoring
both into a new folder gives the same reports and a store in sync without a rebuild."""

import errno
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from healthmap import dbhealth, store, summary
from healthmap.cli import main
from healthmap.db import make_engine
from healthmap.ingest import import_file
from healthmap.store.layout import LOCK, MANIFEST, read_manifest

pytestmark = pytest.mark.sqlite_only  # `backup` copies SQLite files (PostgreSQL: pg_dump)

CSV = b"code,name,level,in_county\nH1,\xe5\x8c\xbb\xe9\x99\xa2,primary,true\n"
EPISODES = ("record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost\n"
            "E1,P1,331083001,C16.9,2024-03-01,inpatient,H1,123.45\n").encode()
REPORTS = (["incidence", "--year", "2023"], ["incidence"], ["cost_per_case"],
           ["outward_referral", "--setting", "all"], ["fund_outflow"],
           ["episode_rate", "--setting", "all"])


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _reports(url: str, capsys) -> list[str]:
    out = []
    for argv in REPORTS:
        assert main(["report", *argv, "--format", "csv", "--db", url]) == 0
        out.append(capsys.readouterr().out)
    return out


def test_backup_copies_the_store_and_a_restore_gives_the_same_reports(
        demo_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HEALTHMAP_STORE_DIR", raising=False)
    engine = make_engine(demo_copy)
    summary.rebuild(engine, "test")  # a new generation: the previous one's files stay

    root = store.engine_store_dir(engine)
    manifest_text = (root / MANIFEST).read_text(encoding="utf-8")
    live = {MANIFEST, *read_manifest(root).files()}
    assert _files(root) - live, "the source store should hold more than the live files"
    before = _reports(demo_copy, capsys)
    assert all(len(r.splitlines()) > 5 for r in before), [len(r.splitlines()) for r in before]

    dest = tmp_path / "backups" / "county.db"
    assert main(["backup", str(dest), "--db", demo_copy]) == 0
    out = capsys.readouterr().out
    copy = dest.with_name("county.db.store")
    assert str(copy) in out
    assert _files(copy) == live  # the manifest and what it names, nothing else
    assert (copy / MANIFEST).read_text(encoding="utf-8") == manifest_text
    for p in [copy, *copy.rglob("*")]:
        assert oct(p.stat().st_mode & 0o777) == ("0o700" if p.is_dir() else "0o600"), p
    # no silent overwrite of either half
    shutil.move(dest, tmp_path / "aside.db")
    assert main(["backup", str(dest), "--db", demo_copy]) == 2
    assert "county.db.store exists" in capsys.readouterr().err
    shutil.move(tmp_path / "aside.db", dest)

    # restore: both copied into a new folder, opened there
    restored = tmp_path / "restored" / "county.db"
    restored.parent.mkdir()
    shutil.copy(dest, restored)
    shutil.copytree(copy, restored.with_name("county.db.store"))
    rurl = f"sqlite:///{restored}"
    assert main(["store", "status", "--db", rurl]) == 0  # status never rebuilds
    assert "in sync" in capsys.readouterr().out
    assert _reports(rurl, capsys) == before
    # the reports read the copied store: no catch-up rebuild happened
    assert (restored.with_name("county.db.store") / MANIFEST).read_text(
        encoding="utf-8") == manifest_text
    engine.dispose()


def _with_a_store(engine) -> None:
    assert import_file(engine, "institutions", CSV, "inst.csv").ok
    assert import_file(engine, "episodes", EPISODES, "ep.csv").ok


def test_backup_holds_the_import_lock_and_the_store_lock(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    _with_a_store(engine)
    lock_file = store.engine_store_dir(engine) / LOCK
    seen = []

    def during(_fraction):
        if seen:
            return
        seen.append(dbhealth.running_import(url))
        res = import_file(engine, "institutions", CSV, "inst.csv", username="li", lang="en")
        seen.append(res.problems["reason"].iloc[0] if not res.ok else "imported")
        fd = os.open(lock_file, os.O_RDWR)
        try:  # a store writer (rebuild, catch-up) would wait here
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("store lock free")
        except OSError as exc:
            seen.append(exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN))
        finally:
            os.close(fd)

    dest = tmp_path / "b" / "copy.db"
    out = dbhealth.backup(engine, dest, progress=during, user="cli:ops")
    assert seen[0]["kind"] == "backup" and seen[0]["file"] == str(dest)
    assert "backup" in seen[1] and str(dest) in seen[1] and "cli:ops" in seen[1], seen[1]
    assert seen[2] is True, seen[2]
    assert out["store"] == str(dest) + ".store" and out["store_in_sync"] is True
    assert dbhealth.running_import(url) is None  # both released
    assert import_file(engine, "institutions", CSV, "inst.csv", username="li").ok


def test_backup_during_an_import_is_refused_naming_it(engine, tmp_path, capsys):
    url = engine.url.render_as_string(hide_password=False)
    _with_a_store(engine)
    dest = tmp_path / "b" / "copy.db"
    with dbhealth.import_lock(url, "episodes", "big_2024.csv", "zhang"):
        assert main(["backup", str(dest), "--db", url]) == 2
    err = capsys.readouterr().err
    assert "big_2024.csv" in err and "zhang" in err, err
    assert not dest.exists() and not Path(str(dest) + ".store").exists()
    assert not list(dest.parent.glob("*.partial"))
    assert main(["backup", str(dest), "--db", url]) == 0
    assert (Path(str(dest) + ".store") / MANIFEST).is_file()


def test_backup_into_a_new_folder_named_with_a_slash(engine, tmp_path, capsys):
    """`backup bk/` (a folder that does not exist yet) makes the folder and a dated file
    in it, as for an existing folder, not a file named `bk` beside `bk.store`."""
    url = engine.url.render_as_string(hide_password=False)
    _with_a_store(engine)
    folder = tmp_path / "bk"
    assert main(["backup", str(folder) + "/", "--db", url]) == 0
    assert folder.is_dir() and oct(folder.stat().st_mode & 0o777) == "0o700"
    (copy,) = folder.glob("*.db")
    assert (Path(str(copy) + ".store") / MANIFEST).is_file()
    assert str(copy) in capsys.readouterr().out
