"""What the screening pages show: personal lists (audited ``view_personal``; ID numbers
only in their display form), their Excel export (audited ``export``), and aggregates by
township (tier counts, the funnel with uptake) and by institution and month (the fee
reductions finance owes).

Personal lists stop at the actor's township (and a family doctor's team); aggregates are
open to the reporting roles.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from healthmap import access, audit, exports, ids, ledger
from healthmap.models import Area, Institution
from healthmap.screening.models import ScreeningEvent
from healthmap.screening.records import (is_true, residents_frame, scope_of, stage, states,
                                         townships)
from healthmap.screening.rules import age_on, load_ruleset
from healthmap.screening.settings import load_settings

FUNNEL_STEPS = ("assessed", "high_risk", "confirmed", "invited", "screened", "abnormal",
                "diagnosed")


def _area_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Area.code, Area.name)).all())


def _overdue(st: pd.DataFrame, today: dt.date) -> pd.Series:
    s = load_settings()
    inv = pd.to_datetime(st["invited_on"])
    res = pd.to_datetime(st["result_on"])
    t = pd.Timestamp(today)
    late_inv = inv.notna() & st["screened_on"].isna() & (
        t - inv > pd.Timedelta(days=s.invitation_overdue_days))
    late_ab = (st["result"] == "abnormal") & (
        t - res > pd.Timedelta(days=s.abnormal_overdue_days))
    return pd.Series(np.where(late_inv, "invitation", np.where(late_ab, "abnormal_follow_up",
                                                                "")), index=st.index)


def person_list(session: Session, actor: access.Actor, ruleset_id: str,
                township: str | None = None, team: str | None = None, lang: str = "zh",
                today: dt.date | None = None, which: str = "high_risk",
                audit_view: bool = True) -> pd.DataFrame:
    """The personal list of a rule set for the actor's scope, one row per person:
    ``which`` = ``high_risk`` (flagged by the latest assessment), ``overdue`` (follow-ups
    past their deadline) or ``all`` (everyone assessed). Opening it is audited."""
    township, team = scope_of(actor, township, team)
    access.require(actor, "view_personal", township)
    today = today or dt.date.today()
    people = residents_frame(session, township, team)
    st = states(session, ruleset_id)
    m = people.merge(st, on="resident_id", how="inner")
    if which == "high_risk":
        m = m[m["eligible"].map(is_true)]
    m = m.reset_index(drop=True)
    m["overdue"] = _overdue(m, today) if len(m) else pd.Series(dtype=object)
    if which == "overdue":
        m = m[m["overdue"] != ""].reset_index(drop=True)
    names = _area_names(session)
    insts = dict(session.execute(select(Institution.code, Institution.name)).all())
    out = pd.DataFrame({
        "resident_id": m["resident_id"],
        "name": m["name"],
        "id_number": m["id_masked"].map(ids.mask_id),
        "sex": m["sex"],
        "age": age_on(pd.to_datetime(m["birth_date"]), today).astype("Int64"),
        "township": m["township"].map(names).fillna(m["township"]),
        "doctor_team": m["doctor_team"],
        "phone": m["phone"].map(lambda p: ids.mask_phone(p) if isinstance(p, str) else ""),
        "tier": m["tier"],
        "score": m["score"].astype("Int64"),
        "reasons": m["reasons_zh" if lang == "zh" else "reasons_en"],
        "missing": m["missing"],
        "review": m["review"],
        "review_reason": m["review_reason"],
        "invited_on": m["invited_on"],
        "screened_on": m["screened_on"],
        "institution": m["institution_code"].map(insts),
        "fee_yuan": m["fee_fen"].map(lambda f: None if pd.isna(f) else ledger.fen_to_yuan(f)),
        "result": m["result"],
        "reduction_yuan": m["reduction_fen"].map(
            lambda f: None if pd.isna(f) else ledger.fen_to_yuan(f)),
        "stage": [stage(r) for r in m.to_dict("records")],
        "overdue": m["overdue"],
        "ruleset_version": m["ruleset_version"],
        "screening_id": m["screening_id"],
    })
    if audit_view:
        audit.record(session, actor.username, "view_personal", f"screening:{ruleset_id}",
                     f"list={which} rows={len(out)} township={township or 'all'} "
                     f"team={team or 'all'}", role=actor.role)
    return out


def export_list(session: Session, actor: access.Actor, ruleset_id: str,
                township: str | None = None, team: str | None = None, lang: str = "zh",
                which: str = "high_risk", today: dt.date | None = None,
                audit_export: bool = True) -> tuple[bytes, str]:
    """The list as an Excel workbook (ID numbers in display form only, stamped with who
    exported it and when), for family-doctor teams. Audited ``export`` (a page that builds
    the file before the click passes ``audit_export=False`` and audits on the click)."""
    access.require(actor, "export.staff")
    frame = person_list(session, actor, ruleset_id, township, team, lang, today, which,
                        audit_view=False)
    rs = load_ruleset(ruleset_id)
    township, team = scope_of(actor, township, team)
    filters = (f"ruleset={rs.id} version={rs.version} list={which} "
               f"township={township or 'all'} team={team or 'all'}")
    data = exports.to_xlsx_bytes(
        frame.astype(object).where(frame.notna(), None),
        exports.Stamp(actor.username, f"筛查名单 / screening list: {rs.name[lang]}",
                      personal=True, filters=filters), sheet=rs.id)
    if audit_export:
        audit.record(session, actor.username, "export", f"screening:{ruleset_id}",
                     f"xlsx rows={len(frame)} {filters}", role=actor.role)
    name = f"screening_{rs.id}_{which}_{township or 'all'}{'_' + team if team else ''}.xlsx"
    return data, name


# ---------------------------------------------------------------- aggregates
def _assessed_by_township(session: Session, ruleset_id: str) -> pd.DataFrame:
    st = states(session, ruleset_id)
    st = st[st["tier"].notna()].copy()
    up = townships(session)
    st["township"] = st["assessed_area"].map(up).fillna(st["assessed_area"])
    return st


def tier_counts(session: Session, actor: access.Actor, ruleset_id: str) -> pd.DataFrame:
    """Persons per township and tier of their latest assessment (aggregate, no names)."""
    access.require(actor, "screening.report")
    st = _assessed_by_township(session, ruleset_id)
    rs = load_ruleset(ruleset_id)
    order = rs.tier_ids[::-1] + ["cannot_assess", "not_target"]
    table = pd.crosstab(st["township"], st["tier"]).reindex(columns=order, fill_value=0)
    towns = _township_frame(session)
    table = towns.join(table, on="area_code").fillna(0)
    for c in order:
        table[c] = table[c].astype(int)
    table["assessed"] = table[order].sum(axis=1)
    elig = st.groupby("township")["eligible"].agg(lambda s: int(sum(map(is_true, s))))
    table["high_risk"] = table["area_code"].map(elig).fillna(0).astype(int)
    table["high_risk_pct"] = np.where(table["assessed"] > 0,
                                      100 * table["high_risk"] / table["assessed"].clip(1), np.nan)
    return table


def _township_frame(session: Session) -> pd.DataFrame:
    rows = session.execute(select(Area.code, Area.name).where(Area.level == "township")
                           .order_by(Area.code)).all()
    return pd.DataFrame(rows, columns=["area_code", "area_name"])


def funnel(session: Session, actor: access.Actor, ruleset_id: str) -> pd.DataFrame:
    """The screening funnel per township plus a county row: assessed → high risk →
    confirmed → invited → screened → abnormal → diagnosed, and uptake = screened / invited
    (%) against the acceptable and achievable levels of ``settings.yaml``."""
    access.require(actor, "screening.report")
    st = _assessed_by_township(session, ruleset_id)
    st["assessed"] = True
    st["high_risk"] = st["eligible"].map(is_true)
    st["confirmed"] = st["review"] == "confirmed"
    st["invited"] = st["invited_on"].notna()
    st["screened"] = st["screened_on"].notna()
    st["abnormal"] = st["abnormal_on"].notna()  # ever: a normal work-up later stays counted
    st["diagnosed"] = st["diagnosed_on"].notna()
    counts = st.groupby("township")[list(FUNNEL_STEPS)].sum().astype(int)
    table = _township_frame(session).join(counts, on="area_code").fillna(0)
    total = pd.DataFrame([{"area_code": "county", "area_name": "全市 / county",
                           **{c: int(counts[c].sum()) for c in FUNNEL_STEPS}}])
    table = pd.concat([table, total], ignore_index=True)
    for c in FUNNEL_STEPS:
        table[c] = table[c].astype(int)
    table["uptake_pct"] = np.where(table["invited"] > 0,
                                   100 * table["screened"] / table["invited"].clip(1), np.nan)
    target = load_ruleset(ruleset_id).target
    acceptable, achievable = load_settings().uptake(target)
    table["uptake_level"] = np.select(
        [table["invited"] == 0, table["uptake_pct"] >= achievable,
         table["uptake_pct"] >= acceptable], ["no_data", "achievable", "acceptable"],
        "below_acceptable")
    return table


def uptake_table(funnel_table: pd.DataFrame) -> pd.DataFrame:
    """The funnel in the shape :func:`healthmap.mapview.choropleth` and
    :func:`healthmap.mapview.funnel_figure` take: value = uptake %, numerator = screened,
    denominator = invited, with Wilson 95 % intervals; no suppression (staff view)."""
    from healthmap.metrics import proportion_ci

    t = funnel_table[funnel_table["area_code"] != "county"].copy()
    lo, hi = proportion_ci(t["screened"].to_numpy(), t["invited"].clip(lower=1).to_numpy())
    return pd.DataFrame({
        "area_code": t["area_code"], "area_name": t["area_name"],
        "value": t["uptake_pct"].astype(float),
        "ci_low": np.where(t["invited"] > 0, lo * 100, np.nan),
        "ci_high": np.where(t["invited"] > 0, hi * 100, np.nan),
        "numerator": t["screened"].astype(float), "denominator": t["invited"].astype(float),
        "suppressed": False}).reset_index(drop=True)


def fee_totals(session: Session, actor: access.Actor, ruleset_id: str | None = None
               ) -> pd.DataFrame:
    """Fee reductions by institution and month (what finance owes whom): reductions, full
    fees of those screenings and the amounts owed, in integer fen and in yuan."""
    access.require(actor, "screening.report")
    E = ScreeningEvent
    stmt = select(E.institution_code, E.date, E.reduction_fen, E.refers_to, E.ruleset_id
                  ).where(E.kind == "reduction")
    if ruleset_id:
        stmt = stmt.where(E.ruleset_id == ruleset_id)
    red = pd.DataFrame(session.execute(stmt).all(),
                       columns=["institution_code", "date", "reduction_fen", "refers_to",
                                "ruleset_id"])
    fees = dict(session.execute(select(E.source_id, E.fee_fen).where(
        E.kind == "screened")).all())
    cols = ["institution_code", "institution", "month", "reductions", "fee_fen",
            "reduction_fen", "fee_yuan", "reduction_yuan"]
    if red.empty:
        return pd.DataFrame(columns=cols)
    red["fee_fen"] = red["refers_to"].map(fees).astype("int64")
    red["month"] = pd.to_datetime(red["date"]).dt.strftime("%Y-%m")
    g = red.groupby(["institution_code", "month"]).agg(
        reductions=("reduction_fen", "size"), fee_fen=("fee_fen", "sum"),
        reduction_fen=("reduction_fen", "sum")).reset_index()
    insts = dict(session.execute(select(Institution.code, Institution.name)).all())
    g["institution"] = g["institution_code"].map(insts)
    g["fee_fen"] = g["fee_fen"].astype("int64")
    g["reduction_fen"] = g["reduction_fen"].astype("int64")
    g["fee_yuan"] = g["fee_fen"].map(ledger.fen_to_yuan)
    g["reduction_yuan"] = g["reduction_fen"].map(ledger.fen_to_yuan)
    return g[cols].sort_values(["month", "institution_code"]).reset_index(drop=True)
