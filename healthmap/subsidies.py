"""Subsidy estimates the 2024 measures (玉政发〔2024〕24号) commit the finance bureau to,
each line with its rule (from ``data/policy_targets.csv``), the count it applies to and
the amount in integer fen — or, where the data do not exist, why the line cannot be
computed."""

from __future__ import annotations

import pandas as pd

from healthmap import aggregates, targets
from healthmap.ledger import fen_to_yuan

#: subsidy target → the aggregate indicator that counts it (entered by hand)
FROM_AGGREGATES = {"tumour_surgery_g3": "tumour_surgery_g3_new",
                   "tumour_surgery_g4": "tumour_surgery_g4_new",
                   "tcm_herbal_rx": "tcm_herbal_rx", "tcm_bed_day": "tcm_bed_days",
                   "hospice_bed": "hospice_beds", "hospice_inpatient": "hospice_inpatients",
                   "hospice_home": "hospice_home"}
COLUMNS = ["code", "item", "rule", "count", "amount_fen", "amount_yuan", "basis", "note"]


def _line(t: targets.Target, lang: str, count, amount_fen, basis: str, note: str = ""):
    return {"code": t.code, "item": t.name(lang),
            "rule": t.explanation_en if lang == "en" else t.explanation_zh,
            "count": count, "amount_fen": amount_fen,
            "amount_yuan": None if amount_fen is None else fen_to_yuan(amount_fen),
            "basis": basis, "note": note}


def subsidy_lines(year: int, vals: pd.DataFrame, fee_totals: pd.DataFrame | None,
                  new_managed: int | None, lang: str = "zh") -> pd.DataFrame:
    """The subsidy lines for ``year``.

    Parameters
    ----------
    vals : DataFrame
        Aggregate values (:func:`healthmap.aggregates.values`).
    fee_totals : DataFrame or None
        The screening ledger's fee reductions by institution and month
        (:func:`healthmap.screening.views.fee_totals`; ``month`` as ``YYYY-MM``,
        ``reductions``, ``reduction_fen``); ``None`` when the caller may not read it.
    new_managed : int or None
        Persons first under standardised chronic-disease management in ``year`` (from the
        register); ``None`` when no register was imported.

    Amounts are count × the target's value in yuan, in fen; for the "at least" rates
    (``>=``) the amount is the minimum the measures commit to.

    Examples
    --------
    >>> v = pd.DataFrame({"indicator": ["hospice_beds"], "period": ["2024"], "value": [4.0]})
    >>> fees = pd.DataFrame({"month": ["2024-03", "2023-12"], "reductions": [2, 1],
    ...                      "reduction_fen": [9000, 4500]})
    >>> t = subsidy_lines(2024, v, fees, 10, "en").set_index("code")
    >>> t.loc["screening_fee_reduction", ["count", "amount_fen"]].tolist()
    [2, 9000]
    >>> int(t.loc["chronic_new_managed", "amount_fen"]), int(t.loc["hospice_bed", "amount_fen"])
    (50000, 12000000)
    >>> pd.isna(t.loc["tumour_surgery_g3", "amount_fen"])
    True
    """
    ts = targets.load()
    en = lang == "en"
    rows = []
    t = ts["screening_fee_reduction"]
    if fee_totals is None:
        rows.append(_line(t, lang, None, None, "", "The screening ledger is not available "
                          "to this role." if en else "当前角色无权读取筛查台账。"))
    elif fee_totals.empty:
        rows.append(_line(t, lang, 0, 0, "screening ledger" if en else "筛查台账",
                          "No fee reductions recorded in the screening ledger." if en
                          else "筛查台账中没有费用减免记录。"))
    else:
        y = fee_totals[fee_totals["month"].astype(str).str.startswith(f"{year}-")]
        rows.append(_line(t, lang, int(y["reductions"].sum()),
                          int(y["reduction_fen"].sum()),
                          "screening ledger (30 % of each fee, in fen)" if en else
                          "筛查台账（每次筛查费用的 30%，按分计）"))
    t = ts["chronic_new_managed"]
    if new_managed is None:
        rows.append(_line(t, lang, None, None, "", "No chronic-disease management register "
                          "imported." if en else "尚未导入慢病管理登记。"))
    else:
        rows.append(_line(t, lang, int(new_managed), int(new_managed) * int(t.value * 100),
                          "management register: persons first under standardised "
                          "management in the year" if en else
                          "慢病管理登记：当年首次纳入规范管理的人数"))
    for code, ind in FROM_AGGREGATES.items():
        t = ts[code]
        n = aggregates.value_of(vals, ind, year)
        if n is None:
            why = ("Cannot be computed: the episodes carry no surgery grade and no count "
                   "was entered" if en else "无法计算：就诊数据没有手术分级，且未填报例数") \
                if code.startswith("tumour") else (
                "Cannot be computed: not in the episodes and not entered" if en else
                "无法计算：就诊数据中没有，且未填报")
            rows.append(_line(t, lang, None, None, "", f"{why} ({ind})."))
            continue
        minimum = t.comparison == ">="
        rows.append(_line(t, lang, int(n), int(round(n * t.value * 100)),
                          ("entered indicator " if en else "填报指标 ") + ind,
                          ("minimum (at least the stated rate)" if en else "最低额（不低于所列标准）")
                          if minimum else ""))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"count": "Int64", "amount_fen": "Int64"})
