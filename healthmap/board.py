"""The leaders' board (issue 10): headline tiles with target, status and sparkline, fund
outflow and potential saving by disease group, from the summary tables only.

Every figure is computed by a pure function from one small frame of summary sums
(:func:`board_cells`: year × month × setting × in/out of county × insurance type), so a
page click never reads raw episodes. The period of a year is the months 1..m where m is
the last month with data in the chosen year; every year of a sparkline and the year-on-
year change use the same months (a part-year is compared with the same months before).

Money here is in yuan as :mod:`healthmap.queries` gives it (the store's exact fen sums
divided once; the board only shows it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from healthmap import comparisons, metrics, queries, targets, twodisease
from healthmap.queries import Filters

#: the year the 2024 measures (玉政发〔2024〕24号) took effect, marked on the trends
POLICY_START = twodisease.POLICY_START.year
CELL_KEYS = ["year", "month", "setting", "in_county", "insurance_type"]
#: the insurance type whose fund the growth ceiling concerns (城乡居民医保)
GROWTH_INSURANCE = "resident"


@dataclass
class Tile:
    """One headline figure: value for the chosen period, last year's, target and status,
    and the series over the years (same months each year)."""

    key: str
    unit: str  # text key of the unit
    value: float | None
    previous: float | None
    series: pd.Series  # year → value
    target: targets.Target | None = None
    status: str = ""  # "" when the tile has no target
    ci: tuple[float, float] | None = None
    note: str = ""  # text key of a remark (e.g. why there is no value)
    params: dict = field(default_factory=dict)

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None or pd.isna(self.value) \
                or pd.isna(self.previous):
            return None
        return float(self.value) - float(self.previous)


def board_cells(engine: Engine, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summary sums by year, month, setting, in/out of county and insurance type (all
    years; a few hundred rows)."""
    return queries.cells(engine, Filters(setting=None), CELL_KEYS, None, frame)


def last_month(cells: pd.DataFrame, year: int) -> int:
    """The last month with data in ``year`` (12 when the year is complete).

    >>> last_month(pd.DataFrame({"year": [2023, 2024], "month": [12, 6]}), 2024)
    6
    """
    m = cells.loc[cells["year"] == year, "month"]
    return int(m.max()) if len(m) else 12


def _period(cells: pd.DataFrame, months: int) -> pd.DataFrame:
    return cells[cells["month"] <= months]


def _per_year(cells: pd.DataFrame, years: list[int], fn) -> pd.Series:
    """``fn(frame of one year)`` for every year (NaN where the year has no rows)."""
    out = {}
    for y in years:
        sub = cells[cells["year"] == y]
        out[y] = fn(sub) if len(sub) else np.nan
    return pd.Series(out, dtype=float)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else np.nan


def in_county_pct(c: pd.DataFrame) -> float:
    """In-county share of inpatient episodes, in %.

    >>> c = pd.DataFrame({"setting": ["inpatient"] * 2 + ["outpatient"],
    ...                   "in_county": [True, False, False], "episodes": [90, 10, 50]})
    >>> in_county_pct(c)
    90.0
    """
    ip = c[c["setting"] == "inpatient"]
    return _ratio(ip.loc[ip["in_county"].astype(bool), "episodes"].sum(),
                  ip["episodes"].sum()) * 100


def cost_per_case(c: pd.DataFrame, setting: str) -> float:
    """Mean cost per episode of ``setting`` (yuan).

    >>> c = pd.DataFrame({"setting": ["inpatient", "inpatient"], "episodes": [2, 3],
    ...                   "cost_sum": [20000.0, 30000.0]})
    >>> cost_per_case(c, "inpatient")
    10000.0
    """
    s = c[c["setting"] == setting]
    return _ratio(s["cost_sum"].sum(), s["episodes"].sum())


def fund_outflow(c: pd.DataFrame) -> float:
    """Fund paid for episodes outside the county (yuan)."""
    return float(c.loc[~c["in_county"].astype(bool), "fund_sum"].sum())


def fund_growth(cells: pd.DataFrame, year: int, months: int,
                insurance: str | None = GROWTH_INSURANCE) -> float:
    """Growth of fund expenditure (%) of ``insurance`` (``None`` = all types) over months
    1..``months`` of ``year`` against the same months of the year before.

    >>> c = pd.DataFrame({"year": [2023, 2024, 2024], "month": [1, 1, 7],
    ...                   "insurance_type": "resident", "fund_sum": [100.0, 108.0, 500.0]})
    >>> round(fund_growth(c, 2024, 6), 6)
    8.0
    """
    c = _period(cells, months)
    if insurance:
        c = c[c["insurance_type"] == insurance]
    now = c.loc[c["year"] == year, "fund_sum"].sum()
    before = c.loc[c["year"] == year - 1, "fund_sum"].sum()
    return float((now / before - 1) * 100) if before else np.nan


def fund_by_insurance(cells: pd.DataFrame, year: int, months: int) -> pd.DataFrame:
    """Fund paid per insurance type in the period and the same months a year before, with
    the growth in % (the fund-growth target's evidence)."""
    c = _period(cells, months)
    g = c[c["year"].isin([year - 1, year])].groupby(["insurance_type", "year"])[
        "fund_sum"].sum().unstack("year").reindex(columns=[year - 1, year]).fillna(0.0)
    out = pd.DataFrame({"insurance_type": g.index, "previous": g[year - 1].to_numpy(),
                        "current": g[year].to_numpy()})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["growth_pct"] = np.where(out["previous"] > 0,
                                     (out["current"] / out["previous"] - 1) * 100, np.nan)
    return out


def _with_target(tile: Tile, code: str, ci=None) -> Tile:
    t = targets.load()[code]
    tile.target = t
    tile.ci = ci
    tile.status = targets.status(tile.value, t.value, t.comparison, ci=ci)
    return tile


def tiles(cells: pd.DataFrame, year: int, screening_new: pd.DataFrame | None = None,
          managed: pd.Series | None = None) -> list[Tile]:
    """The headline tiles for ``year``.

    Parameters
    ----------
    cells : DataFrame
        :func:`board_cells`.
    year : int
        The chosen year; its months 1..m (:func:`last_month`) are the period.
    screening_new : DataFrame, optional
        ``year``, ``month``, ``new_cases`` of the screening cancers (:func:`screening_cases`).
    managed : Series, optional
        Hypertension/diabetes patients under standardised management at the end of each
        year (year → persons), from the management register; ``None`` = no register.
    """
    months = last_month(cells, year)
    c = _period(cells, months)
    years = sorted(int(y) for y in c["year"].unique() if y <= year)

    def tile(key, unit, fn, **kw) -> Tile:
        s = _per_year(c, years, fn)
        return Tile(key, unit, s.get(year, np.nan), s.get(year - 1, np.nan), s, **kw)

    out = [tile("episodes", "unit.episodes", lambda d: d["episodes"].sum())]
    t = tile("in_county_rate", "unit.pct", in_county_pct)
    ip = c[(c["year"] == year) & (c["setting"] == "inpatient")]
    lo, hi = metrics.proportion_ci(ip.loc[ip["in_county"].astype(bool), "episodes"].sum(),
                                   ip["episodes"].sum())
    out.append(_with_target(t, "in_county_rate", (float(lo) * 100, float(hi) * 100)))
    out.append(tile("outward_referral", "unit.pct", lambda d: 100 - in_county_pct(d),
                    note="board.note.complement"))
    out.append(tile("cost_inpatient", "unit.yuan", lambda d: cost_per_case(d, "inpatient")))
    out.append(tile("cost_outpatient", "unit.yuan", lambda d: cost_per_case(d, "outpatient")))
    out.append(tile("fund_expenditure", "unit.yuan", lambda d: d["fund_sum"].sum()))
    g = pd.Series({y: fund_growth(c, y, months) for y in years}, dtype=float)
    out.append(_with_target(Tile("fund_growth", "unit.pct", g.get(year, np.nan),
                                 g.get(year - 1, np.nan), g), "fund_growth"))
    out.append(tile("fund_outflow", "unit.yuan", fund_outflow))
    if screening_new is not None and len(screening_new):
        s = _period(screening_new, months).groupby("year")["new_cases"].sum()
        s = s.reindex(years).astype(float)
        out.append(Tile("screening_cancers", "unit.cases", s.get(year, np.nan),
                        s.get(year - 1, np.nan), s))
    else:
        out.append(Tile("screening_cancers", "unit.cases", None, None, pd.Series(dtype=float),
                        note="board.note.no_screening_groups"))
    if managed is not None and len(managed):
        m = managed.reindex(years).astype(float)
        out.append(Tile("managed", "unit.persons", m.get(year, np.nan),
                        m.get(year - 1, np.nan), m))
    else:
        out.append(Tile("managed", "unit.persons", None, None, pd.Series(dtype=float),
                        note="board.note.no_register"))
    for tl in out:
        tl.params.setdefault("months", months)
    return out


def screening_groups(groups: pd.DataFrame, ruleset_targets: set[str]) -> list[str]:
    """The cancer groups (``C_*``) whose screening target has a shipped rule set.

    >>> g = pd.DataFrame({"group_code": ["C_LUNG", "C_BREAST", "DIABETES"],
    ...                   "screening_target": ["lung", "breast", "diabetes"]})
    >>> screening_groups(g, {"lung", "diabetes"})
    ['C_LUNG']
    """
    keep = groups["group_code"].str.startswith("C_") & groups["screening_target"].isin(
        ruleset_targets)
    return sorted(groups.loc[keep, "group_code"])


def screening_cases(engine: Engine, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Persons treated for the screening cancers (each person's first episode in the
    group and year, any setting: diagnosed cases, 就诊患者, counted once per cancer and
    year without look-back, so the tile says "patients treated", not "new cases") by year
    and month of that first episode."""
    codes = screening_group_codes()
    if not codes:
        return pd.DataFrame(columns=["year", "month", "new_cases"])
    f = Filters(setting=None, groups=tuple(codes))
    return queries.cells(engine, f, ["year", "month"], queries.selected_icd3(engine, f), frame)


def outflow_by_group(cells_by_group: pd.DataFrame, top: int | None = 10) -> pd.DataFrame:
    """Fund outflow and potential saving per disease group and setting, the ``top`` rows
    by fund outflow (``None``: every row with episodes outside the county).

    ``cells_by_group`` has ``group_code``, ``setting``, ``in_county``, ``episodes``,
    ``cost_sum``, ``fund_sum``. Potential saving: :func:`healthmap.comparisons.potential_saving`
    (out-of-county episodes × (mean out-of-county cost − mean in-county cost) within the
    group and setting, negatives as zero; decisions §6).

    >>> c = pd.DataFrame({"group_code": ["A", "A", "B", "B"], "setting": "inpatient",
    ...                   "in_county": [True, False, True, False], "episodes": [100, 10, 50, 50],
    ...                   "cost_sum": [100000.0, 30000.0, 1000000.0, 750000.0],
    ...                   "fund_sum": [60000.0, 18000.0, 600000.0, 400000.0]})
    >>> outflow_by_group(c)[["group_code", "fund_outflow", "saving"]].values.tolist()
    [['B', 400000.0, 0.0], ['A', 18000.0, 20000.0]]
    """
    keys = ["group_code", "setting"]
    sav = comparisons.potential_saving(cells_by_group, keys)
    out_rows = cells_by_group[~cells_by_group["in_county"].astype(bool)]
    flow = out_rows.groupby(keys)["fund_sum"].sum().rename("fund_outflow").reset_index()
    t = sav.merge(flow, on=keys, how="left").fillna({"fund_outflow": 0.0})
    t = t[(t["episodes_out"] > 0)]
    t = t.sort_values(["fund_outflow", "saving"], ascending=False)
    return (t if top is None else t.head(top)).reset_index(
        drop=True)[keys + ["episodes_out", "fund_outflow", "mean_out", "mean_in",
                           "difference", "saving"]]


def outflow_totals(cells_by_group: pd.DataFrame) -> dict[str, float]:
    """Fund outflow and potential saving summed over every disease group and setting (not
    only the top rows): the saving per group and setting with negatives as zero, then
    summed (decisions §6).

    >>> c = pd.DataFrame({"group_code": ["A", "A", "B", "B"], "setting": "inpatient",
    ...                   "in_county": [True, False, True, False], "episodes": [100, 10, 50, 50],
    ...                   "cost_sum": [100000.0, 30000.0, 1000000.0, 750000.0],
    ...                   "fund_sum": [60000.0, 18000.0, 600000.0, 400000.0]})
    >>> outflow_totals(c)
    {'fund_outflow': 418000.0, 'saving': 20000.0}
    """
    t = outflow_by_group(cells_by_group, top=None)
    return {"fund_outflow": float(t["fund_outflow"].sum()), "saving": float(t["saving"].sum())}


def group_cells(engine: Engine, year: int, months: int,
                frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summary sums of ``year`` (months 1..``months``) by disease group, setting and in/out
    of county."""
    from healthmap.reference import cached_disease_groups, icd3_to_group

    f = Filters(years=(year,), setting=None, month_from=1, month_to=months)
    c = queries.cells(engine, f, ["icd3", "setting", "in_county"], None, frame)
    c["group_code"] = c["icd3"].map(icd3_to_group(cached_disease_groups())).fillna("—")
    return c


ASSUMPTIONS = ("board.assume.case_mix", "board.assume.no_in_county",
               "board.assume.negative_zero", "board.assume.cost_not_fund")


def fmt(value, unit: str, lang: str | None = None) -> str:
    """A tile value as text: yuan and counts with thousands separators, % with one
    decimal; ``—`` when missing. With ``lang``, yuan of a million or more are shortened
    as a tile shows them (exports keep every digit): 万 / 亿 in Chinese, m / bn in
    English (short enough for a tile of a three-column row: "438.7 million yuan" was
    cut off there).

    >>> fmt(12587.4, "unit.yuan"), fmt(88.599, "unit.pct"), fmt(None, "unit.pct")
    ('12,587', '88.6', '—')
    >>> fmt(12_162_860_934, "unit.yuan", "zh"), fmt(12_162_860_934, "unit.yuan", "en")
    ('121.63 亿', '12.16bn')
    >>> fmt(143_217_426, "unit.yuan", "zh"), fmt(-143_217_426, "unit.yuan", "en")
    ('1.43 亿', '-143.2m')
    >>> fmt(8_765_432, "unit.yuan", "zh"), fmt(987_654, "unit.yuan", "zh")
    ('877 万', '987,654')
    """
    if value is None or pd.isna(value):
        return "—"
    if unit == "unit.pct":
        return f"{value:,.1f}"
    if lang and unit == "unit.yuan" and abs(value) >= 1e6:
        steps = ((1e8, " 亿", 2), (1e4, " 万", 0)) if lang == "zh" else \
            ((1e9, "bn", 2), (1e6, "m", 1))
        size, word, places = next(s for s in steps if abs(value) >= s[0])
        return f"{value / size:,.{places}f}{word}"
    return f"{value:,.0f}"


def definition(tile: Tile, lang: str = "zh") -> str:
    """What ``tile`` counts, in words: an entered indicator's own definition, else the
    headline tile's text ``board.def.<key>`` (the screening cancers named).

    >>> definition(Tile("cost_inpatient", "unit.yuan", 1.0, None, pd.Series(dtype=float)),
    ...            "en")
    'Total inpatient cost ÷ inpatient stays (in and out of the county), yuan.'
    """
    from healthmap import i18n

    if tile.params.get("definition"):
        return tile.params["definition"]
    groups = ""
    if tile.key == "screening_cancers":
        names = group_names(lang).set_index("group_code")["name"]
        groups = ("、" if lang == "zh" else ", ").join(
            names.get(g, g) for g in screening_group_codes())
    return i18n.t(f"board.def.{tile.key}", lang, groups=groups)


def unit_text(tile: Tile, lang: str = "zh") -> str:
    """The unit of ``tile`` as shown in ``lang``.

    >>> unit_text(Tile("cost_inpatient", "unit.yuan", 1.0, None, pd.Series(dtype=float)), "en")
    'yuan'
    """
    from healthmap import i18n

    if tile.unit.startswith("unit."):
        return i18n.t(tile.unit, lang)
    return tile.params.get("unit_text", tile.unit)


def value_text(value, tile: Tile, lang: str = "zh") -> str:
    """A tile's value with its unit, as on the tile (``—`` when missing).

    >>> t = Tile("cost_inpatient", "unit.yuan", 12587.4, None, pd.Series(dtype=float))
    >>> value_text(t.value, t, "zh"), value_text(None, t, "en")
    ('12,587 元', '—')
    >>> value_text(12_162_860_934, t, "zh"), value_text(12_162_860_934, t, "en")
    ('121.63 亿元', '12.16bn yuan')
    """
    text = fmt(value, unit_kind(tile.unit), lang)
    if text == "—":
        return text
    unit = unit_text(tile, lang)
    return f"{text}{unit}" if text.endswith(("万", "亿")) else f"{text} {unit}"


def unit_kind(unit: str) -> str:
    """The display kind of a unit: a text key (``unit.*``) as it is; an entered
    indicator's unit (``%``, ``/10万``, ``张``…) as ``unit.pct`` for rates and
    ``unit.cases`` for counts, so page and briefing format its values alike.

    >>> unit_kind("unit.yuan"), unit_kind("%"), unit_kind("/10万"), unit_kind("张")
    ('unit.yuan', 'unit.pct', 'unit.pct', 'unit.cases')
    """
    if unit.startswith("unit."):
        return unit
    return "unit.pct" if unit in ("%", "/10万") else "unit.cases"


def tiles_frame(ts: list[Tile], lang: str = "zh", formatted: bool = False,
                definitions: bool = False) -> pd.DataFrame:
    """The tiles as a table (for exports): indicator, period value, last year, target,
    status, and the series as text; ``formatted`` gives the values as display text
    (:func:`fmt`) instead of numbers; ``definitions`` adds what each tile counts."""
    from healthmap import i18n

    def num(v, unit):
        if v is None or pd.isna(v):
            return None
        return fmt(v, unit) if formatted else round(float(v), 2)

    rows = []
    for t in ts:
        unit = unit_kind(t.unit)
        rows.append({
            i18n.t("board.col.indicator", lang): t.params.get("name")
            or i18n.t(f"board.tile.{t.key}", lang),
            i18n.t("board.col.unit", lang): unit_text(t, lang),
            i18n.t("board.col.actual", lang): num(t.value, unit),
            i18n.t("board.col.last_year", lang): num(t.previous, unit),
            i18n.t("board.target", lang): t.target.text(lang) if t.target
            else t.params.get("target_text", ""),
            i18n.t("board.col.status", lang): i18n.t(f"board.status.{t.status}", lang)
            if t.status else "",
            i18n.t("board.col.series", lang): "; ".join(
                f"{y}: {fmt(v, unit)}" for y, v in t.series.items()),
            i18n.t("board.col.note", lang): i18n.t(t.note, lang) if t.note else "",
        })
        if definitions:
            rows[-1][i18n.t("board.col.definition", lang)] = definition(t, lang)
    return pd.DataFrame(rows)


def group_names(lang: str = "zh") -> pd.DataFrame:
    """Disease-group codes and their names in ``lang`` (``group_code``, ``name``)."""
    from healthmap.reference import cached_disease_groups, disease_label

    g = cached_disease_groups()
    return pd.DataFrame({"group_code": g["group_code"], "name": disease_label(g, lang)})


def screening_group_codes() -> list[str]:
    """:func:`screening_groups` of the shipped disease groups and rule sets."""
    from healthmap.reference import cached_disease_groups
    from healthmap.screening.loader import load_all

    return screening_groups(cached_disease_groups(), {r.target for r in load_all().values()})
