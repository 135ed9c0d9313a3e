"""Synthetic screening data for the demo database (clearly demo: every figure below is
illustrative, chosen only so the pages have something to show).

* :func:`add_questionnaire` gives the demo residents the questionnaire columns the shipped
  rule sets read (colorectal history items, diet, drinking); one resident in five has not
  filled in the questionnaire (all of it empty), so "cannot assess" and "unknown" appear;
* :func:`load` assesses every demo resident with every rule set (as of the demo's first
  screening round) and walks a modest share of the flagged people through expert review,
  invitation, screening, result and fee reduction, through the normal validated
  :func:`healthmap.screening.records.record_events`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from healthmap.access import Actor
from healthmap.screening import records
from healthmap.screening.rules import load_all

SEED = 12_2025
AS_OF = dt.date(2025, 1, 2)  # the demo's screening round
ACTOR = Actor("demo:screening", "admin")
# illustrative prevalences (share answering yes among those who filled in the questionnaire)
QUESTIONNAIRE = {"polyp_history": 0.03, "cancer_history": 0.02, "chronic_constipation": 0.08,
                 "chronic_diarrhoea": 0.04, "mucus_bloody_stool": 0.02,
                 "adverse_life_events": 0.05, "chronic_appendicitis": 0.04,
                 "chronic_cholecystitis": 0.05, "high_salt_pickled_diet": 0.30}
# illustrative full fees (yuan) of the screening test per target, and the share of flagged
# people the demo walks through the path
FEES = {"colorectal": "380.00", "lung": "260.00", "gastric": "420.00", "diabetes": "45.50"}
SHARE = 0.25
MAX_PEOPLE = 300  # per rule set: keeps the demo load fast
INSTITUTION = {"331083001": "YH101", "331083002": "YH102", "331083003": "YH103",
               "331083101": "YH104", "331083102": "YH105", "331083103": "YH106",
               "331083104": "YH107", "331083105": "YH108", "331083106": "YH109",
               "331083201": "YH110", "331083202": "YH111"}


def add_questionnaire(residents: pd.DataFrame) -> pd.DataFrame:
    """The residents with the questionnaire columns added (text, as in an import file)."""
    rng = np.random.default_rng(SEED)
    n = len(residents)
    filled = rng.random(n) >= 0.2
    out = residents.copy()
    for col, p in QUESTIONNAIRE.items():
        out[col] = np.where(filled, np.where(rng.random(n) < p, "true", "false"), "")
    male = (out["sex"] == "M").to_numpy()
    out["heavy_drinking"] = np.where(filled, np.where(
        rng.random(n) < np.where(male, 0.12, 0.01), "true", "false"), "")
    return out


def _day(start: dt.date, rng, n: int, span: int) -> list[dt.date]:
    return [start + dt.timedelta(days=int(d)) for d in rng.integers(0, span, n)]


def load(engine: Engine) -> dict[str, int]:
    """Assess the demo residents with every rule set and record a share of the flagged
    people's path. Returns counts of what was written."""
    rng = np.random.default_rng(SEED + 1)
    counts = {"assessed": 0, "events": 0}
    for rid in sorted(load_all()):
        with Session(engine) as s, s.begin():
            run = records.run_assessment(s, ACTOR, rid, as_of=AS_OF)
            counts["assessed"] += run["assessed"]
            st = records.states(s, rid)
            people = records.residents_frame(s, risk=False).set_index("resident_id")
        flagged = sorted(st.loc[st["eligible"].map(records.is_true), "resident_id"])
        chosen = [p for p in flagged if rng.random() < SHARE][:MAX_PEOPLE]
        events = _path(rid, chosen, people, rng)
        with Session(engine) as s, s.begin():
            for batch in events:  # in order: reviews, invitations, screenings, results, …
                if batch:
                    counts["events"] += records.record_events(s, ACTOR, batch).inserted
    return counts


def _path(rid: str, chosen: list[str], people: pd.DataFrame, rng) -> list[list[dict]]:
    n = len(chosen)
    confirm = rng.random(n) < 0.85
    reviews, invites, screens, results, reductions = [], [], [], [], []
    review_day = _day(AS_OF + dt.timedelta(days=7), rng, n, 30)
    for i, pid in enumerate(chosen):
        base = dict(ruleset_id=rid, resident_id=pid)
        reviews.append(dict(base, kind="review", source_id=f"demo:{rid}:{pid}:review",
                            date=review_day[i],
                            decision="confirmed" if confirm[i] else "excluded",
                            reason=("专家评估确认高危（演示）" if confirm[i]
                                    else "近一年已做过同类检查（演示）")))
        if not confirm[i] or rng.random() > 0.8:
            continue
        invited = review_day[i] + dt.timedelta(days=int(rng.integers(3, 20)))
        invites.append(dict(base, kind="invited", source_id=f"demo:{rid}:{pid}:invite",
                            date=invited))
        if rng.random() > 0.65:
            continue  # not (yet) screened: overdue follow-up
        screened = invited + dt.timedelta(days=int(rng.integers(7, 80)))
        sid = f"demo:{rid}:{pid}:screen"
        inst = INSTITUTION.get(people.loc[pid, "township"], "YH001")
        from healthmap.ledger import to_fen

        screens.append(dict(base, kind="screened", source_id=sid, date=screened,
                            institution_code=inst, fee_fen=to_fen(FEES[rid])))
        reductions.append(dict(base, kind="reduction", source_id=f"{sid}:reduction",
                               date=screened, refers_to=sid))
        u = rng.random()
        result = "normal" if u < 0.82 else "abnormal" if u < 0.96 else "diagnosed"
        results.append(dict(base, kind="result", source_id=f"{sid}:result", result=result,
                            date=screened + dt.timedelta(days=int(rng.integers(3, 15)))))
    return [reviews, invites, screens, results, reductions]
