"""Indicator tables by area: incidence, outward referral, cost per case (domain.md §4).

:func:`compute` fetches pre-aggregated sums through :mod:`healthmap.queries` and hands them
to pure functions that return one row per area with ``numerator``, ``denominator``,
``value``, ``ci_low``, ``ci_high`` and reliability flags, plus the county total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from healthmap import metrics, privacy, queries
from healthmap.codes import AGE_GROUPS
from healthmap.queries import Filters
from healthmap.reference import cached_standard_weights

UNSTABLE_BELOW = 20  # domain.md §4: flag rates from fewer than 20 cases
SUPPRESS_RANGE = (1, 4)  # public views suppress cells of 1-4 cases

# measure key → (unit, numerator description key)
MEASURES: dict[str, str] = {
    "incidence": "per 100,000",
    "incidence_asr": "per 100,000",
    "incidence_eb": "per 100,000",
    "episode_rate": "per 100,000",
    "outward_referral": "%",
    "in_county_rate": "%",
    "cost_per_case": "yuan",
    "fund_per_case": "yuan",
    "oop_share": "%",
    "fund_outflow": "yuan",
}
RATE_MEASURES = {"incidence", "incidence_asr", "incidence_eb", "episode_rate"}


@dataclass
class IndicatorResult:
    measure: str
    table: pd.DataFrame  # one row per area
    county: pd.Series  # the county total, same columns
    notes: list[str]


def rate_table(num: pd.DataFrame, pop: pd.DataFrame, areas: pd.DataFrame, months: int = 12,
               weights: pd.Series | None = None, count_col: str = "new_cases",
               ci_method: str = "fay_feuer") -> pd.DataFrame:
    """Crude, age-standardised and EB-smoothed rates per 100,000 for each area.

    ``num`` has ``area_code``, ``age_group`` and ``count_col``; ``pop`` has ``area_code``,
    ``age_group``, ``persons`` (person-years over the selected years; scaled by
    ``months / 12`` for part-year periods). Cases of unknown age count in crude rates only.
    """
    scale = months / 12
    codes = areas["code"].tolist()
    by_area = num.groupby("area_code")[count_col].sum().reindex(codes, fill_value=0)
    persons = pop.groupby("area_code")["persons"].sum().reindex(codes, fill_value=0) * scale
    out = pd.DataFrame({"area_code": codes, "area_name": areas["name"].tolist(),
                        "numerator": by_area.to_numpy(dtype=float),
                        "denominator": persons.to_numpy(dtype=float)})
    out["crude"] = metrics.crude_rate(out["numerator"], out["denominator"])
    lo, hi = metrics.crude_rate_ci(out["numerator"], out["denominator"])
    out["crude_low"], out["crude_high"] = lo, hi
    if out["denominator"].sum() > 0:
        out["eb"] = metrics.empirical_bayes(out["numerator"], out["denominator"]) * 1e5
    else:
        out["eb"] = np.nan
    out["asr"] = out["asr_low"] = out["asr_high"] = np.nan
    out["unknown_age"] = 0.0
    if weights is not None and "age_group" in pop.columns and len(pop):
        e = _by_area_age(num[num["age_group"].isin(AGE_GROUPS)], count_col, codes)
        n = _by_area_age(pop, "persons", codes) * scale
        w = weights.reindex(list(AGE_GROUPS)).to_numpy()
        r, lo, hi = metrics.age_standardized_rate(e.to_numpy(), n.to_numpy(), w,
                                                  method=ci_method)
        out["asr"], out["asr_low"], out["asr_high"] = r, lo, hi
        out["unknown_age"] = out["numerator"] - e.sum(axis=1).to_numpy()
    return out


def _by_area_age(df: pd.DataFrame, col: str, codes: list[str]) -> pd.DataFrame:
    """``col`` summed into an area × age-group matrix (rows ``codes``, all age groups)."""
    return (df.groupby(["area_code", "age_group"], observed=True)[col].sum().unstack()
            .reindex(index=codes, columns=list(AGE_GROUPS)).fillna(0).astype(float))


def referral_table(c: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Outward referral (%) per area from cells with ``area_code``, ``in_county``,
    ``episodes``, ``referrals`` (formal referral flags)."""
    codes = areas["code"].tolist()
    total = c.groupby("area_code")["episodes"].sum().reindex(codes, fill_value=0)
    outside = c[~c["in_county"].astype(bool)]
    out_n = outside.groupby("area_code")["episodes"].sum().reindex(codes, fill_value=0)
    formal = outside.groupby("area_code")["referrals"].sum().reindex(codes, fill_value=0)
    t = pd.DataFrame({"area_code": codes, "area_name": areas["name"].tolist(),
                      "numerator": out_n.to_numpy(dtype=float),
                      "denominator": total.to_numpy(dtype=float),
                      "formal": formal.to_numpy(dtype=float)})
    t["self_directed"] = t["numerator"] - t["formal"]
    with np.errstate(divide="ignore", invalid="ignore"):
        t["value"] = np.where(t["denominator"] > 0, t["numerator"] / t["denominator"] * 100,
                              np.nan)
        t["formal_pct"] = np.where(t["denominator"] > 0, t["formal"] / t["denominator"] * 100,
                                   np.nan)
    lo, hi = metrics.proportion_ci(t["numerator"], t["denominator"])
    t["ci_low"], t["ci_high"] = lo * 100, hi * 100
    return t


def cost_table(c: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Cost per case, fund per case, out-of-pocket share and fund outflow per area."""
    codes = areas["code"].tolist()
    g = c.groupby("area_code")[["episodes", "cost_sum", "cost_sq_sum", "fund_sum",
                                "fund_n"]].sum().reindex(codes, fill_value=0)
    outside = c[~c["in_county"].astype(bool)].groupby("area_code")[
        ["fund_sum", "episodes", "cost_sum"]].sum().reindex(codes, fill_value=0)
    inside = c[c["in_county"].astype(bool)].groupby("area_code")[
        ["episodes", "cost_sum"]].sum().reindex(codes, fill_value=0)
    t = pd.DataFrame({"area_code": codes, "area_name": areas["name"].tolist(),
                      "numerator": g["cost_sum"].to_numpy(dtype=float),
                      "denominator": g["episodes"].to_numpy(dtype=float)})
    mean, lo, hi = metrics.mean_ci(g["cost_sum"], g["cost_sq_sum"], g["episodes"])
    t["value"], t["ci_low"], t["ci_high"] = mean, lo, hi
    with np.errstate(divide="ignore", invalid="ignore"):
        t["fund_per_case"] = np.where(g["fund_n"] > 0, g["fund_sum"] / g["fund_n"], np.nan)
        t["oop_share"] = np.where(g["cost_sum"] > 0,
                                  (1 - g["fund_sum"] / g["cost_sum"]) * 100, np.nan)
        t["cost_in_county"] = np.where(inside["episodes"] > 0,
                                       inside["cost_sum"] / inside["episodes"], np.nan)
        t["cost_out_county"] = np.where(outside["episodes"] > 0,
                                        outside["cost_sum"] / outside["episodes"], np.nan)
    t["fund_outflow"] = outside["fund_sum"].to_numpy(dtype=float)
    return t


def flag(table: pd.DataFrame, count_col: str = "numerator", public: bool = False,
         also: tuple[str, ...] = (), group_col: str | None = None) -> pd.DataFrame:
    """Add ``unstable`` (< 20 cases) and, for public views, ``suppressed``.

    Public suppression (:func:`healthmap.privacy.suppress`) hides rows where
    ``count_col`` or any of ``also`` is 1-4, plus the complementary rows that would let a
    hidden row be recovered from its group total (rows sharing ``group_col``; the whole
    table when ``None``). Every figure of a hidden row is set to ``NaN`` here, so no
    consumer of a public table can show it by mistake.
    """
    n = table[count_col]
    table["unstable"] = n < UNSTABLE_BELOW
    table["suppressed"] = False
    table["suppression"] = ""
    if public:
        s = privacy.suppress(table, [count_col, *also], group_col=group_col)
        table["suppressed"] = s["suppressed"].to_numpy()
        table["suppression"] = s["suppression"].to_numpy()
        numeric = [c for c in table.columns if c not in ("unstable", "suppressed")
                   and pd.api.types.is_numeric_dtype(table[c])]
        for c in numeric:
            table[c] = table[c].astype(float).where(~table["suppressed"])
    return table


def compute(engine: Engine, f: Filters, measure: str, standard: str = "china_2000",
            ci_method: str = "fay_feuer", public: bool = False,
            frame: pd.DataFrame | None = None, aset: queries.AreaSet | None = None,
            pop_all: pd.DataFrame | None = None) -> IndicatorResult:
    """One indicator for every area of ``f.level``, plus the county total."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose from {sorted(MEASURES)}")
    aset = aset or queries.area_set(engine, f.level)
    areas = aset.areas
    icd3 = queries.selected_icd3(engine, f)
    notes: list[str] = []
    county_areas = pd.DataFrame({"code": ["__county__"], "name": ["county"]})
    if measure in RATE_MEASURES:
        count_col = "episodes" if measure == "episode_rate" else "new_cases"
        by = ["area_code", "age_group"] if measure == "incidence_asr" else ["area_code"]
        c = queries.cells(engine, f, by, icd3, frame)
        c["area_code"] = c["area_code"].map(aset.up)
        c = c.dropna(subset=["area_code"])
        by_age = measure == "incidence_asr"
        pop = queries.population(engine, f.years, by_age=by_age, sex=f.sex,
                                 age_groups=f.age_groups, rows=pop_all)
        if by_age and pop.empty:
            by_age = False
            pop = queries.population(engine, f.years, by_age=False, sex=f.sex,
                                     age_groups=f.age_groups, rows=pop_all)
            if measure == "incidence_asr":
                notes.append("no_age_population")
        pop["area_code"] = pop["area_code"].map(aset.up)
        pop = pop.dropna(subset=["area_code"])
        weights = cached_standard_weights()[standard] if by_age else None
        t = rate_table(c, pop, areas, f.months, weights, count_col, ci_method)
        ct = rate_table(c.assign(area_code="__county__"), pop.assign(area_code="__county__"),
                        county_areas, f.months, weights, count_col, ci_method)
        if ((t["numerator"] > 0) & (t["denominator"] == 0)).any():
            notes.append("missing_population")
        for tab in (t, ct):
            if measure == "incidence_asr":
                tab["value"], tab["ci_low"], tab["ci_high"] = tab["asr"], tab["asr_low"], tab["asr_high"]
            else:
                tab["value"], tab["ci_low"], tab["ci_high"] = tab["crude"], tab["crude_low"], tab["crude_high"]
            if measure == "incidence_eb":  # a smoothed estimate, not an interval estimate
                tab["value"], tab["ci_low"], tab["ci_high"] = tab["eb"], np.nan, np.nan
        if t["unknown_age"].sum() > 0 and measure == "incidence_asr":
            notes.append("unknown_age_excluded")
    else:
        c = queries.cells(engine, f, ["area_code", "in_county"], icd3, frame)
        c["area_code"] = c["area_code"].map(aset.up)
        c = c.dropna(subset=["area_code"])
        fn = referral_table if measure in ("outward_referral", "in_county_rate") else cost_table
        t = fn(c, areas)
        ct = fn(c.assign(area_code="__county__"), county_areas)
        for tab in (t, ct):
            if measure == "in_county_rate":
                tab["value"] = 100 - tab["value"]
                tab["ci_low"], tab["ci_high"] = 100 - tab["ci_high"], 100 - tab["ci_low"]
                tab["numerator"] = tab["denominator"] - tab["numerator"]
            elif measure in ("fund_per_case", "oop_share", "fund_outflow"):
                tab["value"] = tab[measure]
                tab["ci_low"] = tab["ci_high"] = np.nan
    # The count that public suppression looks at: cases for rates; episodes (and the
    # outward episodes, themselves a count of cases) for proportions and costs.
    count_col, also = "numerator", ()
    if measure in ("cost_per_case", "fund_per_case", "oop_share", "fund_outflow"):
        count_col = "denominator"
    elif measure in ("outward_referral", "in_county_rate"):
        count_col, also = "denominator", ("numerator",)
    t["group"] = areas["parent_code"].fillna("").astype(str).to_numpy() \
        if "parent_code" in areas.columns else ""
    t = flag(t, count_col, public, also, group_col="group")
    ct = flag(ct, count_col, public, also)
    return IndicatorResult(measure, t, ct.iloc[0], notes)


REPORT_COLUMNS = ["area_code", "area_name", "numerator", "denominator", "value", "ci_low",
                  "ci_high"]


def report(engine: Engine, measure: str, f: Filters, standard: str | None = None,
           public: bool = False) -> pd.DataFrame:
    """The CLI report: one row per area with the standard columns.

    ``incidence`` reports crude incidence per 100,000 (exact Poisson CI) or, with a
    ``standard``, the age-standardised rate (gamma CI). ``public`` applies small-cell
    suppression (hidden figures are empty) and adds a ``suppressed`` column.
    """
    key = {"incidence": "incidence_asr" if standard else "incidence"}.get(measure, measure)
    res = compute(engine, f, key, standard=standard or "china_2000", public=public)
    cols = REPORT_COLUMNS + (["suppressed"] if public else [])
    return res.table[cols].copy()
