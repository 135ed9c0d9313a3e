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
    ``sex`` × ``age_group`` (of each person's first qualifying episode) × ``earlier``

with the diagnosed persons, the new persons for every look-back of
:data:`healthmap.persons.LOOKBACK_CHOICES` and the person-level referral counts
(:func:`healthmap.persons.referrals`: patients in the county only, patients treated
outside at least once, and those among them formally referred; a formal referral is one
to an institution outside the county, so no in-county patient has one).

It is additive over area, sex, age group and ``earlier``: each person has exactly one first
qualifying episode per (year, code set, setting), so lies in exactly one row. It is not
additive over code sets or insurance types: those selections read the per-person roll-up
(:func:`healthmap.persons.cases` says which).

Nor is it additive over years (a person seen in two years is one person of the two);
the key :data:`EARLIER` makes it answer a period of several whole years all the same,
consecutive or not, in any setting or in one. It says, for each of the :data:`REACH`
years before the row's year, whether the person had a row of the code set there in the
row's setting (:data:`SAME`; on the rows of every setting: any row), in another setting
only (then also with which look-backs they were new in that year), or none. A person of a
period whose last year is at most :data:`REACH` years after its first lies in the row of
their first year ``f`` in it in the setting, the one with no :data:`SAME` among the
period's years before ``f`` (:func:`healthmap.person_counts_query.period_sql`), with that
year's first episode in the setting. Their index date is their first date of the period
in any setting: in the earliest of the period's years before ``f`` with a row in another
setting, if one has (the row says whether they were new then), else in ``f``; and they
are new with a look-back of N years in the period exactly when new in that year: no
year of the period before it holds one of their episodes, so both windows see the same
earlier rows, those of years between the period's years included
(``tests/test_person_counts_periods.py``).
Whether a person was new in one of the :data:`REACH` years before is decided on the years
before that one, so a year's counts read the :data:`DEPTH` years before it; which
settings a year's row covers is the per-person roll-up's ``settings``.

The key specialties (unions of whole disease groups, ``disease_groups.specialty_code``) are
code sets too (``group_code`` :data:`SPECIALTY` + the specialty code, every setting
together), derived at build time from the whole-group rows: a person's first episode
is the least (date, record id) over the specialty's groups, their index date the least
``first_any`` and each earlier year's last date the greatest ``last_any``, the union's
definition in :func:`healthmap.ranking_data.specialty_new_cases`. Their rows depend on
the grouping of groups into specialties, so the files record its digest
(:func:`specialty_digest`): counts of another grouping are computed again
(:func:`stale_years`, :func:`healthmap.person_rollup.ensure`) and their specialty rows not
read (:func:`healthmap.person_counts_query.specialty_cases`).

A year's counts depend on the per-person rows of the up to :data:`DEPTH` years before
it, so whenever a store write changes a year's per-person roll-up, the counts of that
year and of the :data:`DEPTH` years after it are computed again (:func:`stale_years`,
:func:`stage`; every store write calls :func:`stage` before it prepares its manifest).
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
SETTING_BITS = person_rollup.SETTING_BITS
#: the look-backs (years) counted, and the longest: how far a year's change reaches
LOOKBACKS = tuple(n for n in LOOKBACK_CHOICES if n > 0)
REACH = max(LOOKBACKS)
#: the key of the years before a row's year: per year J before it (J = 1 .. REACH) a
#: code of :data:`BITS` bits at bit BITS·(J − 1): 0 no row of the person with the code
#: set; :data:`SAME` a row in the row's setting (any row, on the rows of every setting);
#: 1 + L a row in another setting only, the person then new with the first L look-backs
#: of :data:`LOOKBACKS` (L = 0: with none)
EARLIER = "earlier"
BITS, SAME = 3, 7
KEYS = ("group_code", "setting", "area_code", "sex", "age_group", EARLIER)
#: how many years before its own a year's counts read: whether a person was new in one
#: of the REACH years before is decided on the REACH years before that one
DEPTH = 2 * REACH
#: the prefix of a key specialty's code set (``@GI``: the groups of specialty ``GI``)
SPECIALTY = "@"
#: the key of the Parquet file metadata that records the specialties' grouping
DIGEST_KEY = b"healthmap.specialties"
#: the columns of the per-person rows the look-back reads (``group_code`` first)
_LOOKBACK = ("group_code, setting, insurance_type, person_id, first_any, last_any, settings, "
             "year")
#: the columns as the view shows them (files hold them without ``year``)
COLUMNS: list[tuple[str, str]] = [
    ("year", "INTEGER"), *((k, "INTEGER" if k == EARLIER else "VARCHAR") for k in KEYS),
    ("persons", "BIGINT"),
    *((f"new_{n}", "BIGINT") for n in LOOKBACKS),
    ("patients_in", "BIGINT"), ("patients_out", "BIGINT"), ("referred_out", "BIGINT")]


def build_sql(current: str, prior: str, year: int) -> str:
    """SELECT of the roll-up's rows of ``year`` (without ``year``) from the per-person
    rows of that year (relation ``current``) and of the years before it (``prior``, with
    ``year``; only the :data:`DEPTH` years before are read).

    Per (code set, setting) each person's row: all categories in any or one setting, and
    a whole group in any setting, are one per-person row each (insurance ``*``); a group
    in one setting is the person's slice rows of that setting (one per insurance type),
    the first episode the least (date, record id). The index date is the code set's
    first date in any setting (the row of setting ``*``, on which every setting's row of
    the code set agrees), so whether a person is new is decided once per (code set,
    person): a person is new with a look-back of N years when no earlier year holds a
    last date of the code set (any setting) on or after the index date minus N years
    (:mod:`healthmap.person_rollup` says why this is exact). The latest earlier last date
    is the last date of the person's latest earlier year (dates of two years are ordered),
    so one aggregate per (code set, person) of this year's keys over their earlier rows
    (a join, not an aggregation of every earlier person's rows) gives it, for the year and
    for each of the :data:`REACH` years before (with those years' first dates: whether
    the person was new in them, which a period of one setting may ask; hence the
    :data:`DEPTH` years read), and the earlier years with a row in each setting (the
    rows' ``settings``): the codes of :data:`EARLIER`."""
    y = int(year)
    current, prior = _with_specialties(current, prior)
    every = f"setting = '{ALL}' AND insurance_type = '{ALL}'"

    def new(start: str, last: str, n: int) -> str:  # no earlier last date in N's window
        return f"coalesce({last} < {start} - to_years({n}), true)"

    def spread(mask: str) -> str:  # a mask of years (bit J - 1) as codes SAME
        return " | ".join(f"(CASE WHEN {mask} & {1 << (j - 1)} <> 0 THEN "
                          f"{SAME << BITS * (j - 1)} ELSE 0 END)" for j in range(1, REACH + 1))

    # per (code set, person): the last date before the year and before each of the REACH
    # years before it, and the first date of each of those (rows of every setting)
    spans = ", ".join([f"max(last_any) FILTER (WHERE year < {y - j}) AS last_{j}"
                       for j in range(REACH + 1)]
                      + [f"min(first_any) FILTER (WHERE year = {y - j}) AS first_{j}"
                         for j in range(1, REACH + 1)])
    flags = ", ".join(f"{new('start', 'last_0', n)} AS new_{n}" for n in LOOKBACKS)
    # the code of each of the REACH years before with a row in another setting only
    others = " | ".join(
        f"((CASE WHEN first_{j} IS NULL THEN 0 ELSE 1 + "
        + " + ".join(f"CAST({new(f'first_{j}', f'last_{j}', n)} AS INTEGER)"
                     for n in LOOKBACKS)
        + f" END) << {BITS * (j - 1)})" for j in range(1, REACH + 1))
    # the years with a row in any setting, and in each setting (``settings``)
    masks = ", ".join(
        f"CAST(bit_or(1 << ({y - 1} - year)) FILTER (WHERE year >= {y - REACH} AND {c}) "
        f"AS INTEGER) AS {name}"
        for name, c in (("seen", "TRUE"), *((f"seen_{i}", f"settings & {b} <> 0")
                                             for i, b in enumerate(SETTING_BITS.values()))))
    codes = ", ".join(f"CAST({others} | {spread(f'coalesce(seen_{i}, 0)')} AS INTEGER) "
                      f"AS code_{i}" for i in range(len(SETTING_BITS)))
    earlier = " ".join(f"WHEN '{v}' THEN coalesce(s.code_{i}, 0)"
                       for i, v in enumerate(SETTING_BITS))
    counted = ", ".join(f"count(*) FILTER (WHERE coalesce(s.new_{n}, true)) AS new_{n}"
                        for n in LOOKBACKS)
    keys = ", ".join(f"q.{k}" for k in KEYS if k != EARLIER)
    return f"""
        WITH k AS (
            SELECT group_code, person_id, first_any AS start FROM {current} WHERE {every}),
        a AS (
            SELECT k.group_code, k.person_id, k.start, {spans}, {masks}
            FROM k JOIN (SELECT group_code, person_id, year, first_any, last_any, settings
                         FROM {prior}
                         WHERE {every} AND year BETWEEN {y - DEPTH} AND {y - 1}) p
                 ON p.group_code = k.group_code AND p.person_id = k.person_id
            GROUP BY ALL),
        s AS (
            SELECT group_code, person_id, {flags},
                   CAST({spread('coalesce(seen, 0)')} AS INTEGER) AS same, {codes}
            FROM a),
        q AS (
            SELECT group_code, setting, person_id, area_code, sex, age_group, outside,
                   formal
            FROM {current} WHERE insurance_type = '{ALL}'
            UNION ALL
            SELECT group_code, setting, person_id, area_code, sex, age_group, outside,
                   formal
            FROM {_first_rows(f"SELECT * FROM {current} WHERE group_code <> '{ALL}' "
                              f"AND setting <> '{ALL}'", "group_code, setting, person_id")})
        SELECT {keys},
               CASE q.setting WHEN '{ALL}' THEN coalesce(s.same, 0) {earlier} ELSE 0
               END AS {EARLIER},
               count(*) AS persons, {counted},
               count(*) FILTER (WHERE NOT q.outside) AS patients_in,
               count(*) FILTER (WHERE q.outside) AS patients_out,
               count(*) FILTER (WHERE q.outside AND q.formal) AS referred_out
        FROM q LEFT JOIN s ON s.group_code = q.group_code AND s.person_id = q.person_id
        GROUP BY ALL
        ORDER BY {keys}, {EARLIER}"""


def _with_specialties(current: str, prior: str) -> tuple[str, str]:
    """The per-person relations ``current`` and ``prior`` with the key specialties' rows
    added (table ``specialty_sets``: ``group_code``, ``specialty_code``): per (specialty,
    person) of ``current`` one row of every setting, its first episode the least (date,
    record id) of the person's whole-group rows of the specialty's groups, ``first_any``
    the least, ``last_any`` the greatest; in ``prior`` each whole-group row once more
    under its specialty (the look-back takes the least and greatest per year itself)."""
    whole = f"r.setting = '{ALL}' AND r.insurance_type = '{ALL}'"
    code = f"'{SPECIALTY}' || s.specialty_code"
    rows = f"""SELECT {code} AS group_code, r.* EXCLUDE (group_code, setting, insurance_type)
        FROM {current} r JOIN specialty_sets s ON s.group_code = r.group_code WHERE {whole}"""
    cur = f"""(SELECT * FROM {current} UNION ALL BY NAME
        SELECT '{ALL}' AS setting, '{ALL}' AS insurance_type, *
        FROM {_first_rows(rows, "group_code, person_id", spans=True)})"""
    rest = ", ".join(f"r.{c.strip()}" for c in _LOOKBACK.split(",")[1:])  # after group
    old = f"""(SELECT {_LOOKBACK} FROM {prior} UNION ALL
        SELECT {code} AS group_code, {rest}
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
    >>> t[t.group_code == "@CV"][["setting", "earlier", "persons", "new_1"]].values.tolist()
    [['*', 7, 1, 0]]
    """
    specialty_of = specialty_of or {}
    _register(con, specialty_of)
    cur = f"(SELECT * FROM {current} WHERE year = {int(year)})"
    return _stamped(con.sql(build_sql(cur, prior, year)).to_arrow_table(), specialty_of)


# ------------------------------------------------------------------ store writes
def current(paths, specialty_of: dict | None = None) -> bool:
    """Whether the roll-up files ``paths`` are of this format (with :data:`EARLIER`; those
    with ``before`` or ``gap`` are older: periods of every setting only) and, given
    ``specialty_of``, of that grouping of specialties (:func:`specialty_digest`); those of a
    store written before it are computed again by its next store write (:func:`stale_years`,
    :func:`healthmap.person_rollup.ensure` at upgrade) and not read meanwhile (the
    specialty rows of another grouping are not read:
    :func:`healthmap.person_counts_query.specialty_cases`).

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> old = tempfile.mkdtemp() + "/old.parquet"; pq.write_table(pa.table({"persons": [1]}), old)
    >>> current([old]), current([])
    (False, True)
    >>> new = old.replace("old", "new")
    >>> pq.write_table(_stamped(pa.table({"earlier": [7]}), {"HT": "CV"}), new)
    >>> current([new]), current([new], {"HT": "CV"}), current([new], {})
    (True, True, False)
    """
    import pyarrow.parquet as pq

    want = None if specialty_of is None else specialty_digest(specialty_of).encode()
    for p in paths:
        schema = pq.read_schema(p)
        if EARLIER not in schema.names or want is not None and (
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
    or that of one of the :data:`DEPTH` years before it, differs from the store's held
    one (a year added or removed counts as changed). Returns ``(build, drop)``: the years
    to compute, and those that cannot be (a year among them or before it in reach
    without the per-person roll-up, or with one of an older format: a store from before
    it, :func:`healthmap.person_rollup.ensure`) and lose held counts. Counts
    this write staged already are not stale (call it after the per-person roll-ups)."""
    changed = _changed(writer)
    base = writer.base.years if writer.base else {}
    build, drop = [], []
    readable: dict[int, bool] = {}  # per year: no per-person roll-up, or one of this format

    def counted_from(y: int) -> bool:
        if y not in readable:
            files = _persons(writer.years.get(y))
            readable[y] = y not in writer.years or (files is not None and person_rollup.current(
                _file(writer, f) for f in files))
        return readable[y]

    for z, entry in sorted(writer.years.items()):
        if entry.get("rollups") is None:
            continue  # its roll-ups are not staged yet: the write must add them first
        counts = entry["rollups"].get(TABLE)
        held = ((base.get(z) or {}).get("rollups") or {}).get(TABLE)
        if counts and current((_file(writer, f) for f in counts), writer.specialties) and (
                not any(z - DEPTH <= y <= z for y in changed) or counts != held):
            continue  # unchanged, or staged by this write already
        if all(counted_from(y) for y in range(z - DEPTH, z + 1)):
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
        # the years' per-person files (of this format: the years counted read no other)
        per_year = {y: [_file(writer, f) for f in _persons(writer.years[y]) or []]
                    for y in sorted(writer.years)}
        new = [f for fs in per_year.values() if person_rollup.current(fs) for f in fs]
        con.execute(f"CREATE VIEW persons AS SELECT * FROM read_parquet({sql_file_list(new)}, "
                    f"{hive})")
        if added is not None:
            # the affected persons' rows: whole in the years to count (held and new), and
            # what the look-back reads in the other years (unchanged: held = new)
            con.execute("CREATE TEMP TABLE affected AS SELECT DISTINCT person_id FROM "
                        f"read_parquet({sql_file_list(added)})")
            span = {y for z in years for y in range(z - DEPTH, z)} - set(years)
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
