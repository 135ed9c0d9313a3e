"""The per-person roll-up of the episode store: person counts without the raw episodes.

:mod:`healthmap.persons` counts persons (diagnosed cases, new cases with a look-back,
person-level outward referral) by the first qualifying episode of each person. Per year
this roll-up keeps, for every person, what those definitions read, so the common
selections are answered from it exactly (the tests compare both paths on hand-made and
on demo data); the rest keep the live query on the episodes (persons.py says which).

Rows of one year (``rollups/persons/year=YYYY/``, rebuilt with the other roll-ups):

* **slice rows**, one per (person, disease group, setting, insurance type) with an
  episode there (``group_code`` ``—`` for categories in no group), and one per (person,
  disease group) with ``setting`` and ``insurance_type`` ``*`` (the whole group: the
  selections by group without a setting or insurance filter, the index dates and the
  look-back read one row per person, group and year);
* **all-categories rows** (``group_code`` ``*``, ``insurance_type`` ``*``), one per
  (person, setting) and one per person with ``setting`` ``*``: the selections without a
  disease or insurance filter read one row per person and year.

Each row carries its first episode (by date, then record id: ``date``, ``record_id``)
and that episode's ``area_code``, ``sex`` and ``age_group``; its first and last date
(``first_any``, ``last_any``: on slice rows those of the slice's episodes, so the least
and greatest over a group's slices are the person's first and last date with the group
in any setting; on all-categories rows the person's first and last date of the year with
any code in any setting); whether any of its episodes was at an institution outside the
county (``outside``; NULL when none of its institutions is known), whether one of
those had a formal referral (``formal``), and the settings of its episodes (``settings``,
a mask of :data:`SETTING_BITS`: on a row of every setting, which settings the person had
that year; the person counts read it for periods of one setting; files written before it
lack it and are rebuilt at upgrade, :func:`ensure`).

Why the look-back is exact from per-year rows: a person whose first episode with a
selected code in the period is on day *s* is new with a look-back of N years iff no
episode with a selected code lies in [s − N years, s). With whole years in the period
no such episode lies in the year of *s* before it, and every earlier year *y* ends before
*s*, so the window holds one of year *y*'s episodes iff that year's last date is on or
after s − N years (DuckDB's own date arithmetic on both paths: 29 February minus one
year is 28 February). The union of whole disease groups is derived exactly (first
episode: the least (date, record id); first and last dates: min and max), so each year's
rows depend on that year's episodes only, and the years are joined at query time.
"""

from __future__ import annotations

import secrets

import pandas as pd

from healthmap.codes import SETTINGS

#: the roll-up's name in the store (``rollups/persons``; the view ``rollup_persons``)
TABLE = "persons"
ALL = "*"  # the all-categories code set, and "any" setting / insurance type
NO_GROUP = "—"  # the group of a category in no disease group (as healthmap.persons)
#: the columns as the view shows them (files hold them without ``year``)
COLUMNS: list[tuple[str, str]] = [
    ("year", "INTEGER"), ("group_code", "VARCHAR"), ("setting", "VARCHAR"),
    ("insurance_type", "VARCHAR"), ("person_id", "VARCHAR"), ("date", "DATE"),
    ("record_id", "VARCHAR"), ("area_code", "VARCHAR"), ("sex", "VARCHAR"),
    ("age_group", "VARCHAR"), ("first_any", "DATE"), ("last_any", "DATE"),
    ("outside", "BOOLEAN"), ("formal", "BOOLEAN"), ("settings", "UTINYINT")]
#: the bit of each setting in ``settings`` (bit i: :data:`healthmap.codes.SETTINGS` [i])
SETTING_BITS = {s: 1 << i for i, s in enumerate(SETTINGS)}
#: rows per Parquet row group: a disease group's rows are a few row groups of a year
ROW_GROUP = 65_536
#: episodes of a year per part of its roll-up (:func:`build_on`)
PART_EPISODES = 300_000

#: the aggregate of a row's first episode (the least date, then record id) and its person
#: attributes (:mod:`healthmap.person_counts` reads it too)
FIRST_EPISODE = ("min(struct_pack(date := date, record_id := record_id, "
                 "area_code := area_code, sex := sex, age_group := age_group))")


def build(ep: pd.DataFrame, icd3_group: dict[str, str], in_county: dict[str, bool]
          ) -> pd.DataFrame:
    """The roll-up rows of one year's episodes ``ep`` (a pandas frame or Arrow table with
    the store's columns, ``date`` as dates or ISO text), without ``year``, as an Arrow
    table sorted by ``group_code`` (a disease group's rows are a few row groups).

    Examples
    --------
    One person, an outpatient visit in March and an inpatient stay outside the county in
    May (formally referred):

    >>> ep = pd.DataFrame({"record_id": ["a", "b"], "person_id": "p", "area_code": "A",
    ...     "icd3": "C18", "date": ["2024-03-01", "2024-05-01"], "sex": "F",
    ...     "age_group": "60-64", "setting": ["outpatient", "inpatient"],
    ...     "insurance_type": "employee", "institution_code": ["IN", "OUT"],
    ...     "referral": [None, True]})
    >>> rows = build(ep, {"C18": "CRC"}, {"IN": True, "OUT": False}).to_pandas()
    >>> rows = rows.sort_values(["group_code", "setting"], ignore_index=True)
    >>> rows[["group_code", "setting", "record_id", "outside", "formal"]].values.tolist()
    [['*', '*', 'a', True, True], ['*', 'inpatient', 'b', True, True], \
['*', 'outpatient', 'a', False, False], ['CRC', '*', 'a', True, True], \
['CRC', 'inpatient', 'b', True, True], ['CRC', 'outpatient', 'a', False, False]]
    >>> str(rows["first_any"].iloc[1]), str(rows["last_any"].iloc[5])  # person, slice
    ('2024-03-01', '2024-03-01')
    """
    import duckdb

    if not len(ep):
        return pd.DataFrame({c: [] for c, _t in COLUMNS if c != "year"})
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("ep", ep)
        con.register("grp", pd.DataFrame(list(icd3_group.items()),
                                         columns=["icd3", "group_code"], dtype=object))
        con.register("inst", pd.DataFrame({"code": list(in_county),
                                           "in_county": [bool(v) for v in in_county.values()]}))
        import pyarrow as pa

        return pa.concat_tables(build_on(con, "ep", "grp", "inst"))
    finally:
        con.close()


def build_files(files: list, icd3_group: dict[str, str], in_county: dict[str, bool]) -> list:
    """:func:`build_on` over one year's store ``files`` on a DuckDB connection of its own,
    under the store's memory limit (``HEALTHMAP_STORE_MEMORY``) with a spill folder:
    the parts as a list of Arrow tables (an upgrade of a store without the roll-up, and
    ``spark-load``)."""
    import tempfile

    import duckdb
    import pyarrow as pa

    from healthmap.store.layout import memory_limit

    spill = tempfile.TemporaryDirectory(prefix="healthmap-persons-")
    with spill, duckdb.connect(config={
            "memory_limit": memory_limit(),
            "temp_directory": spill.name, "preserve_insertion_order": False}) as con:
        paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        con.execute(f"CREATE VIEW ep AS SELECT * FROM read_parquet([{paths}])")
        con.register("grp", pa.table({"icd3": pa.array(list(icd3_group), pa.string()),
                                      "group_code": pa.array(list(icd3_group.values()),
                                                             pa.string())}))
        con.register("inst", pa.table({"code": pa.array(list(in_county), pa.string()),
                                       "in_county": pa.array([bool(v) for v in
                                                              in_county.values()])}))
        return build_on(con, "ep", "grp", "inst")


def build_on(con, episodes: str, groups: str, institutions: str,
             parts: int | None = None, values: dict | None = None, sink=None) -> list:
    """:func:`build` on a DuckDB connection ``con`` that holds the year's episodes
    (relation ``episodes``: the store's columns), ICD-10 category → group (``groups``:
    ``icd3``, ``group_code``) and institutions (``institutions``: ``code``,
    ``in_county``). The rows come in parts, each the rows of the persons whose id hashes
    to it (every row is one person's, so the parts are independent), one part per
    :data:`PART_EPISODES` episodes: a year of 2.5 million episodes needed more than
    3 GB in one query. The episodes are read once (into a table of ``con``'s database,
    dropped at the end), and two parts are computed at a time on two connections of that
    database (each part's query is partly serial; at 10 M, 2024's 9 parts took 11.5 s
    one after the other, each scanning the year's file). Returns the parts as Arrow
    tables, each sorted by group, setting and insurance (the store writes one file per
    part); given ``sink`` (part number, Arrow table → what to return in its place;
    :func:`healthmap.summary.summarise_year` passes one that writes the part through a
    store writer's :meth:`~healthmap.store.writer.StoreWriter.rollup_sink`), each part
    is handed to it as soon as it is computed, by the thread that computed it, so one
    part is written while the next one's query runs and no part is held longer.
    :func:`healthmap.summary.summarise_year` runs it on the connection that computes the
    other roll-ups, so the year's file is read by one engine under one
    memory limit. ``parts`` overrides the number of parts. The text columns are held as
    ENUM types while the rows are built (:func:`healthmap.summary.enum_types`; a part's
    sort by group, setting and insurance compares small integers), made of ``values``
    (column -> distinct texts of ``episodes``, :func:`healthmap.summary.distinct_values`)
    when given; the rows come back as text, to ``sink`` as the ENUMs' dictionaries (Arrow
    dictionary arrays, which :func:`healthmap.store.writer.write_rollup` writes as they
    are: no string made for each row; 10 M imports, alternating, roll-ups 63.7-72.4 s
    against 70.6-76.1 s as text, 2026-12-03)."""
    from healthmap import summary

    if parts is None:
        [(n,)] = con.execute(f"SELECT count(*) FROM {episodes}").fetchall()
        parts = max(1, -(-int(n) // PART_EPISODES))
    # the episodes as the roll-up reads them, with their part, read once (a table of
    # the database, not of this connection: the parts are computed on two connections
    # at once, each query being partly serial)
    table = f"_person_episodes_{secrets.token_hex(4)}"
    texts = ["setting", "insurance_type", "area_code", "sex", "age_group"]
    if values is None or any(c not in values for c in texts):
        values = summary.distinct_values(con, episodes, texts)
    [(codes,)] = con.execute(f"SELECT list(DISTINCT group_code) FILTER (WHERE group_code "
                             f"IS NOT NULL) FROM {groups}").fetchall()
    enums = summary.enum_types(con, {
        "group_code": [*(codes or []), NO_GROUP, ALL], **{c: values[c] for c in texts},
        "setting": [*values["setting"], ALL], "insurance_type": [*values["insurance_type"],
                                                                 ALL]})
    enum = lambda c, e: f"CAST({e} AS {enums[c]})" if c in enums else e  # noqa: E731
    bits = " ".join(f"WHEN '{v}' THEN {b}" for v, b in SETTING_BITS.items())
    try:  # the types are dropped whatever happens
        con.execute(f"""
            CREATE TABLE {table} AS
            SELECT {enum('group_code', 'coalesce(g.group_code, $no_group)')} AS group_code,
                   {enum('setting', 'e.setting')} AS setting,
                   {enum('insurance_type', 'e.insurance_type')} AS insurance_type,
                   e.person_id, CAST(e.date AS DATE) AS date, e.record_id,
                   {enum('area_code', 'e.area_code')} AS area_code,
                   {enum('sex', 'e.sex')} AS sex, {enum('age_group', 'e.age_group')} AS age_group,
                   NOT i.in_county AS outside,
                   NOT i.in_county AND coalesce(CAST(e.referral AS BOOLEAN), FALSE) AS formal,
                   hash(e.person_id) % CAST($parts AS UBIGINT) AS part
            FROM {episodes} e LEFT JOIN {groups} g ON g.icd3 = e.icd3
                              LEFT JOIN {institutions} i ON i.code = e.institution_code""",
                    {"no_group": NO_GROUP, "parts": parts})
    except BaseException:
        for name in enums.values():
            con.execute(f"DROP TYPE IF EXISTS {name}")
        raise
    # one pass over the part's episodes (the slices), then the all-categories rows and
    # the whole groups from the slices. A row's first episode is the least (date, record
    # id): the part's episodes are numbered in that order (``ord``), the aggregates keep
    # the least number (fixed-size states, cheap to combine) and the first episode's
    # columns are joined back by it at the end
    sql = f"""
        WITH numbered AS MATERIALIZED (
            SELECT * EXCLUDE (part), row_number() OVER (ORDER BY date, record_id) AS ord
            FROM {table} WHERE part = $part),
        slices AS MATERIALIZED (
            SELECT group_code, setting, insurance_type, person_id, min(ord) AS ord,
                   min(date) AS first_any, max(date) AS last_any,
                   bool_or(outside) AS outside, bool_or(formal) AS formal,
                   CAST(CASE CAST(setting AS VARCHAR) {bits} ELSE 0 END AS UTINYINT)
                       AS settings
            FROM numbered GROUP BY group_code, setting, insurance_type, person_id),
        everything AS MATERIALIZED (
            SELECT {enum('group_code', '$all')} AS group_code,
                   coalesce(setting, {enum('setting', '$all')}) AS setting,
                   {enum('insurance_type', '$all')} AS insurance_type, person_id,
                   min(ord) AS ord,
                   min(first_any) AS first_any, max(last_any) AS last_any,
                   bool_or(outside) AS outside, bool_or(formal) AS formal,
                   bit_or(settings) AS settings
            FROM slices GROUP BY GROUPING SETS ((person_id, setting), (person_id))),
        spans AS (
            SELECT person_id, first_any, last_any FROM everything WHERE setting = $all),
        whole_groups AS (
            SELECT group_code, {enum('setting', '$all')} AS setting,
                   {enum('insurance_type', '$all')} AS insurance_type, person_id,
                   min(ord) AS ord, min(first_any) AS first_any, max(last_any) AS last_any,
                   bool_or(outside) AS outside, bool_or(formal) AS formal,
                   bit_or(settings) AS settings
            FROM slices GROUP BY group_code, person_id),
        rows AS (
            SELECT * FROM slices
            UNION ALL
            SELECT * FROM whole_groups
            UNION ALL
            SELECT v.group_code, v.setting, v.insurance_type, v.person_id, v.ord,
                   p.first_any, p.last_any, v.outside, v.formal, v.settings
            FROM everything v JOIN spans p USING (person_id))
        SELECT r.group_code, r.setting, r.insurance_type, r.person_id, f.date,
               f.record_id, f.area_code, f.sex, f.age_group, r.first_any, r.last_any,
               r.outside, r.formal, r.settings
        FROM rows r JOIN numbered f ON f.ord = r.ord
        ORDER BY r.group_code, r.setting, r.insurance_type"""
    # the rows as text again (a projection keeps the order); handed to ``sink`` as the
    # ENUMs' dictionaries (Arrow dictionary arrays: the store writes them as they are)
    sql = f"""SELECT {', '.join(f'CAST({c} AS VARCHAR) AS {c}' if c in enums and sink is None
                                else c for c, _t in COLUMNS if c != 'year')} FROM ({sql})"""

    def run(cur, part: int):
        table = cur.sql(sql, params={"all": ALL, "part": part}).to_arrow_table()
        return table if sink is None else sink(part, table)

    try:
        [(threads,)] = con.execute("SELECT current_setting('threads')").fetchall()
        workers = min(int(threads), parts, 2)
        if workers < 2:
            return [run(con, part) for part in range(parts)]
        from concurrent.futures import ThreadPoolExecutor

        def worker(w: int) -> dict:  # parts w, w + workers, ... on a connection of its own
            with con.cursor() as cur:
                return {part: run(cur, part) for part in range(w, parts, workers)}

        with ThreadPoolExecutor(workers) as pool:
            done = {k: v for out in pool.map(worker, range(workers)) for k, v in out.items()}
        return [done[part] for part in range(parts)]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        for name in enums.values():
            con.execute(f"DROP TYPE IF EXISTS {name}")


def code_set(con, sel, unit: list[str]) -> tuple[str, tuple[str, ...]] | None:
    """Which rows of the roll-up answer ``sel`` counted by ``unit`` exactly: ``("all",
    ())`` (the all-categories rows), ``("groups", groups)`` (the slice rows of ``groups``;
    ``()``: every group), or ``None`` (the live query must answer: a month range, ICD-10
    categories that are not whole disease groups, a year of the store without the
    roll-up, a connection without it)."""
    f = sel.filters
    if (f.month_from or 1) > 1 or (f.month_to or 12) < 12:
        return None
    try:
        missing = con.execute("SELECT count(*) FILTER (WHERE NOT persons) FROM store_years"
                              ).fetchone()[0]
    except Exception:  # a connection without the store's tables (doctests, hand-made)
        return None
    if missing:
        return None
    if sel.icd3 is None:
        if "group_code" in unit or f.insurance:
            return "groups", ()
        return "all", ()
    codes = sorted(set(sel.icd3))
    if not codes:
        return None
    held = con.execute(
        "SELECT g.icd3, g.group_code FROM icd3_groups g WHERE g.group_code IN "
        "(SELECT group_code FROM icd3_groups WHERE icd3 = ANY($codes))",
        {"codes": codes}).fetchall()
    if sorted(c for c, _g in held) != codes:  # a category outside a group, or part of one
        return None
    return "groups", tuple(sorted({g for _c, g in held}))


def _where(kind: str, groups, qualifying: bool, sel) -> str:
    """The rows of ``kind`` and ``groups`` (:func:`code_set`) a query reads: those of its
    qualifying episodes (``qualifying``), else those of every setting and insurance type
    (the index dates and the look-back), one level of rows each."""
    f = sel.filters
    cond = ["year = ANY($years)"] if f.years else []
    if kind == "all":
        cond += ["group_code = $all", "setting = $qset" if qualifying else "setting = $all"]
    else:
        cond.append("group_code <> $all")
        if groups:
            cond.append("group_code = ANY($groups)")
        if qualifying and (f.setting or f.insurance):  # the slice rows
            cond.append("setting <> $all")
            if f.setting:
                cond.append("setting = $setting")
            if f.insurance:
                cond.append("insurance_type = ANY($ins)")
        else:  # the whole group's rows
            cond.append("setting = $all")
    return " AND ".join(cond or ["TRUE"])


def query(con, sel, by: list[str], unit: list[str], plan, lookback: int = 0,
          referral: bool = False) -> pd.DataFrame:
    """:func:`healthmap.persons.cases` (``referral`` False) or
    :func:`healthmap.persons.referrals` answered from the roll-up's rows that ``plan``
    (:func:`code_set`) names; the caller fixes the column types."""
    f = sel.filters
    kind, groups = plan
    part = ", ".join(["person_id", *unit])
    keys = ", ".join(f"f.{k}" for k in by)
    # one row per person and unit already: the all-categories rows of a one-year unit
    one_set = kind == "all" or ("group_code" in unit or len(groups) == 1) and not (
        f.setting or f.insurance)
    single = one_set and (len(f.years) == 1 or "year" in unit)
    if one_set and not single and not referral:
        return _first_years(con, sel, by, unit, plan, lookback)
    if single:
        firsts = f"""firsts AS (
            SELECT person_id, year, group_code, area_code, sex, age_group, outside, formal,
                   first_any AS start
            FROM rollup_persons WHERE {_where(kind, groups, True, sel)})"""
        starts = ""
    else:
        firsts = f"""firsts AS (
            SELECT {part}, fe.area_code AS area_code, fe.sex AS sex,
                   fe.age_group AS age_group, outside, formal
            FROM (SELECT {part}, {FIRST_EPISODE} AS fe, bool_or(outside) AS outside,
                         bool_or(formal) AS formal
                  FROM rollup_persons WHERE {_where(kind, groups, True, sel)}
                  GROUP BY {part}))"""
        starts = f""",
        starts AS (
            SELECT {part}, min(first_any) AS start FROM rollup_persons
            WHERE {_where(kind, groups, False, sel)} GROUP BY {part})"""
    person = ["TRUE", *(["f.sex = $sex"] if f.sex else []),
              *(["f.age_group = ANY($ages)"] if f.age_groups else [])]
    if referral:
        sql = f"""
        WITH {firsts}
        SELECT {keys + ',' if keys else ''} NOT f.outside AS in_county,
               count(*) AS episodes, count(*) FILTER (WHERE f.formal) AS referrals
        FROM firsts f WHERE f.outside IS NOT NULL AND {' AND '.join(person)}
        GROUP BY ALL ORDER BY ALL"""
    else:
        # the persons (with their index date) who pass the sex and age-band filters
        start = "f.start" if single else "s.start"
        cols = ", ".join(f"f.{k}" for k in dict.fromkeys([*by, "person_id", *unit]))
        base = f"""SELECT {cols}, {start} AS start
            FROM firsts f {'' if single else f'JOIN starts s USING ({part})'}
            WHERE {' AND '.join(person)}"""
        if lookback > 0:  # not new: an earlier year's last date inside the window
            same = "AND p.group_code = c.group_code" if "group_code" in unit else ""
            years = ("AND year BETWEEN $first_year - $lookback AND $last_year - 1"
                     if f.years else "")
            # one row per person, year (and group): all categories, or the whole groups'
            # rows counted by group or of one group
            unique = kind == "all" or "group_code" in unit or len(groups) == 1
            prior = f"""SELECT person_id{', group_code' if 'group_code' in unit else ''},
                       year, {'last_any' if unique else 'max(last_any)'} AS last
                FROM rollup_persons
                WHERE {_where(kind, groups, False, replace_years(sel))} {years}
                {'' if unique else 'GROUP BY ALL'}"""
            cases = f"""({base}) c ANTI JOIN ({prior}) p
                ON p.person_id = c.person_id {same} AND p.year < year(c.start)
                   AND p.last >= c.start - to_years($lookback)"""
        else:
            cases = f"({base}) c"
        ckeys = ", ".join(f"c.{k}" for k in by)
        sql = f"""
        WITH {firsts}{starts}
        SELECT {ckeys + ',' if ckeys else ''} count(*) AS persons
        FROM {cases}
        {'GROUP BY ' + ckeys if ckeys else ''}
        ORDER BY ALL"""
    return _execute(con, sql, sel, groups, lookback)


def _first_years(con, sel, by: list[str], unit: list[str], plan, lookback: int
                 ) -> pd.DataFrame:
    """:func:`query`'s cases over several whole years when the rows it reads hold one row
    per person (and unit) and year (``one_set``): a person's first year in the period is
    their row with no row of theirs in an earlier year of the period; it carries the
    first qualifying episode (the attributes) and, on the every-setting rows, the index
    date (``first_any``); new with a look-back of N years iff no earlier year's row has its
    last date on or after the index date minus N years. One anti-join each, no grouping
    by person (the general path's counts: ``tests/test_person_rollup_years.py``)."""
    kind, groups = plan
    f = sel.filters
    part = ", ".join(["person_id", *unit])
    match = " AND ".join(f"p.{k} = r.{k}" for k in ["person_id", *unit])
    qualifying = _where(kind, groups, True, sel)
    coded = _where(kind, groups, False, sel)
    earlier = _where(kind, groups, False, replace_years(sel))
    if f.years:  # the years that can hold an earlier row: the period's and the window's
        earlier += " AND year BETWEEN $first_year - $lookback AND $last_year - 1"
    # an earlier row of the period, or (new cases) one whose last date is in the window
    hit = "list_contains($years, p.year)" if f.years else "TRUE"
    if lookback > 0:
        hit += " OR p.last_any >= r.first_any - to_years($lookback)"

    def firsts(where: str, cols: str, before: str, cond: str) -> str:
        return f"""(SELECT {cols} FROM rollup_persons WHERE {where}) r ANTI JOIN (
            SELECT {part}, year, last_any FROM rollup_persons WHERE {before}) p
            ON {match} AND p.year < r.year AND ({cond})"""

    person = " AND ".join(["TRUE", *(["r.sex = $sex"] if f.sex else []),
                           *(["r.age_group = ANY($ages)"] if f.age_groups else [])])
    cols = ", ".join(dict.fromkeys([*by, "person_id", *unit, "year", "first_any",
                                    *(["sex"] if f.sex else []),
                                    *(["age_group"] if f.age_groups else [])]))
    if qualifying == coded:  # the qualifying rows are the index dates' rows
        rows = f"SELECT r.* FROM {firsts(qualifying, cols, earlier, hit)} WHERE {person}"
    else:  # first qualifying row (attributes) of a person whose index date is new
        rows = f"""SELECT r.* FROM {firsts(qualifying, cols, qualifying, "TRUE")}
            WHERE {person}"""
        if lookback > 0:
            rows = f"""SELECT q.* FROM ({rows}) q SEMI JOIN (SELECT r.{part.replace(', ', ', r.')}
                FROM {firsts(coded, f"{part}, year, first_any", earlier, hit)}) s
                USING ({part})"""
    keys = ", ".join(by)
    sql = f"""SELECT {keys + ',' if keys else ''} count(*) AS persons FROM ({rows})
        {'GROUP BY ' + keys if keys else ''} ORDER BY ALL"""
    return _execute(con, sql, sel, groups, lookback)


def _execute(con, sql: str, sel, groups, lookback: int) -> pd.DataFrame:
    """Run a roll-up query with the selection's values as bound parameters (only those
    the statement names: DuckDB refuses unused ones)."""
    import re

    f = sel.filters
    years = [int(y) for y in f.years]
    values = {"years": years, "all": ALL, "qset": f.setting or ALL, "groups": list(groups),
              "setting": f.setting, "ins": list(f.insurance), "sex": f.sex,
              "ages": list(f.age_groups), "lookback": int(lookback),
              "first_year": min(years, default=0), "last_year": max(years, default=0)}
    used = set(re.findall(r"\$(\w+)", sql))
    return con.execute(sql, {k: v for k, v in values.items() if k in used}).df()


def replace_years(sel):
    """``sel`` without its year filter (the look-back reads the earlier years)."""
    from dataclasses import replace

    return replace(sel, filters=replace(sel.filters, years=()))


def current(paths) -> bool:
    """Whether the roll-up files ``paths`` are of this format: with ``settings`` (the
    person counts read it; files written before it are rebuilt by :func:`ensure`, and a
    month's import rebuilds such a year's roll-ups whole).

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> old = tempfile.mkdtemp() + "/old.parquet"; pq.write_table(pa.table({"date": [1]}), old)
    >>> new = old.replace("old", "new"); pq.write_table(pa.table({"settings": [1]}), new)
    >>> current([old]), current([new]), current([])
    (False, True, True)
    """
    import pyarrow.parquet as pq

    return all("settings" in pq.read_schema(p).names for p in paths)


def ensure(engine) -> list[int]:
    """Add the roll-up to every year of the store that lacks it (a store written before
    this roll-up existed) or holds it of an older format (:func:`current`: without
    ``settings``), and the person counts (:mod:`healthmap.person_counts`) to every
    year that lacks them or holds them of another grouping of the key specialties, in one
    store write under the import lock; returns those years.
    :func:`healthmap.db.upgrade` calls it, so an upgraded deployment gets it at its first
    start (about 2 s per million episodes); meanwhile, and when an import holds the lock
    (then the next start adds it), :mod:`healthmap.persons` answers from the episodes.
    A store that is not the database's is left alone (readers refuse it by name)."""
    from sqlalchemy.orm import Session

    from healthmap import db as hdb, importlock, store, summary
    from healthmap.store.layout import StoreLocationError

    try:
        manifest = store.live_manifest(engine)
    except (store.StoreMismatch, StoreLocationError):
        return []
    from healthmap import person_counts
    from healthmap.store.sync import specialties

    with engine.connect() as conn:
        specialty_of = specialties(conn)
    root = store.engine_store_dir(engine)

    def held(v: dict) -> bool:  # the year's per-person roll-up, of this format
        return TABLE in (v.get("rollups") or {}) and current(
            root / f for f in v["rollups"][TABLE])

    if manifest is None or all(
            held(v) and person_counts.TABLE in v["rollups"]
            and person_counts.current((root / f for f in v["rollups"][person_counts.TABLE]),
                                      specialty_of)
            for v in manifest.years.values()):
        return []
    url = engine.url.render_as_string(hide_password=False)
    writer = None
    try:
        with importlock.import_lock(url, "refresh", "per-person roll-up", None):
            with engine.begin() as conn:
                writer = store.open_writer(conn)
                icd3_group, in_county = summary.lookups(conn)
                years = sorted(y for y, v in writer.years.items() if not held(v))
                for year in years:
                    files = [writer.root / f for f in writer.years[year]["files"]]
                    writer.add_rollups(year, {TABLE: build_files(files, icd3_group,
                                                                 in_county)})
                years = sorted({*years, *person_counts.stage(writer)})
                if years:
                    store.prepare(writer, conn)
                    summary.bump_generation(conn)
                    with Session(bind=conn) as s:
                        hdb.bump_version(s)
            if years:
                store.publish(writer)
    except importlock.ImportRunning:
        return []
    finally:
        if writer is not None:
            writer.discard()
    return years
