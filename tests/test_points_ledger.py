"""The health-points ledger: balance = sum, never negative, idempotent source ids, caps,
eligibility, reversal, stock, permissions, append-only storage."""

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from healthmap.access import Actor, PermissionDenied
from healthmap.ledger import LedgerConflict
from healthmap.points import ledger as L
from healthmap.points.models import PointsEntry
from points_helpers import add_residents

STAFF = Actor("wang", "points")
D = dt.date(2024, 5, 6)


@pytest.fixture()
def eng(engine):
    add_residents(engine)
    return engine


def run(engine, fn, *args, **kw):
    with Session(engine) as s, s.begin():
        return fn(s, *args, **kw)


def bal(engine, rid="R1"):
    with Session(engine) as s:
        return L.balance(s, rid)


def total(engine, rid="R1"):
    with Session(engine) as s:
        return int(s.scalar(select(func.sum(PointsEntry.points))
                            .where(PointsEntry.resident_id == rid)) or 0)


def test_award_then_balance_is_the_sum(eng):
    out = run(eng, L.award, STAFF, "R1", "health_lecture", "lec-1", D)
    assert out.recorded and out.points == 5 and out.balance == 5
    run(eng, L.award, STAFF, "R1", "annual_checkup", "chk-1", D)
    assert bal(eng) == total(eng) == 25
    assert bal(eng, "R2") == 0


def test_same_source_id_is_one_entry_or_a_named_conflict(eng):
    run(eng, L.award, STAFF, "R1", "health_lecture", "lec-1", D)
    again = run(eng, L.award, Actor("li", "points"), "R1", "health_lecture", "lec-1", D)
    assert not again.recorded and again.balance == 5
    with pytest.raises(LedgerConflict, match="lec-1"):
        run(eng, L.award, STAFF, "R1", "knowledge_quiz", "lec-1", D)
    with pytest.raises(LedgerConflict):
        run(eng, L.award, STAFF, "R2", "health_lecture", "lec-1", D)
    assert bal(eng) == 5 and bal(eng, "R2") == 0


def test_daily_and_yearly_caps(eng):
    run(eng, L.award, STAFF, "R1", "health_lecture", "a", D)
    with pytest.raises(L.PointsRefused, match="daily cap"):
        run(eng, L.award, STAFF, "R1", "health_lecture", "b", D)
    run(eng, L.award, STAFF, "R1", "annual_checkup", "c1", D)
    with pytest.raises(L.PointsRefused, match="yearly cap reached: annual_checkup at most 1"):
        run(eng, L.award, STAFF, "R1", "annual_checkup", "c2", D + dt.timedelta(days=30))
    run(eng, L.award, STAFF, "R1", "annual_checkup", "c3", dt.date(2025, 1, 2))
    # a reversed award no longer counts towards the cap
    run(eng, L.reverse, STAFF, "c1", "recorded for the wrong resident")
    run(eng, L.award, STAFF, "R1", "annual_checkup", "c4", D)
    assert bal(eng) == total(eng) == 5 + 20 + 20


def test_eligibility_and_future_dates_and_unknowns_are_refused(eng):
    # R1 was born 1961: 63 in 2024, too old to donate blood (18-60)
    with pytest.raises(L.PointsRefused, match="not eligible for blood_donation: age 63"):
        run(eng, L.award, STAFF, "R1", "blood_donation", "bd", D)
    with pytest.raises(L.PointsRefused, match="future"):
        run(eng, L.award, STAFF, "R1", "health_lecture", "f", dt.date.today()
            + dt.timedelta(days=1))
    with pytest.raises(L.PointsRefused, match="no resident"):
        run(eng, L.award, STAFF, "R99", "health_lecture", "x", D)
    with pytest.raises(L.PointsRefused, match="unknown activity"):
        run(eng, L.award, STAFF, "R1", "jogging", "x", D)
    assert total(eng) == 0


def test_nothing_is_dated_before_the_scheme_starts(eng):
    # data/points/activities.yaml: valid_from 2024-01-01
    for fn, args in ((L.award, ("health_lecture", "early")), (L.redeem, ("health_kit", "r"))):
        with pytest.raises(L.PointsRefused, match="before the scheme started") as err:
            run(eng, fn, STAFF, "R1", *args, dt.date(2023, 12, 31))
        assert err.value.code == "before_scheme"
        assert err.value.params == {"date": "2023-12-31", "start": "2024-01-01"}
    assert total(eng) == 0
    out = run(eng, L.award, STAFF, "R1", "health_lecture", "first-day", dt.date(2024, 1, 1))
    assert out.recorded and bal(eng) == 5


def test_redemption_larger_than_balance_is_refused_and_stock_counts(eng):
    run(eng, L.award, STAFF, "R1", "annual_checkup", "c", D)
    run(eng, L.award, STAFF, "R1", "family_doctor_contract", "f", D)
    with pytest.raises(L.PointsRefused, match="balance 40 is less than the 60 points"):
        run(eng, L.redeem, STAFF, "R1", "glucose_strips", "r1")
    before = run(eng, L.stock_left)
    out = run(eng, L.redeem, STAFF, "R1", "health_kit", "r2")
    assert out.balance == 10 and out.points == -30
    after = run(eng, L.stock_left)
    assert after["health_kit"] == before["health_kit"] - 1
    run(eng, L.reverse, STAFF, "r2", "item not collected")
    assert run(eng, L.stock_left)["health_kit"] == before["health_kit"]
    assert bal(eng) == total(eng) == 40


def test_out_of_stock_is_refused(eng):
    from dataclasses import replace

    from healthmap.points.rules import load_rules

    rules = load_rules()
    rules = replace(rules, items=tuple(replace(i, stock=1) if i.code == "health_kit" else i
                                       for i in rules.items))
    for rid in ("R1", "R2"):
        run(eng, L.award, STAFF, rid, "annual_checkup", f"c-{rid}", D, rules=rules)
        run(eng, L.award, STAFF, rid, "family_doctor_contract", f"f-{rid}", D, rules=rules)
    run(eng, L.redeem, STAFF, "R1", "health_kit", "k1", rules=rules)
    with pytest.raises(L.PointsRefused, match="out of stock"):
        run(eng, L.redeem, STAFF, "R2", "health_kit", "k2", rules=rules)


def test_reversal_needs_a_reason_happens_once_and_never_drives_balance_negative(eng):
    run(eng, L.award, STAFF, "R1", "annual_checkup", "c", D)
    run(eng, L.award, STAFF, "R1", "family_doctor_contract", "f", D)
    with pytest.raises(L.PointsRefused, match="reason"):
        run(eng, L.reverse, STAFF, "c", "  ")
    run(eng, L.redeem, STAFF, "R1", "health_kit", "k")  # 40 - 30 = 10 left
    with pytest.raises(L.PointsRefused, match="balance negative"):
        run(eng, L.reverse, STAFF, "c", "wrong person")
    run(eng, L.reverse, STAFF, "k", "not collected")
    out = run(eng, L.reverse, STAFF, "c", "wrong person")
    assert out.points == -20 and out.balance == 20
    again = run(eng, L.reverse, STAFF, "c", "wrong person")  # same reversal: one entry
    assert not again.recorded
    with pytest.raises(L.PointsRefused, match="already reversed"):
        run(eng, L.reverse, STAFF, "c", "twice", source_id="another")
    with pytest.raises(L.PointsRefused, match="only awards and redemptions"):
        run(eng, L.reverse, STAFF, "reversal:c", "undo")
    with Session(eng) as s:
        rev = s.scalar(select(PointsEntry).where(PointsEntry.reverses == "c"))
        assert rev.reason == "wrong person" and rev.recorded_by == "wang"
    assert bal(eng) == total(eng) == 20


def test_permissions_roles_and_township_scope(eng):
    with pytest.raises(PermissionDenied):
        run(eng, L.award, Actor("p", "planner"), "R1", "health_lecture", "x", D)
    doctor = Actor("doc", "family_doctor")
    run(eng, L.award, doctor, "R1", "health_lecture", "x", D)
    with pytest.raises(PermissionDenied, match="blood_donation"):
        run(eng, L.award, doctor, "R2", "blood_donation", "y", D)
    with pytest.raises(PermissionDenied):
        run(eng, L.redeem, doctor, "R1", "health_kit", "z")
    # R1 lives in 331083002 (points_helpers: TOWNS[1 % 3]); a 331083001 nurse may not
    scoped = Actor("t", "points", area_code="331083001")
    with pytest.raises(PermissionDenied):
        run(eng, L.award, scoped, "R1", "knowledge_quiz", "w", D)
    run(eng, L.award, scoped, "R3", "knowledge_quiz", "w", D)
    # the public never credits anything
    with pytest.raises(PermissionDenied):
        run(eng, L.award, Actor.from_user(None), "R1", "knowledge_quiz", "v", D)


def test_award_for_screening_is_idempotent_per_screening_event(eng):
    system = Actor("system:screening", "screening")
    with Session(eng) as s, s.begin():
        out = L.award_for_screening(s, "R1", "evt-77", D, system)
    assert out.recorded and out.source_id == "screening:evt-77" and out.points == 30
    with Session(eng) as s, s.begin():
        assert not L.award_for_screening(s, "R1", "evt-77", D, system).recorded
    assert bal(eng) == 30


def test_ledger_rows_cannot_be_updated_or_deleted_and_writes_are_audited(eng):
    run(eng, L.award, STAFF, "R1", "health_lecture", "lec", D)
    with eng.connect() as conn:
        statements = ["UPDATE points_ledger SET points = 500", "DELETE FROM points_ledger"]
        if eng.dialect.name == "postgresql":  # TRUNCATE fires no row triggers (0017)
            statements.append("TRUNCATE points_ledger")
        for sql in statements:
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
        audit = conn.execute(text("SELECT actor, action, target, detail FROM audit_log "
                                  "WHERE action LIKE 'points.%'")).all()
    assert audit == [("wang", "points.award", "resident:R1",
                      "award health_lecture +5 source_id=lec")]


def test_expiry_setting_expires_unspent_old_points_only(eng):
    from dataclasses import replace

    from healthmap.points.rules import load_rules

    rules = load_rules()  # a scheme running since before 2022, with a 1-year expiry
    rules = replace(rules, valid_from=None, settings=replace(rules.settings, expiry_years=1))
    run(eng, L.award, STAFF, "R1", "annual_checkup", "old", dt.date(2022, 3, 1), rules=rules)
    run(eng, L.award, STAFF, "R1", "family_doctor_contract", "old2", dt.date(2022, 3, 1),
        rules=rules)
    run(eng, L.redeem, STAFF, "R1", "health_kit", "spent", dt.date(2023, 1, 5), rules=rules)
    run(eng, L.award, STAFF, "R1", "annual_checkup", "new", dt.date(2023, 3, 1), rules=rules)
    # on 2024-01-01 the 40 points of 2022 minus the 30 spent expire: 10
    assert run(eng, L.expire, STAFF, dt.date(2024, 1, 1), rules=rules) == 1
    assert bal(eng) == total(eng) == 20
    assert run(eng, L.expire, STAFF, dt.date(2024, 6, 1), rules=rules) == 0  # once a year
    assert run(eng, L.expire, STAFF, dt.date(2024, 1, 1)) == 0  # shipped setting: never


def test_a_source_id_is_required(eng):
    for bad in ("", "   ", None, "x" * 129):
        with pytest.raises(L.PointsRefused, match="source id"):
            run(eng, L.award, STAFF, "R1", "health_lecture", bad, D)
    assert total(eng) == 0


def test_migration_0006_downgrades_and_upgrades_again(engine):
    from alembic import command
    from sqlalchemy import inspect

    from healthmap.db import alembic_config, upgrade

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert "points_ledger" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "points_ledger" in inspect(engine).get_table_names()
    from tests.dbutil import trigger_names

    with engine.connect() as conn:
        triggers = trigger_names(conn, "points_ledger")
    assert triggers == ({"points_ledger_no_update", "points_ledger_no_delete"}
                        if engine.dialect.name == "sqlite" else
                        {"points_ledger_no_change", "points_ledger_no_truncate"})


def test_award_without_a_date_repeated_on_a_later_day_is_the_same_entry(eng):
    # `points award` without --date: the date is today, and the same command run again
    # tomorrow (a retried job) must not be a conflict
    first = run(eng, L.award, STAFF, "R1", "health_lecture", "retry-1",
                today=dt.date(2024, 5, 6))
    again = run(eng, L.award, STAFF, "R1", "health_lecture", "retry-1",
                today=dt.date(2024, 5, 7))
    assert first.recorded and not again.recorded and again.balance == 5
    with Session(eng) as s:
        assert s.scalar(select(PointsEntry.date).where(
            PointsEntry.source_id == "retry-1")) == dt.date(2024, 5, 6)
    # a date given explicitly still has to match
    with pytest.raises(LedgerConflict, match="retry-1"):
        run(eng, L.award, STAFF, "R1", "health_lecture", "retry-1", dt.date(2024, 5, 7))
    assert bal(eng) == total(eng) == 5


def test_expiry_holds_every_resident_with_entries_against_concurrent_writers(eng):
    """On PostgreSQL the expiry locks each resident's row (SQLite: the database write
    lock), so a redemption cannot spend points between its balance check and insert."""
    from dataclasses import replace

    from sqlalchemy.exc import OperationalError

    from healthmap.points.rules import load_rules

    rules = load_rules()  # a scheme running since before 2022, with a 1-year expiry
    rules = replace(rules, valid_from=None, settings=replace(rules.settings, expiry_years=1))
    run(eng, L.award, STAFF, "R1", "annual_checkup", "x-old", dt.date(2022, 3, 1), rules=rules)
    run(eng, L.award, STAFF, "R1", "family_doctor_contract", "x-old2", dt.date(2022, 3, 1),
        rules=rules)
    with Session(eng) as holder:  # 40 points: without the lock the redemption would pass
        holder.begin()
        L.lock_all_residents(holder)
        with Session(eng) as other:
            other.begin()
            if eng.dialect.name == "postgresql":
                other.execute(text("SET LOCAL lock_timeout = '100ms'"))
            else:
                other.connection().exec_driver_sql("PRAGMA busy_timeout = 100")
            with pytest.raises(OperationalError):
                L.redeem(other, STAFF, "R1", "health_kit", "x-spend",
                         today=dt.date(2024, 1, 1))
            other.rollback()
        holder.rollback()
    assert run(eng, L.expire, STAFF, dt.date(2024, 1, 1), rules=rules) == 1
    assert bal(eng) == total(eng) == 0


def test_each_entry_records_the_rules_version_it_was_awarded_under(eng):
    from dataclasses import replace

    from healthmap.points.rules import load_rules

    newer = replace(load_rules(), version="2099.1",
                    activities=tuple(replace(a, points=7) if a.code == "health_lecture" else a
                                     for a in load_rules().activities))
    run(eng, L.award, STAFF, "R1", "health_lecture", "v-old", D)
    out = run(eng, L.award, STAFF, "R1", "health_lecture", "v-new", D + dt.timedelta(days=1),
              rules=newer)
    assert out.points == 7 and out.balance == 12
    with Session(eng) as s:
        got = dict(s.execute(select(PointsEntry.source_id, PointsEntry.rules_version)).all())
    assert got == {"v-old": "2024.1", "v-new": "2099.1"}  # data/points/activities.yaml
