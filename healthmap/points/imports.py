"""Bulk import of activity records (CSV or Excel): validated, all or nothing, idempotent.

Columns (Chinese headers accepted): ``resident_id`` (居民编号), ``activity`` (活动代码),
``source_id`` (来源编号), ``date`` (日期, YYYY-MM-DD), optional ``reason`` (备注). Each
row goes through :func:`healthmap.points.ledger.award` (the same rules as one entry:
caps, eligibility, who may record, township scope) inside one serialised transaction;
every refused row is named (file line, column, value, reason) and then nothing is
written. Re-importing the same file records nothing new.

Examples
--------
>>> frame = pd.DataFrame({"居民编号": ["R1"], "活动代码": ["health_lecture"],
...                       "来源编号": ["L-1"], "日期": ["2024-05-06"]})
>>> list(canonical_columns(frame).columns)
['resident_id', 'activity', 'source_id', 'date']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from healthmap import access
from healthmap.ledger import LedgerConflict
from healthmap.points.ledger import PointsRefused, award
from healthmap.points.rules import Rules, load_rules

REQUIRED = ("resident_id", "activity", "source_id", "date")
OPTIONAL = ("reason",)
# the column a refusal of the ledger points at (by PointsRefused.code)
COLUMN_OF = {"conflict": "source_id", "source_needed": "source_id", "source_long": "source_id",
             "unknown_activity": "activity", "daily_cap": "activity", "yearly_cap": "activity",
             "not_eligible": "activity", "denied": "activity", "future_date": "date"}
ALIASES = {"居民编号": "resident_id", "居民id": "resident_id", "活动代码": "activity",
           "活动": "activity", "activity_code": "activity", "来源编号": "source_id",
           "日期": "date", "活动日期": "date", "备注": "reason", "原因": "reason"}
# ``reason`` is English (command line); ``code`` + ``params`` let a page translate it
PROBLEM_COLUMNS = ["row", "column", "value", "reason", "code", "params"]


@dataclass
class PointsImport:
    rows: int = 0
    recorded: int = 0
    unchanged: int = 0
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=PROBLEM_COLUMNS))

    @property
    def ok(self) -> bool:
        return self.problems.empty


def canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename Chinese or variant headers to the contract's names."""
    originals = frame.attrs.get("headers") or list(frame.columns)
    names = []
    for col, orig in zip(frame.columns, originals):
        key = str(orig).strip().lower().replace(" ", "_")
        names.append(ALIASES.get(str(orig).strip(), ALIASES.get(key, str(col))))
    out = frame.copy()
    out.columns = names
    return out


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def import_records(engine: Engine, frame: pd.DataFrame, actor: access.Actor,
                   rules: Rules | None = None, today: dt.date | None = None) -> PointsImport:
    """Validate and record every row of ``frame`` (all text, as read by
    :func:`healthmap.ingest.readers.read_table`); nothing is written if any row fails."""
    access.require(actor, "points.import")
    rules = rules or load_rules()
    df = canonical_columns(frame)
    problems: list[dict] = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        problems += [{"row": 1, "column": c, "value": "", "reason": "missing column",
                      "code": "missing_column", "params": {}} for c in missing]
    extra = [c for c in df.columns if c not in REQUIRED + OPTIONAL]
    problems += [{"row": 1, "column": c, "value": "", "reason": "unknown column",
                  "code": "unknown_column", "params": {}} for c in extra]
    if problems or df.empty:
        if df.empty and not problems:
            problems.append({"row": 1, "column": "", "value": "", "reason": "no rows",
                             "code": "no_rows", "params": {}})
        return PointsImport(len(df), problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS))
    result = PointsImport(rows=len(df))
    session = Session(engine)
    try:
        session.begin()
        for i, r in enumerate(df.to_dict("records")):
            line = i + 2
            blank = [c for c in REQUIRED if not str(r.get(c, "")).strip()]
            if blank:
                problems += [{"row": line, "column": c, "value": "", "reason": "empty",
                              "code": "empty", "params": {}} for c in blank]
                continue
            date = _date(r["date"])
            if date is None:
                problems.append({"row": line, "column": "date", "value": r["date"],
                                 "reason": "not a date (YYYY-MM-DD)", "code": "not_a_date",
                                 "params": {}})
                continue
            try:
                out = award(session, actor, r["resident_id"].strip(), r["activity"].strip(),
                            r["source_id"].strip(), date,
                            reason=str(r.get("reason") or "").strip() or None, rules=rules,
                            today=today)
            except (PointsRefused, LedgerConflict, access.PermissionDenied) as exc:
                code = getattr(exc, "code", "conflict" if isinstance(exc, LedgerConflict)
                               else "denied")
                column = COLUMN_OF.get(code, "resident_id")
                problems.append({"row": line, "column": column, "value": r[column],
                                 "reason": str(exc), "code": code,
                                 "params": dict(getattr(exc, "params", {}))})
                continue
            if out.recorded:
                result.recorded += 1
            else:
                result.unchanged += 1
        if problems:
            session.rollback()
            result.recorded = result.unchanged = 0
            result.problems = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
        else:
            session.commit()
    finally:
        session.close()
    return result
