"""The cache version (issue 8): ``queries.data_version`` -- the key of every cached frame
in the app -- changes on every write that changes what a page shows (imports, the
summary refresh, ledger and board writes) and stays put on reads and refused writes.
Hand-made rows on a throw-away database."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from healthmap import aggregates, queries, store, summary
from healthmap.access import Actor, PermissionDenied
from healthmap.ingest import import_file
from healthmap.points import ledger as points
from healthmap.screening import records
from points_helpers import add_residents

pytestmark = pytest.mark.sqlite_only  # bump_version is one UPDATE of app_meta on either
TODAY = dt.date(2025, 6, 30)
EPISODES = ("record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,"
            "sex,age\nE1,P1,331083001,C16.9,2024-03-01,inpatient,H1,100,M,66\n")
INST = "code,name,level,in_county,area_code,region\nH1,玉环市人民医院,tertiary,true,,玉环\n"


def test_every_page_changing_write_moves_the_version_and_reads_do_not(engine):
    seen = [queries.data_version(engine)]

    def moved():
        now = queries.data_version(engine)
        changed = now != seen[-1]
        seen.append(now)
        return changed

    add_residents(engine)  # an import of residents (R1..R6)
    assert moved()
    assert import_file(engine, "institutions", INST.encode(), "i.csv", today=TODAY).ok
    assert moved()
    assert import_file(engine, "episodes", EPISODES.encode(), "e.csv", today=TODAY).ok
    assert moved()
    # reads change nothing
    assert store.query(engine, "SELECT count(*) AS n FROM episodes")["n"].tolist() == [1]
    with Session(engine) as s:
        assert points.balance(s, "R1") == 0
    assert not moved()
    # the summary refresh (python -m healthmap refresh)
    assert summary.rebuild(engine, "tester") == [2024]
    assert moved()
    # a ledger write: a health-points award
    with Session(engine) as s, s.begin():
        assert points.award(s, Actor("wang", "points"), "R1", "health_lecture", "lec-1",
                            dt.date(2024, 5, 6)).recorded
    assert moved()
    # a refused write (a leader may not award) and an identical repeat write nothing
    with Session(engine) as s, s.begin(), pytest.raises(PermissionDenied):
        points.award(s, Actor("li", "leader"), "R1", "health_lecture", "lec-2",
                     dt.date(2024, 5, 6))
    with Session(engine) as s, s.begin():
        assert not points.award(s, Actor("wang", "points"), "R1", "health_lecture", "lec-1",
                                dt.date(2024, 5, 6)).recorded
    assert not moved()
    # a screening run (its assessments feed the screening pages)
    with Session(engine) as s, s.begin():
        records.run_assessment(s, Actor("t", "screening"), "lung", as_of=TODAY)
    assert moved()
    # the leaders' board: an aggregate indicator entered
    clean, problems = aggregates.validate(pd.DataFrame(
        {"indicator": ["hospice_beds"], "period": ["2024"], "value": ["12"]}), today=TODAY)
    assert clean is not None, problems
    with Session(engine) as s, s.begin():
        assert aggregates.save(s, Actor("d", "data_manager"), clean, "form") == 1
    assert moved()
    # 0, residents, institutions, episodes, refresh, award, screening run, board entry
    assert len(set(seen)) == 8  # never back to an earlier value


def test_refresh_checks_the_actor_inside_and_a_refusal_writes_nothing(engine):
    from healthmap.access import Actor
    from healthmap.cli import main

    assert import_file(engine, "institutions", INST.encode(), "i.csv", today=TODAY).ok
    assert import_file(engine, "episodes", EPISODES.encode(), "e.csv", today=TODAY).ok
    before = queries.data_version(engine)
    for role in ("leader", "planner", "screening", "points", "expert", "family_doctor"):
        with pytest.raises(PermissionDenied):
            summary.rebuild(engine, Actor("x", role))
    assert queries.data_version(engine) == before
    assert summary.rebuild(engine, Actor("d", "data_manager")) == [2024]
    assert queries.data_version(engine) > before
    before = queries.data_version(engine)
    assert main(["--db", str(engine.url), "refresh"]) == 0  # the CLI acts as administrator
    assert queries.data_version(engine) > before
