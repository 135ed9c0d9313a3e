"""The disease-group indicator table the key-specialty ranking is built on (domain.md §5).

One row per disease group for a period (whole years) and a setting, from the summary
tables through :mod:`healthmap.queries` and the person counts of :mod:`healthmap.persons`
(the specialties' new cases, each person once per specialty: :func:`specialty_new_cases`):

* ``new_cases`` and ``incidence`` (crude, per 100,000, exact Poisson interval) and ``asr``
  (age-standardised, gamma interval) over **all settings**: persons with an episode of the
  group in the period and none in any setting in the look-back years before
  (:mod:`healthmap.persons`, decisions §5 and §7), each once; ``case_basis`` says ``new``
  or, for a period the data cannot look back from, ``diagnosed``;
* ``episodes``, ``out_episodes`` and ``outward_referral`` (%, Wilson interval) in the chosen
  setting (inpatient by default);
* ``cost_per_case`` over all the group's residents' episodes in the setting, in and out of
  the county (decisions §7), and ``cost_in_county`` / ``cost_out_county`` beside it (yuan);
* ``fund_outflow``: fund paid for out-of-county episodes in the setting (yuan);
* ``trend``: change of new cases per year over up to the last 5 years with a full
  look-back window (log-linear fit, % a year) and ``trend_cases`` (the yearly counts);
* ``lookback``: the look-back years of the new cases;
* ``unstable``: fewer than 20 new cases (domain.md §4).

The ranking criteria are all "higher = higher priority" (decisions §7):
:data:`CRITERIA` says which column each criterion reads, which count its sampling noise
rests on (for :func:`healthmap.ranking_stability.rank_stability`) and its unit.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from healthmap import (metrics, person_counts_query, person_rollup, persons, queries, ranking,
                       ranking_stability, store)
from healthmap.codes import AGE_GROUPS
from healthmap.models import Icd3Group
from healthmap.store import sync as store_sync
from healthmap.queries import Filters, Selection
from healthmap.reference import cached_standard_weights

UNSTABLE_BELOW = metrics.UNSTABLE_BELOW


@dataclass(frozen=True)
class Criterion:
    column: str  # column of the indicator table
    count: str  # the count its sampling noise rests on
    unit: str
    benefit: bool = True  # decisions §7: higher = higher priority for every input


CRITERIA: dict[str, Criterion] = {
    "incidence": Criterion("incidence", "new_cases", "per 100,000"),
    "outward_referral": Criterion("outward_referral", "out_episodes", "%"),
    "cost_per_case": Criterion("cost_per_case", "episodes", "yuan"),
    "fund_outflow": Criterion("fund_outflow", "out_episodes", "yuan"),
}
DEFAULT_CRITERIA = ("incidence", "outward_referral", "cost_per_case")


def icd3_group_map(engine: Engine) -> dict[str, str]:
    """ICD-10 three-character category → disease group code (the ``icd3_groups`` table)."""
    with engine.connect() as conn:
        return dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())


def _county_population(engine: Engine, years: tuple[int, ...], by_age: bool, sex: str | None,
                       rows: pd.DataFrame | None, up: dict[str, str]) -> pd.DataFrame:
    pop = queries.population(engine, years, by_age=by_age, sex=sex, rows=rows)
    pop = pop[pop["area_code"].map(up).notna()]  # township level: each person once
    keys = ["age_group"] if by_age else []
    if not keys:
        return pd.DataFrame({"persons": [float(pop["persons"].sum())]})
    return pop.groupby(keys, as_index=False)["persons"].sum()


def _log_linear_trend(counts: np.ndarray) -> float:
    """Average change per year (%) of a yearly count series, from a least-squares line on
    log(count + 0.5); ``nan`` with fewer than 3 years or no case at all.

    >>> round(_log_linear_trend(np.array([99.5, 109.5, 120.5, 132.6])), 1)
    10.0
    """
    if len(counts) < 3 or not np.any(counts):
        return float("nan")
    y = np.log(np.asarray(counts, dtype=float) + 0.5)
    slope = np.polyfit(np.arange(len(y)), y, 1)[0]
    return float((np.exp(slope) - 1) * 100)


def group_indicators(engine: Engine, years: tuple[int, ...], setting: str | None = "inpatient",
                     standard: str = "china_2000", frame: pd.DataFrame | None = None,
                     pop_rows: pd.DataFrame | None = None, trend_years: int = 5,
                     all_years: list[int] | None = None,
                     lookback: int = persons.DEFAULT_LOOKBACK, con=None,
                     cases: pd.DataFrame | None = None) -> pd.DataFrame:
    """The indicator table: one row per disease group (see the module text).

    Parameters
    ----------
    years : tuple of int
        The period (whole years; person-years as denominators).
    setting : {"inpatient", "outpatient", None}
        Setting of the referral, cost and fund figures (``None``: both).
    standard : str
        Standard population of the age-standardised rate.
    frame, pop_rows : DataFrame, optional
        Cached :func:`healthmap.queries.load_cells_frame` of ``years`` and population rows.
    trend_years : int
        How many years up to the period's last year the trend covers.
    all_years : list of int, optional
        The years with data (default: read from the database).
    lookback : int
        Years of look-back of a new case (0: diagnosed cases).
    con
        DuckDB connection with the episode store's views (default:
        :func:`healthmap.store.connect`).
    cases : DataFrame, optional
        :func:`group_cases` of the same period, standard, trend years and look-back (it
        does not depend on the setting: the page caches it per period, so a change of
        setting counts no person again).
    """
    if not years:
        raise ValueError("choose at least one year")
    years = tuple(sorted(years))
    if cases is None:
        cases = group_cases(engine, years, standard, pop_rows, trend_years, all_years,
                            lookback, con)
    groups = queries.disease_groups(engine)
    to_group = icd3_group_map(engine)
    # episodes, referral, cost and fund in the setting, by in/out of county
    ep = queries.cells(engine, Filters(years=years, setting=setting), ["icd3", "in_county"],
                       None, frame)
    ep["group_code"] = ep["icd3"].map(to_group)
    ep = ep.dropna(subset=["group_code"])
    ep["in_county"] = ep["in_county"].astype(bool)
    cols = ["episodes", "cost_sum", "fund_sum"]
    inside = ep[ep["in_county"]].groupby("group_code")[cols].sum().reindex(
        groups["group_code"], fill_value=0).astype(float)
    outside = ep[~ep["in_county"]].groupby("group_code")[cols].sum().reindex(
        groups["group_code"], fill_value=0).astype(float)

    t = cases.copy()
    if t["group_code"].tolist() != groups["group_code"].tolist():
        raise ValueError("the group cases are not of the current disease groups")
    t["episodes"] = (inside["episodes"] + outside["episodes"]).to_numpy(dtype=float)
    t["out_episodes"] = outside["episodes"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["outward_referral"] = np.where(t["episodes"] > 0,
                                         t["out_episodes"] / t["episodes"] * 100, np.nan)
        lo, hi = metrics.proportion_ci(t["out_episodes"], t["episodes"])
        t["outward_referral_low"], t["outward_referral_high"] = lo * 100, hi * 100
        cost = (inside["cost_sum"] + outside["cost_sum"]).to_numpy(dtype=float)
        t["cost_per_case"] = np.where(t["episodes"] > 0, cost / t["episodes"], np.nan)
        t["cost_in_county"] = np.where(inside["episodes"] > 0,
                                       inside["cost_sum"] / inside["episodes"], np.nan)
        t["cost_out_county"] = np.where(outside["episodes"] > 0,
                                        outside["cost_sum"] / outside["episodes"], np.nan)
    t["fund_outflow"] = outside["fund_sum"].to_numpy(dtype=float)
    last = ["trend", "trend_cases", "trend_years", "unstable"]  # the table's column order
    return t[[c for c in t.columns if c not in last] + last]


def group_cases(engine: Engine, years: tuple[int, ...], standard: str = "china_2000",
                pop_rows: pd.DataFrame | None = None, trend_years: int = 5,
                all_years: list[int] | None = None,
                lookback: int = persons.DEFAULT_LOOKBACK, con=None) -> pd.DataFrame:
    """The person side of :func:`group_indicators`, which no setting changes: per disease
    group its names and specialty, ``new_cases`` (all settings), ``case_basis``,
    ``lookback``, ``population``, ``incidence`` and ``asr`` with their intervals,
    ``trend``, ``trend_cases``, ``trend_years`` and ``unstable`` (parameters as there)."""
    if not years:
        raise ValueError("choose at least one year")
    if con is None:
        from healthmap import store

        con = store.connect(engine)
        try:
            return group_cases(engine, years, standard, pop_rows, trend_years, all_years,
                               lookback, con)
        finally:
            con.close()
    years = tuple(sorted(years))
    groups = queries.disease_groups(engine)
    up = queries.area_set(engine, "township").up
    # new cases by group and age, all settings: each person once per group in the period
    everything = Selection(Filters(years=years, setting=None), None)
    nc = persons.cases(con, everything, ("group_code", "age_group"), lookback)
    cases_age = (nc.groupby(["group_code", "age_group"])["persons"].sum().unstack()
                 .reindex(index=groups["group_code"], columns=list(AGE_GROUPS)).fillna(0.0))
    cases = nc.groupby("group_code")["persons"].sum().reindex(groups["group_code"],
                                                              fill_value=0)
    t = pd.DataFrame({"group_code": groups["group_code"].to_numpy()})
    for c in ("name_zh", "name_en", "icd_ranges", "specialty_code", "specialty_zh",
              "specialty_en"):
        t[c] = groups[c].to_numpy()
    t["new_cases"] = cases.to_numpy(dtype=float)
    t["case_basis"] = persons.period_label(con, years, lookback)[0]
    t["lookback"] = int(lookback)

    # denominators: person-years, women or men only where the group says so
    sexes = ([v if v in ("M", "F") else None for v in groups["denominator_sex"]]
             if "denominator_sex" in groups.columns else [None] * len(groups))
    population, asr, asr_lo, asr_hi = [], [], [], []
    weights = cached_standard_weights()[standard].reindex(list(AGE_GROUPS)).to_numpy()
    reweight = _reweight()
    age_pop: dict = {}
    for i, sex in enumerate(sexes):
        key = sex or "T"
        if key not in age_pop:
            total = _county_population(engine, years, False, sex, pop_rows, up)
            by_age = _county_population(engine, years, True, sex, pop_rows, up)
            age_pop[key] = (float(total["persons"].sum()),
                            by_age.set_index("age_group")["persons"].reindex(
                                list(AGE_GROUPS)).fillna(0.0).to_numpy())
        n_total, n_age = age_pop[key]
        population.append(n_total)
        if n_age.sum() > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r, lo, hi = metrics.age_standardized_rate(
                    cases_age.iloc[i].to_numpy(), n_age, weights, **reweight)
            asr.append(float(r)), asr_lo.append(float(lo)), asr_hi.append(float(hi))
        else:
            asr.append(np.nan), asr_lo.append(np.nan), asr_hi.append(np.nan)
    t["population"] = population
    t["incidence"] = metrics.crude_rate(t["new_cases"], t["population"])
    t["incidence_low"], t["incidence_high"] = metrics.crude_rate_ci(t["new_cases"],
                                                                    t["population"])
    t["asr"], t["asr_low"], t["asr_high"] = asr, asr_lo, asr_hi

    # trend of new cases over the last years up to the period's end, over the years with
    # a full look-back window (a first data year counts earlier patients as new)
    known = all_years if all_years is not None else queries.periods(engine)
    full = persons.year_labels(known, lookback, persons.first_data_year(con))
    span = tuple(y for y in known if years[-1] - trend_years < y <= years[-1]
                 and (lookback == 0 or full[y] == persons.NEW))
    per_year = pd.DataFrame(0.0, index=groups["group_code"], columns=list(span))
    # a one-year period's own year is counted above already (the same definition: each
    # year a period of its own, each group a code set of its own)
    ask = tuple(y for y in span if len(years) > 1 or y != years[0])
    if span:
        yearly = [nc.groupby("group_code", as_index=False)["persons"].sum().assign(
            year=years[0])] if ask != span else []
        if ask:  # (an empty year list would mean every year)
            yearly.append(persons.cases(con, Selection(Filters(years=ask, setting=None),
                                                       None), ("group_code", "year"),
                                        lookback))
        per_year = (pd.concat(yearly).pivot_table(index="group_code", columns="year",
                                                  values="persons", aggfunc="sum")
                    .reindex(index=groups["group_code"], columns=list(span)).fillna(0.0))
    t["trend"] = [_log_linear_trend(row) for row in per_year.to_numpy()]
    t["trend_cases"] = [[int(v) for v in row] for row in per_year.to_numpy()]
    t["trend_years"] = ",".join(map(str, span))
    t["unstable"] = t["new_cases"] < UNSTABLE_BELOW
    return t


def _reweight() -> dict:
    """Empty age groups are re-weighted (with a warning) where metrics supports it."""
    import inspect

    params = inspect.signature(metrics.age_standardized_rate).parameters
    return {"on_empty": "reweight"} if "on_empty" in params else {}


def decision_matrix(table: pd.DataFrame, criteria=DEFAULT_CRITERIA
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The groups that can be ranked and their matrix, counts and benefit flags.

    Groups with no new case and no episode in the period are left out (nothing to rank);
    a missing referral rate or cost (no episode in the setting) counts as 0, the lowest
    priority on that criterion.

    >>> t = pd.DataFrame({"group_code": ["A", "B", "C"], "incidence": [10.0, 0.0, 5.0],
    ...     "new_cases": [50, 0, 25], "outward_referral": [20.0, np.nan, np.nan],
    ...     "out_episodes": [4, 0, 0], "episodes": [20, 0, 0]})
    >>> rows, x, n, b = decision_matrix(t, ("incidence", "outward_referral"))
    >>> rows["group_code"].tolist(), x.tolist(), n.tolist(), b.tolist()
    (['A', 'C'], [[10.0, 20.0], [5.0, 0.0]], [[50.0, 4.0], [25.0, 0.0]], [True, True])
    """
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown criteria {unknown}; choose from {sorted(CRITERIA)}")
    keep = (table["new_cases"] > 0) | (table["episodes"] > 0)
    rows = table[keep].reset_index(drop=True)
    x = np.column_stack([rows[CRITERIA[c].column].astype(float).fillna(0.0).to_numpy()
                         for c in criteria])
    n = np.column_stack([rows[CRITERIA[c].count].astype(float).fillna(0.0).to_numpy()
                         for c in criteria])
    b = np.array([CRITERIA[c].benefit for c in criteria])
    return rows, x, n, b


def specialty_new_cases(con, specialty_of: dict[str, str], years: tuple[int, ...],
                        lookback: int = persons.DEFAULT_LOOKBACK) -> pd.Series:
    """New cases per specialty, each person once per specialty and period.

    The groups' new cases cannot be added up across the groups of a specialty (a person
    with colorectal and gastric cancer would count twice for 胃肠外科). A specialty is
    counted as one code set, the ICD-10 categories of all its disease groups, with the
    new-case definition of :func:`healthmap.persons.cases`: persons whose first episode
    with one of its codes in the period (any setting) has no episode with one of its codes
    in the ``lookback`` years before it (0: diagnosed cases). A person seen for gastric
    cancer last year and for colorectal cancer this year is a new colorectal case but not
    a new case of the specialty. The person counts hold every specialty as a code set
    (:func:`healthmap.person_counts_query.specialty_cases`: one year, or a period of several
    years, in milliseconds); otherwise the code sets are whole disease groups, so the
    per-person roll-up answers (one statement for all specialties).

    Parameters
    ----------
    con
        DuckDB connection with the store's views (:func:`healthmap.store.connect`).
    specialty_of : dict
        Disease group code → specialty code.
    years : tuple of int
        The period (whole years; empty: nothing).

    Returns
    -------
    Series
        Persons per ``specialty_code`` (specialties with at least one person).

    Examples
    --------
    One person with a gastric and a colorectal stay in 2024, one seen for gastric cancer
    in 2023 and for colorectal cancer in 2024:

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> ep = pd.DataFrame({"record_id": list("abcd"), "person_id": ["p", "p", "q", "q"],
    ...     "area_code": "A", "icd3": ["C16", "C18", "C16", "C18"], "sex": "F",
    ...     "age_group": "60-64", "setting": "inpatient", "insurance_type": "employee",
    ...     "date": pd.to_datetime(["2024-02-01", "2024-03-01", "2023-09-01",
    ...                             "2024-02-01"]).date})
    >>> ep["year"] = [d.year for d in ep["date"]]; ep["month"] = [d.month for d in ep["date"]]
    >>> _ = con.register("episodes", ep)
    >>> _ = con.register("icd3_groups", pd.DataFrame({"icd3": ["C16", "C18"],
    ...                                               "group_code": ["GC", "CRC"]}))
    >>> specialty_new_cases(con, {"GC": "GI", "CRC": "GI"}, (2024,), 1).to_dict()
    {'GI': 1}
    >>> specialty_new_cases(con, {"GC": "GI", "CRC": "GI"}, (2024,), 0).to_dict()
    {'GI': 2}
    """
    years = tuple(sorted(int(y) for y in years))
    counted = person_counts_query.specialty_cases(con, specialty_of, years, int(lookback))
    if counted is not None:  # the person counts hold the specialties' code sets
        return counted
    codes = con.execute("SELECT icd3, group_code FROM icd3_groups").df()
    codes["specialty_code"] = codes["group_code"].map(specialty_of)
    codes = codes.dropna(subset=["specialty_code"])
    out: dict[str, int] = {}
    if years and len(codes):
        every = Selection(Filters(years=years, setting=None), tuple(sorted(codes["icd3"])))
        if person_rollup.code_set(con, every, []) is not None:  # the roll-up answers
            return _rollup_specialty_cases(con, codes, years, int(lookback))
    if years:
        for spec, sub in codes.groupby("specialty_code", sort=True):
            sel = Selection(Filters(years=years, setting=None), tuple(sorted(sub["icd3"])))
            n = int(persons.cases(con, sel, by=(), lookback=lookback)["persons"].sum())
            if n:
                out[str(spec)] = n
    return pd.Series(out, dtype="int64").rename_axis("specialty_code")


def _rollup_specialty_cases(con, codes: pd.DataFrame, years: tuple[int, ...],
                            lookback: int) -> pd.Series:
    """:func:`specialty_new_cases` of every specialty in one statement on the per-person
    roll-up (:mod:`healthmap.person_rollup`), the definition of :func:`healthmap.persons.
    cases` for a code set of whole groups, in one aggregation of the rows per (specialty,
    person): a person's index date is their first date with one of the specialty's groups
    in the period (the least ``first_any`` of those groups' whole-group rows of the
    period's years), and they are new unless a year before it holds a last date of one of
    its groups inside the look-back window (``last_any`` ≥ index date − N years).

    Which years can lie before the index date: every year before the period's first (one
    greatest ``last_any`` of them all), and a year between the period's years that is not
    one of them (``(2022, 2024)``: 2023) only if it is before the index date's year (its
    own greatest, compared when it is); a year of the period before the index date's year
    holds no row of the person and specialty (else the index date would be in it). The
    rows read: the period's years and the ``lookback`` years before its first (a year
    before those ends before any index date − N years). ``codes``: ``icd3``,
    ``group_code`` and ``specialty_code`` of the groups with one."""
    sets = codes[["group_code", "specialty_code"]].drop_duplicates()
    whole = person_rollup._where("groups", (), False, person_rollup.replace_years(
        Selection(Filters(), None)))  # every group's whole-group rows (any setting)
    first, last = years[0], years[-1]
    gaps = [y for y in range(first + 1, last) if y not in years] if lookback else []
    lasts = "".join(f",\n               max(r.last_any) FILTER (WHERE r.year = {y}) AS last_{y}"
                    for y in gaps)
    if lookback:
        lasts = (",\n               max(r.last_any) FILTER (WHERE r.year < $first_year) AS "
                 "last_before" + lasts)
    older = ["last_before >= start - to_years($lookback)",
             *(f"({y} < year(start) AND last_{y} >= start - to_years($lookback))"
               for y in gaps)]
    new = " AND ".join(f"NOT coalesce({c}, false)" for c in older)
    window = ("r.year BETWEEN $first_year - $lookback AND $last_year" if lookback else
              "r.year = ANY($years)")
    sql = f"""
    SELECT specialty_code, count(*) AS persons FROM (
        SELECT s.specialty_code, r.person_id,
               min(r.first_any) FILTER (WHERE r.year = ANY($years)) AS start{lasts}
        FROM rollup_persons r JOIN spec_sets s USING (group_code)
        WHERE {whole} AND {window}
        GROUP BY ALL HAVING start IS NOT NULL)
    {"WHERE " + new if lookback else ""}
    GROUP BY ALL ORDER BY ALL"""
    values = {"years": list(years), "first_year": first, "last_year": last,
              "lookback": lookback, "all": person_rollup.ALL}
    used = set(re.findall(r"\$(\w+)", sql))
    con.register("spec_sets", sets)
    try:
        df = con.execute(sql, {k: v for k, v in values.items() if k in used}).df()
    finally:
        con.unregister("spec_sets")
    df = df[df["persons"] > 0]
    return pd.Series(df["persons"].astype("int64").to_numpy(),
                     index=df["specialty_code"].astype(str).to_numpy(),
                     dtype="int64").rename_axis("specialty_code")


def specialty_persons(engine: Engine, years: tuple[int, ...],
                      lookback: int = persons.DEFAULT_LOOKBACK) -> pd.Series:
    """:func:`specialty_new_cases` on the episode store, with each group's specialty from
    the database's ``disease_groups``. Callers cache the result per period (the page does,
    keyed on the data version)."""
    with engine.connect() as conn:
        specialty_of = store_sync.specialties(conn)
    con = store.connect(engine)
    try:
        return specialty_new_cases(con, specialty_of, years, lookback)
    finally:
        con.close()


def rank_groups(table: pd.DataFrame, criteria=DEFAULT_CRITERIA,
                weights: dict[str, float] | None = None, method: str = "topsis",
                top_n: int = 10, runs: int = 500, jitter: float = 0.2,
                seed: int = ranking_stability.DEFAULT_SEED,
                persons: pd.Series | None = None) -> dict:
    """Rank the indicator table's groups and roll them up to specialties.

    ``weights`` (criterion → weight) default to the entropy weights of the raw matrix.
    Returns a dict with ``groups`` (the ranked rows: ``score``, ``rank``, rank interval,
    ``top_share``, ``tier``, and the other method's rank as ``rank_other``),
    ``entropy`` and ``weights`` (criterion → weight), ``specialties`` (the roll-up, with
    each specialty's best tier) and ``spearman`` (agreement of the two methods).
    """
    rows, x, n, b = decision_matrix(table, criteria)
    if len(rows) < 2:
        raise ValueError("fewer than two disease groups with cases: nothing to rank")
    ent = dict(zip(criteria, ranking.entropy_weights(x)))
    w = dict(ent) if weights is None else {c: float(weights.get(c, 0.0)) for c in criteria}
    wv = np.array([w[c] for c in criteria])
    st = ranking_stability.rank_stability(x, wv, b, counts=n, method=method, top_n=top_n,
                                          runs=runs, jitter=jitter, seed=seed)
    other = "weighted_sum" if method == "topsis" else "topsis"
    other_rank = ranking.ranks(ranking.score(x, wv, b, other))
    ranked = pd.concat([rows, st.drop(columns=["top2_share"])], axis=1)
    ranked["rank_other"] = other_rank
    ranked = ranked.sort_values(["rank", "group_code"], kind="stable").reset_index(drop=True)
    spec = ranking.rollup_specialties(ranked.assign(name=ranked["name_zh"]), "score",
                                      persons=persons)
    names = ranked.drop_duplicates("specialty_code").set_index("specialty_code")
    spec["specialty_zh"] = spec["specialty_code"].map(names["specialty_zh"])
    spec["specialty_en"] = spec["specialty_code"].map(names["specialty_en"])
    order = {t: i for i, t in enumerate(ranking_stability.TIERS)}
    best = ranked.assign(o=ranked["tier"].map(order)).groupby("specialty_code")["o"].min()
    spec["tier"] = spec["specialty_code"].map(best).map(dict(enumerate(ranking_stability.TIERS)))
    return {"groups": ranked, "entropy": ent, "weights": {c: w[c] / wv.sum() for c in criteria},
            "specialties": spec, "spearman": ranking_stability.spearman(ranked["rank"],
                                                                        ranked["rank_other"])}
