"""The person-count roll-up: person counts per year, code set, setting and person keys.

:mod:`healthmap.person_rollup` keeps one row per person, code set and setting a year, so
a count reads (and, for new cases, anti-joins) hundreds of thousands of persons: about
340 ms for one year at 10 million episodes. Most questions the pages and reports ask are
of one year (or rows by year), one code set (all categories, or one whole disease group,
or rows by group), any setting, no insurance filter. For those this roll-up holds the
answer already counted (``rollups/person_counts/year=YYYY/``, a few tens of thousands of
rows a year), one row per

    year × code set (``group_code``: ``*`` all categories, each disease group, ``—`` the
    categories in no group) × ``setting`` (``*`` any, and each setting) × ``area_code`` ×
    ``sex`` × ``age_group`` (of each person's first qualifying episode) × ``before``

with the diagnosed persons, the new persons for every look-back of
:data:`healthmap.persons.LOOKBACK_CHOICES` and the person-level referral counts
(:func:`healthmap.persons.referrals`: patients in the county only, patients treated
outside at least once, and those among them formally referred; a formal referral is one
to an institution outside the county, so no in-county patient has one).

It is additive over area, sex, age group and ``before``: each person has exactly one first
qualifying episode per (year, code set, setting), so lies in exactly one row. It is not
additive over code sets or insurance types: those selections read the per-person roll-up
(:func:`healthmap.persons.cases` says which).

Nor is it additive over years (a person seen in two years is one person of the two);
the key :data:`BEFORE` makes it answer a period of several whole years all the same,
consecutive or not, for every setting together (the setting ``*`` rows). There ``before``
is a mask of the :data:`REACH` years before the row's year that hold a row of the person
with the code set (bit J - 1: the year J years before); on the rows of one setting it is
0 (not kept: those periods read the per-person roll-up). A person of a period whose last
year is at most :data:`REACH` years after its first lies in the row of their first year
``f`` in it, the one whose ``before`` holds none of the period's years before ``f``
(:func:`period_masks`), with that year's first episode; and is new with a look-back of N
years in the period exactly when new in year ``f``: no year of the period before ``f``
holds one of their episodes, so both windows see the same earlier rows, those of years
between the period's years included (``tests/test_person_counts_periods.py``).

The key specialties (unions of whole disease groups, ``disease_groups.specialty_code``) are
code sets too (``group_code`` :data:`SPECIALTY` + the specialty code, every setting
together), derived at build time from the whole-group rows: a person's first episode
is the least (date, record id) over the specialty's groups, their index date the least
``first_any`` and each earlier year's last date the greatest ``last_any``, the union's
definition in :func:`healthmap.ranking_data.specialty_new_cases`. Their rows depend on
the grouping of groups into specialties, so the files record its digest
(:func:`specialty_digest`): counts of another grouping are computed again
(:func:`stale_years`, :func:`healthmap.person_rollup.ensure`) and their specialty rows not
read (:func:`specialty_cases`).

A year's new cases depend on the per-person rows of the up to five years before it, so
whenever a store write changes a year's per-person roll-up, the counts of that year and
of the five years after it are computed again (:func:`stale_years`, :func:`stage`; every
store write calls :func:`stage` before it prepares its manifest).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from healthmap import person_rollup
from healthmap.persons import LOOKBACK_CHOICES
from healthmap.store.layout import memory_limit, sql_file_list

#: the roll-up's name in the store (``rollups/person_counts``; the view
#: ``rollup_person_counts``)
TABLE = "person_counts"
ALL, NO_GROUP = person_rollup.ALL, person_rollup.NO_GROUP
#: the look-backs (years) counted, and the longest: how far a year's change reaches
LOOKBACKS = tuple(n for n in LOOKBACK_CHOICES if n > 0)
REACH = max(LOOKBACKS)
#: the key of the years before a row's year with a row of the person and code set (any
#: setting), as a mask (bit J - 1: the year J years before, up to :data:`REACH`); on the
#: rows of one setting it is 0 (not kept: those periods read the per-person roll-up)
BEFORE = "before"
KEYS = ("group_code", "setting", "area_code", "sex", "age_group", BEFORE)
#: the prefix of a key specialty's code set (``@GI``: the groups of specialty ``GI``)
SPECIALTY = "@"
#: the key of the Parquet file metadata that records the specialties' grouping
DIGEST_KEY = b"healthmap.specialties"
#: the columns of the per-person rows the look-back reads
_LOOKBACK = "group_code, setting, insurance_type, person_id, last_any, year"
#: the columns as the view shows them (files hold them without ``year``)
COLUMNS: list[tuple[str, str]] = [
    ("year", "INTEGER"), *((k, "INTEGER" if k == BEFORE else "VARCHAR") for k in KEYS),
    ("persons", "BIGINT"),
    *((f"new_{n}", "BIGINT") for n in LOOKBACKS),
    ("patients_in", "BIGINT"), ("patients_out", "BIGINT"), ("referred_out", "BIGINT")]


def build_sql(current: str, prior: str, year: int) -> str:
    """SELECT of the roll-up's rows of ``year`` (without ``year``) from the per-person
    rows of that year (relation ``current``) and of the years before it (``prior``, with
    ``year``; only the ``REACH`` years before are read).

    Per (code set, setting) each person's row: all categories in any or one setting, and
    a whole group in any setting, are one per-person row each (insurance ``*``); a group
    in one setting is the person's slice rows of that setting (one per insurance type),
    the first episode the least (date, record id). The index date is the code set's
    first date in any setting (the row of setting ``*``, on which every setting's row of
    the code set agrees), so whether a person is new is decided once per (code set,
    person): a person is new with a look-back of N years when none of the N years before
    holds a last date of the code set (any setting) on or after the index date minus N
    years (:mod:`healthmap.person_rollup` says why this is exact). Only the earlier rows
    of this year's (code set, person) keys are read (a join, not an aggregation of every
    earlier person's rows); per key the years of those rows give the mask ``before`` of
    the setting ``*`` rows."""
    y = int(year)
    current, prior = _with_specialties(current, prior)
    # per (code set, person) of the year: whether an earlier year's last date lies in
    # each look-back's window (a look-back of N years reads the N years before)
    seen = ", ".join(f"bool_or(p.year >= {y - n} AND p.last_any >= k.start - to_years({n})) "
                     f"AS seen_{n}" for n in LOOKBACKS)
    new = ", ".join(f"count(*) FILTER (WHERE NOT coalesce(s.seen_{n}, false)) AS new_{n}"
                    for n in LOOKBACKS)
    keys = ", ".join(f"q.{k}" for k in KEYS if k != BEFORE)
    before = f"CASE WHEN q.setting = '{ALL}' THEN coalesce(s.{BEFORE}, 0) ELSE 0 END"
    return f"""
        WITH k AS (
            SELECT group_code, person_id, first_any AS start FROM {current}
            WHERE setting = '{ALL}' AND insurance_type = '{ALL}'),
        seen AS (
            SELECT k.group_code, k.person_id, {seen},
                   CAST(bit_or(1 << ({y - 1} - p.year)) AS INTEGER) AS {BEFORE}
            FROM k JOIN (SELECT group_code, person_id, year, last_any FROM {prior}
                         WHERE setting = '{ALL}' AND insurance_type = '{ALL}'
                           AND year BETWEEN {y - REACH} AND {y - 1}) p
                 ON p.group_code = k.group_code AND p.person_id = k.person_id
            GROUP BY ALL),
        q AS (
            SELECT group_code, setting, person_id, area_code, sex, age_group, outside,
                   formal
            FROM {current} WHERE insurance_type = '{ALL}'
            UNION ALL
            SELECT group_code, setting, person_id, area_code, sex, age_group, outside,
                   formal
            FROM {_first_rows(f"SELECT * FROM {current} WHERE group_code <> '{ALL}' "
                              f"AND setting <> '{ALL}'", "group_code, setting, person_id")})
        SELECT {keys}, {before} AS {BEFORE}, count(*) AS persons, {new},
               count(*) FILTER (WHERE NOT q.outside) AS patients_in,
               count(*) FILTER (WHERE q.outside) AS patients_out,
               count(*) FILTER (WHERE q.outside AND q.formal) AS referred_out
        FROM q LEFT JOIN seen s ON s.group_code = q.group_code AND s.person_id = q.person_id
        GROUP BY ALL
        ORDER BY {keys}, {BEFORE}"""


def _with_specialties(current: str, prior: str) -> tuple[str, str]:
    """The per-person relations ``current`` and ``prior`` with the key specialties' rows
    added (table ``specialty_sets``: ``group_code``, ``specialty_code``): per (specialty,
    person) of ``current`` one row of every setting, its first episode the least (date,
    record id) of the person's whole-group rows of the specialty's groups, ``first_any``
    the least, ``last_any`` the greatest; in ``prior`` each whole-group row once more
    under its specialty (the look-back takes the greatest per year itself)."""
    whole = f"r.setting = '{ALL}' AND r.insurance_type = '{ALL}'"
    code = f"'{SPECIALTY}' || s.specialty_code"
    rows = f"""SELECT {code} AS group_code, r.* EXCLUDE (group_code, setting, insurance_type)
        FROM {current} r JOIN specialty_sets s ON s.group_code = r.group_code WHERE {whole}"""
    cur = f"""(SELECT * FROM {current} UNION ALL BY NAME
        SELECT '{ALL}' AS setting, '{ALL}' AS insurance_type, *
        FROM {_first_rows(rows, "group_code, person_id", spans=True)})"""
    old = f"""(SELECT {_LOOKBACK} FROM {prior} UNION ALL
        SELECT {code} AS group_code, r.setting, r.insurance_type, r.person_id, r.last_any,
               r.year
        FROM {prior} r JOIN specialty_sets s ON s.group_code = r.group_code WHERE {whole})"""
    return cur, old


def _first_rows(rows: str, key: str, spans: bool = False) -> str:
    """A relation of one row per ``key`` (columns) of the per-person rows ``rows`` (a
    SELECT): its first episode (``date``, ``record_id``, ``area_code``, ``sex``,
    ``age_group``) the least (date, record id) of the key's rows, ``outside`` and
    ``formal`` any of them, and (``spans``) ``first_any`` the least, ``last_any`` the
    greatest. Nearly every key has one row (a person's slices of a group and setting
    under one insurance type; a person's groups of a specialty in one), taken as it is:
    only the keys of several rows are aggregated, the least (date, record id) being a
    comparison of structs with text (the four years' build at 10 M, alone under 2 GB:
    about 20 → 18 s, the same rows; measured 2026-12-03)."""
    spans_sel = "first_any, last_any, " if spans else ""
    spans_agg = "min(first_any) AS first_any, max(last_any) AS last_any, " if spans else ""
    return f"""(
        WITH r AS MATERIALIZED ({rows}),
        multi AS (SELECT {key} FROM r GROUP BY ALL HAVING count(*) > 1)
        SELECT {key}, date, record_id, area_code, sex, age_group, {spans_sel}outside, formal
        FROM r ANTI JOIN multi USING ({key})
        UNION ALL
        SELECT {key}, f.date, f.record_id, f.area_code, f.sex, f.age_group, {spans_sel}
               outside, formal
        FROM (SELECT {key}, {person_rollup.FIRST_EPISODE} AS f, {spans_agg}
                     bool_or(outside) AS outside, bool_or(formal) AS formal
              FROM r SEMI JOIN multi USING ({key}) GROUP BY ALL))"""


def specialty_digest(specialty_of: dict) -> str:
    """A digest of the grouping of disease groups into key specialties (group code →
    specialty code; groups without one are left out), recorded in the count files.

    >>> specialty_digest({"GC": "GI", "CRC": "GI", "HT": None}) == specialty_digest(
    ...     {"CRC": "GI", "GC": "GI"}), len(specialty_digest({}))
    (True, 16)
    """
    return hashlib.sha256(json.dumps(_pairs(specialty_of)).encode()).hexdigest()[:16]


def _pairs(specialty_of: dict) -> list[tuple[str, str]]:
    """The (group, specialty) pairs of a grouping, sorted, groups without one left out."""
    return sorted((str(g), str(s)) for g, s in specialty_of.items() if s)


def _register(con, specialty_of: dict) -> None:
    """The table ``specialty_sets`` the build reads (:func:`_with_specialties`)."""
    import pandas as pd

    sets = pd.DataFrame(_pairs(specialty_of), columns=["group_code", "specialty_code"],
                        dtype=object)
    con.execute("CREATE OR REPLACE TEMP TABLE specialty_sets (group_code VARCHAR, "
                "specialty_code VARCHAR)")
    if len(sets):
        con.register("_sets", sets)
        con.execute("INSERT INTO specialty_sets SELECT * FROM _sets")
        con.unregister("_sets")


def _stamped(table, specialty_of: dict):
    """The Arrow table ``table`` with the specialties' digest in its metadata."""
    return table.replace_schema_metadata({DIGEST_KEY: specialty_digest(specialty_of)})


def build(con, year: int, current: str = "rollup_persons",
          prior: str = "rollup_persons", specialty_of: dict | None = None):
    """The roll-up's rows of ``year`` as an Arrow table (without ``year``, the digest of
    ``specialty_of`` in its metadata), on a DuckDB connection ``con`` holding the
    per-person rows (``current``: with ``year``, or only that year's; ``prior``: with
    ``year``); ``specialty_of``: disease group → key specialty (the code sets
    :data:`SPECIALTY` + specialty).

    Examples
    --------
    One person with hypertension in March 2023 and again in February 2024 (inpatient,
    in the county): a diagnosed case of 2024 but not a new one with any look-back (the
    2023 visit lies in every window); new in 2023 (no year before it).

    >>> import duckdb, pandas as pd
    >>> ep = pd.DataFrame({"record_id": ["a", "b"], "person_id": "p", "area_code": "A",
    ...     "icd3": "I10", "date": ["2023-03-01", "2024-02-01"], "sex": "F",
    ...     "age_group": "60-64", "setting": "inpatient", "insurance_type": "employee",
    ...     "institution_code": "IN", "referral": None})
    >>> rows = [person_rollup.build(ep[ep["date"].str[:4] == y], {"I10": "HT"},
    ...                             {"IN": True}).to_pandas().assign(year=int(y))
    ...         for y in ("2023", "2024")]
    >>> con = duckdb.connect(); _ = con.register("rollup_persons", pd.concat(rows))
    >>> t = build(con, 2024).to_pandas()
    >>> t[(t.group_code == "HT") & (t.setting == "*")][["persons", "new_1", "new_5",
    ...     "patients_in"]].values.tolist()
    [[1, 0, 0, 1]]
    >>> t = build(con, 2023).to_pandas()
    >>> t[t.group_code == "*"][["setting", "persons", "new_1"]].values.tolist()
    [['*', 1, 1], ['inpatient', 1, 1]]

    With hypertension in the specialty ``CV``, its code set ``@CV`` counts the same:

    >>> t = build(con, 2024, specialty_of={"HT": "CV"}).to_pandas()
    >>> t[t.group_code == "@CV"][["setting", "before", "persons", "new_1"]].values.tolist()
    [['*', 1, 1, 0]]
    """
    specialty_of = specialty_of or {}
    _register(con, specialty_of)
    cur = f"(SELECT * FROM {current} WHERE year = {int(year)})"
    return _stamped(con.sql(build_sql(cur, prior, year)).to_arrow_table(), specialty_of)


# ------------------------------------------------------------------ store writes
def current(paths, specialty_of: dict | None = None) -> bool:
    """Whether the roll-up files ``paths`` are of this format (with :data:`BEFORE`; those
    with ``gap``, the years since the latest earlier one, are older) and, given
    ``specialty_of``, of that grouping of specialties (:func:`specialty_digest`); those of a
    store written before it are computed again by its next store write (:func:`stale_years`,
    :func:`healthmap.person_rollup.ensure` at upgrade) and not read meanwhile (the
    specialty rows of another grouping are not read: :func:`specialty_cases`).

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> old = tempfile.mkdtemp() + "/old.parquet"; pq.write_table(pa.table({"persons": [1]}), old)
    >>> current([old]), current([])
    (False, True)
    >>> new = old.replace("old", "new")
    >>> pq.write_table(_stamped(pa.table({"before": [1]}), {"HT": "CV"}), new)
    >>> current([new]), current([new], {"HT": "CV"}), current([new], {})
    (True, True, False)
    """
    import pyarrow.parquet as pq

    want = None if specialty_of is None else specialty_digest(specialty_of).encode()
    for p in paths:
        schema = pq.read_schema(p)
        if BEFORE not in schema.names or want is not None and (
                schema.metadata or {}).get(DIGEST_KEY) != want:
            return False
    return True


def digest(paths) -> str | None:
    """The specialties' digest the files ``paths`` record, when they all record the same
    one (``None`` otherwise, and for no files)."""
    import pyarrow.parquet as pq

    found = {(pq.read_schema(p).metadata or {}).get(DIGEST_KEY) for p in paths}
    return found.pop().decode() if len(found) == 1 and None not in found else None


def _file(writer, f: str) -> Path:
    """A roll-up file of a store write: the staged one, else the held one."""
    staged = writer.stage / f
    return staged if staged.exists() else writer.root / f


def _persons(entry: dict | None) -> list | None:
    return None if entry is None else (entry.get("rollups") or {}).get(person_rollup.TABLE)


def _changed(writer) -> set[int]:
    """The years whose per-person roll-up this write changed (added or removed too)."""
    base = writer.base.years if writer.base else {}
    return {y for y in set(base) | set(writer.years)
            if _persons(base.get(y)) != _persons(writer.years.get(y))}


def stale_years(writer) -> tuple[list[int], list[int]]:
    """Which years of a store write (:class:`healthmap.store.writer.StoreWriter`) need
    their person counts computed: a year without them, or one whose per-person roll-up,
    or that of one of the :data:`REACH` years before it, differs from the store's held
    one (a year added or removed counts as changed). Returns ``(build, drop)``: the years
    to compute, and those that cannot be (a year among them or before it in reach
    without the per-person roll-up: a store from before it) and lose held counts. Counts
    this write staged already are not stale (call it after the per-person roll-ups)."""
    changed = _changed(writer)
    base = writer.base.years if writer.base else {}
    build, drop = [], []
    for z, entry in sorted(writer.years.items()):
        if entry.get("rollups") is None:
            continue  # its roll-ups are not staged yet: the write must add them first
        counts = entry["rollups"].get(TABLE)
        held = ((base.get(z) or {}).get("rollups") or {}).get(TABLE)
        if counts and current((_file(writer, f) for f in counts), writer.specialties) and (
                not any(z - REACH <= y <= z for y in changed) or counts != held):
            continue  # unchanged, or staged by this write already
        window = [writer.years.get(y) for y in range(z - REACH, z + 1)]
        if all(e is None or _persons(e) for e in window):
            build.append(z)
        elif TABLE in entry["rollups"]:
            drop.append(z)
    return build, drop


def _added_files(writer, changed: set[int]) -> list[Path] | None:
    """The episode files this write added to held years whose per-person roll-up it
    updated for them (:mod:`healthmap.summary_increment`: every other person's rows kept
    as held), when those are all the changed years; else ``None``."""
    if not changed:
        return None
    out = []
    for y in sorted(changed):
        entry = writer.appended.get(y) or {}
        if not entry.get("rollups_updated"):
            return None
        staged = writer.stage / f"year={y}" / Path(entry["added"]).name
        out.append(staged if staged.exists() else writer.root / entry["added"])
    return out


def stage(writer) -> list[int]:
    """Compute and stage the person counts of every year :func:`stale_years` names, from
    the write's per-person roll-up files (staged or held), on a DuckDB database of its own
    under the store's memory limit (``HEALTHMAP_STORE_MEMORY``); returns those years.
    Idempotent: a second call finds nothing stale.

    When the write only added episodes to held years whose per-person rows it updated
    (a month's import), only the persons with an added episode can count differently:
    each stale year with held counts gets them minus those persons' held contribution
    plus their new one (the counts are sums over persons, each person's depending on
    their own rows only); ``tests/test_person_counts.py`` checks this equals a rebuild."""
    import duckdb

    years, drop = stale_years(writer)
    for z in drop:
        writer.years[z]["rollups"] = {t: f for t, f in writer.years[z]["rollups"].items()
                                      if t != TABLE}
    if not years:
        return []

    base = writer.base.years if writer.base else {}
    added = _added_files(writer, _changed(writer))
    hive = "hive_partitioning = true, hive_types = {'year': INTEGER}"
    specialty_of = writer.specialties
    with tempfile.TemporaryDirectory(prefix="healthmap-counts-") as spill, duckdb.connect(
            config={"memory_limit": memory_limit(counts=True),
                    "temp_directory": spill, "preserve_insertion_order": False}) as con:
        con.execute("SET enable_progress_bar = false")
        _register(con, specialty_of)
        new = [_file(writer, f) for y in sorted(writer.years)
               for f in _persons(writer.years[y]) or []]
        con.execute(f"CREATE VIEW persons AS SELECT * FROM read_parquet({sql_file_list(new)}, "
                    f"{hive})")
        if added is not None:
            # the affected persons' rows: whole in the years to count (held and new), and
            # what the look-back reads in the other years (unchanged: held = new)
            con.execute("CREATE TEMP TABLE affected AS SELECT DISTINCT person_id FROM "
                        f"read_parquet({sql_file_list(added)})")
            span = {y for z in years for y in range(z - REACH, z)} - set(years)
            for name, entries, chosen, cols, cond in (
                    ("new_rows", writer.years, years, "*", "TRUE"),
                    ("old_rows", base, years, "*", "TRUE"),
                    ("prior_rows", writer.years, span, _LOOKBACK,
                     f"setting = '{ALL}' AND insurance_type = '{ALL}'")):
                files = [_file(writer, f) for y in sorted(chosen) if y in entries
                         for f in _persons(entries[y]) or []]
                source = (f"read_parquet({sql_file_list(files)}, {hive})" if files else
                          "(SELECT * FROM new_rows WHERE false)")
                con.execute(f"CREATE TEMP TABLE {name} AS SELECT {cols} FROM (SELECT * "
                            f"FROM {source} WHERE {cond}) SEMI JOIN affected USING "
                            "(person_id)")
        for z in years:
            held = (base.get(z) or {}).get("rollups") or {}
            if added is None or not held.get(TABLE) or not current(
                    (writer.root / f for f in held[TABLE]), specialty_of):
                writer.add_rollups(z, {TABLE: build(con, z, "persons", "persons",
                                                    specialty_of)})
                continue
            writer.add_rollups(z, {TABLE: _stamped(con.sql(_delta_sql(
                sql_file_list(writer.root / f for f in held[TABLE]), z)).to_arrow_table(),
                specialty_of)})
    return years


def _delta_sql(held: str, year: int) -> str:
    """The counts of ``year``: the held rows (Parquet files ``held``) minus the affected
    persons' held contribution (``old_rows``) plus their new one (``new_rows``)."""
    keys = ", ".join(KEYS)
    measures = [c for c, _t in COLUMNS if c != "year" and c not in KEYS]
    plain = ", ".join(measures)
    negated = ", ".join(f"-{c} AS {c}" for c in measures)
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in measures)
    cur = lambda rows: f"(SELECT * FROM {rows} WHERE year = {int(year)})"  # noqa: E731
    prior = lambda rows: (f"(SELECT {_LOOKBACK} FROM {rows} UNION ALL "  # noqa: E731
                          f"SELECT {_LOOKBACK} FROM prior_rows)")
    return f"""
        SELECT {keys}, {sums} FROM (
            SELECT {keys}, {plain} FROM read_parquet({held})
            UNION ALL
            SELECT {keys}, {negated} FROM ({build_sql(cur('old_rows'), prior('old_rows'),
                                                      year)})
            UNION ALL
            SELECT {keys}, {plain} FROM ({build_sql(cur('new_rows'), prior('new_rows'),
                                                    year)}))
        GROUP BY ALL HAVING sum(persons) <> 0
        ORDER BY {keys}"""


# ------------------------------------------------------------------ queries
def plan(con, sel, unit: list[str], rows, lookback: int = 0, referral: bool = False
         ) -> tuple[str, ...] | None:
    """Which code sets of the roll-up answer ``sel`` counted by ``unit`` (``rows``: the
    per-person roll-up's plan, :func:`healthmap.person_rollup.code_set`; ``referral``:
    the person-level referral counts) : ``("*",)`` all categories, ``(group, …)`` those
    groups (rows by group), ``()`` every group (rows by group), or ``None`` (the
    per-person roll-up or the live query answers: an insurance filter, a union of groups,
    a look-back not among :data:`LOOKBACKS`, a store year without the counts, or more
    than one year counted as one period unless :func:`period_years` allows it, every
    setting together, without the person-level referral counts)."""
    f = sel.filters
    if rows is None or f.insurance or (lookback > 0 and lookback not in LOOKBACKS):
        return None
    if "year" not in unit and len(set(f.years)) != 1 and not (
            period_years(f.years) and not f.setting and not referral):
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


def period_masks(years) -> dict[int, int]:
    """Per year of a period the mask of its years before that one (bit J - 1: the year J
    years before, as :data:`BEFORE`): a person's row of year ``y`` is their first in the
    period when its ``before`` has none of the bits of ``y``.

    >>> period_masks((2022, 2023, 2024))
    {2022: 0, 2023: 1, 2024: 3}
    >>> period_masks((2021, 2024))  # 2021 is three years before 2024: bit 2
    {2021: 0, 2024: 4}
    """
    ys = sorted(set(int(y) for y in years))
    return {y: sum(1 << (y - p - 1) for p in ys if p < y) for y in ys}


def _first_in(years) -> str:
    """The condition on the roll-up's rows that a person's row is their first of the
    period ``years`` (:func:`period_masks`; ``TRUE`` for one year)."""
    masks = period_masks(years)
    if len(masks) < 2:
        return "TRUE"
    bits = " ".join(f"WHEN {y} THEN {m}" for y, m in masks.items())
    return f"{BEFORE} & CASE year {bits} END = 0"


def query(con, sel, by: list[str], codes: tuple[str, ...], lookback: int = 0,
          referral: bool = False):
    """:func:`healthmap.persons.cases` (``referral`` False) or :func:`healthmap.persons.
    referrals` answered from the roll-up's rows of the code sets ``codes`` (:func:`plan`),
    in the columns and row order those return (the caller fixes the column types)."""
    import re

    f = sel.filters
    cond = ["setting = $setting"]
    if f.years:
        cond.append("year = ANY($years)")
        if "year" not in by:  # each person's first year in it
            cond.append(_first_in(f.years))
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
        column = f"new_{int(lookback)}" if lookback > 0 else "persons"
        total = f"CAST(coalesce(sum({column}), 0) AS BIGINT)"
        sql = (f"SELECT {lead}{total} AS persons FROM rollup_person_counts WHERE {where} "
               + (f"{group} HAVING sum({column}) > 0 ORDER BY ALL" if keys else ""))
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
    column = f"new_{int(lookback)}" if lookback > 0 else "persons"
    df = con.execute(f"""
        SELECT substr(group_code, {len(SPECIALTY) + 1}) AS specialty_code,
               CAST(sum({column}) AS BIGINT) AS persons
        FROM rollup_person_counts
        WHERE setting = $all AND starts_with(group_code, $prefix) AND year = ANY($years)
              AND {_first_in(ys)}
        GROUP BY ALL HAVING sum({column}) > 0 ORDER BY ALL""",
        {"all": ALL, "prefix": SPECIALTY, "years": ys}).df()
    return pd.Series(df["persons"].astype("int64").to_numpy(),
                     index=df["specialty_code"].astype(str).to_numpy(),
                     dtype="int64").rename_axis("specialty_code")
