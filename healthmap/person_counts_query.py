"""Person counts answered from the person-count roll-up (:mod:`healthmap.person_counts`):
which questions it answers (:func:`plan`), the condition and measure of a period of
several years (:func:`period_sql`: each person once, in their first year of the period in
the setting, new as on their first date of the period in any setting), the question
itself (:func:`query`) and the key specialties' new cases (:func:`specialty_cases`).
:mod:`healthmap.persons` chooses this path, the per-person roll-up or the live query."""

from __future__ import annotations

from healthmap.person_counts import (ALL, BITS, EARLIER, LOOKBACKS, REACH, SAME,
                                     SETTING_BITS, SPECIALTY, specialty_digest)


def plan(con, sel, unit: list[str], rows, lookback: int = 0, referral: bool = False
         ) -> tuple[str, ...] | None:
    """Which code sets of the roll-up answer ``sel`` counted by ``unit`` (``rows``: the
    per-person roll-up's plan, :func:`healthmap.person_rollup.code_set`; ``referral``:
    the person-level referral counts) : ``("*",)`` all categories, ``(group, …)`` those
    groups (rows by group), ``()`` every group (rows by group), or ``None`` (the
    per-person roll-up or the live query answers: an insurance filter, a union of groups,
    a look-back not among :data:`LOOKBACKS`, a store year without the counts, or more
    than one year counted as one period unless :func:`period_years` allows it, in any
    setting or one of :data:`SETTING_BITS`, without the person-level referral counts)."""
    f = sel.filters
    if rows is None or f.insurance or (lookback > 0 and lookback not in LOOKBACKS):
        return None
    if "year" not in unit and len(set(f.years)) != 1 and not (
            period_years(f.years) and not referral
            and (not f.setting or f.setting in SETTING_BITS)):
        return None  # a person of two years is one person
    kind, groups = rows
    if kind != "all" and "group_code" not in unit and len(groups) != 1:
        return None
    try:
        missing = con.execute("SELECT count(*) FILTER (WHERE NOT counts) FROM store_years"
                              ).fetchone()[0]
    except Exception:  # a connection without the store's tables or without the counts
        return None
    if missing:
        return None
    return (ALL,) if kind == "all" else tuple(groups)


def period_years(years) -> bool:
    """Whether ``years`` is a period of several years the roll-up counts as one: at least
    two years, the last at most :data:`REACH` years after the first (consecutive or not).

    >>> period_years((2023, 2024)), period_years((2021, 2023)), period_years((2024,))
    (True, True, False)
    >>> period_years((2018, 2024)), period_years((2019, 2024))
    (False, True)
    """
    ys = sorted(set(int(y) for y in years))
    return len(ys) > 1 and ys[-1] - ys[0] <= REACH


def period_offsets(years) -> dict[int, tuple[int, ...]]:
    """Per year of a period its earlier years in it, as years before that one (J, the
    J of :data:`EARLIER`), the earliest first.

    >>> period_offsets((2022, 2023, 2024))
    {2022: (), 2023: (1,), 2024: (2, 1)}
    >>> period_offsets((2021, 2024))  # 2021 is three years before 2024
    {2021: (), 2024: (3,)}
    """
    ys = sorted(set(int(y) for y in years))
    return {y: tuple(y - p for p in ys if p < y) for y in ys}


def _code(j: int) -> str:
    """The code of the year ``j`` years before a row's year (:data:`EARLIER`)."""
    return f"(({EARLIER} >> {BITS * (j - 1)}) & {SAME})"


def period_sql(years, lookback: int = 0) -> tuple[str, str]:
    """The condition on the roll-up's rows that a person's row is their first of the
    period ``years`` in its setting, and the measure that counts them (``lookback`` 0:
    ``persons``) or those of them new with ``lookback`` years.

    A person's row of year ``y`` is their first of the period when none of the period's
    years before ``y`` holds a row of theirs in the setting (code :data:`SAME`). Their
    index date is their first date of the period in any setting: in the earliest of the
    period's years before ``y`` with a row in another setting (code 1 + L: new with the
    first L look-backs), if one has, else in ``y`` (the row's ``new_N``). On the rows of
    every setting every earlier year with a row is :data:`SAME`.

    >>> period_sql((2024,), 1)
    ('TRUE', 'new_1')
    >>> cond, measure = period_sql((2023, 2024), 2)
    >>> cond
    'CASE year WHEN 2023 THEN TRUE WHEN 2024 THEN ((earlier >> 0) & 7) <> 7 END'

    Four persons: new in 2023; in the setting in 2023 and 2024; in another setting in 2023
    (new with every look-back then) and in the setting in 2024; the same but new in 2023
    with one year only (code 2):

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE c AS SELECT * FROM (VALUES (2023, 0, 1, 1), "
    ...     "(2024, 7, 1, 0), (2024, 5, 1, 0), (2024, 2, 1, 0)) t(year, earlier, persons, new_2)")
    >>> con.execute(f"SELECT CAST(sum(persons) AS INT), CAST(sum({measure}) AS INT) FROM c "
    ...             f"WHERE {cond}").fetchone()
    (3, 2)
    """
    column = f"new_{int(lookback)}" if lookback > 0 else "persons"
    offsets = period_offsets(years)
    if len(offsets) < 2:
        return "TRUE", column
    level = LOOKBACKS.index(int(lookback)) + 1 if lookback > 0 else 0
    conds, measures = [], []
    for y, js in offsets.items():
        conds.append(f"WHEN {y} THEN " + (" AND ".join(f"{_code(j)} <> {SAME}" for j in js)
                                           or "TRUE"))
        m = column
        if lookback > 0 and js:
            m = ("CASE " + " ".join(
                f"WHEN {_code(j)} <> 0 THEN CASE WHEN {_code(j)} > {level} THEN persons "
                f"ELSE 0 END" for j in js) + f" ELSE {column} END")
        measures.append(f"WHEN {y} THEN {m}")
    return (f"CASE year {' '.join(conds)} END", f"CASE year {' '.join(measures)} END")


def query(con, sel, by: list[str], codes: tuple[str, ...], lookback: int = 0,
          referral: bool = False):
    """:func:`healthmap.persons.cases` (``referral`` False) or :func:`healthmap.persons.
    referrals` answered from the roll-up's rows of the code sets ``codes`` (:func:`plan`),
    in the columns and row order those return (the caller fixes the column types)."""
    import re

    f = sel.filters
    cond = ["setting = $setting"]
    column = f"new_{int(lookback)}" if lookback > 0 else "persons"
    if f.years:
        cond.append("year = ANY($years)")
        if "year" not in by:  # each person's first year in it
            first, column = period_sql(f.years, lookback)
            cond.append(first)
    if codes == (ALL,):
        cond.append("group_code = $all")
    else:
        cond.append("group_code <> $all")
        cond.append(f"NOT starts_with(group_code, '{SPECIALTY}')")
        if codes:
            cond.append("group_code = ANY($groups)")
    if f.sex:
        cond.append("sex = $sex")
    if f.age_groups:
        cond.append("age_group = ANY($ages)")
    where = " AND ".join(cond)
    keys = ", ".join(by)
    lead = keys + ", " if keys else ""
    group = "GROUP BY " + keys if keys else ""
    if referral:
        sql = f"""
        WITH s AS (
            SELECT {lead}CAST(sum(patients_in) AS BIGINT) AS inside,
                   CAST(sum(patients_out) AS BIGINT) AS outside,
                   CAST(sum(referred_out) AS BIGINT) AS referred
            FROM rollup_person_counts WHERE {where} {group})
        SELECT {lead}false AS in_county, outside AS episodes, referred AS referrals
        FROM s WHERE outside > 0
        UNION ALL
        SELECT {lead}true AS in_county, inside AS episodes, 0 AS referrals
        FROM s WHERE inside > 0
        ORDER BY ALL"""
    else:
        total = f"CAST(coalesce(sum({column}), 0) AS BIGINT)"
        sql = (f"SELECT {lead}{total} AS persons FROM rollup_person_counts WHERE {where} "
               + (f"{group} HAVING {total} > 0 ORDER BY ALL" if keys else ""))
    values = {"setting": f.setting or ALL, "years": [int(y) for y in f.years], "all": ALL,
              "groups": list(codes), "sex": f.sex, "ages": list(f.age_groups)}
    used = set(re.findall(r"\$(\w+)", sql))
    return con.execute(sql, {k: v for k, v in values.items() if k in used}).df()


def specialty_cases(con, specialty_of: dict, years, lookback: int = 0):
    """:func:`healthmap.ranking_data.specialty_new_cases` from the roll-up's specialty
    rows (persons per specialty code, as a Series), or ``None`` when it cannot answer: a
    look-back not among :data:`LOOKBACKS`, years that are neither one year nor a period of
    :func:`period_years`, a year without the counts, or counts of another grouping of the
    specialties (``store_years.specialties``, :func:`specialty_digest`).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> specialty_cases(con, {"GC": "GI"}, (2024,)) is None  # no store tables
    True
    """
    import pandas as pd

    ys = sorted(set(int(y) for y in years))
    if not ys or (lookback > 0 and lookback not in LOOKBACKS) or (
            len(ys) > 1 and not period_years(ys)):
        return None
    try:
        ok = con.execute("SELECT count(*) = $n AND bool_and(counts AND specialties = $d) "
                         "FROM store_years WHERE year = ANY($years)",
                         {"n": len(ys), "d": specialty_digest(specialty_of), "years": ys}
                         ).fetchone()[0]
    except Exception:  # a connection without the store's tables
        return None
    if not ok:
        return None
    first, column = period_sql(ys, lookback)
    df = con.execute(f"""
        SELECT substr(group_code, {len(SPECIALTY) + 1}) AS specialty_code,
               CAST(sum({column}) AS BIGINT) AS persons
        FROM rollup_person_counts
        WHERE setting = $all AND starts_with(group_code, $prefix) AND year = ANY($years)
              AND {first}
        GROUP BY ALL HAVING sum({column}) > 0 ORDER BY ALL""",
        {"all": ALL, "prefix": SPECIALTY, "years": ys}).df()
    return pd.Series(df["persons"].astype("int64").to_numpy(),
                     index=df["specialty_code"].astype(str).to_numpy(),
                     dtype="int64").rename_axis("specialty_code")
