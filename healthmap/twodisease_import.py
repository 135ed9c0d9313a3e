"""Two import kinds for the monthly 两病 report (issue 10): outpatient drug settlements of
hypertension/diabetes patients (``drug_settlements``) and the chronic-disease management
register (``chronic_register``).

Each kind has a contract (:data:`SPECS`, the same :class:`healthmap.ingest.contract.Column`
type as the other imports, so templates and column tables come out the same way), is
read by :func:`healthmap.ingest.readers.read_table`, validated cell by cell with the
import path's own parser (every bad row named, in the same problem table) plus the coded
values below, and written all or nothing (re-importing a record replaces it). Money comes
in yuan and is stored in integer fen.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from healthmap import access, audit
from healthmap.board_models import (DISEASES, DRUG_CLASSES, SCHEMES, ChronicRegister,
                                    DrugSettlement)
from healthmap.db import bump_version
from healthmap.ingest.contract import Column
from healthmap.ingest.problems import Problems
from healthmap.models import ImportLog

SPECS: dict[str, tuple[Column, ...]] = {
    "drug_settlements": (
        Column("record_id", "key", True, "结算单号", example="S0000001"),
        Column("person_id", "key", True, "患者编号", example="P000123", note="pseudonymised"),
        Column("area_code", "area", True, "居住地区划", example="331083001"),
        Column("date", "date", True, "结算日期", example="2024-03-15"),
        Column("disease", "text", True, "病种", example="hypertension",
               note="hypertension/diabetes or 高血压/糖尿病", max_len=20),
        Column("scheme", "text", True, "保障类别", example="special",
               note="general (普通门诊统筹) / special (两病专项) / chronic (门诊慢特病)",
               max_len=20),
        Column("drug_class", "text", True, "药品类别", example="antihypertensive",
               note="antihypertensive (降压药) / antidiabetic (降糖药) / other (其他)",
               max_len=20),
        Column("drug_cost", "number", True, "药品费用", 0, 200_000, "86.40", "yuan"),
        Column("policy_cost", "number", True, "政策范围内费用", 0, 200_000, "80.00", "yuan"),
        Column("fund_paid", "number", True, "基金支付", 0, 200_000, "40.00", "yuan"),
    ),
    "chronic_register": (
        Column("person_id", "key", True, "患者编号", example="P000123", note="pseudonymised"),
        Column("disease", "text", True, "病种", example="diabetes",
               note="hypertension/diabetes or 高血压/糖尿病", max_len=20),
        Column("managed_since", "date", True, "纳入管理日期", example="2023-06-01"),
        Column("standardised", "bool", True, "是否规范管理", example="true"),
    ),
}
KINDS = tuple(SPECS)

#: accepted spellings of the coded values
CODES = {
    "disease": {"hypertension": "hypertension", "高血压": "hypertension", "diabetes": "diabetes",
                "糖尿病": "diabetes"},
    "scheme": {"general": "general", "普通门诊统筹": "general", "special": "special",
               "两病专项": "special", "两病": "special", "chronic": "chronic",
               "门诊慢特病": "chronic", "门诊慢性病": "chronic"},
    "drug_class": {"antihypertensive": "antihypertensive", "降压药": "antihypertensive",
                   "降血压药": "antihypertensive", "antidiabetic": "antidiabetic",
                   "降糖药": "antidiabetic", "降血糖药": "antidiabetic", "other": "other",
                   "其他": "other"},
}
assert set(CODES["disease"].values()) == set(DISEASES)
assert set(CODES["scheme"].values()) == set(SCHEMES)
assert set(CODES["drug_class"].values()) == set(DRUG_CLASSES)
ALIASES = {kind: {c.zh: c.name for c in cols} for kind, cols in SPECS.items()}


def template_frame(kind: str) -> pd.DataFrame:
    """A one-row example file for ``kind``.

    >>> list(template_frame("chronic_register").iloc[0])
    ['P000123', 'diabetes', '2023-06-01', 'true']
    """
    return pd.DataFrame([{c.name: c.example for c in SPECS[kind]}])


def to_fen(yuan: pd.Series) -> pd.Series:
    """Yuan (at most two decimals) as integer fen, rounded half away from zero.

    >>> to_fen(pd.Series([86.4, 0.005, 12.0])).tolist()
    [8640, 1, 1200]
    """
    return (np.sign(yuan) * np.floor(np.abs(yuan) * 100 + 0.5 + 1e-9)).astype("int64")


def validate(engine: Engine, kind: str, df: pd.DataFrame, today: dt.date | None = None
             ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Check a file of ``kind`` (all-text frame); return ``(clean, problems)``, ``clean``
    ``None`` when any row is bad. ``problems`` is the import path's table (``row``,
    ``column``, ``value``, ``reason``, ``code``)."""
    from healthmap.ingest.load import build_context
    from healthmap.ingest.validate import _parse_column

    spec = SPECS[kind]
    problems = Problems()
    df = df.rename(columns=lambda c: ALIASES[kind].get(str(c).strip(), str(c).strip()))
    names = [c.name for c in spec]
    for c in df.columns:
        if c not in names:
            problems.add(-1, c, "", "unknown_column")
    for c in names:
        if c not in df.columns:
            problems.add(-1, c, "", "missing_column")
    if len(df) == 0:
        problems.add(-1, "", "", "empty_file")
    if len(problems):
        return None, problems.frame()
    df = df.reset_index(drop=True).astype(str)
    ctx = build_context(engine, today)
    clean = pd.DataFrame(index=df.index)
    for col in spec:
        too_long = df[col.name].str.len() > col.max_chars
        problems.add_mask(df, too_long.to_numpy(), col.name, "too_long", limit=col.max_chars)
        if col.name in CODES:
            raw = df[col.name].str.strip()
            val = raw.map(CODES[col.name])
            problems.add_mask(df, (raw != "") & val.isna() & ~too_long, col.name,
                              "bad_code_board")
            problems.add_mask(df, (raw == "").to_numpy(), col.name, "required")
            clean[col.name] = val
        else:
            clean[col.name] = _parse_column(df, col, ctx, problems)
    key = ["record_id"] if kind == "drug_settlements" else ["person_id", "disease"]
    dup = clean[key].duplicated(keep="first") & clean[key].notna().all(axis=1)
    problems.add_mask(df, dup.to_numpy(), key[0], "duplicate_board")
    if kind == "drug_settlements":
        over = (clean["policy_cost"] > clean["drug_cost"]) | (
            clean["fund_paid"] > clean["policy_cost"])
        problems.add_mask(df, over.fillna(False).to_numpy(), "fund_paid", "money_order_board")
    if len(problems):
        return None, problems.frame()
    return clean, problems.frame()


def write(engine: Engine, actor: access.Actor, kind: str, clean: pd.DataFrame,
          filename: str) -> int:
    """Write validated rows in one transaction (a record already held is replaced),
    logged in ``import_log`` and the audit log. Returns the rows written."""
    access.require(actor, "import")
    now = dt.datetime.now()
    with Session(engine) as s, s.begin():
        log_id = s.execute(insert(ImportLog).values(
            kind=kind, filename=filename[:200], started_at=now, status="running",
            rows_total=len(clean), username=actor.username)).inserted_primary_key[0]
        if kind == "drug_settlements":
            rows = clean.assign(
                date=pd.to_datetime(clean["date"]).dt.date,
                year=pd.to_datetime(clean["date"]).dt.year.astype(int),
                month=pd.to_datetime(clean["date"]).dt.month.astype(int),
                drug_cost_fen=to_fen(clean["drug_cost"]),
                policy_cost_fen=to_fen(clean["policy_cost"]),
                fund_paid_fen=to_fen(clean["fund_paid"]), import_id=log_id).drop(
                columns=["drug_cost", "policy_cost", "fund_paid"])
            ids = rows["record_id"].tolist()
            for i in range(0, len(ids), 500):
                s.execute(delete(DrugSettlement).where(
                    DrugSettlement.record_id.in_(ids[i:i + 500])))
            table = DrugSettlement
        else:
            rows = clean.assign(managed_since=pd.to_datetime(clean["managed_since"]).dt.date,
                                standardised=clean["standardised"].astype(bool),
                                import_id=log_id)
            held = {tuple(k) for k in s.execute(select(ChronicRegister.person_id,
                                                       ChronicRegister.disease)).all()}
            again = [k for k in zip(rows["person_id"], rows["disease"]) if k in held]
            for p, d in again:
                s.execute(delete(ChronicRegister).where(ChronicRegister.person_id == p,
                                                        ChronicRegister.disease == d))
            table = ChronicRegister
        records = rows.to_dict("records")
        for i in range(0, len(records), 5000):
            s.execute(insert(table), records[i:i + 5000])
        s.execute(update(ImportLog).where(ImportLog.id == log_id).values(
            status="success", finished_at=dt.datetime.now(), rows_inserted=len(rows),
            rows_updated=0, rows_unchanged=0, n_errors=0))
        audit.record(s, actor.username, "import", kind, f"{filename[:100]}: {len(rows)} rows",
                     role=actor.role)
        bump_version(s)
    return len(clean)
