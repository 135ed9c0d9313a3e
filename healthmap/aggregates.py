"""Aggregate indicators that do not come from episodes (issue 10; like DHIS2's aggregate
data entry): declared in ``data/board_indicators.csv`` (definition, unit, limits, target
or reference indicator, the subsidy they count for), entered per year through a form or
a CSV/Excel upload, validated (every bad row named; all or nothing) and stored in
``board_aggregate_values``.

File format for uploads: ``indicator, period, value`` (Chinese headers 指标, 年份, 数值);
``period`` is a year (``2024``).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from healthmap import access, audit, i18n, targets
from healthmap.board import Tile
from healthmap.board_models import AggregateValue
from healthmap.config import DATA_DIR
from healthmap.db import bump_version
from healthmap.reference import ReferenceDataError

DEFINITIONS = DATA_DIR / "board_indicators.csv"
COLUMNS = ("indicator", "period", "value")
HEADER_ALIASES = {"指标": "indicator", "指标编码": "indicator", "年份": "period",
                  "期间": "period", "数值": "value", "值": "value"}
REQUIRED = ["code", "name_zh", "name_en", "unit", "unit_en", "integer", "lo", "hi", "comparison",
            "target", "target_ref", "subsidy", "definition_zh", "definition_en", "source"]


def load_definitions(path: Path | None = None) -> pd.DataFrame:
    """The declared indicators, validated (codes unique, limits ordered, a comparison
    with exactly one of ``target`` / ``target_ref``, subsidies naming a policy target).

    >>> d = load_definitions().set_index("code")
    >>> float(d.at["nego_drugs_hospital", "target"]), d.at["ccv_event_rate", "target_ref"]
    (20.0, 'ccv_event_rate_taizhou')
    """
    path = path or DEFINITIONS
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ReferenceDataError(f"{path.name}: missing columns {missing}")
    problems = []
    for c in ("lo", "hi", "target"):
        df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
    codes = set(df["code"])
    policy = targets.load()
    for i, r in df.iterrows():
        where = f"row {i + 2} ({r['code']})"
        if not r["code"] or (df["code"] == r["code"]).sum() > 1:
            problems.append(f"{where}: empty or duplicate code")
        if r["integer"] not in ("yes", "no"):
            problems.append(f"{where}: integer must be yes or no")
        if pd.isna(r["lo"]) or pd.isna(r["hi"]) or r["lo"] > r["hi"]:
            problems.append(f"{where}: lo and hi must be numbers, lo ≤ hi")
        has_target = not pd.isna(r["target"])
        if r["comparison"]:
            if r["comparison"] not in targets.COMPARISONS or has_target == bool(r["target_ref"]):
                problems.append(f"{where}: a comparison needs a known operator and exactly "
                                "one of target / target_ref")
            if r["target_ref"] and r["target_ref"] not in codes:
                problems.append(f"{where}: target_ref {r['target_ref']!r} is not declared")
        elif has_target or r["target_ref"]:
            problems.append(f"{where}: a target needs a comparison")
        if r["subsidy"] and r["subsidy"] not in policy:
            problems.append(f"{where}: subsidy {r['subsidy']!r} is not in policy_targets.csv")
        if not r["definition_zh"] or not r["definition_en"] or not r["source"]:
            problems.append(f"{where}: definition (zh, en) and source are required")
    if problems:
        raise ReferenceDataError(f"{path.name}: " + "; ".join(problems))
    return df


def template_frame() -> pd.DataFrame:
    """An upload template: one row per declared indicator for last year, values empty."""
    d = load_definitions()
    return pd.DataFrame({"indicator": d["code"], "period": str(dt.date.today().year - 1),
                         "value": ""})


def _period_ok(text: str, today: dt.date) -> bool:
    return text.isdigit() and len(text) == 4 and 2000 <= int(text) <= today.year


def validate(df: pd.DataFrame, defs: pd.DataFrame | None = None,
             today: dt.date | None = None) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Check an entry table; return ``(clean, problems)``.

    ``clean`` (``indicator``, ``period``, ``value``) is ``None`` when any row is bad;
    ``problems`` names every bad row (file row number counting the header as row 1),
    column, value and problem key (text ``board.err.<key>``).

    >>> ok, p = validate(pd.DataFrame({"indicator": ["hospice_beds", "nope"],
    ...                                "period": ["2024", "2024"], "value": ["12", "3"]}),
    ...                  today=dt.date(2025, 1, 1))
    >>> ok is None, p[["row", "column", "problem"]].values.tolist()
    (True, [[3, 'indicator', 'unknown_indicator']])
    """
    defs = load_definitions() if defs is None else defs
    today = today or dt.date.today()
    df = df.rename(columns=lambda c: HEADER_ALIASES.get(str(c).strip(), str(c).strip()))
    problems: list[dict] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    extra = [c for c in df.columns if c not in COLUMNS]
    for c in missing:
        problems.append({"row": 1, "column": c, "value": "", "problem": "missing_column"})
    for c in extra:
        problems.append({"row": 1, "column": c, "value": "", "problem": "unknown_column"})
    if len(df) == 0:
        problems.append({"row": 1, "column": "", "value": "", "problem": "empty"})
    if problems:
        return None, pd.DataFrame(problems)
    d = defs.set_index("code")
    rows = []
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(df.astype(str).itertuples(index=False), start=2):
        code, period, raw = (str(v).strip() for v in (r.indicator, r.period, r.value))
        period = period.removesuffix(".0")

        def bad(column, value, problem):
            problems.append({"row": i, "column": column, "value": value, "problem": problem})

        if code not in d.index:
            bad("indicator", code, "unknown_indicator")
            continue
        if not _period_ok(period, today):
            bad("period", period, "period")
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            bad("value", raw, "number")
            continue
        if d.at[code, "integer"] == "yes" and value != int(value):
            bad("value", raw, "integer")
            continue
        if not d.at[code, "lo"] <= value <= d.at[code, "hi"]:
            bad("value", raw, "range")
            continue
        if (code, period) in seen:
            bad("indicator", code, "duplicate")
            continue
        seen[(code, period)] = i
        rows.append({"indicator": code, "period": period, "value": value})
    if problems:
        return None, pd.DataFrame(problems)
    return pd.DataFrame(rows), pd.DataFrame(columns=["row", "column", "value", "problem"])


def save(session: Session, actor: access.Actor, clean: pd.DataFrame, source: str) -> int:
    """Write validated entries (a later entry of the same indicator and period replaces
    the earlier one), audited, in the caller's transaction. Returns the rows written."""
    access.require(actor, "board.enter")
    now = dt.datetime.now().replace(microsecond=0)
    existing = {(v.indicator, v.period): v for v in session.scalars(select(AggregateValue))}
    for r in clean.itertuples(index=False):
        row = existing.get((r.indicator, r.period))
        if row is None:
            session.add(AggregateValue(indicator=r.indicator, period=r.period,
                                       value=float(r.value), entered_by=actor.username,
                                       entered_at=now, source=source[:200]))
        else:
            row.value, row.entered_by, row.entered_at = float(r.value), actor.username, now
            row.source = source[:200]
    audit.record(session, actor.username, "board.enter", source[:200],
                 f"{len(clean)} values: " + ", ".join(sorted(set(clean["indicator"])))[:400],
                 role=actor.role)
    bump_version(session)
    return len(clean)


def values(engine: Engine) -> pd.DataFrame:
    """Every stored value: ``indicator``, ``period``, ``value``, ``entered_by``,
    ``entered_at``, ``source``."""
    cols = ["indicator", "period", "value", "entered_by", "entered_at", "source"]
    with engine.connect() as conn:
        rows = conn.execute(select(*[getattr(AggregateValue, c) for c in cols])).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


def value_of(vals: pd.DataFrame, code: str, year: int) -> float | None:
    """The value of ``code`` for ``year`` (``None`` when not entered).

    >>> v = pd.DataFrame({"indicator": ["x"], "period": ["2024"], "value": [3.0]})
    >>> value_of(v, "x", 2024), value_of(v, "x", 2023)
    (3.0, None)
    """
    hit = vals[(vals["indicator"] == code) & (vals["period"] == str(year))]
    return float(hit["value"].iloc[0]) if len(hit) else None


def tiles(vals: pd.DataFrame, year: int, defs: pd.DataFrame | None = None,
          lang: str = "zh") -> list[Tile]:
    """One tile per declared indicator with a comparison (or any entered value): value
    for ``year``, last year's, the series, and the status against its target — a fixed
    value or another indicator's value for the same year (the Taizhou average).

    >>> v = pd.DataFrame({"indicator": ["ccv_event_rate", "ccv_event_rate_taizhou"] * 2,
    ...                   "period": ["2023", "2023", "2024", "2024"],
    ...                   "value": [300.0, 280.0, 250.0, 270.0]})
    >>> t = {x.key: x for x in tiles(v, 2024)}
    >>> t["ccv_event_rate"].status, t["ccv_event_rate"].params["target_value"]
    ('met', 270.0)
    >>> t["nego_drugs_hospital"].status
    'no_data'
    """
    defs = load_definitions() if defs is None else defs
    out = []
    for _, d in defs.iterrows():
        own = vals[vals["indicator"] == d["code"]]
        if not d["comparison"] and own.empty:
            continue
        series = pd.Series({int(p): float(v) for p, v in zip(own["period"], own["value"])},
                           dtype=float).sort_index()
        unit = d["unit_en"] if lang == "en" else d["unit"]
        t = Tile(d["code"], d["unit"], value_of(vals, d["code"], year),
                 value_of(vals, d["code"], year - 1), series,
                 params={"name": d["name_en" if lang == "en" else "name_zh"],
                         "unit_text": unit,
                         "definition": d["definition_en" if lang == "en" else "definition_zh"],
                         "source": d["source"]})
        if d["comparison"]:
            goal = d["target"] if d["target_ref"] == "" else value_of(vals, d["target_ref"], year)
            t.params["target_value"] = goal
            if goal is not None and not pd.isna(goal):
                shown = f"{goal:g} {unit}"
            else:  # the reference (Taizhou average) is not entered for the year
                ref = defs.loc[defs["code"] == d["target_ref"]].iloc[0]
                shown = i18n.t("board.agg.ref_missing", lang,
                               name=ref["name_en" if lang == "en" else "name_zh"], year=year)
            t.params["target_text"] = f"{targets.SYMBOL[d['comparison']]} {shown}"
            t.status = ("no_data" if goal is None or pd.isna(goal) else
                        targets.status(t.value, float(goal), d["comparison"]))
        out.append(t)
    return out
