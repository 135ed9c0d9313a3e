"""The monthly hypertension/diabetes (两病) outpatient-drug report (issue 10; domain.md
§6.4; decisions §11) in the exact layout of seed 004's table, and the register figures
the board shows.

Figures per scheme (three rows) and disease (side by side), from the drug settlements
(:class:`healthmap.board_models.DrugSettlement`) and the management register:

* 规范化管理人数 — persons with a settlement of the disease in the scheme in the period
  who are under standardised management of the disease (register, ``managed_since`` on
  or before the period's end);
* 待遇享受人数 / 人次 — persons / settlements of the disease in the scheme with fund paid
  > 0;
* 药品费用, 政策范围内费用, 基金支出 — sums over the settlements whose drug class is the
  disease's own (antihypertensive / antidiabetic) only.

Cumulative since the policy start, with this month beside (an identical block).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from healthmap.board_models import ChronicRegister, DrugSettlement

POLICY_START = dt.date(2024, 1, 1)  # 玉政发〔2024〕24号, the board's policy start
SCHEMES = {"general": "普通门诊统筹中“两病”用药患者",
           "special": "“两病”专项保障机制用药患者",
           "chronic": "门诊慢性病、特殊疾病中“两病”用药患者"}
DRUG_OF = {"hypertension": "antihypertensive", "diabetes": "antidiabetic"}
FIGURES = ["managed", "persons", "visits", "drug_cost", "policy_cost", "fund_paid"]
HEADERS = {
    "hypertension": ["规范化管理人数（人）", "待遇享受人数（人）", "待遇享受人次（次）",
                     "降血压药品费用（元）", "降血压药品政策范围内费用（元）",
                     "降血压药品基金支出（元）"],
    "diabetes": ["规范化管理人数（人）", "待遇享受人数（人）", "待遇享受人次（次）",
                 "降血糖药品费用（元）", "降血糖药品政策范围内费用（元）",
                 "降血糖药品基金支出（元）"],
}
SETTLEMENT_COLS = ["person_id", "date", "disease", "scheme", "drug_class", "drug_cost_fen",
                   "policy_cost_fen", "fund_paid_fen"]
REGISTER_COLS = ["person_id", "disease", "managed_since", "standardised"]


def figures(settlements: pd.DataFrame, register: pd.DataFrame | None, start: dt.date,
            end: dt.date) -> pd.DataFrame:
    """The report's figures for settlements dated ``start``..``end`` (inclusive).

    Returns one row per scheme (``general``, ``special``, ``chronic``) and columns
    ``(disease, figure)``; money in integer fen; ``managed`` is ``<NA>`` without a
    register.

    Examples
    --------
    >>> s = pd.DataFrame({"person_id": ["a", "a", "b"], "date": [dt.date(2024, 5, 3)] * 3,
    ...                   "disease": "hypertension", "scheme": "special",
    ...                   "drug_class": ["antihypertensive", "other", "antihypertensive"],
    ...                   "drug_cost_fen": [1000, 500, 2000], "policy_cost_fen": [900, 500, 2000],
    ...                   "fund_paid_fen": [450, 0, 0]})
    >>> r = pd.DataFrame({"person_id": ["a"], "disease": ["hypertension"],
    ...                   "managed_since": [dt.date(2024, 1, 1)], "standardised": [True]})
    >>> f = figures(s, r, dt.date(2024, 1, 1), dt.date(2024, 5, 31))
    >>> f.loc["special", "hypertension"].tolist()
    [1, 1, 1, 3000, 2900, 450]
    """
    s = settlements[(pd.to_datetime(settlements["date"]) >= pd.Timestamp(start))
                    & (pd.to_datetime(settlements["date"]) <= pd.Timestamp(end))]
    cols = pd.MultiIndex.from_product([list(DRUG_OF), FIGURES])
    out = pd.DataFrame(0, index=list(SCHEMES), columns=cols, dtype="Int64")
    managed = None
    if register is not None and len(register):
        r = register[register["standardised"].astype(bool)
                     & (pd.to_datetime(register["managed_since"]) <= pd.Timestamp(end))]
        managed = set(zip(r["person_id"], r["disease"]))
    for disease, drug in DRUG_OF.items():
        for scheme in SCHEMES:
            sub = s[(s["disease"] == disease) & (s["scheme"] == scheme)]
            paid = sub[sub["fund_paid_fen"] > 0]
            own = sub[sub["drug_class"] == drug]
            people = set(sub["person_id"])
            out.loc[scheme, (disease, "managed")] = (
                pd.NA if managed is None else sum((p, disease) in managed for p in people))
            out.loc[scheme, (disease, "persons")] = paid["person_id"].nunique()
            out.loc[scheme, (disease, "visits")] = len(paid)
            out.loc[scheme, (disease, "drug_cost")] = int(own["drug_cost_fen"].sum())
            out.loc[scheme, (disease, "policy_cost")] = int(own["policy_cost_fen"].sum())
            out.loc[scheme, (disease, "fund_paid")] = int(own["fund_paid_fen"].sum())
    return out


def month_end(year: int, month: int) -> dt.date:
    """The last day of ``month``.

    >>> month_end(2024, 2), month_end(2024, 12)
    (datetime.date(2024, 2, 29), datetime.date(2024, 12, 31))
    """
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def load(engine: Engine, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Settlements dated ``start``..``end`` and the whole register."""
    with engine.connect() as conn:
        s = conn.execute(select(*[getattr(DrugSettlement, c) for c in SETTLEMENT_COLS]).where(
            DrugSettlement.date >= start, DrugSettlement.date <= end)).all()
        r = conn.execute(select(*[getattr(ChronicRegister, c) for c in REGISTER_COLS])).all()
    return (pd.DataFrame([tuple(x) for x in s], columns=SETTLEMENT_COLS),
            pd.DataFrame([tuple(x) for x in r], columns=REGISTER_COLS))


def _cells(f: pd.DataFrame, scheme: str) -> list:
    row = []
    for disease in DRUG_OF:
        for fig in FIGURES:
            v = f.loc[scheme, (disease, fig)]
            if pd.isna(v):
                row.append(None)
            elif fig in ("drug_cost", "policy_cost", "fund_paid"):
                row.append(round(int(v) / 100, 2))
            else:
                row.append(int(v))
    return row


def report_layout(cum: pd.DataFrame, month: pd.DataFrame, county: str, year: int,
                  mon: int, start: dt.date, has_register: bool, today: dt.date | None = None
                  ) -> tuple[list[list], list[str]]:
    """The seed's table (columns A-O: 市别, 类别, six hypertension figures, six diabetes
    figures, 备注) with the cumulative figures, and this month's figures in an identical
    block beside it (columns Q-AC), as rows of cells plus the merged ranges.

    >>> f = pd.DataFrame(0, index=list(SCHEMES), columns=pd.MultiIndex.from_product(
    ...     [list(DRUG_OF), FIGURES]))
    >>> rows, merges = report_layout(f, f, "玉环市", 2024, 5, POLICY_START, True,
    ...                              dt.date(2024, 6, 1))
    >>> rows[2][:3], rows[3][2], rows[4][:2], len(rows[4])
    (['市别', '类别', '高血压'], '规范化管理人数（人）', ['玉环市', '普通门诊统筹中“两病”用药患者'], 29)
    """
    today = today or dt.date.today()
    end = month_end(year, mon)
    blank_note = ("" if has_register else
                  "规范化管理人数空白：尚未导入慢病管理登记（chronic_register）")
    head1 = ["市别", "类别", "高血压"] + [None] * 5 + ["糖尿病"] + [None] * 5 + ["备注"]
    head2 = [None, None] + HEADERS["hypertension"] + HEADERS["diabetes"] + [None]
    side1 = [f"其中本月（{year}年{mon}月）", "高血压"] + [None] * 5 + ["糖尿病"] + [None] * 5
    side1 = ["类别"] + side1[1:]
    side2 = [None] + HEADERS["hypertension"] + HEADERS["diabetes"]
    rows = [
        ["“两病”门诊用药保障情况表"] + [None] * 14 + [None]
        + [f"其中本月（{year}年{mon}月）"] + [None] * 12,
        [f"报送时间：{today.year}年{today.month}月{today.day}日    统计期：{start:%Y-%m-%d} 至 "
         f"{end:%Y-%m-%d}（累计）"] + [None] * 14 + [None]
        + [f"统计期：{year}年{mon}月1日 至 {end:%Y-%m-%d}"] + [None] * 12,
        head1 + [None] + side1,
        head2 + [None] + side2,
    ]
    for i, scheme in enumerate(SCHEMES):
        rows.append([county if i == 0 else None, SCHEMES[scheme]] + _cells(cum, scheme)
                    + [blank_note or None] + [None] + [SCHEMES[scheme]] + _cells(month, scheme))
    notes = [
        f"注：1、统计口径均为本市“两病”政策落地之日（{start:%Y-%m-%d}）起至目前统计时间"
        f"（{end:%Y-%m-%d}）；右侧为其中本月数。",
        "2、药品费用、政策范围内费用、基金支出只计降血压（高血压栏）或降血糖（糖尿病栏）药品；"
        "人数、人次为该病种在该类别下有基金支付的结算。",
        "3、规范化管理人数 = 该类别下有该病种结算、且在慢病管理登记中为规范管理的人数。",
    ]
    if blank_note:
        notes.append(f"4、{blank_note}。")
    rows += [[n] + [None] * 14 for n in notes]
    merges = ["A1:O1", "A2:O2", "Q1:AC1", "Q2:AC2", "A3:A4", "B3:B4", "C3:H3", "I3:N3",
              "O3:O4", "Q3:Q4", "R3:W3", "X3:AC3", "A5:A7", "O5:O7"]
    merges += [f"A{8 + i}:O{8 + i}" for i in range(len(notes))]
    return rows, merges


def report_xlsx(engine: Engine, year: int, mon: int, county: str, stamp=None,
                start: dt.date = POLICY_START) -> bytes:
    """The report for ``year``-``mon`` as an Excel workbook (through
    :func:`healthmap.exports.to_xlsx_layout`)."""
    from healthmap import exports

    end = month_end(year, mon)
    s, r = load(engine, start, end)
    has_register = len(r) > 0
    cum = figures(s, r if has_register else None, start, end)
    this = figures(s, r if has_register else None, dt.date(year, mon, 1), end)
    rows, merges = report_layout(cum, this, county, year, mon, start, has_register)
    widths = {c: 14 for c in "CDEFGHIJKLMN"}
    widths.update({"A": 10, "B": 30, "O": 24, "Q": 30})
    return exports.to_xlsx_layout({"两病门诊用药保障情况表": (rows, merges)}, stamp, widths)


def new_managed(engine: Engine, year: int) -> int | None:
    """Persons whose standardised management of hypertension or diabetes began in
    ``year`` (their earliest such date); ``None`` without a register."""
    with engine.connect() as conn:
        if not conn.scalar(select(func.count()).select_from(ChronicRegister)):
            return None
        first = select(ChronicRegister.person_id,
                       func.min(ChronicRegister.managed_since).label("since")).where(
            ChronicRegister.standardised.is_(True)).group_by(
            ChronicRegister.person_id).subquery()
        return int(conn.scalar(select(func.count()).select_from(first).where(
            first.c.since >= dt.date(year, 1, 1), first.c.since <= dt.date(year, 12, 31))))


def managed_by_year(engine: Engine, years: list[int], months: int = 12) -> pd.Series | None:
    """Persons under standardised management of hypertension or diabetes at the end of
    month ``months`` of each year (year → persons; the board's period is months 1..m of
    every year, so a part-year is compared with the same point of the years before);
    ``None`` without a register."""
    with engine.connect() as conn:
        r = pd.DataFrame(conn.execute(select(ChronicRegister.person_id,
                                             ChronicRegister.managed_since).where(
            ChronicRegister.standardised.is_(True))).all(), columns=["person_id", "since"])
    if r.empty:
        return None
    first = pd.to_datetime(r.groupby("person_id")["since"].min())
    return pd.Series({y: int((first < pd.Timestamp(y, months, 1) + pd.offsets.MonthBegin(1)
                              ).sum()) for y in years}, dtype=float)
