"""Screening records: rule-set runs, and the append-only events of each person's path
(expert review → invitation → screening → result, and the 30 % fee reduction).

Every function takes an :class:`healthmap.access.Actor` and checks its permission itself
(township scope from ``access``; a family doctor's team scope here). State is never stored:
:func:`states` derives it from the latest assessment and the events, and every new event is
checked against it (no invitation before an expert confirmed the person, no result without
a screening record, a reduction only for a confirmed person's recorded screening, once).

Example (see ``tests/test_screening_records.py`` for the whole path)::

    with Session(engine) as s, s.begin():
        run_assessment(s, actor, "lung", as_of=dt.date(2025, 6, 30))
        record_review(s, expert, "lung", "R000001", "confirmed", "heavy smoker, no CT")
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from healthmap import access, audit, db, ledger
from healthmap.models import Area, Institution, Resident
from healthmap.screening.models import (RESULTS, REVIEW_DECISIONS, ScreeningAssessment,
                                        ScreeningEvent, ScreeningRun)
from healthmap.screening.rules import assess, load_ruleset
from healthmap.screening.settings import load_settings

ACTION = {"review": "screening.review", "invited": "screening.invite",
          "screened": "screening.record", "result": "screening.record",
          "reduction": "screening.record"}
BASE_COLUMNS = ["resident_id", "name", "sex", "birth_date", "area_code", "doctor_team",
                "id_masked", "phone"]


class TransitionError(ValueError):
    """Events that do not follow from the person's state; ``problems`` lists each as a
    dict with ``row`` (position in the batch), ``resident_id``, ``column``, ``value`` and
    ``reason`` (a code, see :data:`REASONS`)."""

    def __init__(self, problems: list[dict[str, Any]]):
        self.problems = problems
        first = "; ".join(f"{p['resident_id']}: {REASONS.get(p['reason'], p['reason'])}"
                          for p in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} event(s) refused: {first}{more}")


REASONS = {
    "unknown_resident": "no such resident",
    "unknown_ruleset": "no such rule set",
    "not_flagged": "not flagged high risk by the latest assessment",
    "bad_decision": "decision must be confirmed or excluded",
    "reason_required": "a reason is required",
    "not_confirmed": "not confirmed by an expert review",
    "not_invited": "no invitation recorded",
    "not_screened": "no screening record",
    "bad_result": "result must be normal, abnormal or diagnosed",
    "unknown_institution": "unknown institution",
    "bad_fee": "fee must be a non-negative amount",
    "no_screening": "the screening it refers to is not recorded for this person",
    "already_reduced": "that screening already has its fee reduction",
    "future_date": "date is in the future",
    "before_screening": "date before the screening date",
    "out_of_scope": "outside the user's township or team",
    "not_allowed": "the user's role may not record this",
}


# ---------------------------------------------------------------- residents and scope
def townships(session: Session) -> dict[str, str]:
    """Every area code → the code of its township (itself for a township)."""
    rows = session.execute(select(Area.code, Area.level, Area.parent_code)).all()
    level = {c: lv for c, lv, _ in rows}
    parent = {c: p for c, _, p in rows}
    out = {}
    for code in level:
        c = code
        while c is not None and level.get(c) != "township":
            c = parent.get(c)
        if c is not None:
            out[code] = c
    return out


def scope_of(actor: access.Actor, township: str | None = None,
             team: str | None = None) -> tuple[str | None, str | None]:
    """The township and team an actor's lists stop at: a scoped actor's own township
    (asking for another is refused), a family doctor's own team."""
    if actor.area_code:
        if township and township != actor.area_code:
            raise access.PermissionDenied(f"{actor.username} is limited to township "
                                          f"{actor.area_code}")
        township = actor.area_code
    if actor.role == "family_doctor" and actor.team:
        if team and team != actor.team:
            raise access.PermissionDenied(f"{actor.username} is limited to team {actor.team}")
        team = actor.team
    return township, team


def residents_frame(session: Session, township: str | None = None, team: str | None = None,
                    resident_ids: Iterable[str] | None = None,
                    risk: bool = True) -> pd.DataFrame:
    """Residents with their risk factors as columns (unless ``risk`` is false) and their
    ``township``."""
    stmt = select(*(getattr(Resident, c) for c in BASE_COLUMNS),
                  Resident.risk_factors if risk else Resident.import_id)
    if team:
        stmt = stmt.where(Resident.doctor_team == team)
    if resident_ids is not None:
        stmt = stmt.where(Resident.resident_id.in_(list(resident_ids)))
    rows = session.execute(stmt).all()
    base = pd.DataFrame([r[:-1] for r in rows], columns=BASE_COLUMNS)
    factors = pd.DataFrame([(r[-1] or {}) if risk else {} for r in rows], index=base.index)
    frame = pd.concat([base, factors.drop(columns=[c for c in factors.columns
                                                   if c in base.columns])], axis=1)
    up = townships(session)
    frame["township"] = frame["area_code"].map(up).fillna(frame["area_code"])
    if township:
        frame = frame[frame["township"] == township].reset_index(drop=True)
    return frame


def _check_person(actor: access.Actor, action: str, person: dict) -> str | None:
    """None if ``actor`` may do ``action`` for ``person`` (township, team), else a code."""
    if not access.can(actor, action):
        return "not_allowed"
    if not access.can(actor, action, {"area_code": person["township"]}):
        return "out_of_scope"
    if actor.role == "family_doctor" and actor.team and person.get("doctor_team") != actor.team:
        return "out_of_scope"
    return None


# ---------------------------------------------------------------- assessments
def run_assessment(session: Session, actor: access.Actor, ruleset_id: str,
                   as_of: dt.date | None = None, township: str | None = None,
                   team: str | None = None) -> dict[str, Any]:
    """Apply a rule set to the residents in scope and store every result with the rule
    set's version and a snapshot of the inputs used. Returns the run's summary."""
    township, team = scope_of(actor, township, team)
    access.require(actor, "screening.assess", township)
    rs = load_ruleset(ruleset_id)
    as_of = as_of or dt.date.today()
    frame = residents_frame(session, township, team)
    en = assess(frame, rs, as_of, lang="en", detail=True, also_lang="zh")
    run_id = uuid.uuid4().hex
    scope = ";".join(p for p in (f"township={township}" if township else "",
                                 f"team={team}" if team else "") if p) or "all"
    now = dt.datetime.now()
    n_elig = int((en["eligible"] == True).sum())  # noqa: E712 - None stays out
    session.add(ScreeningRun(run_id=run_id, ruleset_id=rs.id, ruleset_version=rs.version,
                             ruleset_fingerprint=rs.fingerprint, as_of=as_of, scope=scope,
                             n_assessed=len(en), n_eligible=n_elig, created_by=actor.username,
                             created_at=now))
    session.flush()
    rows = [dict(run_id=run_id, ruleset_id=rs.id, ruleset_version=rs.version,
                 resident_id=r.resident_id, area_code=a, doctor_team=t,
                 score=None if pd.isna(r.score) else int(r.score), tier=r.tier,
                 eligible=r.eligible, reasons_zh=z, reasons_en=r.reasons, missing=r.missing,
                 inputs=r.inputs, as_of=as_of)
            for r, z, a, t in zip(en.itertuples(), en["reasons_zh"], frame["area_code"],
                                  frame["doctor_team"].astype(object).where(
                                      frame["doctor_team"].notna(), None))]
    if rows:
        session.execute(insert(ScreeningAssessment.__table__), rows)
    audit.record(session, actor.username, "screening_assess", rs.id,
                 f"run={run_id} version={rs.version} scope={scope} n={len(en)} "
                 f"eligible={n_elig}", role=actor.role)
    db.bump_version(session)
    return {"run_id": run_id, "ruleset_id": rs.id, "version": rs.version, "scope": scope,
            "assessed": len(en), "eligible": n_elig,
            "cannot_assess": int((en["tier"] == "cannot_assess").sum())}


# ---------------------------------------------------------------- state
STATE_COLUMNS = ["resident_id", "assessment_id", "run_id", "as_of", "ruleset_version",
                 "score", "tier", "eligible", "reasons_zh", "reasons_en", "missing",
                 "assessed_area", "review", "review_reason", "reviewed_on", "reviewed_by",
                 "invited_on", "screened_on", "screening_id", "institution_code", "fee_fen",
                 "result", "result_on", "reduction_fen", "reduced_screenings", "abnormal_on",
                 "diagnosed_on"]


def states(session: Session, ruleset_id: str,
           resident_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Each person's state for a rule set, derived from the latest assessment and the
    events (one row per resident with an assessment or an event)."""
    ids = list(resident_ids) if resident_ids is not None else None
    A = ScreeningAssessment
    latest = select(A.resident_id, A.id, A.run_id, A.as_of, A.ruleset_version, A.score, A.tier,
                    A.eligible, A.reasons_zh, A.reasons_en, A.missing, A.area_code).where(
        A.ruleset_id == ruleset_id)
    E = ScreeningEvent
    ev = select(E.source_id, E.resident_id, E.kind, E.date, E.decision, E.result, E.reason,
                E.institution_code, E.fee_fen, E.reduction_fen, E.refers_to,
                E.recorded_by, E.id).where(E.ruleset_id == ruleset_id)
    if ids is not None:
        latest = latest.where(A.resident_id.in_(ids))
        ev = ev.where(E.resident_id.in_(ids))
    a = pd.DataFrame(session.execute(latest).all(),
                     columns=["resident_id", "assessment_id", "run_id", "as_of",
                              "ruleset_version", "score", "tier", "eligible", "reasons_zh",
                              "reasons_en", "missing", "assessed_area"])
    a = a.sort_values("assessment_id").drop_duplicates("resident_id", keep="last")
    e = pd.DataFrame(session.execute(ev).all(),
                     columns=["source_id", "resident_id", "kind", "date", "decision", "result",
                              "reason", "institution_code", "fee_fen", "reduction_fen",
                              "refers_to", "recorded_by", "id"]).sort_values("id")
    out = a.set_index("resident_id")
    out = out.reindex(out.index.union(pd.Index(e["resident_id"].unique())))

    def last(kind: str, cols: dict[str, str]) -> None:
        part = e[e["kind"] == kind].drop_duplicates("resident_id", keep="last")
        part = part.set_index("resident_id")[list(cols)].rename(columns=cols)
        for c in cols.values():
            out[c] = part[c].reindex(out.index)

    last("review", {"decision": "review", "reason": "review_reason", "date": "reviewed_on",
                    "recorded_by": "reviewed_by"})
    last("invited", {"date": "invited_on"})
    last("screened", {"date": "screened_on", "source_id": "screening_id",
                      "institution_code": "institution_code", "fee_fen": "fee_fen"})
    last("result", {"result": "result", "date": "result_on"})
    # ever abnormal / diagnosed (the funnel's steps): an abnormal screening followed by a
    # normal work-up stays an abnormal screening; the latest result is ``result``
    res = e[e["kind"] == "result"]
    for col, kinds in (("abnormal_on", ("abnormal", "diagnosed")), ("diagnosed_on",
                                                                   ("diagnosed",))):
        out[col] = res[res["result"].isin(kinds)].groupby("resident_id")["date"].min(
        ).reindex(out.index)
    red = e[e["kind"] == "reduction"]
    out["reduction_fen"] = red.groupby("resident_id")["reduction_fen"].sum().reindex(
        out.index)
    out["reduced_screenings"] = red.groupby("resident_id")["refers_to"].agg(
        lambda s: ",".join(s)).reindex(out.index)
    out = out.reset_index(names="resident_id")
    return out[STATE_COLUMNS]


def is_true(value) -> bool:
    """True for a stored ``True`` (bool or numpy bool); False for False, None or NaN."""
    return value is not None and not (isinstance(value, float) and pd.isna(value)) \
        and bool(value)


def stage(row) -> str:
    """The furthest step a person has reached (for lists and the funnel)."""
    if isinstance(row.get("result"), str):
        return row["result"]
    for col, name in (("screened_on", "screened"), ("invited_on", "invited")):
        if pd.notna(row.get(col)):
            return name
    if isinstance(row.get("review"), str):
        return row["review"]
    if is_true(row.get("eligible")):
        return "flagged"
    return "assessed" if pd.notna(row.get("tier")) else "none"


# ---------------------------------------------------------------- events
@dataclass
class RecordResult:
    inserted: int
    unchanged: int
    source_ids: list[str]


def _problem(rows, i, rid, column, value, reason):
    rows.append({"row": i, "resident_id": rid, "column": column, "value": value,
                 "reason": reason})


def check_events(session: Session, actor: access.Actor, events: list[dict[str, Any]],
                 today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every problem of a batch of events (each a dict: ``kind``, ``ruleset_id``,
    ``resident_id``, ``date`` and the kind's fields), checked in order against the state
    the earlier events leave. Events whose ``source_id`` is already stored are checked
    only by :func:`healthmap.ledger.insert_only` (same content = no-op)."""
    today = today or dt.date.today()
    problems: list[dict[str, Any]] = []
    stored = set(session.scalars(select(ScreeningEvent.source_id).where(
        ScreeningEvent.source_id.in_([e["source_id"] for e in events]))))
    institutions = set(session.scalars(select(Institution.code)))
    people = residents_frame(session, resident_ids={e["resident_id"] for e in events},
                             risk=False)
    people = people.set_index("resident_id")[["township", "doctor_team"]].to_dict("index")
    known_sets = {}
    by_set: dict[str, pd.DataFrame] = {}
    for ev in events:
        rsid = ev["ruleset_id"]
        if rsid not in known_sets:
            try:
                load_ruleset(rsid)
                known_sets[rsid] = True
            except (KeyError, ValueError):
                known_sets[rsid] = False
        if known_sets[rsid] and rsid not in by_set:
            ids = {e["resident_id"] for e in events if e["ruleset_id"] == rsid}
            by_set[rsid] = states(session, rsid, ids).set_index("resident_id").to_dict(
                "index")
    screenings: dict[tuple, dict] = {}
    E = ScreeningEvent
    for sid, rid, rsid, d, inst, fee in session.execute(select(
            E.source_id, E.resident_id, E.ruleset_id, E.date, E.institution_code,
            E.fee_fen).where(E.kind == "screened", E.resident_id.in_(list(people)))):
        screenings[(rsid, rid, sid)] = {"date": d, "institution_code": inst, "fee_fen": fee}
    reduced = set(session.scalars(select(E.refers_to).where(E.kind == "reduction",
                                                             E.resident_id.in_(list(people)))))
    for i, ev in enumerate(events):
        rid, rsid, kind = ev["resident_id"], ev["ruleset_id"], ev["kind"]
        if ev["source_id"] in stored:
            continue
        if rid not in people:
            _problem(problems, i, rid, "resident_id", rid, "unknown_resident")
            continue
        if not known_sets[rsid]:
            _problem(problems, i, rid, "ruleset", rsid, "unknown_ruleset")
            continue
        why = _check_person(actor, ACTION[kind], people[rid])
        if why:
            _problem(problems, i, rid, "resident_id", rid, why)
            continue
        if ev["date"] > today:
            _problem(problems, i, rid, "date", ev["date"].isoformat(), "future_date")
            continue
        st = by_set[rsid]
        cur = st.setdefault(rid, {})
        reason = None
        if kind == "review":
            if not is_true(cur.get("eligible")):
                reason = "not_flagged"
            elif ev.get("decision") not in REVIEW_DECISIONS:
                reason = "bad_decision"
            elif not str(ev.get("reason") or "").strip():
                reason = "reason_required"
        elif kind == "invited":
            if cur.get("review") != "confirmed":
                reason = "not_confirmed"
        elif kind == "screened":
            if pd.isna(cur.get("invited_on")):
                reason = "not_invited"
            elif ev.get("institution_code") not in institutions:
                reason = "unknown_institution"
            elif not isinstance(ev.get("fee_fen"), int) or ev["fee_fen"] < 0:
                reason = "bad_fee"
        elif kind == "result":
            if pd.isna(cur.get("screened_on")):
                reason = "not_screened"
            elif ev.get("result") not in RESULTS:
                reason = "bad_result"
            elif ev["date"] < cur["screened_on"]:
                reason = "before_screening"
        elif kind == "reduction":
            scr = screenings.get((rsid, rid, ev.get("refers_to")))
            if cur.get("review") != "confirmed":
                reason = "not_confirmed"
            elif scr is None:
                reason = "no_screening"
            elif ev["refers_to"] in reduced:
                reason = "already_reduced"
            elif ev["date"] < scr["date"]:
                reason = "before_screening"
        if reason:
            col = {"not_flagged": "resident_id", "bad_decision": "decision",
                   "reason_required": "reason", "unknown_institution": "institution_code",
                   "bad_fee": "fee", "bad_result": "result"}.get(reason, kind)
            _problem(problems, i, rid, col, str(ev.get(col, "")), reason)
            continue
        # the event holds: later events of the batch see its effect
        if kind == "review":
            cur["review"] = ev["decision"]
        elif kind == "invited":
            cur["invited_on"] = ev["date"]
        elif kind == "screened":
            cur["screened_on"] = ev["date"]
            screenings[(rsid, rid, ev["source_id"])] = ev
        elif kind == "result":
            cur["result"] = ev["result"]
        elif kind == "reduction":
            reduced.add(ev["refers_to"])
    return problems


def record_events(session: Session, actor: access.Actor, events: list[dict[str, Any]],
                  today: dt.date | None = None) -> RecordResult:
    """Check and append a batch of events (all or nothing; an identical repeat of a stored
    source id is a no-op). Reductions get their amount and institution from the screening
    they refer to (``settings.yaml`` percent of its fee, integer fen)."""
    problems = check_events(session, actor, events, today)
    if problems:
        raise TransitionError(problems)
    settings = load_settings()
    fees = {}
    for ev in events:
        if ev["kind"] == "screened":
            fees[ev["source_id"]] = (ev["fee_fen"], ev["institution_code"])
    missing = [ev["refers_to"] for ev in events
               if ev["kind"] == "reduction" and ev["refers_to"] not in fees]
    if missing:
        for sid, fee, inst in session.execute(select(
                ScreeningEvent.source_id, ScreeningEvent.fee_fen,
                ScreeningEvent.institution_code).where(ScreeningEvent.source_id.in_(missing))):
            fees[sid] = (fee, inst)
    people = residents_frame(session, resident_ids={e["resident_id"] for e in events},
                             risk=False)
    area = dict(zip(people["resident_id"], people["area_code"]))
    now = dt.datetime.now()
    rows = []
    for ev in events:
        row = {c: ev.get(c) for c in ("source_id", "ruleset_id", "resident_id", "kind", "date",
                                       "decision", "result", "reason", "institution_code",
                                       "fee_fen", "refers_to", "assessment_id")}
        if ev["kind"] == "reduction":
            fee, inst = fees[ev["refers_to"]]
            row["reduction_fen"] = settings.reduction_fen(fee)
            row["institution_code"] = inst
        else:
            row["reduction_fen"] = None
        row.update(area_code=area[ev["resident_id"]], recorded_by=actor.username,
                   recorded_at=now)
        rows.append(row)
    compare = ["ruleset_id", "resident_id", "kind", "date", "decision", "result",
               "institution_code", "fee_fen", "refers_to"]
    res = ledger.insert_only(session, ScreeningEvent, rows, key="source_id", compare=compare)
    new = set(res.inserted_ids)
    for r in rows:
        if r["kind"] == "screened" and r["source_id"] in new:
            _award_points(session, r)
    if res.inserted:
        kinds = pd.Series([r["kind"] for r in rows if r["source_id"] in set(
            res.inserted_ids)]).value_counts().to_dict()
        audit.record(session, actor.username, "screening_record",
                     ",".join(sorted({r["ruleset_id"] for r in rows})),
                     " ".join(f"{k}={v}" for k, v in sorted(kinds.items())), role=actor.role)
        db.bump_version(session)
    return RecordResult(res.inserted, res.unchanged, res.inserted_ids)


SCREENING_SYSTEM = access.Actor("system:screening", "screening")


def _award_points(session: Session, event: dict[str, Any]) -> None:
    """A completed screening earns health points (domain.md §6.2, the activity
    ``cancer_screening``), credited by this module as an integrated system. Recording the
    same screening again awards nothing more (the points source id derives from the
    screening's); where the points rules refuse (e.g. the yearly cap is reached) the
    screening is recorded all the same, without points."""
    from healthmap.points import ledger as points

    try:
        with session.begin_nested():
            points.award_for_screening(session, event["resident_id"], event["source_id"],
                                       event["date"], SCREENING_SYSTEM)
    except points.PointsRefused:
        pass


def _one(session, actor, kind: str, ruleset_id: str, resident_id: str, date: dt.date | None,
         source_id: str | None, **fields) -> RecordResult:
    date = date or dt.date.today()
    sid = source_id or f"{kind}:{ruleset_id}:{resident_id}:{uuid.uuid4().hex[:12]}"
    return record_events(session, actor, [dict(kind=kind, ruleset_id=ruleset_id,
                                               resident_id=resident_id, date=date,
                                               source_id=sid, **fields)])


def record_review(session, actor, ruleset_id, resident_id, decision, reason, date=None,
                  source_id=None) -> RecordResult:
    """Expert review (专家精细化评估): ``confirmed`` or ``excluded``, with a reason."""
    return _one(session, actor, "review", ruleset_id, resident_id, date, source_id,
                decision=decision, reason=reason)


def record_invitation(session, actor, ruleset_id, resident_id, date=None, source_id=None,
                      institution_code=None) -> RecordResult:
    return _one(session, actor, "invited", ruleset_id, resident_id, date, source_id,
                institution_code=institution_code)


def record_screening(session, actor, ruleset_id, resident_id, date, institution_code,
                     fee_yuan, source_id=None) -> RecordResult:
    """A screening done at ``institution_code`` for ``fee_yuan`` (the full fee; stored in
    integer fen)."""
    return _one(session, actor, "screened", ruleset_id, resident_id, date, source_id,
                institution_code=institution_code, fee_fen=ledger.to_fen(fee_yuan))


def record_result(session, actor, ruleset_id, resident_id, result, date=None,
                  source_id=None, reason=None) -> RecordResult:
    return _one(session, actor, "result", ruleset_id, resident_id, date, source_id,
                result=result, reason=reason)


def record_reduction(session, actor, ruleset_id, resident_id, screening_source_id, date=None,
                     source_id=None) -> RecordResult:
    """The 30 % fee reduction used for a recorded screening (what finance owes the
    screening institution); once per screening, only for expert-confirmed persons."""
    return _one(session, actor, "reduction", ruleset_id, resident_id, date,
                source_id or f"reduction:{screening_source_id}",
                refers_to=screening_source_id)
