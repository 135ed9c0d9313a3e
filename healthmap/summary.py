"""Pre-aggregated summary roll-ups, rebuilt per year with its episodes.

The roll-ups (``cells``, ``areas``, ``institutions``: :data:`healthmap.cube.ROLLUPS`) live
in the episode store beside each year's episodes (:mod:`healthmap.store`), money in
integer fen; pages and reports read only them (:mod:`healthmap.queries`). Two counts need care because they do not add up
across cells if computed per cell: distinct persons and new cases. They are made additive
by flagging, within each year, the episode that is a person's first in its disease group
(``new_cases``) and the person's first episode of the year (``persons``); a cell stores
how many flagged episodes it holds. Summed over any set of cells inside one year and one
disease group, ``new_cases`` is then exactly the number of distinct persons with a first
diagnosis there (the tests check this against the raw records).
"""

from __future__ import annotations

from contextlib import contextmanager

import tempfile
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Integer, String, cast, insert, select, update

from healthmap import cube, ledger
from healthmap.access import Actor, require
from healthmap.models import AppMeta, Icd3Group, Institution

Progress = Callable[[float, str], None]

# the cube's dimensions are listed once, in healthmap.cube
CELL_KEYS, AREA_KEYS, INST_KEYS = cube.CELL_DIMS, cube.AREA_DIMS, cube.INST_DIMS
#: the episode store's columns the summaries are made from (money in fen)
EPISODE_COLS = ["record_id", "person_id", "area_code", "icd3", "date", "month", "setting",
                "institution_code", "total_cost_fen", "fund_paid_fen", "insurance_type",
                "referral", "sex", "age_group"]


def _sum_sql(dims: list[str], measures: list[str], source: str, where: str) -> str:
    """SELECT of one roll-up: ``measures`` summed per ``dims`` over ``source`` (flagged
    episodes, or finer roll-up rows when ``where`` is empty), ordered by ``dims``."""
    exprs = {"episodes": "count(*)", "new_cases": "sum(is_new_case::BIGINT)",
             "persons": "sum(is_first_of_year::BIGINT)",
             "referrals": "sum(coalesce(referral, false)::BIGINT)",
             "cost_sum": "sum(total_cost_fen)",
             "cost_sq_sum": "sum(total_cost_fen::HUGEINT * total_cost_fen)",
             "fund_sum": "sum(coalesce(fund_paid_fen, 0))",
             "fund_n": "count(fund_paid_fen)"}
    columns = []
    for m in measures:
        name, _units = cube.MONEY.get(m, (m, 1))
        typ = "DECIMAL(38,0)" if name.endswith("_fen2") else "BIGINT"
        columns.append(f"CAST({exprs[m] if where else f'sum({name})'} AS {typ}) AS {name}")
    keys = ", ".join(dims)
    return (f"SELECT {keys}, {', '.join(columns)} FROM {source} {where} "
            f"GROUP BY ALL ORDER BY {keys}")


def store_rollups_sql(db, year: int) -> dict:
    """The three roll-ups (:data:`healthmap.cube.ROLLUPS`) of one year, as the store keeps
    them (:func:`healthmap.store.layout.rollup_columns`), as Arrow tables, from the DuckDB
    relation ``flagged`` on ``db``: the year's episodes (:data:`EPISODE_COLS`, money in
    fen) with ``in_county``, ``is_new_case`` and ``is_first_of_year``. Money is summed
    exactly, in fen and fen² (DECIMAL(38,0)); ``areas`` is summed from the cells. Rows
    with a missing dimension are left out (as a pandas group-by leaves them)."""
    out = {}
    for name, (dims, measures) in cube.ROLLUPS.items():
        if name == "areas":
            continue
        inner = [d for d in dims if d != "year"]
        where = "WHERE " + " AND ".join(f"{d} IS NOT NULL" for d in inner)
        sql = _sum_sql(dims, measures, f"(SELECT *, {int(year)} AS year FROM flagged)", where)
        # text keys held as ENUM (:func:`enum_types`) come back as text, in the sorted order
        out[name] = db.sql(f"SELECT {_as_text(db, 'flagged', dims)}, * EXCLUDE "
                           f"({', '.join(dims)}) FROM ({sql})").to_arrow_table()
    db.register("_cells", out["cells"])
    dims, measures = cube.ROLLUPS["areas"]
    out["areas"] = db.sql(_sum_sql(dims, measures, "_cells", "")).to_arrow_table()
    db.unregister("_cells")
    return {name: out[name] for name in cube.ROLLUPS}


#: the episodes' text columns the roll-ups group and sort by (:func:`enum_types`)
TEXT_KEYS = ["area_code", "icd3", "setting", "institution_code", "insurance_type", "sex",
             "age_group"]


def distinct_values(db, relation: str, columns: list[str]) -> dict[str, list[str]]:
    """The distinct non-null values of each of ``columns`` of ``relation`` (one scan)."""
    [row] = db.execute("SELECT " + ", ".join(
        f"list(DISTINCT {c}) FILTER (WHERE {c} IS NOT NULL)" for c in columns)
        + f" FROM {relation}").fetchall()
    return {c: list(v or []) for c, v in zip(columns, row)}


def enum_types(db, values: dict[str, list[str]]) -> dict[str, str]:
    """Create on ``db`` one ENUM type per column of ``values`` (column -> its texts) whose
    members are those texts sorted by code point, which is how DuckDB sorts text (by its
    UTF-8 bytes). Returns column -> type name (unique on ``db``). A text column cast to
    such a type groups and sorts as the text does, but as a small integer: a year's
    roll-ups are grouped and sorted about twice as fast (cells 8.8 → 4.1 s CPU at 10 M,
    measured 2026-12-02); cast back to ``VARCHAR`` the rows are the same."""
    import secrets

    token = secrets.token_hex(4)
    out = {}
    for c, texts in values.items():
        if not texts:  # no values: stays text
            continue
        name = f"_enum_{token}_{c}"
        members = ", ".join("'" + str(t).replace("'", "''") + "'"
                            for t in sorted(set(texts)))
        db.execute(f"CREATE TYPE {name} AS ENUM ({members})")
        out[c] = name
    return out


def _as_text(db, relation: str, columns: list[str]) -> str:
    """SELECT list of ``columns`` (of ``relation``'s types) with ENUM ones cast to text."""
    types = dict(db.execute(f"SELECT column_name, column_type FROM (DESCRIBE {relation})"
                            ).fetchall())
    return ", ".join(f"CAST({c} AS VARCHAR) AS {c}"
                     if types.get(c, "").startswith(("ENUM", "_enum_")) else c for c in columns)


def flag_sql(episodes: str) -> str:
    """SELECT of the relation ``episodes`` (the store's columns) with ``in_county`` and the
    flags (:func:`summarise_year`), on a connection that holds ``_groups`` and ``_inst``
    (as :func:`summarise_year` registers them)."""
    return f"""
        WITH e AS (
            SELECT ep.*, coalesce(g.group_code, 'ICD:' || ep.icd3) AS grp,
                   CASE WHEN i.code IS NULL THEN true
                        ELSE coalesce(i.in_county, false) END AS in_county
            FROM {episodes} ep LEFT JOIN _groups g ON g.icd3 = ep.icd3
                    LEFT JOIN _inst i ON i.code = ep.institution_code)
        SELECT * EXCLUDE (grp),
               row_number() OVER (PARTITION BY person_id, grp
                                  ORDER BY date, record_id) = 1 AS is_new_case,
               row_number() OVER (PARTITION BY person_id
                                  ORDER BY date, record_id) = 1 AS is_first_of_year
        FROM e"""


def by_month(table) -> list:
    """A roll-up's Arrow ``table`` sorted by year and month first, as one table per month
    (one file each: a month's import rewrites only the months it changes,
    :mod:`healthmap.summary_increment`).

    >>> import pyarrow as pa
    >>> [t.to_pydict() for t in by_month(pa.table({"month": [1, 1, 3], "n": [1, 2, 3]}))]
    [{'month': [1, 1], 'n': [1, 2]}, {'month': [3], 'n': [3]}]
    """
    import pyarrow.compute as pc

    months = table.column("month")
    values = months.to_numpy(zero_copy_only=False) if months.null_count == 0 else None
    if values is not None and len(values) and bool(np.all(values[1:] >= values[:-1])):
        # sorted by month (as the roll-ups are): each month a slice, no copy
        edges = np.flatnonzero(np.diff(values)) + 1
        starts, ends = [0, *edges.tolist()], [*edges.tolist(), len(values)]
        return [table.slice(a, b - a) for a, b in zip(starts, ends)]
    return [table.filter(pc.equal(months, m))
            for m in pc.unique(months).to_pylist() if m is not None]


def lookups(conn: Connection) -> tuple[dict[str, str], dict[str, bool]]:
    """What the summaries need besides the episodes: ICD-10 category → disease group and
    institution → in the county."""
    icd3_group = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
    in_county = dict(conn.execute(select(Institution.code, Institution.in_county)).all())
    return icd3_group, in_county


@contextmanager
def rollup_db(icd3_group: dict, in_county: dict, prefix: str):
    """A DuckDB database for building roll-ups: memory bounded by
    ``HEALTHMAP_STORE_MEMORY`` (default 1 GB; what exceeds it spills to a temporary
    folder, removed on exit), with the reference tables ``_groups`` (icd3, group_code)
    and ``_inst`` (code, in_county) registered. Used by the full build
    (:func:`summarise_year`) and the month increment
    (:mod:`healthmap.summary_increment`) alike."""
    import duckdb
    import pyarrow as pa

    from healthmap.store.layout import memory_limit

    with tempfile.TemporaryDirectory(prefix=prefix) as spill, duckdb.connect(config={
            "memory_limit": memory_limit(),
            "temp_directory": spill,  # what exceeds the limit spills here
            "preserve_insertion_order": False}) as db:
        db.execute("SET enable_progress_bar = false")
        db.register("_groups", pa.table({
            "icd3": pa.array(list(icd3_group), pa.string()),
            "group_code": pa.array(list(icd3_group.values()), pa.string())}))
        db.register("_inst", pa.table({
            "code": pa.array(list(in_county), pa.string()),
            "in_county": pa.array([None if v is None else bool(v)
                                   for v in in_county.values()], pa.bool_())}))
        yield db


def summarise_year(ep: pd.DataFrame | list, year: int, icd3_group: dict[str, str],
                   in_county: dict[str, bool], stage=None) -> dict:
    """The roll-ups of one year from all of that year's episodes, keyed by table name, as
    the store keeps them (Arrow tables, :func:`store_rollups_sql`; ``cells`` and
    ``institutions`` as one table per month, :func:`by_month`). ``ep`` is a frame (the store's
    :data:`EPISODE_COLS`, or money as float yuan ``total_cost`` / ``fund_paid``; ``date``
    as ISO text or dates) or a list of the store's Parquet files of the year, which DuckDB
    reads without a frame (measured on 2,000,000 episodes of a year: 6.2 s from the file,
    peak 1.8 GB; a pandas group-by took 7.5 s to load the frame and 19.8 s to sum it,
    with the same result). The flags: ``is_new_case`` marks a person's first episode (by
    date, then record id) of the year in a disease group, an ICD-10 category outside every
    group counting as its own group; ``is_first_of_year`` the person's first episode of
    the year. An institution missing from ``in_county`` counts as in the county. Also the year's per-person roll-up
    (:mod:`healthmap.person_rollup`), on the same connection, in parts; given ``stage``
    (table, part number, Arrow table → store path: a store writer's
    :meth:`~healthmap.store.writer.StoreWriter.rollup_sink`), each part is written by it as
    soon as it is computed and its store path comes back instead of the table (no part
    is held until the year is done: the 10 M import's peak memory 3.2 → 2.3 GB, its time
    the same, measured 2026-12-03).

    Examples
    --------
    >>> ep = pd.DataFrame({"record_id": ["a", "b"], "person_id": ["p", "p"],
    ...     "area_code": ["331083001"] * 2, "icd3": ["C18", "C18"],
    ...     "date": ["2024-01-05", "2024-03-01"], "month": [1, 3],
    ...     "setting": ["inpatient"] * 2, "institution_code": ["H1"] * 2,
    ...     "total_cost": [100.0, 300.0], "fund_paid": [60.0, None],
    ...     "insurance_type": ["resident"] * 2, "referral": [True, None],
    ...     "sex": ["F"] * 2, "age_group": ["60-64"] * 2})
    >>> rows = summarise_year(ep, 2024, {"C18": "CRC"}, {"H1": True})
    >>> area = rows["areas"].to_pylist()[0]
    >>> [int(area[c]) for c in ("episodes", "new_cases", "persons", "referrals",
    ...                         "cost_sum_fen", "cost_sq_sum_fen2", "fund_n")]
    [2, 1, 1, 1, 40000, 1000000000, 1]
    >>> [t.num_rows for t in rows["cells"]], [t.num_rows for t in rows["institutions"]]
    ([1, 1], [1, 1])
    """
    if isinstance(ep, pd.DataFrame) and ep.empty or isinstance(ep, list) and not ep:
        return {}
    with rollup_db(icd3_group, in_county, "healthmap-rollups-") as db:
        if isinstance(ep, list):
            files = ", ".join("'" + str(f).replace("'", "''") + "'" for f in ep)
            db.execute(f"CREATE VIEW ep AS SELECT {', '.join(EPISODE_COLS)} "
                       f"FROM read_parquet([{files}])")
        else:
            db.register("ep", _fen_frame(ep))
        values = distinct_values(db, "ep", TEXT_KEYS)
        enums = enum_types(db, values)
        casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in enums.items())
        db.execute(f"CREATE TEMP TABLE flagged AS SELECT * REPLACE ({casts}) "
                   f"FROM ({flag_sql('ep')})")
        from healthmap import person_rollup

        out = {name: by_month(t) if "month" in t.column_names else t
               for name, t in store_rollups_sql(db, year).items()}
        db.execute("DROP TABLE flagged")  # its memory goes to the per-person roll-up
        sink = None if stage is None else (
            lambda i, table: stage(person_rollup.TABLE, i, table))
        out[person_rollup.TABLE] = person_rollup.build_on(db, "ep", "_groups", "_inst",
                                                          values=values, sink=sink)
        return out


def _fen_frame(ep: pd.DataFrame) -> pd.DataFrame:
    """A year's episodes as :data:`EPISODE_COLS` with money in fen: float yuan
    (``total_cost``, ``fund_paid``) converted by :func:`healthmap.ledger.fen_array`, the
    one conversion every engine uses; dates as ISO text."""
    out = ep[[c for c in EPISODE_COLS if not c.endswith("_fen")]].reset_index(drop=True)
    out["date"] = out["date"].astype(str)
    if "total_cost_fen" in ep:
        out["total_cost_fen"] = pd.to_numeric(ep["total_cost_fen"]).to_numpy(dtype=np.int64)
        out["fund_paid_fen"] = pd.to_numeric(ep["fund_paid_fen"]).astype("Int64").to_numpy()
    else:
        out["total_cost_fen"] = ledger.fen_array(ep["total_cost"].astype(float))
        fund = ep["fund_paid"].astype(float)
        out["fund_paid_fen"] = pd.array(ledger.fen_array(fund.fillna(0.0)), dtype="Int64")
        out.loc[fund.isna().to_numpy(), "fund_paid_fen"] = pd.NA
    if "referral" in out:
        out["referral"] = out["referral"].astype("boolean")
    return out


def rebuild_rollups(conn: Connection, years: Iterable[int] | None = None,
                    progress: Progress | None = None, in_county: dict | None = None,
                    prepare: bool = True):
    """Rebuild the roll-ups of ``years`` (all years when ``None``) from the episode store,
    inside the caller's database transaction: the new files are staged and the pending
    manifest prepared (:func:`healthmap.store.prepare`). Returns the store writer: the
    caller publishes it after the commit (:func:`healthmap.store.publish`) or discards it
    on failure. ``in_county`` overrides institutions' held statuses (an institutions
    import stages the roll-ups of its new statuses before its write transaction, with
    ``prepare=False``, and prepares the writer in it). Episode imports stage their
    roll-ups themselves (:mod:`healthmap.ingest.episodes`)."""
    from healthmap import store

    writer = store.open_writer(conn)
    try:
        years = sorted(writer.years) if years is None else sorted(
            set(int(y) for y in years) & set(writer.years))
        icd3_group, held_in_county = lookups(conn)
        statuses = {**held_in_county, **(in_county or {})}
        for i, year in enumerate(years):
            if progress:
                progress(i / max(len(years), 1), str(year))
            rows = writer.year_files(year)  # read by DuckDB, no frame
            writer.add_rollups(year, summarise_year(rows, year, icd3_group, statuses,
                                                    writer.rollup_sink(year)))
        from healthmap import person_counts

        person_counts.stage(writer)  # the years rebuilt and those whose look-back reads them
        if prepare:
            store.prepare(writer, conn)
            bump_generation(conn)
            from sqlalchemy.orm import Session

            from healthmap.db import bump_version

            with Session(bind=conn) as s:  # every app process reloads its cached frames
                bump_version(s)
    except BaseException:
        writer.discard()
        raise
    if progress:
        progress(1.0, ", ".join(map(str, years)))
    writer.years_rebuilt = years
    return writer


#: a counter every writer of episodes, summaries or what they are built from (disease
#: groups, institutions) advances in its transaction: an import that computed summaries
#: before its write transaction checks inside it that nothing changed meanwhile
GENERATION_KEY = "summary_inputs_generation"


def generation(conn: Connection, for_update: bool = False) -> int:
    """The current :data:`GENERATION_KEY` (0 before any write)."""
    stmt = select(AppMeta.value).where(AppMeta.key == GENERATION_KEY)
    value = conn.scalar(stmt.with_for_update() if for_update else stmt)
    return int(value or 0)


def bump_generation(conn: Connection) -> None:
    """Advance :data:`GENERATION_KEY` inside the caller's transaction."""
    done = conn.execute(update(AppMeta).where(AppMeta.key == GENERATION_KEY).values(
        value=cast(cast(AppMeta.value, Integer) + 1, String))).rowcount
    if not done:
        conn.execute(insert(AppMeta).values(key=GENERATION_KEY, value="1"))


def rebuild(engine, user: Actor | str | None,
            progress: Progress | None = None) -> list[int]:
    """Every year's roll-ups rebuilt from the episode store (``refresh``) in its own
    transaction, holding the database's import lock (a rebuild while an import runs raises
    :class:`healthmap.dbhealth.ImportRunning`, which names that import).

    ``user`` as an :class:`healthmap.access.Actor` (the page's user, the CLI's) must be
    allowed ``refresh`` (checked here, before anything is locked or written:
    :class:`healthmap.access.PermissionDenied`); a plain name is only recorded on the lock."""
    from healthmap import dbhealth, store

    if isinstance(user, Actor):
        require(user, "refresh")
        user = user.username
    url = engine.url.render_as_string(hide_password=False)
    with dbhealth.import_lock(url, "refresh", "summary tables", user):
        writer = None
        try:
            with engine.begin() as conn:
                writer = rebuild_rollups(conn, None, progress)
            store.publish(writer)
        finally:
            if writer is not None:
                writer.discard()
        return writer.years_rebuilt
