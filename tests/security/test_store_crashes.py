"""§10 (the episode store): an import, an institutions import or ``refresh`` killed with
SIGKILL at each moment of its two-phase commit, readers during publishing, and a store
folder lost, replaced or edited behind the database's back.

The import runs as a real ``python -m healthmap`` process. It is held still at a named
moment by a patch that lives here (the process imports healthmap, wraps one function so
that it says where it is on stdout and blocks, then runs the CLI's ``main``); the test
checks the moment's condition (files in ``staging/``, ``pending.json``, the import log's
row committed …) and kills the process. After each kill: ``store status`` in sync, the
reports equal to the state before or after the import (by the moment: before the commit,
before; after it, after), never a mix; no stale lock; the re-run succeeds, a second
identical import changes nothing, and the store holds no leftovers.

Also: an institutions import rebuilds roll-ups outside the write lock; ``refresh`` survives
a login meanwhile; a killed import's lock is stale even when its pid was given to another
process since.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from lockwait import wait_until_free
from sqlalchemy import func, select

from healthmap import audit, importlock, indicators, queries
from healthmap.bench import _synthetic_episodes
from healthmap.cli import main
from healthmap.db import make_engine
from healthmap.demo import INSTITUTIONS
from healthmap.ingest import import_frame
from healthmap.models import AuditLog, ImportLog
from healthmap.store import StoreMismatch, engine_store_dir
from healthmap.store.layout import MANIFEST, PENDING, read_manifest
from healthmap.store.writer import StoreWriter

ROOT = Path(__file__).resolve().parents[2]
TOWNS = ["331083001", "331083002", "331083101"]
ICD = ["C18.9", "I10", "E11.9", "J18.9"]
N = 6000  # rows per file: the moments matter, not the volume

# The importer: ``python -c HOOK <moment> <cli args…>``; holds still at <moment> until a
# line arrives on its stdin.
HOOK = r"""
import sys
moment, argv = sys.argv[1], sys.argv[2:]
from healthmap import cli, summary
from healthmap.ingest import stream
from healthmap.store import layout, writer

def hold():  # until a line (go on) or the end of stdin
    print("at " + moment, flush=True)
    sys.stdin.readline()

def patch(owner, name, nth, after):
    original, calls = getattr(owner, name), [0]
    def wrapped(*a, **k):
        calls[0] += 1
        if not after and calls[0] == nth:
            hold()
        out = original(*a, **k)
        if after and calls[0] == nth:
            hold()
        return out
    setattr(owner, name, wrapped)

MOMENTS = {
    "validate": (stream, "validate", 1, False),           # under the import lock, checking
    "staging": (writer.StoreWriter, "_write_year", 2, True),  # a year file staged, more to go
    "rollups": (summary, "summarise_year", 2, False),     # one year's roll-ups staged
    "pending_tmp": (layout.Manifest, "to_json", 1, False),  # pending.json's temp file open
    "prepared": (writer.StoreWriter, "prepare", 1, True),  # pending.json, DB txn open
    "committed": (writer.StoreWriter, "publish", 1, False),  # DB committed, not swapped
    "swapped": (writer.StoreWriter, "_collect", 1, False),  # swapped, old files not collected
}
patch(*MOMENTS[moment])
sys.exit(cli.main(argv))
"""
BEFORE_COMMIT = {"validate", "staging", "rollups", "pending_tmp", "prepared"}


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _episodes(seed: int, start: int):
    inst = INSTITUTIONS["code"].astype(str).tolist()
    return _synthetic_episodes(N, np.random.default_rng(seed), inst, TOWNS, ICD, start=start)


@pytest.fixture()
def held(engine, tmp_path):
    """``engine``'s database with institutions and one episodes import held; the file of
    a second import (half its record ids held, with other contents: updates and inserts
    in every year)."""
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    assert import_frame(engine, "institutions", inst, "inst.csv").ok
    assert import_frame(engine, "episodes", _episodes(3, 0), "held.csv").ok
    path = tmp_path / "episodes_2024.csv"
    _episodes(4, N // 2).to_csv(path, index=False)
    return engine, path


def _cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


REPORTS = [("incidence", 2024), ("cost_per_case", 2023), ("in_county_rate", 2022)]


def _reports(engine) -> tuple[str, ...]:
    """What the reports say (the CLI report's code, without its audit row: a report made
    while the held process is inside its write transaction must not wait for it), over
    three years, from episodes (incidence) and roll-ups (the others)."""
    return tuple(indicators.report(engine, m, queries.Filters(years=(y,))).to_csv(index=False)
                 for m, y in REPORTS)


def _cli_reports(capsys, url: str) -> tuple[str, ...]:
    """The same reports through ``python -m healthmap report`` (exit 0 each)."""
    out = []
    for m, y in REPORTS:
        rc, text_, err = _cli(capsys, "report", m, "--year", str(y), "--db", url)
        assert rc == 0, err
        out.append(text_)
    return tuple(out)


def _successes(engine) -> int:
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(ImportLog)
                        .where(ImportLog.status == "success"))


class Held:
    """A ``python -m healthmap`` process held still at ``moment``."""

    def __init__(self, moment: str, *cli_args: str):
        self.proc = subprocess.Popen([sys.executable, "-c", HOOK, moment, *cli_args],
                                     cwd=ROOT, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line != f"at {moment}\n":
            self.proc.kill()
            raise AssertionError(f"never reached {moment}: {line!r} {self.proc.stderr.read()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait() == -signal.SIGKILL
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()

    def go_on(self) -> tuple[int, str]:
        """Let it finish: its exit code and what it printed."""
        out, err = self.proc.communicate("\n", timeout=300)
        return self.proc.returncode, out + err


def _settled_after_kill(engine, url: str, capsys) -> None:
    """After the kill: the killed session's lock is gone, the store is in sync with the
    database, and no stale import lock is left."""
    wait_until_free(engine)
    rc, out, err = _cli(capsys, "store", "status", "--db", url)
    assert rc == 0 and "in sync" in out, out + err
    assert importlock.running_import(url) is None  # no stale lock


def _store_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}


def _leftovers(root: Path, before_files: set[str]) -> set[str]:
    """Files of no generation a reader may use: not named by the live manifest, not of
    the generation before it (kept for readers that opened it just before the swap), not
    held before the killed write began."""
    live = read_manifest(root)
    previous = f"part-{live.generation - 1:06d}-"
    return {f for f in _store_files(root) - set(live.files()) - before_files
            if not Path(f).name.startswith(previous)}


def _check_condition(moment: str, root: Path, engine, successes: int) -> None:
    """The moment the process is held at is the one named (checked from outside)."""
    staged = list((root / "staging").glob("*/year=*/*.parquet"))
    rollups = list((root / "staging").glob("*/rollups/*/year=*/*.parquet"))
    pending = (root / PENDING).exists()
    done = _successes(engine) - successes
    expect = {"validate": (False, False, False, 0), "staging": (True, False, False, 0),
              "rollups": (True, True, False, 0), "pending_tmp": (False, False, False, 0),
              "prepared": (False, False, True, 0), "committed": (False, False, True, 1),
              "swapped": (False, False, False, 1)}
    assert (bool(staged), bool(rollups), pending, done) == expect[moment]
    assert bool(list(root.glob(".*.tmp"))) == (moment == "pending_tmp")


MOMENTS = ["validate", "staging", "rollups", "pending_tmp", "prepared", "committed",
           "swapped"]
PG_MOMENTS = {"prepared", "committed"}  # the two sides of the commit point


@pytest.mark.parametrize("moment", MOMENTS)
def test_import_killed_at_each_moment_leaves_one_state_or_the_other(request, moment, capsys,
                                                                  backend):
    if backend == "postgresql" and moment not in PG_MOMENTS:
        pytest.skip("PostgreSQL: the moments on both sides of the commit point")
    engine, path = request.getfixturevalue("held")
    url, root = _url(engine), engine_store_dir(engine)
    before, before_cli = _reports(engine), _cli_reports(capsys, url)
    before_files = _store_files(root)
    successes = _successes(engine)

    proc = Held(moment, "import", "episodes", str(path), "--db", url)
    try:
        _check_condition(moment, root, engine, successes)
        # a reader meanwhile: the state before the commit, the new one after it
        during = _reports(engine)
    finally:
        proc.kill()
    _settled_after_kill(engine, url, capsys)
    after_kill, after_kill_cli = _reports(engine), _cli_reports(capsys, url)

    rc, out, err = _cli(capsys, "import", "episodes", str(path), "--db", url)
    assert rc == 0, err
    if moment in BEFORE_COMMIT:
        assert f"{N // 2:,} new, {N // 2:,} updated" in out, out
    else:
        assert "0 new, 0 updated" in out, out
    after, after_cli = _reports(engine), _cli_reports(capsys, url)
    assert after != before and after_cli != before_cli
    expected = before if moment in BEFORE_COMMIT else after
    assert during == expected
    assert after_kill == expected
    assert after_kill_cli == (before_cli if moment in BEFORE_COMMIT else after_cli)

    rc, out, err = _cli(capsys, "import", "episodes", str(path), "--db", url)
    assert rc == 0 and "0 new, 0 updated" in out, out + err
    assert _reports(engine) == after
    # no leftovers: staging, pending manifests, temp files, files of no generation kept
    assert not (root / "staging").exists() and not (root / PENDING).exists()
    assert not list(root.glob(".*.tmp"))
    assert not _leftovers(root, before_files)
    rc, out, err = _cli(capsys, "store", "status", "--db", url)
    assert rc == 0 and "in sync" in out, out + err


def _tree(root: Path) -> dict:
    """Every path under the store folder (or its parent's view of it) with its bytes."""
    if not root.exists():
        return {"": None}
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
            for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("how", ["deleted", "older_copy", "names_missing_file",
                                 "unreadable_manifest"])
def test_a_lost_replaced_or_edited_store_is_named_by_readers_and_imports(held, how, capsys,
                                                                        tmp_path):
    engine, path = held
    url, root = _url(engine), engine_store_dir(engine)
    if how == "older_copy":  # a copy from before the last import put back
        shutil.copytree(root, tmp_path / "old-store")
        assert import_frame(engine, "episodes", _episodes(5, 10 * N), "more.csv").ok
        shutil.rmtree(root)
        shutil.copytree(tmp_path / "old-store", root)
    elif how == "deleted":
        shutil.rmtree(root)
    elif how == "names_missing_file":
        m = json.loads((root / MANIFEST).read_text())
        year = sorted(m["years"])[0]
        m["years"][year]["files"] = [f.replace("part-", "part-gone-")
                                     for f in m["years"][year]["files"]]
        (root / MANIFEST).write_text(json.dumps(m))
    else:
        (root / MANIFEST).write_text('{"data_version": "1@2024-01-01T00:00:00", "gener')
    tree, successes = _tree(root), _successes(engine)

    for read in (lambda: queries.load_cells_frame(engine, (2024,)),
                 lambda: indicators.report(engine, "incidence", queries.Filters(years=(2024,))),
                 lambda: queries.rollup(engine, "areas")):
        with pytest.raises(StoreMismatch) as exc:
            read()
        assert str(root) in exc.value.message("en") and str(root) in exc.value.message("zh")
    for args, code in ((["report", "cost_per_case", "--year", "2023"], None),
                       (["store", "status"], 1),
                       (["import", "episodes", str(path)], None),
                       (["refresh"], None)):
        rc, out, err = _cli(capsys, *args, "--db", url)
        assert rc != 0 and (code is None or rc == code), (args, rc)
        said = out + err
        # the CLI speaks Chinese by default (import problems) or English (errors)
        assert (f"episode store {root}" in said and "restore" in said.lower()
                or f"数据仓 {root}" in said and "恢复" in said), (args, said)
        assert "Traceback" not in said
    assert _tree(root) == tree, "a reader or a refused write changed the store folder"
    assert _successes(engine) == successes


def _answers(engine) -> tuple[str, str]:
    """A reader's answer: the period frame of 2024 (as the pages load it) and a report."""
    cells = queries.load_cells_frame(engine, (2024,))
    cells = cells.astype(str).sort_values(list(cells.columns)).to_csv(index=False)
    report = indicators.report(engine, "cost_per_case", queries.Filters(years=(2024,)))
    return cells, report.to_csv(index=False)


def test_readers_during_publishing_see_one_generation_never_an_error(held, monkeypatch):
    """A reader thread loops while three imports publish; each import waits for the
    reader to finish a round started inside its transaction (pending manifest, not
    committed) and another between its commit and the swap, so readers are known to have
    read at those instants. Every answer is one generation's, never an exception."""
    engine, _path = held
    seen, errors, stop = [], [], threading.Event()
    rounds = threading.Condition()

    def reader():
        while not stop.is_set():
            try:
                answer = _answers(engine)
            except Exception as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(repr(exc))
            else:
                seen.append(answer)
            with rounds:
                rounds.notify_all()

    def two_rounds():  # an answer begun after this instant, so at it
        with rounds:
            n = len(seen) + len(errors)
            assert rounds.wait_for(lambda: len(seen) + len(errors) >= n + 2, timeout=120)

    prepare, publish = StoreWriter.prepare, StoreWriter.publish

    def prepare_then_read(self, *a, **k):
        out = prepare(self, *a, **k)
        two_rounds()
        return out

    def read_then_publish(self, *a, **k):
        two_rounds()
        return publish(self, *a, **k)

    monkeypatch.setattr(StoreWriter, "prepare", prepare_then_read)
    monkeypatch.setattr(StoreWriter, "publish", read_then_publish)
    generations = [_answers(engine)]
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(3):
            df = _episodes(10 + i, N * i // 2)  # changes held rows and adds new ones
            assert import_frame(engine, "episodes", df, f"more{i}.csv").ok
            generations.append(_answers(engine))
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert len(set(generations)) == 4
    cells = {g[0] for g in generations}
    reports = {g[1] for g in generations}
    assert all(c in cells and r in reports for c, r in seen)
    assert len({c for c, _r in seen}) >= 3  # readers saw the generations change


def _institutions_moved():
    """The institutions file with the first in-county hospital moved out of the county."""
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    first = inst.index[inst["in_county"] == "true"][0]
    inst.loc[first, "in_county"] = "false"
    return inst


@pytest.mark.parametrize("job,moment", [("institutions", "rollups"),
                                        ("institutions", "prepared"),
                                        ("institutions", "committed"),
                                        ("refresh", "prepared"),
                                        ("refresh", "committed")])
def test_institutions_import_and_refresh_killed_leave_one_state(request, job, moment, capsys,
                                                                tmp_path, backend):
    """An institutions import that moves a hospital out of the county rebuilds roll-ups
    (in its write transaction) and ``refresh`` rebuilds all: killed on either side of the
    commit point, the reports are before or after, in sync, and the re-run settles it."""
    if backend == "postgresql" and moment != "committed":
        pytest.skip("PostgreSQL: the moment after the commit point")
    engine, _path = request.getfixturevalue("held")
    url, root = _url(engine), engine_store_dir(engine)
    if job == "institutions":
        path = tmp_path / "institutions.csv"
        _institutions_moved().to_csv(path, index=False)
        args = ["import", "institutions", str(path), "--confirm-changes", "--db", url]
    else:
        args = ["refresh", "--db", url]
    before, before_files = _reports(engine), _store_files(root)
    successes = _successes(engine)
    proc = Held(moment, *args)
    try:
        assert (root / PENDING).exists() == (moment != "rollups")
        during = _reports(engine)
    finally:
        proc.kill()
    _settled_after_kill(engine, url, capsys)
    after_kill = _reports(engine)
    committed = _successes(engine) > successes if job == "institutions" else None

    rc, out, err = _cli(capsys, *args)
    assert rc == 0, out + err
    after = _reports(engine)
    if job == "institutions":
        assert committed == (moment == "committed")
        assert after != before  # in-county shares moved
        expected = after if moment == "committed" else before
    else:
        expected = after = before  # a rebuild of the same episodes: the same answers
    assert during == expected and after_kill == expected
    assert not (root / "staging").exists() and not (root / PENDING).exists()
    assert not _leftovers(root, before_files)
    rc, out, err = _cli(capsys, "store", "status", "--db", url)
    assert rc == 0 and "in sync" in out, out + err


@pytest.mark.sqlite_only  # SQLite's single write lock; PostgreSQL locks rows
def test_an_institutions_import_rebuilds_rollups_outside_the_write_lock(held, tmp_path,
                                                                       monkeypatch):
    """Moving a hospital out of the county rebuilds the roll-ups of every year with an
    episode there: heavy work that must not hold the database's write lock (a login's audit
    write waits at most the busy timeout). The import is held still in that work."""
    engine, _path = held
    url = _url(engine)
    path = tmp_path / "institutions.csv"
    _institutions_moved().to_csv(path, index=False)
    monkeypatch.setenv("HEALTHMAP_BUSY_TIMEOUT_MS", "1500")
    other = make_engine(url)
    proc = Held("rollups", "import", "institutions", str(path), "--confirm-changes",
                "--db", url)
    try:
        audit.record(other, "zhou", "export", "while-institutions-rebuild")
    finally:
        proc.kill()
        other.dispose()
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.target == "while-institutions-rebuild")) == 1


@pytest.mark.sqlite_only  # SQLite: a deferred transaction cannot write after another commit
def test_refresh_survives_a_login_during_its_rebuild(held, monkeypatch):
    """``refresh`` rebuilds every year's roll-ups (no write lock held for that work); a
    login's audit write committed meanwhile must not make it fail at its commit."""
    engine, _path = held
    url = _url(engine)
    before = _reports(engine)
    proc = Held("rollups", "refresh", "--db", url)
    try:
        audit.record(engine, "zhou", "export", "during-refresh")
    finally:
        rc, said = proc.go_on() if proc.proc.poll() is None else (proc.proc.returncode, "")
    assert rc == 0, said
    assert "rebuilt" in said and _reports(engine) == before
    rc_status = main(["store", "status", "--db", url])
    assert rc_status == 0


@pytest.mark.sqlite_only  # PostgreSQL's session lock ends with its session
def test_a_lock_whose_pid_was_reused_after_a_kill_is_stale(held, capsys):
    """A killed import's lock file names its pid; after a restart (a container's pids
    start again from 1) another live process may have that pid. The lock tells them apart
    by the process's start time, so it does not block imports for ever."""
    engine, path = held
    url = _url(engine)
    proc = Held("validate", "import", "episodes", str(path), "--db", url)
    lock = Path(engine.url.database + ".import-lock")
    try:
        info = json.loads(lock.read_text())
        assert info["pid"] == proc.proc.pid and info["started"]
    finally:
        proc.kill()
    # the same lock, as if its pid now belonged to this (live, other) process
    info["pid"] = os.getpid()
    lock.write_text(json.dumps(info))
    assert importlock.running_import(url) is None
    rc, out, err = _cli(capsys, "import", "episodes", str(path), "--db", url)
    assert rc == 0 and f"{N // 2:,} new" in out, out + err
    # while the real holder lives, its lock holds
    proc = Held("validate", "import", "episodes", str(path), "--db", url)
    try:
        assert importlock.running_import(url)["pid"] == proc.proc.pid
        rc, out, err = _cli(capsys, "import", "episodes", str(path), "--db", url)
        assert rc != 0 and ("another import is running" in out + err
                            or "另一个导入" in out + err), out + err
    finally:
        proc.kill()
