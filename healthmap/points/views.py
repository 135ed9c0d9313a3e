"""What the points pages show: a resident's balance, history, redeemable items and ways to
earn more; staff search; planners' aggregates by township, activity and month (counts of
1-4 residents suppressed). Plain frames in and out, no streamlit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from healthmap import access, audit, crypto, ids, privacy
from healthmap.models import Area, Resident
from healthmap.points.ledger import awards_counted, balance, earned_in_year, stock_left
from healthmap.points.models import PointsEntry
from healthmap.points.rules import Level, Rules, load_rules

HISTORY_COLUMNS = ["date", "kind", "code", "what", "points", "reason", "source_id",
                   "reverses", "recorded_by"]


@dataclass
class ResidentPoints:
    resident_id: str
    id_masked: str  # the display form of decisions §4 (3310*************X)
    balance: int
    level: Level
    earned_this_year: int
    history: pd.DataFrame  # HISTORY_COLUMNS, newest first
    redeem: pd.DataFrame  # code, what, points, stock, can_redeem, short
    earn: pd.DataFrame  # code, what, points, left_this_year, eligible, explanation


def _name(rules: Rules, kind: str, code: str | None, lang: str) -> str:
    if not code:
        return ""
    try:
        obj = rules.item(code) if kind == "redeem" or (kind == "reversal" and code in
                                                       {i.code for i in rules.items}) \
            else rules.activity(code)
    except KeyError:
        return code
    return obj.name.get(lang, code)


def history(session: Session, resident_id: str, rules: Rules | None = None,
            lang: str = "zh") -> pd.DataFrame:
    """The resident's entries, newest first, with the activity or item named."""
    rules = rules or load_rules()
    rows = session.execute(select(
        PointsEntry.date, PointsEntry.kind, PointsEntry.activity_code, PointsEntry.item_code,
        PointsEntry.points, PointsEntry.reason, PointsEntry.source_id, PointsEntry.reverses,
        PointsEntry.recorded_by).where(PointsEntry.resident_id == resident_id)
        .order_by(PointsEntry.date.desc(), PointsEntry.id.desc())).all()
    out = [{"date": r.date, "kind": r.kind, "code": r.activity_code or r.item_code or "",
            "what": _name(rules, r.kind, r.item_code or r.activity_code, lang),
            "points": r.points, "reason": r.reason or "", "source_id": r.source_id,
            "reverses": r.reverses or "", "recorded_by": r.recorded_by} for r in rows]
    return pd.DataFrame(out, columns=HISTORY_COLUMNS)


def resident_points(session: Session, resident_id: str, rules: Rules | None = None,
                    lang: str = "zh", today: dt.date | None = None) -> ResidentPoints:
    """Everything the self-lookup and the staff page show about one resident."""
    rules = rules or load_rules()
    today = today or dt.date.today()
    res = session.get(Resident, resident_id)
    have = balance(session, resident_id)
    earned = earned_in_year(session, resident_id, today.year)
    left = stock_left(session, rules)
    redeem = pd.DataFrame([{
        "code": i.code, "what": i.name[lang], "points": i.points, "stock": left[i.code],
        "can_redeem": have >= i.points and left[i.code] > 0,
        "short": max(0, i.points - have)} for i in rules.items])
    year = (dt.date(today.year, 1, 1), dt.date(today.year, 12, 31))
    earn = pd.DataFrame([{
        "code": a.code, "what": a.name[lang], "points": a.points,
        "left_this_year": a.max_per_year - awards_counted(session, resident_id, a.code, *year),
        "eligible": a.ineligible(res.birth_date, res.sex, today) is None,
        "explanation": a.explanation[lang]} for a in rules.activities])
    return ResidentPoints(resident_id, ids.mask_id(res.id_masked), have, rules.settings.level_for(earned),
                          earned, history(session, resident_id, rules, lang), redeem, earn)


def open_invitations(session: Session, resident_id: str, lang: str = "zh") -> pd.DataFrame:
    """The resident's screening invitations not yet followed by a screening, read through
    the screening module (:func:`healthmap.screening.records.states`): ``target`` (name),
    ``invited_on`` and ``fee_percent`` (the reduction a screening after it gets)."""
    from healthmap.screening import load_all
    from healthmap.screening.records import states
    from healthmap.screening.settings import load_settings

    percent = load_settings().fee_percent
    rows = []
    for ruleset_id, ruleset in load_all().items():
        st = states(session, ruleset_id, [resident_id])
        open_ = st[st["invited_on"].notna() & st["screened_on"].isna()]
        rows += [{"target": ruleset.name.get(lang, ruleset_id), "invited_on": d,
                  "fee_percent": percent} for d in open_["invited_on"]]
    return pd.DataFrame(rows, columns=["target", "invited_on", "fee_percent"])


def search_residents(engine: Engine, actor: access.Actor, query: str,
                     limit: int = 50) -> pd.DataFrame:
    """Residents in the actor's township whose name contains ``query``, whose full ID
    number it is (matched by keyed hash: the sequence digits are never shown, so a
    fragment of them cannot be searched either, decisions §4), or whose phone ends with
    it (4+ digits). ID numbers come back in their display form only. Audited as
    ``view_personal`` (the count only, never the query)."""
    access.require(actor, "view_personal")
    q = (query or "").strip()
    cols = ["resident_id", "name", "id_masked", "phone", "area_code", "area_name", "balance"]
    if len(q) < 2:
        return pd.DataFrame(columns=cols)
    stmt = select(Resident.resident_id, Resident.name, Resident.id_masked, Resident.phone,
                  Resident.area_code, Area.name.label("area_name")).join(
        Area, Area.code == Resident.area_code)
    if actor.area_code:
        stmt = stmt.where(Resident.area_code == actor.area_code)
    key = crypto.key_for(engine, "phone")
    match = Resident.name.contains(q)
    if ids.id_problem(q) is None:
        match = match | (Resident.id_hash == ids.hash_id(q, crypto.database_secret(engine)))
    with Session(engine) as s:
        direct = s.execute(stmt.where(match).limit(limit)).mappings().all()
        rows = [dict(r) for r in direct]
        if q.isdigit() and len(q) >= 4 and len(rows) < limit:
            seen = {r["resident_id"] for r in rows}
            for r in s.execute(stmt.where(Resident.phone.is_not(None))).mappings():
                if r["resident_id"] in seen:
                    continue
                number = crypto.decrypt_phone(key, r["resident_id"], r["phone"]) or ""
                if number.endswith(q):
                    rows.append(dict(r))
                    if len(rows) >= limit:
                        break
        for r in rows:
            r["phone"] = crypto.phone_for(engine, actor, r)
            r["id_masked"] = ids.mask_id(r["id_masked"])
            r["balance"] = balance(s, r["resident_id"])
    audit.record(engine, actor.username, "view_personal", "points:search",
                 f"{len(rows)} resident(s) listed", role=actor.role)
    return pd.DataFrame(rows, columns=cols)


def participation(engine: Engine, year: int | None = None) -> pd.DataFrame:
    """Per township × activity × month: residents credited (distinct) and points awarded
    (awards net of their reversals). Staff-side exact figures; see :func:`public_table`."""
    stmt = (select(Resident.area_code, PointsEntry.activity_code, PointsEntry.date,
                   PointsEntry.resident_id, PointsEntry.points)
            .join(Resident, Resident.resident_id == PointsEntry.resident_id)
            .where(PointsEntry.kind == "award",
                   PointsEntry.source_id.not_in(select(PointsEntry.reverses).where(
                       PointsEntry.reverses.is_not(None)))))
    if year is not None:
        stmt = stmt.where(PointsEntry.date >= dt.date(year, 1, 1),
                          PointsEntry.date <= dt.date(year, 12, 31))
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).all(),
                          columns=["area_code", "activity", "date", "resident_id", "points"])
    df["month"] = pd.to_datetime(df["date"]).dt.strftime("%Y-%m")
    return df


def summarise(entries: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Distinct residents and points by ``by``, counts of 1-4 residents suppressed
    (:func:`healthmap.privacy.suppress`, secondary suppression within the table).

    >>> e = pd.DataFrame({"area_code": list("aaaaaabbccccccc"), "resident_id": list(
    ...     "pqrstuvwxyzABCD"), "points": [5] * 15})
    >>> t = summarise(e, ["area_code"])
    >>> t[["area_code", "residents", "points", "suppression"]].values.tolist()
    [['a', nan, nan, 'secondary'], ['b', nan, nan, 'primary'], ['c', 7.0, 35.0, '']]
    """
    g = (entries.groupby(by, as_index=False)
         .agg(residents=("resident_id", "nunique"), points=("points", "sum")))
    return privacy.suppress(g, "residents", ["points"])


def township_map_table(entries: pd.DataFrame, areas: pd.DataFrame,
                       registered: pd.Series) -> pd.DataFrame:
    """The choropleth's table (:func:`healthmap.mapview.choropleth`): per township the
    residents credited at least once (``numerator``), the residents on the register
    (``denominator``, ``registered``: area code → count) and the participation per 1,000
    registered residents (``value``); townships with 1-4 residents credited suppressed.

    >>> e = pd.DataFrame({"area_code": ["a"] * 6 + ["b"] * 7, "resident_id": list(
    ...     "pqrstuvwxyzAB"), "points": [5] * 13})
    >>> areas = pd.DataFrame({"code": ["a", "b", "c"], "name": ["甲", "乙", "丙"]})
    >>> t = township_map_table(e, areas, pd.Series({"a": 60, "b": 35, "c": 10}))
    >>> t[["area_code", "numerator", "value", "suppressed"]].values.tolist()
    [['a', 6.0, 100.0, False], ['b', 7.0, 200.0, False], ['c', 0.0, 0.0, False]]
    """
    cols = ["area_code", "residents", "points", "suppressed"]
    t = summarise(entries, ["area_code"])[cols] if len(entries) else pd.DataFrame(columns=cols)
    t = areas[["code", "name"]].rename(columns={"code": "area_code", "name": "area_name"}) \
        .merge(t, on="area_code", how="left")
    t["suppressed"] = t["suppressed"].astype("boolean").fillna(False).astype(bool)
    t["numerator"] = t["residents"].astype(float).where(t["suppressed"], t["residents"]
                                                       .astype(float).fillna(0.0))
    t["denominator"] = t["area_code"].map(registered).fillna(0).astype(float)
    t["value"] = (t["numerator"] / t["denominator"].where(t["denominator"] > 0) * 1000)
    t["ci_low"] = t["ci_high"] = float("nan")
    return t


def registered_by_area(engine: Engine) -> pd.Series:
    """Residents on the register per township (area code → count)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Resident.area_code, func.count())
                            .group_by(Resident.area_code)).all()
    return pd.Series(dict(rows), dtype=float)
