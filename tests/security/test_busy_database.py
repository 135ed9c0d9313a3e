"""§10 A login, an audit write and a ledger write never fail because an import runs.

The other connections wait at most a short busy timeout (``HEALTHMAP_BUSY_TIMEOUT_MS``);
the import is held still in the middle of its heavy work (its progress callback waits
until the other writes are done), so the test does not depend on how fast this machine
is: an import that holds the database's write lock during that work makes them fail.
"""

import datetime as dt
import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from healthmap import audit, auth, dbhealth, sessions, summary
from healthmap.access import Actor
from healthmap.bench import _synthetic_episodes
from healthmap.bootstrap import init_database
from healthmap.db import make_engine
from healthmap.demo import INSTITUTIONS
from healthmap.ingest import import_frame
from healthmap import store
from healthmap import queries
from healthmap.models import Institution
from healthmap.points import ledger
from points_helpers import add_residents

PASSWORD = "Lantern-Harbour-2024"
TOWNS = ["331083001", "331083002", "331083101"]


def _episodes(n: int, prefix: str) -> pd.DataFrame:
    inst = INSTITUTIONS["code"].astype(str).tolist()
    df = _synthetic_episodes(n, np.random.default_rng(3), inst, TOWNS,
                             ["C18.9", "I10", "E11.9", "J18.9"])
    df["record_id"] = prefix + df["record_id"]
    return df


@pytest.fixture()
def busy_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    e = make_engine(url)
    init_database(e)
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    assert import_frame(e, "institutions", inst, "inst.csv").ok
    add_residents(e)
    auth.create_user(e, "zhou", PASSWORD, "points", actor="cli:test")
    e.dispose()
    return url


def _other_writes(engine, tag: str) -> None:
    """A login through the real code (throttle, audit, ticket, session), an audit write
    and a points-ledger award."""
    user, why = auth.authenticate(engine, "zhou", PASSWORD, client="10.0.0.7")
    assert why == "ok", why
    token = sessions.redeem_ticket(engine, sessions.issue_ticket(engine, "zhou"))
    assert token and sessions.validate(engine, token)[0]["username"] == "zhou"
    audit.record(engine, "zhou", "export", f"busy-test:{tag}")
    with Session(engine) as s, s.begin():
        ledger.award(s, Actor("zhou", "points"), "R1", "health_lecture", f"lecture-{tag}",
                     dt.date(2024, 5, 6))


def test_login_audit_and_ledger_writes_succeed_while_an_import_runs(busy_url, monkeypatch):
    importer = make_engine(busy_url)  # the import's own connections: the default timeout
    monkeypatch.setenv("HEALTHMAP_BUSY_TIMEOUT_MS", "3000")
    other = make_engine(busy_url)
    with other.connect() as c:
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000
    # a year already held, so the import also reads held rows for its summaries
    assert import_frame(importer, "episodes", _episodes(3000, "H"), "held.csv").ok

    heavy, resume = threading.Event(), threading.Event()
    result, failures = {}, []

    def progress(_fraction, message):
        if message.startswith("Refreshing summary tables") and not heavy.is_set():
            heavy.set()  # the import is in the middle of its heavy work: hold it there
            resume.wait(120)

    def run_import():
        try:
            result["r"] = import_frame(importer, "episodes", _episodes(8000, "N"), "new.csv",
                                       progress=progress, lang="en", username="li")
        finally:
            heavy.set()

    worker = threading.Thread(target=run_import)
    worker.start()
    try:
        assert heavy.wait(300)
        assert worker.is_alive()
        try:
            _other_writes(other, "during")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"during the import's heavy work: {exc!r}"[:300])
    finally:
        resume.set()
    i = 0
    while worker.is_alive():  # and on through its short write transaction
        try:
            audit.record(other, "zhou", "export", f"busy-test:after-{i}")
        except Exception as exc:  # noqa: BLE001
            failures.append(f"while the import finished: {exc!r}"[:300])
            break
        i += 1
    worker.join()
    assert not failures, failures
    assert result["r"].ok, result["r"].problems
    # the import landed whole and its summaries agree with the rows
    assert store.live_manifest(importer).rows == 11000
    assert queries.rollup(importer, "areas")["episodes"].sum() == 11000
    assert audit.verify(other).ok
    importer.dispose()
    other.dispose()


def test_summaries_built_before_a_concurrent_change_are_rebuilt(busy_url):
    """The race the import lock does not cover (a writer that bypasses it): what the
    summaries are built from changes after the import computed them (here an
    institution's in-county status); the write transaction notices (the generation
    counter) and computes them again, so the summaries match the episodes."""
    e = make_engine(busy_url)
    assert import_frame(e, "episodes", _episodes(500, "H"), "held.csv").ok
    sneaked = []
    code = str(INSTITUTIONS["code"].iloc[0])

    def progress(_fraction, message):
        if message.startswith("Saving") and not sneaked:
            with e.begin() as c:  # another writer moves one institution out of the county
                c.execute(Institution.__table__.update().where(Institution.code == code)
                          .values(in_county=False))
                summary.bump_generation(c)
            sneaked.append(code)

    res = import_frame(e, "episodes", _episodes(400, "N"), "new.csv", progress=progress,
                       lang="en")
    assert res.ok and sneaked
    there = store.query(e, "SELECT year, count(*) AS n FROM episodes "
                           "WHERE institution_code = ? GROUP BY year", [code])
    assert there["n"].sum() > 0
    areas = queries.rollup(e, "areas", by=["year", "in_county"], measures=["episodes"])
    for year, n in there.itertuples(index=False):
        out = int(areas.loc[(areas["year"] == int(year)) & ~areas["in_county"].astype(bool),
                            "episodes"].sum())
        outside = store.query(e, "SELECT count(*) AS n FROM episodes e JOIN institutions i "
                                 "ON i.code = e.institution_code "
                                 "WHERE e.year = ? AND NOT i.in_county", [int(year)])
        assert out == int(outside["n"].iloc[0]) and out >= n
    e.dispose()


def test_refresh_waits_its_turn_behind_an_import(busy_url, capsys):
    from healthmap.cli import main

    holding, release = threading.Event(), threading.Event()

    def other_import():  # another thread (or process) runs an import
        with dbhealth.import_lock(busy_url, "episodes", "big_2024.csv", "zhang"):
            holding.set()
            release.wait(60)

    t = threading.Thread(target=other_import)
    t.start()
    try:
        assert holding.wait(60)
        assert main(["refresh", "--db", busy_url]) == 2
    finally:
        release.set()
        t.join()
    err = capsys.readouterr().err
    assert "big_2024.csv" in err and "zhang" in err, err
    assert main(["refresh", "--db", busy_url]) == 0
