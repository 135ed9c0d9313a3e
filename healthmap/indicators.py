"""Indicator tables by area (or any key): incidence, outward referral, cost per case.

:func:`compute` fetches pre-aggregated sums through :mod:`healthmap.queries` and hands them
to pure functions that return one row per area with ``numerator``, ``denominator``,
``value``, ``ci_low``, ``ci_high`` and reliability flags, plus the county total.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from healthmap import metrics, persons, privacy, queries, refcache, standardization
from healthmap.codes import AGE_GROUPS
from healthmap.measures import REGISTRY
from healthmap.measures import get as get_measure
from healthmap.queries import Filters
from healthmap.indicator_inputs import (DERIVED_KEYS, POPULATION_KEYS,  # noqa: F401
                                        cells_by, person_cells, population_by)
from healthmap.reference import cached_standard_weights

UNSTABLE_BELOW = metrics.UNSTABLE_BELOW  # docs/definitions.md: fewer than 20 cases
SUPPRESS_RANGE = (1, 4)  # public views suppress cells of 1-4 cases

#: measure key → unit text key (from the registry, kept for callers of the old name)
MEASURES: dict[str, str] = {k: m.unit for k, m in REGISTRY.items()}
TOTAL = "__total__"  # the key value of the all-rows total (the county row)


@dataclass
class IndicatorResult:
    measure: str
    table: pd.DataFrame  # one row per key value (per area by default)
    county: pd.Series  # the total over all rows, same columns
    notes: list[str]
    key: str = "area_code"
    #: what one count is: ``new`` / ``diagnosed`` (persons, :mod:`healthmap.persons`),
    #: ``patients`` (person-level referral) or ``episodes``
    basis: str = "episodes"
    lookback: int = 0  # years of look-back of a person count (0: none)
    short_years: tuple[int, ...] = ()  # years without a full look-back window


def name_column(key: str) -> str:
    """The label column that goes with a grouping key in indicator tables.

    >>> name_column("area_code"), name_column("group_code"), name_column("year")
    ('area_name', 'group_name', 'year_name')
    """
    return f"{key.removesuffix('_code')}_name"


def _rows(rows: pd.DataFrame | None, present: pd.Series, key: str) -> tuple[list, list]:
    """Row keys and labels: those of ``rows`` (``code``, optional ``name``) in order, or
    the values of ``present`` sorted when ``rows`` is ``None``."""
    if rows is None:
        codes = sorted(pd.unique(present.dropna()).tolist())
        return codes, [str(c) for c in codes]
    codes = rows["code"].tolist()
    names = rows["name"].tolist() if "name" in rows.columns else [str(c) for c in codes]
    return codes, names


def rate_table(num: pd.DataFrame, pop: pd.DataFrame, rows: pd.DataFrame | None = None,
               months: float = 12, weights: pd.Series | None = None,
               count_col: str = "new_cases", ci_method: str = "tiwari",
               key: str = "area_code", on_empty: str = "raise") -> pd.DataFrame:
    """Crude, age-standardised and EB-smoothed rates per 100,000, one row per ``key``.

    Parameters
    ----------
    num : DataFrame
        Cases: ``key``, ``count_col`` and (for standardisation) ``age_group``.
    pop : DataFrame
        Person-years over the selected years: ``persons`` (and ``age_group`` for
        standardisation). With a ``key`` column each row gets its own denominator (areas,
        years, sexes); without one, every row shares the whole population (disease
        groups, specialties, settings: the population at risk is everyone).
    rows : DataFrame, optional
        The rows to report, in order: ``code`` (values of ``key``) and optional ``name``
        (an area set's ``areas`` frame works as it is). Rows without cases appear with 0.
        Default: the ``key`` values present in ``num``.
    months : float
        Months of person-time per row and selected year (12 = whole years; 1 for rows
        that are calendar months).
    weights : Series, optional
        Standard population weights by age group: adds ``asr``, ``asr_low``, ``asr_high``.
    count_col : str
        ``new_cases`` (incidence) or ``episodes`` (episode rate).
    ci_method : str
        Gamma interval of the ASR: ``tiwari`` (default, docs/definitions.md) or
        ``fay_feuer``.
    on_empty : str
        Rows with age groups without population: ``raise`` or ``reweight`` (see
        :func:`healthmap.metrics.age_standardized_rate`).
    key : str
        The grouping column (``area_code``, ``year``, ``month``, ``group_code`` …).

    Returns
    -------
    DataFrame
        ``key``, its :func:`name_column`, ``numerator``, ``denominator``, ``crude``,
        ``crude_low``, ``crude_high``, ``eb``, ``asr``, ``asr_low``, ``asr_high``,
        ``unknown_age``.

    Examples
    --------
    Rates by year; the population has a ``year`` column, so each year has its own:

    >>> num = pd.DataFrame({"year": [2023, 2024], "new_cases": [10, 30]})
    >>> pop = pd.DataFrame({"year": [2023, 2024], "persons": [100_000, 100_000]})
    >>> rate_table(num, pop, key="year")[["year", "numerator", "crude"]].round(6).to_dict("list")
    {'year': [2023, 2024], 'numerator': [10.0, 30.0], 'crude': [10.0, 30.0]}
    """
    scale = months / 12
    codes, names = _rows(rows, num[key], key)
    by_key = num.groupby(key)[count_col].sum().reindex(codes, fill_value=0)
    if key in pop.columns:
        persons = pop.groupby(key)["persons"].sum().reindex(codes, fill_value=0) * scale
    else:
        persons = pd.Series(float(pop["persons"].sum()) * scale, index=codes)
    # the columns in order, made into one frame at the end (adding columns to a frame one
    # by one costs more than the arithmetic here)
    numerator, denominator = by_key.to_numpy(dtype=float), persons.to_numpy(dtype=float)
    out = {key: codes, name_column(key): names, "numerator": numerator,
           "denominator": denominator, "crude": metrics.crude_rate(numerator, denominator)}
    out["crude_low"], out["crude_high"] = metrics.crude_rate_ci(numerator, denominator)
    nan = np.full(len(codes), np.nan)
    if np.nansum(denominator) > 0:
        out["eb"] = metrics.empirical_bayes(numerator, denominator) * 1e5
    else:
        out["eb"] = nan
    out["asr"] = out["asr_low"] = out["asr_high"] = nan
    out["unknown_age"] = np.zeros(len(codes))
    if weights is not None and "age_group" in pop.columns and len(pop):
        e = _by_key_age(num[num["age_group"].isin(AGE_GROUPS)], count_col, codes, key)
        if key in pop.columns:
            n = _by_key_age(pop, "persons", codes, key) * scale
        else:
            shared = pop.groupby("age_group")["persons"].sum().reindex(list(AGE_GROUPS))
            n = pd.DataFrame([shared.fillna(0).to_numpy(float)] * len(codes), index=codes,
                             columns=list(AGE_GROUPS)) * scale
        w = weights.reindex(list(AGE_GROUPS)).to_numpy()
        with warnings.catch_warnings():  # the caller notes a deliberate re-weighting
            warnings.simplefilter("ignore", metrics.EmptyAgeGroupsWarning)
            r, lo, hi = metrics.age_standardized_rate(e.to_numpy(), n.to_numpy(), w,
                                                      method=ci_method, on_empty=on_empty)
        out["asr"], out["asr_low"], out["asr_high"] = r, lo, hi
        if key in pop.columns:  # indirect standardisation against the rows' total
            _add_sir(out, e.to_numpy(), n.to_numpy())
        out["unknown_age"] = numerator - e.sum(axis=1).to_numpy()
    return pd.DataFrame(out)


def _add_sir(out: dict, e: np.ndarray, n: np.ndarray) -> None:
    """``observed``, ``expected``, ``sir``, ``sir_low``, ``sir_high`` (into the columns
    ``out``): cases of known age against the rows' total age-specific rates
    (docs/definitions.md)."""
    nan = np.full(len(e), np.nan)
    out["observed"], out["expected"] = e.sum(axis=1), nan
    out["sir"] = out["sir_low"] = out["sir_high"] = nan
    ref_d, ref_n = e.sum(axis=0), n.sum(axis=0)
    if ref_n.sum() <= 0 or np.any((ref_n <= 0) & (ref_d > 0)):
        return  # cases without any population: no reference rate
    t = standardization.indirect_standardization(out["observed"], n, ref_d, ref_n)
    out["expected"], out["sir"] = t["expected"].to_numpy(), t["sir"].to_numpy()
    out["sir_low"], out["sir_high"] = t["ci_low"].to_numpy(), t["ci_high"].to_numpy()


def _by_key_age(df: pd.DataFrame, col: str, codes: list, key: str) -> pd.DataFrame:
    """``col`` summed into a key × age-group matrix (rows ``codes``, all age groups)."""
    return (df.groupby([key, "age_group"], observed=True)[col].sum().unstack()
            .reindex(index=codes, columns=list(AGE_GROUPS)).fillna(0).astype(float))


def referral_table(c: pd.DataFrame, rows: pd.DataFrame | None = None,
                   key: str = "area_code") -> pd.DataFrame:
    """Outward referral and in-county treatment (%) per ``key``, with Wilson intervals.

    ``c`` has ``key``, ``in_county``, ``episodes`` and ``referrals`` (formal referral
    flags); ``rows`` as in :func:`rate_table`. Columns: ``numerator`` (episodes outside
    the county), ``denominator`` (all episodes), ``value``, ``ci_low``, ``ci_high``,
    ``formal``, ``self_directed``, ``formal_pct``, and the complement ``inside``,
    ``inside_pct``, ``inside_low``, ``inside_high`` (in-county treatment).

    >>> c = pd.DataFrame({"setting": ["inpatient", "inpatient"], "in_county": [True, False],
    ...                   "episodes": [90, 10], "referrals": [0, 4]})
    >>> t = referral_table(c, key="setting")
    >>> t[["numerator", "value", "formal", "inside_pct"]].iloc[0].tolist()
    [10.0, 10.0, 4.0, 90.0]
    """
    codes, names = _rows(rows, c[key], key)
    s = _count_sums(c, key, codes, {"all": ["episodes"],
                                    "out": ["episodes", "referrals"]})
    num, den, formal = s["out_episodes"], s["all_episodes"], s["out_referrals"]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(den > 0, num / den * 100, np.nan)
        formal_pct = np.where(den > 0, formal / den * 100, np.nan)
    lo, hi = metrics.proportion_ci(num, den)
    lo, hi = lo * 100, hi * 100
    # the complement, as the former page computed it (Wilson is symmetric under it)
    return pd.DataFrame({key: codes, name_column(key): names, "numerator": num,
                         "denominator": den, "formal": formal, "self_directed": num - formal,
                         "inside": den - num, "value": value, "formal_pct": formal_pct,
                         "ci_low": lo, "ci_high": hi, "inside_pct": 100 - value,
                         "inside_low": 100 - hi, "inside_high": 100 - lo})


def cost_table(c: pd.DataFrame, rows: pd.DataFrame | None = None,
               key: str = "area_code") -> pd.DataFrame:
    """Cost per case, fund per case, out-of-pocket share and fund outflow per ``key``.

    ``c`` has ``key``, ``in_county``, ``episodes``, ``cost_sum``, ``cost_sq_sum``,
    ``fund_sum``, ``fund_n``; ``rows`` as in :func:`rate_table`. ``numerator`` is the
    cost sum, ``denominator`` the episodes, ``value`` the mean cost with its interval.

    >>> c = pd.DataFrame({"group_code": ["A", "A", "B"], "in_county": [True, False, True],
    ...                   "episodes": [2, 1, 1], "cost_sum": [30.0, 30.0, 8.0],
    ...                   "cost_sq_sum": [500.0, 900.0, 64.0], "fund_sum": [15.0, 20.0, 4.0],
    ...                   "fund_n": [2, 1, 1]})
    >>> cost_table(c, key="group_code")[["group_code", "value", "fund_outflow"]].values.tolist()
    [['A', 20.0, 20.0], ['B', 8.0, 0.0]]
    """
    codes, names = _rows(rows, c[key], key)
    by, want = _grouping(c[key], codes)
    inn = c["in_county"].astype(bool).to_numpy()
    g = c.groupby(by)[["episodes", "cost_sum", "cost_sq_sum", "fund_sum",
                       "fund_n"]].sum().reindex(want, fill_value=0).astype(float)
    outside = c[~inn].groupby(by[~inn])[
        ["fund_sum", "episodes", "cost_sum"]].sum().reindex(want, fill_value=0).astype(float)
    inside = c[inn].groupby(by[inn])[
        ["episodes", "cost_sum"]].sum().reindex(want, fill_value=0).astype(float)
    # gamma interval: never below zero for skewed costs (docs/definitions.md, issue 9)
    mean, lo, hi, _ = metrics.mean_cost_ci(g["cost_sum"], g["cost_sq_sum"], g["episodes"])
    with np.errstate(divide="ignore", invalid="ignore"):
        fund_per_case = np.where(g["fund_n"] > 0, g["fund_sum"] / g["fund_n"], np.nan)
        oop_share = np.where(g["cost_sum"] > 0, (1 - g["fund_sum"] / g["cost_sum"]) * 100,
                             np.nan)
        cost_in = np.where(inside["episodes"] > 0, inside["cost_sum"] / inside["episodes"],
                           np.nan)
        cost_out = np.where(outside["episodes"] > 0,
                            outside["cost_sum"] / outside["episodes"], np.nan)
    return pd.DataFrame({key: codes, name_column(key): names,
                         "numerator": g["cost_sum"].to_numpy(dtype=float),
                         "denominator": g["episodes"].to_numpy(dtype=float),
                         "value": mean, "ci_low": lo, "ci_high": hi,
                         "fund_per_case": fund_per_case, "oop_share": oop_share,
                         "cost_in_county": cost_in, "cost_out_county": cost_out,
                         "fund_outflow": outside["fund_sum"].to_numpy(dtype=float)})


def _grouping(key: pd.Series, codes: list) -> tuple:
    """What to group the rows by and which result rows to take for ``codes``: the key's
    values as the integer ids a groupby gives them (its sorted groups; integers are much
    cheaper to group by than text) and the ids of ``codes`` (-1: none), or the key and
    ``codes`` themselves when it has missing values. Either way each group sums the same
    rows in the same order.

    >>> by, want = _grouping(pd.Series(["b", "a", "b"]), ["a", "b", "z"])
    >>> by.tolist(), want.tolist()
    ([1, 0, 1], [0, 1, -1])
    """
    ids, uniques = pd.factorize(key, sort=True)
    if (ids < 0).any():
        return key.to_numpy(), codes
    return ids, pd.Index(uniques).get_indexer(codes)


def _count_sums(c: pd.DataFrame, key: str, codes: list, parts: dict[str, list[str]]
                ) -> dict[str, np.ndarray]:
    """Counts (``episodes``, ``referrals``: whole numbers) summed per ``key`` value over a
    part of the rows of ``c``: ``all``, ``in`` (``in_county``) or ``out``, as float arrays
    in the order of ``codes`` (0 where a code has no rows), named ``<part>_<column>``.

    One groupby for all parts (in a part's columns the other rows are NaN, which the sum
    skips); sums of whole numbers are exact in any order, so they equal a groupby of each
    part alone. Not for money: float sums depend on the order pandas adds them in.

    >>> c = pd.DataFrame({"k": ["a", "b", "a"], "in_county": [True, True, False],
    ...                   "n": [1, 2, 4]})
    >>> s = _count_sums(c, "k", ["a", "b", "z"], {"all": ["n"], "out": ["n"]})
    >>> s["all_n"].tolist(), s["out_n"].tolist()
    ([5.0, 2.0, 0.0], [4.0, 0.0, 0.0])
    """
    inside = c["in_county"].astype(bool).to_numpy()
    cols = {}
    for part, names in parts.items():
        for name in names:
            v = c[name].to_numpy(dtype=float)
            if part != "all":
                v = np.where(inside if part == "out" else ~inside, np.nan, v)
            cols[f"{part}_{name}"] = v
    sums = pd.DataFrame(cols, index=c.index).groupby(c[key]).sum()
    return {k: v.to_numpy(dtype=float) for k, v in sums.reindex(codes, fill_value=0).items()}


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
            ci_method: str = "tiwari", public: bool = False,
            frame: pd.DataFrame | None = None, aset: queries.AreaSet | None = None,
            pop_all: pd.DataFrame | None = None, key: str = "area_code",
            rows: pd.DataFrame | None = None,
            sel: queries.Selection | None = None,
            lookback: int = persons.DEFAULT_LOOKBACK, con=None) -> IndicatorResult:
    """One indicator (a :data:`healthmap.measures.REGISTRY` key) per value of ``key``,
    plus the total over all rows, with intervals, flags and (``public``) suppression.

    Parameters
    ----------
    engine, f
        Database and filters (``sel``, if given, is ``f`` already resolved by
        :func:`healthmap.queries.resolve`; then no disease-group lookup is repeated).
    measure : str
        Registry key, e.g. ``incidence``, ``outward_referral``, ``cost_per_case``.
    key : str
        Rows per ``area_code`` (default: the areas of ``f.level``), or any cube dimension
        (``year``, ``month``, ``sex``, ``age_group``, ``setting``, ``insurance_type``,
        ``icd3``), or ``group_code`` (disease group) / ``specialty_code``. Rates by year,
        sex or age group use that part of the population; by any other key every row
        shares the whole population; rows that are months count one month of
        person-time per selected year.
    rows : DataFrame, optional
        Rows to report (``code``, optional ``name``); default: the areas for
        ``area_code``, otherwise the key values present in the data.
    aset : AreaSet, optional
        The areas (default: every area of ``f.level``); for other keys, only cases and
        people in these areas count (a drill-down).
    frame, pop_all
        The cached period frame and population rows (in-memory sums); else SQL.
    lookback : int
        Years of look-back of a person count (incidence): 0 counts diagnosed cases
        (就诊患者), N > 0 new cases (新发) without a qualifying episode in any setting in
        the N years before (:mod:`healthmap.persons`).
    con
        A DuckDB connection with the episode store's views for the person counts
        (incidence, person-level referral); default: :func:`healthmap.store.connect`.
        Rows by ``key`` with person counts: ``area_code``, ``year``, ``sex``,
        ``age_group``, ``group_code``.

    Returns
    -------
    IndicatorResult
        ``table`` with ``key``, its :func:`name_column`, ``numerator``,
        ``denominator``, ``value``, ``ci_low``, ``ci_high``, ``unstable``,
        ``suppressed``, ``suppression`` (and the family's other columns); ``county``
        is the total row; ``basis`` says what one count is.
    """
    m = get_measure(measure)
    if m.counts_persons and con is None:
        from healthmap import store

        con = store.connect(engine)
        try:
            return compute(engine, f, measure, standard, ci_method, public, frame, aset,
                           pop_all, key, rows, sel, lookback, con)
        finally:
            con.close()
    if m.kind == "mean" and f.setting is None:
        raise ValueError("cost per case is computed for inpatient stays and outpatient "
                         "visits separately: choose the inpatient or outpatient setting")
    notes: list[str] = []
    sex = _denominator_sex(f) if m.family == "rate" else None
    if sex:  # a sex-specific group: that sex in numerator and denominator (issue 9)
        f = replace(f, sex=sex)
        sel = replace(sel, filters=f) if sel is not None else None
        notes.append(f"sex_denominator_{sex}")
    sel = sel or queries.resolve(engine, f)
    refs = refcache.snapshot(engine)  # areas and population: read once per data version
    own = aset is None and pop_all is None  # the snapshot's areas and population
    if aset is None:
        aset = refs.area_set(f.level) if key == "area_code" else None
    if rows is None and key == "area_code":
        rows = aset.areas
    total_rows = pd.DataFrame({"code": [TOTAL], "name": ["county"]})
    basis, short = ("patients" if m.per_person else "episodes"), ()
    if m.family == "rate":
        by_age = m.by_age
        pop_all = refs.population_rows() if pop_all is None else pop_all
        kept = refs if own else None  # population of the selection kept with the version
        pop = population_by(engine, f, key, by_age, pop_all, aset, kept)
        if by_age and pop.empty:
            by_age = False
            pop = population_by(engine, f, key, False, pop_all, aset, kept)
            notes.append("no_age_population")
        if m.counts_persons:  # each person once in the period (issue 9 item 1)
            c = person_cells(con, sel, key, by_age, False, lookback, aset)
            whole = c if key == "area_code" else person_cells(con, sel, None, by_age, False,
                                                              lookback, aset)
            basis, short = persons.period_label(con, f.years, lookback)
        else:
            c = cells_by(engine, sel, key, ["age_group"] if by_age else [], frame, aset)
            whole = c
        weights = cached_standard_weights()[standard] if by_age else None
        months = 1 if key == "month" else f.months
        # an age-band selection or rows by age standardise over the groups they cover
        chosen = "reweight" if f.age_groups or key == "age_group" else "raise"
        try:
            t = rate_table(c, pop, rows, months, weights, m.cases, ci_method, key=key,
                           on_empty=chosen)
        except metrics.EmptyAgeGroupsError:  # population missing in some age groups
            notes.append("empty_age_groups")
            chosen = "reweight"
            t = rate_table(c, pop, rows, months, weights, m.cases, ci_method, key=key,
                           on_empty=chosen)
        ct = rate_table(whole.assign(**{key: TOTAL}), pop.drop(columns=[key], errors="ignore"),
                        total_rows, f.months, weights, m.cases, ci_method, key=key,
                        on_empty=chosen)
        if "sir" in t.columns:  # the total is the reference: O/E = 1 by construction
            o, e = t["observed"].sum(), t["expected"].sum()
            ct["observed"], ct["expected"] = o, e
            ct["sir"], ct["sir_low"], ct["sir_high"] = (
                v[0] for v in standardization.standardized_ratio([o], [e]))
        if ((t["numerator"] > 0) & (t["denominator"] == 0)).any():
            notes.append("missing_population")
        if by_age and t["unknown_age"].sum() > 0:
            notes.append("unknown_age_excluded")
    else:
        fn = referral_table if m.family == "referral" else cost_table
        if m.per_person:  # patients treated outside at least once (issue 9 item 7)
            c = person_cells(con, sel, key, False, True, 0, aset)
            whole = c if key == "area_code" else person_cells(con, sel, None, False, True,
                                                              0, aset)
        else:
            c = whole = cells_by(engine, sel, key, ["in_county"], frame, aset)
        t = fn(c, rows, key=key)
        ct = fn(whole.assign(**{key: TOTAL}), total_rows, key=key)
        if float(c["episodes"].sum() if len(c) else 0) == 0:
            notes.append("empty_selection")  # nothing to compute: an explained empty result
    for tab in (t, ct):
        tab["numerator"], tab["denominator"] = tab[m.numerator], tab[m.denominator]
        tab["value"] = tab[m.value]
        tab["ci_low"], tab["ci_high"] = (tab[m.ci[0]], tab[m.ci[1]]) if m.ci else (np.nan,
                                                                                   np.nan)
    # suppression groups: areas within their parent (villages of one township); other
    # keys over the whole table
    group = "group" if key == "area_code" else None
    if group:
        t["group"] = rows["parent_code"].fillna("").astype(str).to_numpy() \
            if "parent_code" in rows.columns else ""
    t = flag(t, m.suppress_on, public, m.suppress_also, group_col=group)
    ct = flag(ct, m.suppress_on, public, m.suppress_also)
    return IndicatorResult(measure, t, ct.iloc[0], notes, key, basis,
                           lookback if basis in (persons.NEW, persons.DIAGNOSED) else 0,
                           short)


def _denominator_sex(f: Filters) -> str | None:
    """The sex of a sex-specific group selection when the user chose no sex (issue 9)."""
    from healthmap.comparisons import selection_sex
    from healthmap.reference import cached_disease_groups

    return None if f.sex or f.icd3 else selection_sex(f.groups, cached_disease_groups())


REPORT_COLUMNS = ["area_code", "area_name", "numerator", "denominator", "value", "ci_low",
                  "ci_high"]


def report(engine: Engine, measure: str, f: Filters, standard: str | None = None,
           public: bool = False, lookback: int = persons.DEFAULT_LOOKBACK) -> pd.DataFrame:
    """The CLI report: one row per area with the standard columns, then the county row.

    ``measure`` is one of :data:`healthmap.measures.REPORTED`; ``incidence`` reports crude
    incidence per 100,000 (exact Poisson CI) or, with a ``standard``, the age-standardised
    rate (gamma CI). ``public`` applies small-cell suppression (hidden figures are empty)
    and adds a ``suppressed`` column. ``flag`` says ``unstable`` (fewer than 20 cases or
    episodes), ``suppressed`` or ``no_data``; the last row (``area_name`` ``county``) is
    the county total. The result's ``attrs["notes"]`` lists what the reader must know
    (e.g. ``empty_selection``, ``sex_denominator_F``). ``basis`` says on every row what
    was counted (:func:`basis_word`: ``new_cases_lookback_1y``, ``diagnosed_cases``,
    ``patients`` or ``episodes``); ``attrs["result"]`` is the :class:`IndicatorResult`.
    """
    key = {"incidence": "incidence_asr" if standard else "incidence"}.get(measure, measure)
    res = compute(engine, f, key, standard=standard or "china_2000", public=public,
                  lookback=lookback)
    return report_frame(res, suppressed_column=public)


def report_frame(res: IndicatorResult, suppressed_column: bool = False) -> pd.DataFrame:
    """An indicator result in the report layout: the areas, then the county row
    (``__total__``); the standard columns, ``flag`` (and ``suppressed``) and ``basis``."""
    cols = REPORT_COLUMNS + (["suppressed"] if suppressed_column else [])
    need = list(dict.fromkeys([*cols, "value", "unstable", "suppressed"]))  # and the flags'
    county = res.county[need].copy()
    county["area_code"], county["area_name"] = TOTAL, "county"
    out = pd.concat([res.table[need], county.to_frame().T], ignore_index=True)
    out["flag"] = report_flags(out)
    out = out[cols + ["flag"]].copy()
    for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    out["basis"] = basis_word(res)
    out.attrs["notes"] = res.notes
    out.attrs["result"] = res
    return out


def basis_word(res: IndicatorResult) -> str:
    """What the figures count, as one word for reports and exports.

    >>> basis_word(IndicatorResult("incidence", pd.DataFrame(), pd.Series(), [],
    ...                            basis="new", lookback=2))
    'new_cases_lookback_2y'
    >>> basis_word(IndicatorResult("incidence", pd.DataFrame(), pd.Series(), [],
    ...                            basis="diagnosed", lookback=1))
    'diagnosed_cases'
    """
    if res.basis == persons.NEW:
        return f"new_cases_lookback_{res.lookback}y"
    return {persons.DIAGNOSED: "diagnosed_cases"}.get(res.basis, res.basis)


def report_flags(table: pd.DataFrame) -> pd.Series:
    """One word per row: ``suppressed``, ``no_data`` (no value), ``unstable`` or empty.

    >>> report_flags(pd.DataFrame({"value": [1.0, None, 2.0], "unstable": [True, True, False],
    ...                            "suppressed": [False, False, False]})).tolist()
    ['unstable', 'no_data', '']
    """
    suppressed = table["suppressed"].fillna(False).astype(bool)
    no_data = table["value"].isna() & ~suppressed
    unstable = table["unstable"].fillna(False).astype(bool)
    return pd.Series(np.select([suppressed, no_data, unstable],
                               ["suppressed", "no_data", "unstable"], ""), index=table.index)
