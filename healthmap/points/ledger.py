"""The health-points ledger: awards, redemptions, reversals and expiry, append-only.

Every write is one serialised check-and-insert: it first takes the write lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a row lock on the resident and an advisory lock on the
catalogue item), then checks the source id, the rules (caps, eligibility, who may record),
the balance and the stock, and only then inserts. So concurrent writers on one resident
end in a balance that equals the sum of the entries and is never negative.

The caller owns the session's transaction and commits; a refusal raises
:class:`PointsRefused` (one-line reason) or :class:`healthmap.ledger.LedgerConflict` (a
source id already recorded with other content), and the caller rolls back::

    with Session(engine) as s, s.begin():
        award(s, actor, "R000001", "health_lecture", "lecture-2024-05-01-R000001",
              dt.date(2024, 5, 1))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from healthmap import access, audit, db
from healthmap.ledger import LedgerConflict, insert_only
from healthmap.models import Resident
from healthmap.points.models import PointsEntry
from healthmap.points.rules import Rules, load_rules

# the columns that make two entries with one source id "the same entry"
SAME_ENTRY = ("resident_id", "kind", "activity_code", "item_code", "points", "date",
              "reverses")


class PointsRefused(ValueError):
    """A write the rules refuse (unknown resident, cap reached, balance too low, ...).

    ``str()`` is the English one-line reason (command line); ``code`` and ``params`` let
    a page say it in the user's language (texts ``points.refused.<code>``)."""

    def __init__(self, message: str, code: str = "other", **params):
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Outcome:
    source_id: str
    recorded: bool  # False: the same entry was already in the ledger (nothing written)
    points: int
    balance: int


def lock_resident(session: Session, resident_id: str, item_code: str | None = None) -> None:
    """Serialise writers: SQLite takes the database write lock now (``BEGIN IMMEDIATE``,
    unless the session's transaction already writes); PostgreSQL locks the resident's row
    and the catalogue item."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    session.execute(select(Resident.resident_id).where(Resident.resident_id == resident_id)
                    .with_for_update())
    if item_code and conn.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                        {"k": f"points_item:{item_code}"})


def lock_all_residents(session: Session) -> None:
    """Serialise a write over every resident (expiry) with the per-resident writers:
    SQLite's ``BEGIN IMMEDIATE`` already covers the whole database; PostgreSQL locks the
    row of every resident with ledger entries, in one order, so no award, redemption or
    reversal of theirs can run between the expiry's balance check and its insert."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        lock_resident(session, "")
        return
    session.execute(select(Resident.resident_id).where(Resident.resident_id.in_(
        select(PointsEntry.resident_id).distinct())).order_by(Resident.resident_id)
        .with_for_update())


def balance(session: Session, resident_id: str) -> int:
    """The sum of the resident's entries (0 without entries)."""
    return int(session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0))
                              .where(PointsEntry.resident_id == resident_id)))


def _reversed_ids():
    return select(PointsEntry.reverses).where(PointsEntry.reverses.is_not(None))


def awards_counted(session: Session, resident_id: str, activity: str, start: dt.date,
                   end: dt.date) -> int:
    """Awards of ``activity`` dated ``start``..``end`` (inclusive) that are not reversed."""
    return int(session.scalar(select(func.count()).where(
        PointsEntry.resident_id == resident_id, PointsEntry.kind == "award",
        PointsEntry.activity_code == activity, PointsEntry.date >= start,
        PointsEntry.date <= end, PointsEntry.source_id.not_in(_reversed_ids()))))


def units_redeemed(session: Session, item: str) -> int:
    """Units of a catalogue item given out (redemptions not reversed)."""
    return int(session.scalar(select(func.count()).where(
        PointsEntry.kind == "redeem", PointsEntry.item_code == item,
        PointsEntry.source_id.not_in(_reversed_ids()))))


def stock_left(session: Session, rules: Rules | None = None) -> dict[str, int]:
    """Remaining stock per catalogue item: ``stock`` minus units redeemed."""
    rules = rules or load_rules()
    out = dict(session.execute(select(PointsEntry.item_code, func.count()).where(
        PointsEntry.kind == "redeem", PointsEntry.source_id.not_in(_reversed_ids()))
        .group_by(PointsEntry.item_code)).all())
    return {i.code: i.stock - int(out.get(i.code, 0)) for i in rules.items}


def _resident(session: Session, resident_id: str) -> Resident:
    row = session.get(Resident, str(resident_id))
    if row is None:
        raise PointsRefused(f"no resident with resident_id {resident_id!r}", "unknown_resident",
                            resident=str(resident_id))
    return row


def _existing(session: Session, row: dict, with_date: bool = True) -> Outcome | None:
    """The outcome of a repeat (same source id, same entry), a conflict, or ``None``.
    ``with_date=False``: the date was defaulted to today, so a repeat on a later day is
    still the same entry."""
    before = session.scalar(select(PointsEntry).where(PointsEntry.source_id == row["source_id"]))
    if before is None:
        return None
    compare = [c for c in SAME_ENTRY if with_date or c != "date"]
    insert_only(session, PointsEntry, [row], compare=compare)  # raises on a conflict
    return Outcome(row["source_id"], False, before.points, balance(session, before.resident_id))


def _write(session: Session, actor: access.Actor, row: dict, rules: Rules,
           action: str) -> Outcome:
    row = dict(row, recorded_by=actor.username, rules_version=rules.version,
               recorded_at=dt.datetime.now().replace(microsecond=0))
    insert_only(session, PointsEntry, [row], compare=SAME_ENTRY)
    db.bump_version(session)
    code = row.get("activity_code") or row.get("item_code") or ""
    audit.record(session, actor.username, action, f"resident:{row['resident_id']}",
                 f"{row['kind']} {code} {row['points']:+d} source_id={row['source_id']}",
                 role=actor.role)
    return Outcome(row["source_id"], True, row["points"], balance(session, row["resident_id"]))


def _source(source_id) -> str:
    text = "" if source_id is None else str(source_id).strip()
    if not text:
        raise PointsRefused("a source id is needed (one per event)", "source_needed")
    if len(text) > 128:
        raise PointsRefused("a source id has at most 128 characters", "source_long")
    return text


def _check_date(date: dt.date, today: dt.date | None, rules: Rules) -> None:
    if date > (today or dt.date.today()):
        raise PointsRefused(f"date {date.isoformat()} is in the future", "future_date",
                            date=date.isoformat())
    if rules.valid_from is not None and date < rules.valid_from:
        raise PointsRefused(f"date {date.isoformat()} is before the scheme started "
                            f"({rules.valid_from.isoformat()}, rules {rules.version})",
                            "before_scheme", date=date.isoformat(),
                            start=rules.valid_from.isoformat())


def award(session: Session, actor: access.Actor, resident_id: str, activity: str,
          source_id: str, date: dt.date | None = None, reason: str | None = None,
          rules: Rules | None = None, today: dt.date | None = None) -> Outcome:
    """Credit ``activity`` to a resident, once per ``source_id``.

    ``date`` defaults to today; then a repeat of the same source id on a later day is
    still the same entry (not a conflict). Refused (:class:`PointsRefused`) for an
    unknown resident or activity, a role not in the activity's ``recorded_by``, a
    resident outside the actor's township, a future date or one before the scheme's
    ``valid_from``, an ineligible resident or a
    reached daily or yearly cap.
    """
    rules = rules or load_rules()
    given = date is not None
    date = date or (today or dt.date.today())
    try:
        act = rules.activity(activity)
    except KeyError as exc:
        raise PointsRefused(exc.args[0], "unknown_activity", activity=activity) from None
    lock_resident(session, resident_id)
    res = _resident(session, resident_id)
    access.require(actor, "points.award", res)
    row = dict(source_id=_source(source_id), resident_id=res.resident_id, kind="award",
               activity_code=act.code, item_code=None, points=act.points, date=date,
               reverses=None, reason=reason or None)
    repeat = _existing(session, row, given)
    if repeat is not None:
        return repeat
    if actor.role not in act.recorded_by:
        raise access.PermissionDenied(
            f"{actor.username} ({actor.role}) may not record {act.code}")
    _check_date(date, today, rules)
    why = act.ineligible(res.birth_date, res.sex, date)
    if why:
        raise PointsRefused(f"resident {res.resident_id} is not eligible for {act.code}: {why}",
                            "not_eligible", activity=act.code)
    if awards_counted(session, res.resident_id, act.code, date, date) >= act.max_per_day:
        raise PointsRefused(f"daily cap reached: {act.code} at most {act.max_per_day} a day "
                            f"({date.isoformat()})", "daily_cap", activity=act.code,
                            n=act.max_per_day, date=date.isoformat())
    year = (dt.date(date.year, 1, 1), dt.date(date.year, 12, 31))
    if awards_counted(session, res.resident_id, act.code, *year) >= act.max_per_year:
        raise PointsRefused(f"yearly cap reached: {act.code} at most {act.max_per_year} "
                            f"in {date.year}", "yearly_cap", activity=act.code,
                            n=act.max_per_year, year=date.year)
    return _write(session, actor, row, rules, "points.award")


def award_for_screening(session: Session, resident_id: str, screening_source_id: str,
                        date: dt.date, actor: access.Actor) -> Outcome:
    """Award ``cancer_screening`` for a completed screening (called by the screening module
    when it records a completion; the actor is its user or system actor). The ledger
    source id is ``screening:<screening_source_id>``, so recording the same screening
    event again awards nothing more."""
    return award(session, actor, resident_id, "cancer_screening",
                 f"screening:{screening_source_id}", date)


def redeem(session: Session, actor: access.Actor, resident_id: str, item: str,
           source_id: str, date: dt.date | None = None, rules: Rules | None = None,
           today: dt.date | None = None) -> Outcome:
    """Redeem a catalogue item: refused when the balance is below its cost or the item is
    out of stock."""
    rules = rules or load_rules()
    try:
        it = rules.item(item)
    except KeyError as exc:
        raise PointsRefused(exc.args[0], "unknown_item", item=item) from None
    given = date is not None
    date = date or (today or dt.date.today())
    lock_resident(session, resident_id, it.code)
    res = _resident(session, resident_id)
    access.require(actor, "points.redeem", res)
    row = dict(source_id=_source(source_id), resident_id=res.resident_id, kind="redeem",
               activity_code=None, item_code=it.code, points=-it.points, date=date,
               reverses=None, reason=None)
    repeat = _existing(session, row, given)
    if repeat is not None:
        return repeat
    _check_date(date, today, rules)
    have = balance(session, res.resident_id)
    if have < it.points:
        raise PointsRefused(f"balance {have} is less than the {it.points} points {it.code} "
                            f"costs", "balance", balance=have, cost=it.points, item=it.code)
    if units_redeemed(session, it.code) >= it.stock:
        raise PointsRefused(f"{it.code} is out of stock", "out_of_stock", item=it.code)
    return _write(session, actor, row, rules, "points.redeem")


def reverse(session: Session, actor: access.Actor, original_source_id: str, reason: str,
            source_id: str | None = None, date: dt.date | None = None,
            rules: Rules | None = None) -> Outcome:
    """Cancel an award or redemption by a reversing entry (the negation) with a reason.

    An entry is reversed at most once; a reversal that would make the balance negative
    (points already spent) is refused: reverse the redemption first.
    """
    rules = rules or load_rules()
    if not (reason or "").strip():
        raise PointsRefused("a reversal needs a reason", "reason_needed")
    orig = session.scalar(select(PointsEntry).where(
        PointsEntry.source_id == str(original_source_id)))
    if orig is None:
        raise PointsRefused(f"no ledger entry with source id {original_source_id!r}",
                            "no_entry", source=str(original_source_id))
    lock_resident(session, orig.resident_id, orig.item_code)
    res = _resident(session, orig.resident_id)
    access.require(actor, "points.reverse", res)
    row = dict(source_id=_source(source_id or f"reversal:{orig.source_id}"),
               resident_id=res.resident_id, kind="reversal", activity_code=orig.activity_code,
               item_code=orig.item_code, points=-orig.points,
               date=date or dt.date.today(), reverses=orig.source_id, reason=reason.strip())
    repeat = _existing(session, row, date is not None)
    if repeat is not None:
        return repeat
    if orig.kind not in ("award", "redeem"):
        raise PointsRefused(f"{orig.source_id} is a {orig.kind} entry; only awards and "
                            f"redemptions can be reversed", "not_reversible",
                            source=orig.source_id)
    if session.scalar(select(PointsEntry.source_id).where(
            PointsEntry.reverses == orig.source_id)) is not None:
        raise PointsRefused(f"{orig.source_id} is already reversed", "already_reversed",
                            source=orig.source_id)
    have = balance(session, res.resident_id)
    if have - orig.points < 0:
        raise PointsRefused(f"reversing {orig.source_id} would make the balance negative "
                            f"({have} - {orig.points}); reverse the redemption first",
                            "reversal_negative", source=orig.source_id)
    return _write(session, actor, row, rules, "points.reverse")


def earned_in_year(session: Session, resident_id: str, year: int) -> int:
    """Points awarded in ``year`` and not reversed (the basis of the status level)."""
    return int(session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
        PointsEntry.resident_id == resident_id, PointsEntry.kind == "award",
        PointsEntry.date >= dt.date(year, 1, 1), PointsEntry.date <= dt.date(year, 12, 31),
        PointsEntry.source_id.not_in(_reversed_ids()))))


def expire(session: Session, actor: access.Actor, as_of: dt.date,
           rules: Rules | None = None) -> int:
    """Write the expiry entries due on ``as_of`` (settings ``expiry.years``; none if unset).

    Points awarded before 1 January of ``as_of.year - years`` that were not spent
    (spending uses the oldest points first) expire, at most the balance. One entry per
    resident and cut-off year (source id ``expiry:<resident>:<year>``). Returns the number
    of entries written.
    """
    rules = rules or load_rules()
    years = rules.settings.expiry_years
    if not years:
        return 0
    access.require(actor, "points.reverse")
    lock_all_residents(session)
    cutoff = dt.date(as_of.year - years, 1, 1)
    reversed_ids = set(session.scalars(_reversed_ids()))
    totals: dict[str, dict[str, int]] = {}
    for e in session.scalars(select(PointsEntry)):
        t = totals.setdefault(e.resident_id, {"old": 0, "spent": 0, "expired": 0, "bal": 0})
        t["bal"] += e.points
        if e.source_id in reversed_ids or e.kind == "reversal":
            continue
        if e.kind == "award" and e.date < cutoff:
            t["old"] += e.points
        elif e.kind == "redeem":
            t["spent"] -= e.points
        elif e.kind == "expiry":
            t["expired"] -= e.points
    written = 0
    for resident_id, t in sorted(totals.items()):
        due = min(t["bal"], t["old"] - t["spent"] - t["expired"])
        source_id = f"expiry:{resident_id}:{cutoff.year}"
        if due <= 0 or session.scalar(select(PointsEntry.id).where(
                PointsEntry.source_id == source_id)) is not None:
            continue
        _write(session, actor, dict(source_id=source_id, resident_id=resident_id,
                                    kind="expiry", activity_code=None, item_code=None,
                                    points=-due, date=as_of, reverses=None,
                                    reason=f"points earned before {cutoff.isoformat()}"),
               rules, "points.expire")
        written += 1
    return written


__all__ = ["Outcome", "PointsRefused", "LedgerConflict", "award", "award_for_screening",
           "redeem", "reverse", "balance", "stock_left", "expire", "earned_in_year"]
