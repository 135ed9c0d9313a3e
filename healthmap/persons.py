"""Person-level measures on the episode store (issue 9 items 1 and 7, decisions §1 and §5).

Every function takes a DuckDB connection with the store's views (``episodes``,
``icd3_groups``, ``institutions``; :func:`healthmap.store.connect`) and a
:class:`healthmap.queries.Selection`, and returns a DataFrame keyed by the grouping keys
asked for. Definitions (docs/definitions.md, *Counts*):

* A **qualifying episode** lies in the selected years and month range, in the selected
  setting and insurance types, with an ICD-10 category of the selected disease groups or
  codes (all categories when none is selected).
* **Diagnosed cases** (就诊患者): distinct persons with at least one qualifying episode in
  the period. A person counts once however many years the period spans.
* **New cases** (新发病例), with a look-back of N years: those persons whose first episode
  in the period with a selected code, in *any* setting (their index date), has no
  episode with a selected code, in any setting, in the N years before it (decisions §5).
* A person's **area, sex and age group** are those of their first qualifying episode in
  the period (by date, then record id); the sex and age-band filters apply to them.
* Rows by ``year`` count each year as a period of its own, rows by ``group_code`` each
  disease group as a code set of its own (so every row equals the one-row selection).

The SQL takes every user value as a bound parameter; only grouping keys from the fixed
lists below are written into the statement.

Which path answers what (all give the same counts; the tests compare them):

* the **person counts** (:mod:`healthmap.person_counts`, counted per year, code set,
  setting, area, sex and age group when the roll-ups are built) answer one year (or rows
  by year) of all categories or one whole disease group (or rows by group), in any
  setting, without an insurance filter, with a look-back of :data:`LOOKBACK_CHOICES`:
  the map's, the reports' and the ranking's usual questions, without a person-level join;
  and the same for a period of several years (consecutive or not, the last at most five
  after the first: :func:`healthmap.person_counts_query.period_years`), in any setting
  or in one, without the person-level referral counts;
* the **per-person roll-up** (:mod:`healthmap.person_rollup`, built per year with the
  other roll-ups) answers selections of whole years (no month range) whose code set is
  all categories or whole disease groups (the ICD-10 categories of one or more groups,
  exactly), with any setting, insurance, sex and age-band filters, by any keys, with any
  look-back: all categories without an insurance filter, and a group (or rows by group)
  without a setting or insurance filter, read one row per person (and group) and year;
* the **live query** on the episodes answers the rest: a month range, categories that are
  not whole disease groups (a single code, a code outside every group), and any store
  with a year that lacks the roll-up (built before it; :func:`healthmap.person_rollup.
  ensure` adds it at upgrade), and connections without the store's tables.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd

from healthmap import person_rollup
from healthmap.measures import DEFAULT_LOOKBACK  # noqa: F401  (re-exported)
from healthmap.queries import Filters, Selection

#: person attributes, taken from the first qualifying episode
PERSON_KEYS = ("area_code", "sex", "age_group")
#: keys that make each value a selection of its own (a period, a code set)
UNIT_KEYS = ("year", "group_code")
KEYS = PERSON_KEYS + UNIT_KEYS
NO_GROUP = person_rollup.NO_GROUP  # the group of a category in no disease group
NEW, DIAGNOSED = "new", "diagnosed"
LOOKBACK_CHOICES = (0, 1, 2, 3, 5)  # years offered on the map page


def _keys(by) -> tuple[list[str], list[str]]:
    by = list(dict.fromkeys(by))
    bad = [k for k in by if k not in KEYS]
    if bad:
        raise ValueError(f"persons are counted by {', '.join(KEYS)}; not by {', '.join(bad)}")
    return by, [k for k in UNIT_KEYS if k in by]


def _run(con, sql: str, sel: Selection, **more) -> pd.DataFrame:
    """Run ``sql`` with the selection's values (and ``more``) as bound parameters, passing
    only those the statement names (DuckDB refuses unused ones)."""
    f = sel.filters
    years = [int(y) for y in f.years]
    values = {"years": years, "m0": f.month_from or 1, "m1": f.month_to or 12,
              "codes": list(sel.icd3 or ()), "setting": f.setting, "ins": list(f.insurance),
              "sex": f.sex, "ages": list(f.age_groups), "no_group": NO_GROUP,
              "first_year": min(years, default=0), "last_year": max(years, default=0),
              **more}
    used = set(re.findall(r"\$(\w+)", sql))
    return con.execute(sql, {k: v for k, v in values.items() if k in used}).df()


def _period(alias: str, sel: Selection) -> str:
    """Conditions of the period and code set on episodes ``alias``: only those the
    selection sets, so DuckDB can skip the year files and row groups outside it."""
    f = sel.filters
    cond = ["TRUE"]
    if f.years:
        cond.append(f"{alias}.year = ANY($years)")
    if (f.month_from or 1) > 1 or (f.month_to or 12) < 12:
        cond.append(f"{alias}.month BETWEEN $m0 AND $m1")
    if sel.icd3 is not None:
        cond.append(f"{alias}.icd3 = ANY($codes)")
    return " AND ".join(cond)


def _qualifying(sel: Selection, unit: list[str], extra: str = "", starts: bool = False
                ) -> str:
    """CTEs ``coded`` (episodes with a selected code in the period, any setting),
    ``qualifying`` (also in the setting and insurance types), ``firsts`` (each person's
    first qualifying episode per unit, carrying their attributes) and, with ``starts``,
    ``starts`` (each person's index date per unit: first coded episode, any setting;
    DuckDB computes a CTE even when nothing reads it)."""
    part = ", ".join(["person_id", *unit])
    f = sel.filters
    setting = "setting = $setting" if f.setting else "TRUE"
    insurance = "insurance_type = ANY($ins)" if f.insurance else "TRUE"
    return f"""
    coded AS (
        SELECT e.person_id, e.record_id, e.date, e.year, e.area_code, e.sex, e.age_group,
               e.setting, e.insurance_type{extra},
               coalesce(g.group_code, $no_group) AS group_code
        FROM episodes e LEFT JOIN icd3_groups g ON g.icd3 = e.icd3
        WHERE {_period("e", sel)}
    ),
    qualifying AS (
        SELECT * FROM coded WHERE {setting} AND {insurance}
    ),
    firsts AS (
        SELECT * FROM qualifying
        QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY date, record_id) = 1
    )""" + (f""",
    starts AS (
        SELECT {part}, min(date) AS start FROM coded GROUP BY {part}
    )""" if starts else "")


def _person_filter(sel: Selection) -> str:
    """The sex and age-band filters, on the person's first qualifying episode ``f``."""
    f = sel.filters
    return " AND ".join(["TRUE", *(["f.sex = $sex"] if f.sex else []),
                         *(["f.age_group = ANY($ages)"] if f.age_groups else [])])


def cases(con, sel: Selection, by=("area_code",), lookback: int = 0) -> pd.DataFrame:
    """Persons with a qualifying episode (``lookback`` 0: diagnosed cases) or new cases
    (``lookback`` N > 0 years), by ``by``.

    Returns ``by`` columns and ``persons`` (one row per key combination with a person).

    Examples
    --------
    One person seen as an outpatient in March and admitted in May 2024: a diagnosed case
    of the inpatient selection; new with a 1-year look-back unless seen in 2023.

    >>> import duckdb
    >>> from healthmap.queries import Filters
    >>> con = duckdb.connect()
    >>> ep = pd.DataFrame({"record_id": ["a", "b", "c"], "person_id": ["p", "p", "q"],
    ...     "area_code": "A", "icd3": "C18", "sex": "F", "age_group": "60-64",
    ...     "date": pd.to_datetime(["2024-03-01", "2024-05-01", "2023-12-01"]).date,
    ...     "setting": ["outpatient", "inpatient", "inpatient"], "insurance_type": "employee"})
    >>> ep["year"] = [d.year for d in ep["date"]]; ep["month"] = [d.month for d in ep["date"]]
    >>> _ = con.register("episodes", ep)
    >>> _ = con.register("icd3_groups", pd.DataFrame({"icd3": ["C18"], "group_code": ["CRC"]}))
    >>> sel = Selection(Filters(years=(2024,)), ("C18",))
    >>> cases(con, sel)["persons"].tolist(), cases(con, sel, lookback=1)["persons"].tolist()
    ([1], [1])
    """
    from healthmap import person_counts_query as counted

    by, unit = _keys(by)
    plan = person_rollup.code_set(con, sel, unit)
    codes = counted.plan(con, sel, unit, plan, int(lookback))
    if codes is not None:
        df = counted.query(con, sel, by, codes, lookback=int(lookback))
        df["persons"] = df["persons"].astype(int)
        return df
    if plan is not None:
        df = person_rollup.query(con, sel, by, unit, plan, lookback=int(lookback))
        df["persons"] = df["persons"].astype(int)
        return df
    return _live_cases(con, sel, by, unit, lookback)


def _live_cases(con, sel: Selection, by: list[str], unit: list[str], lookback: int
                ) -> pd.DataFrame:
    """:func:`cases` from the episodes (the live path)."""
    keys = ", ".join(f"f.{k}" for k in by)
    if lookback > 0:  # no episode with a selected code in the window, in any setting
        same_group = ("AND coalesce(pg.group_code, $no_group) = f.group_code"
                      if "group_code" in unit else "")
        years = "AND p.year BETWEEN $first_year - $lookback AND $last_year" if (
            sel.filters.years) else ""
        new = f"""AND NOT EXISTS (
            SELECT 1 FROM episodes p LEFT JOIN icd3_groups pg ON pg.icd3 = p.icd3
            WHERE p.person_id = f.person_id {same_group} {years}
              AND {_period("p", replace(sel, filters=Filters()))}
              AND p.date >= s.start - to_years($lookback) AND p.date < s.start)"""
    else:
        new = ""
    join = f"JOIN starts s USING (person_id{''.join(', ' + u for u in unit)})" if new else ""
    sql = f"""
    WITH {_qualifying(sel, unit, starts=bool(new))}
    SELECT {keys + ',' if keys else ''} count(*) AS persons
    FROM firsts f {join}
    WHERE {_person_filter(sel)} {new}
    {'GROUP BY ' + keys if keys else ''}
    ORDER BY ALL"""
    df = _run(con, sql, sel, lookback=int(lookback))
    df["persons"] = df["persons"].astype(int)
    return df


def referrals(con, sel: Selection, by=("area_code",)) -> pd.DataFrame:
    """Patients (persons with a qualifying episode) by ``by`` and whether any qualifying
    episode was outside the county, in the layout :func:`healthmap.indicators.
    referral_table` reads: ``by``, ``in_county`` (``False``: treated outside at least
    once), ``episodes`` (here: persons) and ``referrals`` (persons with a formal referral
    among their outside episodes).

    Examples
    --------
    One patient with three stays, one of them outside the county:

    >>> import duckdb
    >>> from healthmap.queries import Filters
    >>> con = duckdb.connect()
    >>> ep = pd.DataFrame({"record_id": ["a", "b", "c"], "person_id": "p",
    ...     "area_code": "A", "icd3": "C18", "sex": "M", "age_group": "60-64",
    ...     "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]).date,
    ...     "year": 2024, "setting": "inpatient", "insurance_type": "employee",
    ...     "institution_code": ["IN", "OUT", "IN"], "referral": [False, True, False]})
    >>> ep["month"] = [d.month for d in ep["date"]]
    >>> _ = con.register("episodes", ep)
    >>> _ = con.register("icd3_groups", pd.DataFrame({"icd3": ["C18"], "group_code": ["CRC"]}))
    >>> _ = con.register("institutions", pd.DataFrame({"code": ["IN", "OUT"],
    ...                                                 "in_county": [True, False]}))
    >>> referrals(con, Selection(Filters(years=(2024,)), None)).values.tolist()
    [['A', False, 1, 1]]
    """
    from healthmap import person_counts_query as counted

    by, unit = _keys(by)
    plan = person_rollup.code_set(con, sel, unit)
    codes = counted.plan(con, sel, unit, plan, referral=True)
    if codes is not None:
        df = counted.query(con, sel, by, codes, referral=True)
    elif plan is not None:
        df = person_rollup.query(con, sel, by, unit, plan, referral=True)
    else:
        df = _live_referrals(con, sel, by, unit)
    df["in_county"] = df["in_county"].astype(bool)
    for c in ("episodes", "referrals"):
        df[c] = df[c].astype(int)
    return df


def _live_referrals(con, sel: Selection, by: list[str], unit: list[str]) -> pd.DataFrame:
    """:func:`referrals` from the episodes (the live path)."""
    part = ", ".join(["person_id", *unit])
    keys = ", ".join(f"f.{k}" for k in by)
    sql = f"""
    WITH {_qualifying(sel, unit, ", e.institution_code, e.referral")},
    per_person AS (
        SELECT {part},
               bool_or(NOT i.in_county) AS outside,
               bool_or(NOT i.in_county AND coalesce(q.referral, FALSE)) AS formal
        FROM qualifying q JOIN institutions i ON i.code = q.institution_code
        GROUP BY {part}
    )
    SELECT {keys + ',' if keys else ''} NOT pp.outside AS in_county,
           count(*) AS episodes, count(*) FILTER (WHERE pp.formal) AS referrals
    FROM firsts f JOIN per_person pp USING ({part})
    WHERE {_person_filter(sel)}
    GROUP BY ALL
    ORDER BY ALL"""
    return _run(con, sql, sel)


def first_data_year(con) -> int | None:
    """The first year with any episode (the store's data are taken to start on 1 January
    of that year)."""
    return _year_range(con)[0]


def _year_range(con) -> tuple[int | None, int | None]:
    """The first and last year with any episode: on a store connection from its
    manifest's years (``store_years``; a year is listed only while it holds episodes), so
    no episode is read; on a connection with only an ``episodes`` relation from those."""
    import duckdb

    try:
        first, last = con.execute("SELECT min(year), max(year) FROM store_years").fetchone()
    except duckdb.CatalogException:
        first, last = con.execute("SELECT min(year), max(year) FROM episodes").fetchone()
    return (None if first is None else int(first)), (None if last is None else int(last))


def year_labels(years, lookback: int, first_year: int | None) -> dict[int, str]:
    """Per year: ``new`` when a look-back of ``lookback`` whole years fits in the data
    (year − lookback ≥ the first data year), ``diagnosed`` otherwise (no look-back, or
    the first data year(s) without a full window; decisions §5).

    >>> year_labels([2019, 2020, 2021], 1, 2019)
    {2019: 'diagnosed', 2020: 'new', 2021: 'new'}
    >>> year_labels([2021], 0, 2019)
    {2021: 'diagnosed'}
    """
    return {int(y): NEW if lookback > 0 and first_year is not None
            and int(y) - lookback >= first_year else DIAGNOSED for y in years}


def label(years, lookback: int, first_year: int | None) -> str:
    """``new`` when every year of the period has its full look-back window, else
    ``diagnosed`` (the figure is then a count of diagnosed persons, not incidence).

    >>> label([2020, 2021], 1, 2019), label([2019, 2020], 1, 2019)
    ('new', 'diagnosed')
    """
    per_year = year_labels(years, lookback, first_year)
    return NEW if per_year and all(v == NEW for v in per_year.values()) else DIAGNOSED



def period_label(con, years, lookback: int) -> tuple[str, tuple[int, ...]]:
    """The label of a person count over ``years`` (all years with data when empty) and
    the years among them without a full look-back window (:func:`year_labels`)."""
    first, last = _year_range(con)
    years = tuple(years) or (tuple(range(first, last + 1)) if first is not None else ())
    per_year = year_labels(years, lookback, first)
    short = tuple(y for y, v in per_year.items() if v == DIAGNOSED) if lookback > 0 else ()
    return label(years, lookback, first), short
