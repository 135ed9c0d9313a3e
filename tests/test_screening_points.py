"""A recorded screening earns health points automatically (issues 12 and 13): once per
screening event, never blocking the screening when the points rules refuse."""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthmap.points import ledger as points
from healthmap.screening import records
from tests.test_screening_records import EXPERT, STAFF, db, flagged  # noqa: F401


def test_screening_awards_points_once(db):  # noqa: F811
    rid = flagged(db, 1)[0]["resident_id"]
    with Session(db) as s:
        before = points.balance(s, rid)
    with Session(db) as s, s.begin():
        records.record_review(s, EXPERT, "lung", rid, "confirmed", "ok", date=dt.date(2025, 7, 1))
        records.record_invitation(s, STAFF, "lung", rid, date=dt.date(2025, 7, 2))
        records.record_screening(s, STAFF, "lung", rid, dt.date(2025, 7, 20), "YH001", 200,
                                 source_id="LDCT-P1")
    with Session(db) as s, s.begin():  # the same event again: no new points
        records.record_screening(s, STAFF, "lung", rid, dt.date(2025, 7, 20), "YH001", 200,
                                 source_id="LDCT-P1")
    with Session(db) as s:
        after = points.balance(s, rid)
        entry = s.scalars(select(points.PointsEntry).where(
            points.PointsEntry.source_id == "screening:LDCT-P1")).one()
    assert after - before == 30  # data/points/activities.yaml: cancer_screening
    assert entry.recorded_by == "system:screening" and entry.activity_code == "cancer_screening"
