"""The demo database carries consistent health-points entries."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthmap.db import make_engine
from healthmap.points.demo import check_consistent
from healthmap.points.models import PointsEntry


def test_demo_points_are_consistent_with_the_rules(demo_db):
    engine = make_engine(demo_db)
    with Session(engine) as s:
        kinds = dict(s.execute(select(PointsEntry.kind, func.count())
                               .group_by(PointsEntry.kind)).all())
    assert kinds.get("award", 0) > 500 and kinds.get("redeem", 0) > 20
    assert kinds.get("reversal", 0) > 0
    assert check_consistent(engine) == []
    engine.dispose()


def test_consistency_check_can_fail(engine):
    import datetime as dt

    from sqlalchemy import insert

    from points_helpers import add_residents

    add_residents(engine)
    now = dt.datetime(2024, 1, 1)
    with Session(engine) as s, s.begin():
        s.execute(insert(PointsEntry), [dict(
            source_id=f"x{i}", resident_id="R1", kind="award", activity_code="annual_checkup",
            item_code=None, points=20, date=dt.date(2024, 1, 1), recorded_by="t",
            reason=None, reverses=None, rules_version="t", recorded_at=now) for i in range(2)]
            + [dict(source_id="y", resident_id="R2", kind="redeem", activity_code=None,
                    item_code="health_kit", points=-30, date=dt.date(2024, 1, 1),
                    recorded_by="t", reason=None, reverses=None, rules_version="t",
                    recorded_at=now)])
    problems = check_consistent(engine)
    assert any("negative" in p for p in problems)
    assert any("annual_checkup: 2 a day" in p for p in problems)
