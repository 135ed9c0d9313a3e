"""Bulk update of screening results from a CSV or Excel file: every row checked (file line,
column, value, reason for each problem), then all rows written or none; importing the same
file again changes nothing (events keyed by the file's ``source_id``).

Columns (Chinese headers accepted): ``source_id`` (the screening record's id at the
institution), ``resident_id``, ``ruleset`` (colorectal / lung / gastric / diabetes),
``screened_date``, ``institution_code``, ``fee`` (yuan, the full fee); optional ``result``
(normal / abnormal / diagnosed, 正常 / 异常 / 确诊), ``result_date`` (default: the screening
date) and ``reduction`` (true when the 30 % reduction was used; only for expert-confirmed
persons).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy.orm import Session

from healthmap import access, audit, codes
from healthmap.ingest.readers import FileReadError, read_table
from healthmap.ingest.validate import parse_dates
from healthmap.screening.records import REASONS, TransitionError, check_events, record_events

REQUIRED = ["source_id", "resident_id", "ruleset", "screened_date", "institution_code", "fee"]
OPTIONAL = ["result", "result_date", "reduction"]
ALIASES = {"筛查记录号": "source_id", "居民编号": "resident_id", "筛查项目": "ruleset",
           "规则集": "ruleset", "筛查日期": "screened_date", "机构编码": "institution_code",
           "费用": "fee", "筛查费用": "fee", "结果": "result", "筛查结果": "result",
           "结果日期": "result_date", "减免": "reduction", "费用减免": "reduction"}
RESULT_WORDS = {"normal": "normal", "正常": "normal", "阴性": "normal", "abnormal": "abnormal",
                "异常": "abnormal", "阳性": "abnormal", "diagnosed": "diagnosed",
                "确诊": "diagnosed"}
ROW_REASONS = {"required": "required", "date": "not a date", "fee": "not an amount in yuan "
               "(at most 2 decimals, not negative)", "result": "normal, abnormal or diagnosed",
               "bool": "true or false", "duplicate": "source_id repeated in the file",
               "missing_column": "column missing", "unreadable": "file not readable"}


@dataclass
class ImportOutcome:
    ok: bool
    rows: int
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    inserted: int = 0
    unchanged: int = 0


def _reason(code: str, lang: str) -> str:
    text = ROW_REASONS.get(code) or REASONS.get(code, code)
    if lang == "zh":
        from healthmap import i18n

        return i18n.t(f"screening.err.{code}", "zh") if f"screening.err.{code}" in i18n.TEXT \
            else text
    return text


def _fee_fen(value: str) -> int | None:
    try:
        d = Decimal(value.replace(",", ""))
    except InvalidOperation:
        return None
    if d < 0 or d != d.quantize(Decimal("0.01")) or not d.is_finite():
        return None
    return int(d * 100)


def parse_rows(df: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Events from the file's rows (each tagged with its file line) and the row problems."""
    problems: list[dict] = []
    df = df.rename(columns={c: ALIASES.get(c, c) for c in df.columns})
    for c in REQUIRED:
        if c not in df.columns:
            problems.append(dict(line=1, column=c, value="", reason="missing_column"))
    if problems:
        return [], problems
    for c in OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    screened = parse_dates(df["screened_date"])
    result_date = parse_dates(df["result_date"])
    reduction = codes.normalize_bool(df["reduction"])
    dup = df["source_id"].duplicated(keep="first") & (df["source_id"] != "")
    events: list[dict] = []
    for i, r in df.iterrows():
        line = i + 2
        bad = False
        for c in REQUIRED:
            if not str(r[c]).strip():
                problems.append(dict(line=line, column=c, value="", reason="required"))
                bad = True
        if bad:
            continue
        if dup[i]:
            problems.append(dict(line=line, column="source_id", value=r["source_id"],
                                 reason="duplicate"))
            continue
        if pd.isna(screened[i]):
            problems.append(dict(line=line, column="screened_date", value=r["screened_date"],
                                 reason="date"))
            continue
        fee = _fee_fen(str(r["fee"]))
        if fee is None:
            problems.append(dict(line=line, column="fee", value=r["fee"], reason="fee"))
            continue
        result = RESULT_WORDS.get(str(r["result"]).strip().lower()) if r["result"] else None
        if r["result"] and result is None:
            problems.append(dict(line=line, column="result", value=r["result"],
                                 reason="result"))
            continue
        if r["result_date"] and pd.isna(result_date[i]):
            problems.append(dict(line=line, column="result_date", value=r["result_date"],
                                 reason="date"))
            continue
        if r["reduction"] and reduction[i] is None:
            problems.append(dict(line=line, column="reduction", value=r["reduction"],
                                 reason="bool"))
            continue
        sid = str(r["source_id"]).strip()
        base = dict(ruleset_id=str(r["ruleset"]).strip(), resident_id=str(r["resident_id"]).strip(),
                    line=line)
        sdate = screened[i].date()
        events.append(dict(base, kind="screened", source_id=sid, date=sdate,
                           institution_code=str(r["institution_code"]).strip(), fee_fen=fee))
        if result:
            rdate = result_date[i].date() if not pd.isna(result_date[i]) else sdate
            events.append(dict(base, kind="result", source_id=f"{sid}:result:{result}",
                               date=rdate, result=result))
        if reduction[i]:
            events.append(dict(base, kind="reduction", source_id=f"{sid}:reduction",
                               date=sdate, refers_to=sid))
    return events, problems


def import_results(session: Session, actor: access.Actor, data: bytes, filename: str,
                   lang: str = "zh", today: dt.date | None = None) -> ImportOutcome:
    """Validate the whole file, then write every event or none (the caller's transaction).
    Problems come back as a table: ``line`` (file line; 1 = header), ``column``, ``value``,
    ``reason``."""
    access.require(actor, "screening.import")
    try:
        df = read_table(data, filename)
    except FileReadError as exc:
        problems = [dict(line=1, column="", value="", reason="unreadable", detail=str(exc))]
        return _refused(session, actor, filename, 0, problems, lang)
    events, problems = parse_rows(df)
    if events:  # rows that parsed are checked against the records too: every bad row named
        for p in check_events(session, actor, events, today):
            ev = events[p["row"]]
            problems.append(dict(line=ev["line"], column=p["column"], value=p["value"],
                                 reason=p["reason"]))
    if problems:
        return _refused(session, actor, filename, len(df), problems, lang)
    try:
        res = record_events(session, actor, events, today)
    except TransitionError as exc:  # pragma: no cover - checked just above
        return _refused(session, actor, filename, len(df), [
            dict(line=events[p["row"]]["line"], column=p["column"], value=p["value"],
                 reason=p["reason"]) for p in exc.problems], lang)
    audit.record(session, actor.username, "screening_import", filename[:200],
                 f"rows={len(df)} inserted={res.inserted} unchanged={res.unchanged}",
                 role=actor.role)
    return ImportOutcome(True, len(df), inserted=res.inserted, unchanged=res.unchanged)


def _refused(session, actor, filename, n, problems, lang) -> ImportOutcome:
    table = pd.DataFrame(problems, columns=["line", "column", "value", "reason"])
    table["reason"] = table["reason"].map(lambda c: _reason(c, lang))
    table = table.sort_values(["line", "column"], kind="stable").reset_index(drop=True)
    audit.record(session, actor.username, "screening_import_rejected", filename[:200],
                 f"rows={n} problems={len(table)}; nothing written", role=actor.role)
    return ImportOutcome(False, n, table)
