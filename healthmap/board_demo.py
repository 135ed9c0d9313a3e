"""Demo data for the 两病 report (synthetic, fixed seed): a chronic-disease management
register and outpatient drug settlements for the demo's hypertension and diabetes
patients (persons with an I10-I15 or E10-E14 episode), written through the validated
import path of :mod:`healthmap.twodisease_import`.

Shapes (illustrative, not measured): four in five registered patients under standardised
management; at most 3,000 patients; scheme per person mostly the special 两病 scheme (65 %), chronic/special
outpatient (25 %) or general outpatient pooling (10 %); a settlement every one to three
months from 2024; about 85 % of settlements are the disease's own drug class; fund pays
about half of the policy-scope cost (60 % for chronic outpatient), nothing for one in ten
settlements (below the 30-yuan deductible).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from healthmap import access, store, twodisease_import

SEED = 20241010
START = dt.date(2024, 1, 1)
MAX_PATIENTS = 3000  # keeps the demo fast (about 30,000 settlements)


def _patients(engine: Engine) -> pd.DataFrame:
    # a person's area: that of their first episode of the disease (the demo's persons keep
    # one area)
    df = store.query(engine, "SELECT person_id, area_code, icd3 FROM episodes "
                             "WHERE icd3 BETWEEN ? AND ? OR icd3 BETWEEN ? AND ? "
                             "ORDER BY person_id, date, record_id", ["I10", "I15", "E10", "E14"])
    df["disease"] = np.where(df["icd3"].str.startswith("I"), "hypertension", "diabetes")
    df = df.drop_duplicates(["person_id", "disease"]).sort_values(["person_id", "disease"])
    if len(df) > MAX_PATIENTS:
        df = df.sample(MAX_PATIENTS, random_state=SEED).sort_values(["person_id", "disease"])
    return df.reset_index(drop=True)


def build(patients: pd.DataFrame, today: dt.date, seed: int = SEED
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(register, settlements) as all-text import frames for ``patients`` (``person_id``,
    ``area_code``, ``disease``)."""
    rng = np.random.default_rng(seed)
    n = len(patients)
    since = pd.Timestamp(2019, 1, 1) + pd.to_timedelta(
        rng.integers(0, (pd.Timestamp(today) - pd.Timestamp(2019, 1, 1)).days, n), unit="D")
    register = pd.DataFrame({
        "person_id": patients["person_id"], "disease": patients["disease"],
        "managed_since": since.strftime("%Y-%m-%d"),
        "standardised": np.where(rng.random(n) < 0.8, "true", "false")})
    scheme = rng.choice(["special", "chronic", "general"], n, p=[0.65, 0.25, 0.10])
    first = pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    parts = []
    step = rng.integers(30, 92, n)
    horizon = (pd.Timestamp(today) - first).days.to_numpy()
    visits = np.maximum(horizon // step, 0) + 1
    idx = np.repeat(np.arange(n), visits)
    k = np.concatenate([np.arange(v) for v in visits]) if n else np.array([], int)
    dates = first.to_numpy()[idx] + pd.to_timedelta(k * step[idx], unit="D").to_numpy()
    keep = dates <= np.datetime64(today)
    idx, dates = idx[keep], dates[keep]
    m = len(idx)
    disease = patients["disease"].to_numpy()[idx]
    own = np.where(disease == "hypertension", "antihypertensive", "antidiabetic")
    drug_class = np.where(rng.random(m) < 0.85, own, "other")
    drug = np.round(rng.lognormal(np.log(80), 0.5, m), 2)
    policy = np.round(drug * rng.uniform(0.85, 1.0, m), 2)
    share = np.where(scheme[idx] == "chronic", 0.6, 0.5)
    fund = np.where(rng.random(m) < 0.1, 0.0, np.round(policy * share, 2))
    parts = pd.DataFrame({
        "record_id": [f"DS{i:07d}" for i in range(m)],
        "person_id": patients["person_id"].to_numpy()[idx],
        "area_code": patients["area_code"].to_numpy()[idx],
        "date": pd.to_datetime(dates).strftime("%Y-%m-%d"), "disease": disease,
        "scheme": scheme[idx], "drug_class": drug_class,
        "drug_cost": [f"{v:.2f}" for v in drug], "policy_cost": [f"{v:.2f}" for v in policy],
        "fund_paid": [f"{v:.2f}" for v in fund]})
    return register, parts


def load(engine: Engine, today: dt.date) -> dict[str, int]:
    """Build and import the demo register and settlements (validated, all or nothing)."""
    actor = access.Actor("demo", "admin")
    register, settlements = build(_patients(engine), today)
    out = {}
    for kind, df in (("chronic_register", register), ("drug_settlements", settlements)):
        clean, problems = twodisease_import.validate(engine, kind, df, today)
        if clean is None:
            raise RuntimeError(f"demo {kind} refused: {problems.head(5).to_dict('records')}")
        out[kind] = twodisease_import.write(engine, actor, kind, clean, f"demo:{kind}")
    return out
