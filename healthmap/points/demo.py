"""Synthetic health-points entries for the demo database (fixed seed, within the rules).

About one demo resident in twelve takes part: awards over the two years before the demo
date that respect every cap and eligibility rule, redemptions only while the balance and
the stock allow, and a few reversals with a reason. Written in one bulk insert (the demo
stays fast); the ledger's own checks are tested elsewhere, and :func:`check_consistent`
verifies the result.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from healthmap import db
from healthmap.models import Resident
from healthmap.points.models import PointsEntry
from healthmap.points.rules import Rules, load_rules

SEED = 13
SHARE = 0.08  # share of demo residents with points
# how often a participant does each activity in a year: expected count (Poisson, capped)
RATES = {"health_lecture": 2.0, "knowledge_quiz": 0.8, "annual_checkup": 0.6,
         "cancer_screening": 0.15, "vaccination": 0.5, "family_doctor_contract": 0.5,
         "chronic_followup": 2.5, "blood_donation": 0.1, "health_volunteer": 0.3}


def build_entries(residents: pd.DataFrame, today: dt.date, rules: Rules,
                  seed: int = SEED) -> list[dict]:
    """Ledger rows for ``residents`` (``resident_id``, ``birth_date``, ``sex``)."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.combine(today, dt.time(18, 0))
    stock = {i.code: i.stock for i in rules.items}
    rows: list[dict] = []

    def row(rid, kind, date, points, source, activity=None, item=None, reverses=None,
            reason=None):
        return dict(source_id=source, resident_id=rid, kind=kind, activity_code=activity,
                    item_code=item, points=points, date=date, recorded_by="demo",
                    reason=reason, reverses=reverses, rules_version=rules.version,
                    recorded_at=now)

    for rid, born, sex in residents[["resident_id", "birth_date", "sex"]].itertuples(False):
        events = []
        for year in (today.year - 1, today.year):
            last = today if year == today.year else dt.date(year, 12, 31)
            span = (last - dt.date(year, 1, 1)).days + 1
            for act in rules.activities:
                n = min(int(rng.poisson(RATES.get(act.code, 0.3))), act.max_per_year, span)
                for d in sorted(rng.choice(span, n, replace=False)) if n else []:
                    date = dt.date(year, 1, 1) + dt.timedelta(days=int(d))
                    if act.ineligible(born, sex, date) is None:
                        events.append((date, act))
        balance = 0
        for k, (date, act) in enumerate(sorted(events, key=lambda e: (e[0], e[1].code))):
            rows.append(row(rid, "award", date, act.points, f"demo:{rid}:{k}", act.code))
            balance += act.points
            if rng.random() < 0.02:  # a mistake, corrected with a reason
                rows.append(row(rid, "reversal", date, -act.points, f"demo:{rid}:{k}:rev",
                                act.code, reverses=f"demo:{rid}:{k}",
                                reason="登记错误：非本人参加"))
                balance -= act.points
            if rng.random() < 0.15:
                affordable = [i for i in rules.items if i.points <= balance and stock[i.code]]
                if affordable:
                    item = affordable[int(rng.integers(len(affordable)))]
                    stock[item.code] -= 1
                    balance -= item.points
                    rows.append(row(rid, "redeem", date, -item.points,
                                    f"demo:{rid}:{k}:redeem", item=item.code))
    return rows


def load_points_demo(engine: Engine, today: dt.date, rules: Rules | None = None) -> int:
    """Give about one demo resident in twelve points entries; returns the entries
    written (none if the ledger already has entries)."""
    rules = rules or load_rules()
    with Session(engine) as s, s.begin():
        if s.scalar(select(PointsEntry.id).limit(1)) is not None:
            return 0
        res = pd.DataFrame(s.execute(select(Resident.resident_id, Resident.birth_date,
                                            Resident.sex).order_by(Resident.resident_id)).all(),
                           columns=["resident_id", "birth_date", "sex"])
        chosen = res.sample(frac=SHARE, random_state=SEED) if len(res) else res
        rows = build_entries(chosen.sort_values("resident_id"), today, rules)
        for start in range(0, len(rows), 5000):
            s.execute(insert(PointsEntry), rows[start:start + 5000])
        db.bump_version(s)
    return len(rows)


def check_consistent(engine: Engine, rules: Rules | None = None) -> list[str]:
    """Problems in the ledger as a whole: a negative running balance, a cap exceeded, an
    item given out beyond its stock (empty list = consistent)."""
    rules = rules or load_rules()
    with engine.connect() as conn:
        e = pd.DataFrame(conn.execute(select(
            PointsEntry.resident_id, PointsEntry.kind, PointsEntry.activity_code,
            PointsEntry.item_code, PointsEntry.points, PointsEntry.date, PointsEntry.source_id,
            PointsEntry.reverses).order_by(PointsEntry.id)).all(),
            columns=["resident_id", "kind", "activity", "item", "points", "date", "source_id",
                     "reverses"])
    problems = []
    running = e.groupby("resident_id")["points"].cumsum()
    if (running < 0).any():
        problems.append(f"{int((running < 0).sum())} entries leave a negative balance")
    live = e[~e["source_id"].isin(set(e["reverses"].dropna()))]
    awards = live[live["kind"] == "award"].assign(year=lambda d: pd.to_datetime(d["date"]).dt.year)
    for code, per_day in awards.groupby(["resident_id", "activity", "date"]).size().groupby(
            level=1).max().items():
        if per_day > rules.activity(code).max_per_day:
            problems.append(f"{code}: {per_day} a day")
    for code, per_year in awards.groupby(["resident_id", "activity", "year"]).size().groupby(
            level=1).max().items():
        if per_year > rules.activity(code).max_per_year:
            problems.append(f"{code}: {per_year} a year")
    given = live[live["kind"] == "redeem"]["item"].value_counts()
    problems += [f"{code}: {n} given, stock {rules.item(code).stock}"
                 for code, n in given.items() if n > rules.item(code).stock]
    return problems
