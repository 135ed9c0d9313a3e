"""50 concurrent award and redeem processes on one resident end in a consistent ledger:
balance = sum of entries, never negative at any point, every source id once.

The 50 processes are forked from a fresh interpreter (:func:`_launch`, started with
``spawn``), not from the test process: late in the suite that process holds other tests'
threads (DuckDB, servers) and gigabytes of objects, and a child forked from it can hang on
a lock some thread held at the fork, or copy those pages when it collects garbage (CI run
of stop 28: one child never answered)."""

import datetime as dt
import multiprocessing as mp
import queue
import time
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthmap.points.models import PointsEntry
from points_helpers import add_residents

N = 50
DUPLICATES = 4  # the last 4 processes repeat the operation of processes 0-3


def _rules():
    from healthmap.points.rules import load_rules

    rules = load_rules()
    acts = tuple(replace(a, max_per_day=1000, max_per_year=1000) for a in rules.activities)
    return replace(rules, activities=acts)


def _operation(i: int) -> tuple[str, str]:
    j = i - (N - DUPLICATES) if i >= N - DUPLICATES else i
    return ("award", f"a{j}") if j % 2 == 0 else ("redeem", f"r{j}")


def _worker(url, i, barrier, results):
    from healthmap.access import Actor
    from healthmap.db import make_engine
    from healthmap.points import ledger as L

    engine = make_engine(url)
    kind, source = _operation(i)
    try:
        barrier.wait(timeout=60)
        with Session(engine) as s, s.begin():
            if kind == "award":
                out = L.award(s, Actor(f"w{i}", "points"), "R1", "health_lecture", source,
                              dt.date(2024, 5, 6), rules=_rules())
            else:
                out = L.redeem(s, Actor(f"w{i}", "points"), "R1", "health_kit", source,
                               dt.date(2024, 5, 6), rules=_rules())
        results.put((i, "recorded" if out.recorded else "repeat", out.balance))
    except L.PointsRefused as exc:
        results.put((i, "refused", str(exc)))
    except Exception as exc:  # reported to the test, which fails on it
        results.put((i, "error", repr(exc)))
    finally:
        engine.dispose()


def _launch(url, results):
    """Run in a fresh interpreter: fork the N workers, wait for them, report their exit
    codes (None: still running after 150 s, then killed). The modules the workers use are
    imported here once, before the fork."""
    import healthmap.access  # noqa: F401
    import healthmap.db  # noqa: F401
    import healthmap.points.ledger  # noqa: F401

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(N)
    procs = [ctx.Process(target=_worker, args=(url, i, barrier, results)) for i in range(N)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 150
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.exitcode is None:
            p.kill()
    results.put(("exitcodes", codes))


def test_fifty_concurrent_award_and_redeem_processes_stay_consistent(engine):
    add_residents(engine)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    launcher = ctx.Process(target=_launch, args=(url, results))
    launcher.start()
    got, exitcodes = [], None
    while exitcodes is None:
        try:
            message = results.get(timeout=180)
        except queue.Empty:
            raise AssertionError(f"no answer for 180 s; answers so far: {got}; "
                                 f"launcher alive: {launcher.is_alive()}") from None
        if message[0] == "exitcodes":
            exitcodes = message[1]
        else:
            got.append(message)
    launcher.join(timeout=60)
    assert launcher.exitcode == 0
    assert exitcodes == [0] * N, exitcodes
    assert sorted(g[0] for g in got) == list(range(N)), got
    errors = [g for g in got if g[1] == "error"]
    assert not errors, errors
    refused = [g for g in got if g[1] == "refused"]
    assert all("balance" in g[2] and "less than" in g[2] for g in refused), refused

    with Session(engine) as s:
        entries = list(s.scalars(select(PointsEntry).where(PointsEntry.resident_id == "R1")
                                 .order_by(PointsEntry.id)))
    ids = [e.source_id for e in entries]
    assert len(ids) == len(set(ids))  # every source id once, duplicates included
    awards = [e for e in entries if e.kind == "award"]
    redeems = [e for e in entries if e.kind == "redeem"]
    assert len(awards) == 23  # a0, a2, ..., a44 all credited once
    running = 0
    for e in entries:  # in commit order, the balance never dipped below zero
        running += e.points
        assert running >= 0
    assert running == 5 * len(awards) - 30 * len(redeems)
    from healthmap.points.ledger import balance

    with Session(engine) as s:
        assert balance(s, "R1") == running
    # what each process was told matches the ledger
    recorded = {_operation(i)[1] for i, status, _ in got if status == "recorded"}
    assert recorded == set(ids)
    # a refused redemption may be resubmitted and succeed once the balance has grown
    # (processes 46-49 repeat 0-3), so only ids that no process had recorded must be absent
    answered = {_operation(i)[1] for i, status, _ in got if status in ("recorded", "repeat")}
    refused_ids = {_operation(i)[1] for i, status, _ in got if status == "refused"} - answered
    assert not refused_ids & set(ids)
    assert refused  # more redemptions than points: some must be refused


def test_same_source_id_for_two_residents_at_once_is_a_named_conflict(engine):
    """Two staff record one source id for different residents at the same moment: each
    holds only their own resident's lock, so both find the id free. On PostgreSQL the
    second insert waits on the first's unique key; when the first commits, the second is
    a named conflict (LedgerConflict), not a database error, and writes nothing. SQLite
    takes one writer at a time, so the race cannot happen there."""
    import threading
    import time

    import pytest
    from sqlalchemy import text

    from healthmap.access import Actor
    from healthmap.ledger import LedgerConflict
    from healthmap.points import ledger as L

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: no such race")
    add_residents(engine)
    day = dt.date(2024, 5, 6)
    outcome: dict = {}

    def second():
        try:
            with Session(engine) as s, s.begin():
                L.award(s, Actor("li", "points"), "R2", "health_lecture", "shared", day)
            outcome["second"] = "recorded"
        except Exception as exc:  # the test names what it got
            outcome["second"] = exc

    with Session(engine) as first:
        first.begin()
        L.award(first, Actor("wang", "points"), "R1", "health_lecture", "shared", day)
        worker = threading.Thread(target=second)
        worker.start()
        deadline = time.monotonic() + 60
        with engine.connect() as watch:  # wait until the second insert waits on the key
            while watch.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")).scalar() == 0:
                assert worker.is_alive() and time.monotonic() < deadline, outcome
        first.commit()
    worker.join(timeout=60)
    assert isinstance(outcome.get("second"), LedgerConflict), outcome
    assert "shared" in str(outcome["second"])
    with Session(engine) as s:
        rows = s.execute(select(PointsEntry.resident_id, PointsEntry.source_id)).all()
    assert rows == [("R1", "shared")]
