"""Read-only queries over the summary roll-ups of the episode store (never the raw
episodes), with filters pushed into DuckDB (:mod:`healthmap.store`), and over the
database's reference tables. Every page and report goes through here. Money comes out in
yuan: the store's exact fen (and fen²) sums are divided once, here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from healthmap import cube, periodframe
from healthmap.cube import CELL_DIMS, INST_DIMS, INST_MEASURES, MEASURES
from healthmap.models import Area, DiseaseGroup, Icd3Group, ImportLog, Institution, Population

__all__ = ["CELL_DIMS", "INST_DIMS", "INST_MEASURES", "MEASURES"]  # re-exported from cube


@dataclass(frozen=True)
class Filters:
    """What the user selected. Empty tuples mean "all"."""

    years: tuple[int, ...] = ()
    month_from: int | None = None  # 1-12, applies within each selected year
    month_to: int | None = None
    groups: tuple[str, ...] = ()  # disease group codes
    icd3: tuple[str, ...] = ()  # extra ICD-10 three-character categories
    sex: str | None = None  # M / F
    age_groups: tuple[str, ...] = ()
    insurance: tuple[str, ...] = ()
    setting: str | None = "inpatient"  # inpatient / outpatient / None = both
    level: str = "township"

    @property
    def months(self) -> int:
        """Months of the year covered (for person-time denominators)."""
        if self.month_from is None or self.month_to is None:
            return 12
        return self.month_to - self.month_from + 1

    @property
    def period(self) -> str:
        """The selected years as a reader writes them: a range when they follow each
        other, else each year.

        >>> Filters(years=(2022, 2023, 2024)).period, Filters(years=(2024, 2022)).period
        ('2022–2024', '2022, 2024')
        >>> Filters(years=(2024,)).period
        '2024'
        """
        ys = sorted(set(self.years))
        if len(ys) > 1 and ys[-1] - ys[0] == len(ys) - 1:
            return f"{ys[0]}–{ys[-1]}"
        return ", ".join(map(str, ys))

    def describe(self) -> str:
        """The selection in one line, for export stamps and audit entries.

        >>> Filters(years=(2023, 2024), groups=("C_STOMACH",), sex="F").describe()
        'years=2023,2024; setting=inpatient; groups=C_STOMACH; sex=F; level=township'
        """
        parts = [f"years={','.join(map(str, self.years)) or 'all'}"]
        if self.month_from and self.month_to and self.months < 12:
            parts.append(f"months={self.month_from}-{self.month_to}")
        parts.append(f"setting={self.setting or 'all'}")
        for name in ("groups", "icd3", "age_groups", "insurance"):
            if getattr(self, name):
                parts.append(f"{name}={','.join(getattr(self, name))}")
        if self.sex:
            parts.append(f"sex={self.sex}")
        parts.append(f"level={self.level}")
        return "; ".join(parts)


@dataclass
class AreaSet:
    """Areas of one level plus the map from any finer code up to that level."""

    areas: pd.DataFrame
    up: dict[str, str] = field(default_factory=dict)


def area_set(engine: Engine, level: str = "township") -> AreaSet:
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(select(
            Area.code, Area.name, Area.level, Area.parent_code, Area.geometry, Area.label_lon,
            Area.label_lat, Area.schematic)).all(),
            columns=["code", "name", "level", "parent_code", "geometry", "label_lon",
                     "label_lat", "schematic"])
    parent = dict(zip(df["code"], df["parent_code"]))
    lvl = dict(zip(df["code"], df["level"]))
    up: dict[str, str] = {}
    for code in df["code"]:
        c = code
        while c is not None and lvl.get(c) != level:
            c = parent.get(c)
        if c is not None:
            up[code] = c
    return AreaSet(df[df["level"] == level].reset_index(drop=True), up)


def group_icd3(engine: Engine, groups: tuple[str, ...]) -> list[str]:
    if not groups:
        return []
    with engine.connect() as conn:
        return list(conn.scalars(select(Icd3Group.icd3).where(Icd3Group.group_code.in_(groups))))


def disease_groups(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(DiseaseGroup.__table__)).mappings().all())


def rollup(engine: Engine, table: str, conds: list[cube.Condition] = (),
            by: list[str] | None = None, measures: list[str] | None = None,
            categorical: bool = False) -> pd.DataFrame:
    """Rows of roll-up ``table`` (``cells``, ``areas``, ``institutions``) that ``conds``
    keep, money in yuan: every row (``by=None``), or summed by ``by`` (exact sums in fen,
    divided once), sorted by ``by``. ``categorical`` gives text keys as pandas categoricals,
    converted in Arrow (much faster than object strings for the period frames)."""
    from healthmap import store
    from healthmap.store.layout import rollup_columns

    dims, all_measures = cube.ROLLUPS[table]
    measures = measures or all_measures
    where, params = cube.sql_where(list(conds), [c for c, _t in rollup_columns(table)])

    def value(m: str) -> str:
        column, per_yuan = cube.MONEY.get(m, (m, 1))
        total = column if by is None else f"sum({column})"
        return (f"CAST({total} AS DOUBLE) / {per_yuan} AS {m}" if per_yuan != 1
                else f"CAST({total} AS BIGINT) AS {m}")

    keys = [f"CAST({k} AS BIGINT) AS {k}" if k in ("year", "month") else k
            for k in (dims if by is None else by)]
    sql = f"SELECT {', '.join([*keys, *map(value, measures)])} FROM rollup_{table} {where}"
    if by:
        sql += f" GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}"
    cur = store.connect(engine)
    try:
        if not categorical:
            return cur.execute(sql, params).df()
        df = cur.sql(sql, params=params).to_arrow_table().to_pandas(
            strings_to_categorical=True)
    finally:
        cur.close()
    for c in df.columns:  # categories in sorted order, as astype("category") gives them
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].cat.reorder_categories(sorted(df[c].cat.categories))
    return df


def selected_icd3(engine: Engine, f: Filters) -> list[str] | None:
    """ICD-10 categories selected by groups and codes; ``None`` means no disease filter."""
    if not f.groups and not f.icd3:
        return None
    return sorted(set(group_icd3(engine, f.groups)) | set(f.icd3))


def data_version(engine: Engine) -> int:
    """A cache key for loaded frames: changes on every write that changes what pages show
    (:func:`healthmap.db.bump_version`) and on every import."""
    from healthmap.db import data_version as written

    with engine.connect() as conn:
        imports = int(conn.scalar(select(func.coalesce(func.max(ImportLog.id), 0))))
    return imports * 1_000_000 + written(engine)


@dataclass(frozen=True)
class Selection:
    """A filter resolved once per change: the user's :class:`Filters` plus the ICD-10
    categories its disease groups and codes select (``None`` = no disease filter).

    Pages resolve a selection once (:func:`resolve`) and hand it to every table, panel
    and flow, instead of each of them looking the groups up again.
    """

    filters: Filters
    icd3: tuple[str, ...] | None

    @property
    def icd3_list(self) -> list[str] | None:
        return None if self.icd3 is None else list(self.icd3)


def resolve(engine: Engine, f: Filters) -> Selection:
    """``f`` with its disease groups resolved to ICD-10 categories (one database read)."""
    icd3 = selected_icd3(engine, f)
    return Selection(f, None if icd3 is None else tuple(icd3))


#: beyond -2⁵³ a negative fen² sum (there are none: sums of squares) is converted by DuckDB
_EXACT = 2 ** 53


def period_rows(engine: Engine, table: str, years: tuple[int, ...]) -> pd.DataFrame:
    """Every row of roll-up ``table`` of ``years`` (all years when empty), exactly as
    :func:`rollup` with ``categorical`` gives them (same rows, order, values and types),
    read straight from the store's Parquet files: text keys come as the files'
    dictionaries (no strings are made and hashed again), money is divided into yuan as the
    SQL does (fen² sums beyond the int64 range or below -:data:`_EXACT`: by DuckDB). Falls
    back to :func:`rollup` when no file holds the years."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from healthmap.store import engine_store_dir, live_manifest

    conds = [cube.Condition("year", "in", tuple(years))] if years else []
    manifest = live_manifest(engine)
    # the files in the order the store's view lists them (DuckDB keeps it)
    files = [f for f in (manifest.rollup_files(table) if manifest else [])
             if not years or _file_year(f) in {int(y) for y in years}]
    if not files:
        return rollup(engine, table, conds, categorical=True)
    dims, measures = cube.ROLLUPS[table]
    text = [d for d in dims if d not in ("year", "month", "in_county")]
    root = engine_store_dir(engine)
    parts = []
    for f in files:
        t = pq.read_table(root / f, read_dictionary=text)
        parts.append(t.add_column(0, "year", pa.array(np.full(len(t), _file_year(f),
                                                               dtype=np.int64))))
    t = pa.concat_tables(parts)
    cols = {}
    for d in dims:
        col = t.column(d)
        cols[d] = col.cast(pa.int64()) if d in ("year", "month") else col
    for m in measures:
        column, per_yuan = cube.MONEY.get(m, (m, 1))
        col = t.column(column)
        if pa.types.is_decimal(col.type):  # fen², DECIMAL(38,0)
            v = _fen2_doubles(col)
            cols[m] = pa.array((v if v is not None else _sql_doubles(engine, table, conds,
                                                                     column)) / per_yuan)
        elif per_yuan != 1:  # the SQL's CAST(… AS DOUBLE) / 100
            cols[m] = pa.array(col.to_numpy().astype(np.float64) / per_yuan)
        else:
            cols[m] = col
    # one block per column, the Arrow buffers as they are (no copy into 2-D blocks)
    df = pa.table(cols).to_pandas(split_blocks=True)
    for c in text:
        df[c] = _present_sorted(df[c])
    return df


def _present_sorted(col: pd.Series) -> pd.Series:
    """A categorical column with only the values present, as categories in sorted order
    (as :func:`rollup` gives them), its codes remapped through a small table (no sort or
    hash of the rows).

    >>> col = pd.Series(pd.Categorical(["b", None, "d", "b"], categories=["d", "a", "b"]))
    >>> out = _present_sorted(col)
    >>> list(out.cat.categories), out.cat.codes.tolist()
    (['b', 'd'], [0, -1, 1, 0])
    """
    codes = col.cat.codes.to_numpy()
    cats = col.cat.categories
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)))
    keep = cats[present].tolist()
    order = sorted(range(len(keep)), key=keep.__getitem__)
    lut = np.full(len(cats) + 1, -1, dtype=np.int64)  # the last slot: missing (code -1)
    lut[present[order]] = np.arange(len(order))
    return pd.Series(pd.Categorical.from_codes(lut[codes], [keep[i] for i in order]),
                     index=col.index, name=col.name)


def _fen2_doubles(col) -> np.ndarray | None:
    """Whole fen² sums (an Arrow DECIMAL(38,0) column) as the doubles DuckDB's cast gives:
    the nearest double, as numpy converts an int64, for sums from -2⁵³ up to the int64
    limit (DuckDB rounds a negative 128-bit integer in two steps, exactly only from -2⁵³);
    ``None`` when a sum is outside that range (or missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        col = col.cast(pa.int64())
    except pa.ArrowInvalid:
        return None
    low = pc.min(col).as_py()
    if col.null_count or (low is not None and low < -_EXACT):
        return None
    return col.to_numpy().astype(np.float64)


def _sql_doubles(engine: Engine, table: str, conds: list[cube.Condition], column: str
                 ) -> np.ndarray:
    """``column`` of roll-up ``table`` as DuckDB casts it to doubles, over the rows
    ``conds`` keep, in the order :func:`rollup` reads them (the files' order)."""
    from healthmap import store
    from healthmap.store.layout import rollup_columns

    where, params = cube.sql_where(list(conds), [c for c, _t in rollup_columns(table)])
    cur = store.connect(engine)
    try:
        return cur.execute(f"SELECT CAST({column} AS DOUBLE) AS v FROM rollup_{table} {where}",
                           params).df()["v"].to_numpy(dtype=np.float64)
    finally:
        cur.close()


def _file_year(path: str) -> int:
    """The year of a roll-up file from its partition folder (``…/year=2024/…``)."""
    return int(path.split("year=", 1)[1].split("/", 1)[0])


def load_cells_frame(engine: Engine, years: tuple[int, ...]) -> pd.DataFrame:
    """All summary cells of ``years`` as a compact frame (categorical keys) indexed for
    fast filter changes (:mod:`healthmap.periodframe`). Callers cache it."""
    df = period_rows(engine, "cells", years)
    df["in_county"] = df["in_county"].astype(bool)
    return periodframe.period_frame(df, "cells")


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Loaded summary frames of several years as one, categorical keys kept categorical.

    >>> a = pd.DataFrame({"k": pd.Categorical(["x"]), "n": [1]})
    >>> b = pd.DataFrame({"k": pd.Categorical(["y"]), "n": [2]})
    >>> out = concat_frames([a, b])
    >>> out["k"].tolist(), str(out["k"].dtype)
    (['x', 'y'], 'category')
    """
    from pandas.api.types import union_categoricals

    if len(frames) == 1:
        return frames[0]
    cat = [c for c in frames[0].columns if isinstance(frames[0][c].dtype, pd.CategoricalDtype)]
    out = pd.concat([pd.DataFrame(f.drop(columns=cat)) for f in frames], ignore_index=True)
    for c in cat:
        out[c] = union_categoricals([f[c] for f in frames], sort_categories=True)
    out = out[list(frames[0].columns)]
    table = getattr(frames[0], "_table", None)  # period frames: indexed once more, each
    if not table:                                 # frame's rows in its own order
        return out
    own = [periodframe.row_order(f) for f in frames]
    order = None
    if any(o is not None for o in own):
        starts = np.cumsum([0] + [len(f) for f in frames])
        order = np.concatenate([np.arange(a, b) if o is None else o + a
                                for o, a, b in zip(own, starts[:-1], starts[1:])])
    return periodframe.period_frame(out, table, order)


def frame_cells(frame: pd.DataFrame, f: Filters, by: list[str], icd3: list[str] | None,
                ) -> pd.DataFrame:
    """:func:`cells` computed from a frame loaded by :func:`load_cells_frame`."""
    return periodframe.grouped(frame, "cells", cube.conditions(f, icd3), by, MEASURES)


def cells(engine: Engine, f: Filters, by: list[str], icd3: list[str] | None = None,
          frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summed summary measures grouped by ``by`` (dimensions of the ``cells`` roll-up).

    With ``frame`` (from :func:`load_cells_frame`, covering ``f.years``) the sums are taken
    in memory; otherwise by DuckDB on the store, from the ``areas`` roll-up when it can
    answer (:func:`_area_rollup_answers`).
    """
    if frame is not None:
        return frame_cells(frame, f, by, icd3)
    table = "areas" if _area_rollup_answers(f, by, icd3) else "cells"
    conds = cube.conditions(f, icd3)
    if not by:
        return rollup(engine, table, conds, []).fillna(0)
    return rollup(engine, table, conds, by)


def _area_rollup_answers(f: Filters, by: list[str], icd3: list[str] | None) -> bool:
    """Whether the ``areas`` roll-up (no ICD-10, month or insurance detail) can answer."""
    whole_year = f.month_from is None or f.months == 12
    return (icd3 is None and whole_year and not f.insurance
            and not {"icd3", "month", "insurance_type"} & set(by))


def _frame(result, columns: list[str]) -> pd.DataFrame:
    """A result as a DataFrame, built from plain tuples (much faster than from Row objects)."""
    return pd.DataFrame.from_records([tuple(r) for r in result.all()], columns=columns)


def load_institution_frame(engine: Engine, years: tuple[int, ...]) -> pd.DataFrame:
    """The institution summary of ``years`` as a compact frame (callers cache it), so the
    patient-flow view filters in memory like :func:`load_cells_frame`."""
    return periodframe.period_frame(period_rows(engine, "institutions", years),
                                    "institutions")


def institution_cells(engine: Engine, f: Filters, icd3: list[str] | None,
                      area_codes: list[str] | None = None,
                      frame: pd.DataFrame | None = None,
                      extra: tuple[str, ...] = (), by_area: bool = True) -> pd.DataFrame:
    """Episodes and costs by area (unless not ``by_area``) and institution (and ``extra``
    dimensions of the institution summary, e.g. ``icd3``, ``setting``), with institution
    details.

    With ``frame`` (from :func:`load_institution_frame`) the sums are taken in memory.
    """
    keys = ["area_code"] * by_area + ["institution_code", *extra]
    conds = cube.conditions(f, icd3)
    if area_codes:
        conds.append(cube.Condition("area_code", "in", tuple(area_codes)))
    if frame is not None:
        df = periodframe.grouped(frame, "institutions", conds, keys, INST_MEASURES)
        df[keys] = df[keys].astype(str)
    else:
        df = rollup(engine, "institutions", conds, keys, INST_MEASURES)
    with engine.connect() as conn:
        inst = _frame(conn.execute(select(Institution.code, Institution.name,
                                          Institution.level, Institution.in_county,
                                          Institution.region)),
                      ["institution_code", "institution", "level", "in_county", "region"])
    return df.merge(inst, on="institution_code", how="left")


def population_rows(engine: Engine) -> pd.DataFrame:
    """Every population row (small: areas × years × sexes × age groups); callers cache it."""
    with engine.connect() as conn:
        return _frame(conn.execute(select(
            Population.area_code, Population.year, Population.sex, Population.age_group,
            Population.persons)), ["area_code", "year", "sex", "age_group", "persons"])


def population(engine: Engine, years: tuple[int, ...], by_age: bool,
               sex: str | None = None, age_groups: tuple[str, ...] = (),
               rows: pd.DataFrame | None = None,
               by: tuple[str, ...] = ("area_code",)) -> pd.DataFrame:
    """Persons by ``by`` (area; also ``year``, ``sex``, ``age_group``) and, with
    ``by_age``, age group, summed over ``years`` (person-years).

    Uses sex/age-detailed rows where they exist. Returns columns ``by``,
    [``age_group``], ``persons``; empty when the detail asked for is not available.
    """
    df = rows if rows is not None else population_rows(engine)
    if years:
        df = df[df["year"].isin(years)]
    detailed = df[(df["sex"] != "T") & (df["age_group"] != "all")]
    needs_detail = by_age or sex or age_groups or {"sex", "age_group"} & set(by)
    if needs_detail:
        df = detailed
        if sex:
            df = df[df["sex"] == sex]
        if age_groups:
            df = df[df["age_group"].isin(age_groups)]
    else:
        # per area-year: detailed rows summed, or the total row where there is no detail
        has_detail = set(zip(detailed["area_code"], detailed["year"]))
        total = df[(df["sex"] == "T") & (df["age_group"] == "all")]
        keep = ~pd.Series([k in has_detail for k in zip(total["area_code"], total["year"])],
                          index=total.index, dtype=bool)
        df = pd.concat([detailed, total[keep]])
    keys = list(dict.fromkeys([*by, *(["age_group"] if by_age else [])]))
    return df.groupby(keys, as_index=False)["persons"].sum()


def periods(engine: Engine) -> list[int]:
    """The years the store holds episodes (and their roll-ups) of."""
    from healthmap import store

    manifest = store.live_manifest(engine)
    return sorted(manifest.years) if manifest else []


def overview(engine: Engine) -> dict[str, pd.DataFrame]:
    """What is loaded: row counts per table and year, import log, areas without data
    (episodes: the rows of the episode store's live manifest)."""
    from healthmap import store
    from healthmap.models import Resident

    manifest = store.live_manifest(engine)
    cur = store.connect(engine)
    try:
        ep_years = cur.execute(
            "SELECT year, CAST(sum(episodes) AS BIGINT) AS episodes, min(month) AS first_month, "
            "max(month) AS last_month FROM rollup_cells GROUP BY year ORDER BY year").df()
        with_data = {a for (a,) in cur.execute(
            "SELECT DISTINCT area_code FROM rollup_cells").fetchall()}
    finally:
        cur.close()
    with engine.connect() as conn:
        pop_years = pd.DataFrame(conn.execute(select(
            Population.year, func.sum(Population.persons), func.count()).group_by(
            Population.year)).all(), columns=["year", "population", "rows"])
        counts = {
            "areas": conn.scalar(select(func.count()).select_from(Area)),
            "institutions": conn.scalar(select(func.count()).select_from(Institution)),
            "episodes": manifest.rows if manifest is not None else 0,
            "residents": conn.scalar(select(func.count()).select_from(Resident)),
            "population_rows": conn.scalar(select(func.count()).select_from(Population)),
        }
        log = pd.DataFrame(conn.execute(select(
            ImportLog.id, ImportLog.kind, ImportLog.filename, ImportLog.started_at,
            ImportLog.status, ImportLog.rows_total, ImportLog.rows_inserted,
            ImportLog.rows_updated, ImportLog.rows_unchanged, ImportLog.n_errors,
            ImportLog.username).order_by(ImportLog.id.desc()).limit(200)).all(),
            columns=["id", "kind", "filename", "started_at", "status", "rows_total",
                     "inserted", "updated", "unchanged", "errors", "user"])
        areas = pd.DataFrame(conn.execute(select(Area.code, Area.name, Area.level)).all(),
                             columns=["code", "name", "level"])
    no_data = areas[(areas["level"] != "county") & ~areas["code"].isin(with_data)]
    return {"counts": pd.DataFrame([counts]), "episode_years": ep_years,
            "population_years": pop_years, "log": log, "no_data": no_data}


def reference_codes(engine: Engine) -> dict[str, pd.DataFrame]:
    """The area and institution codes an import may use (for the data page's guide)."""
    with engine.connect() as conn:
        areas = pd.DataFrame(conn.execute(select(Area.code, Area.name, Area.level,
                                                 Area.parent_code).order_by(Area.code)).all(),
                             columns=["code", "name", "level", "parent_code"])
        inst = pd.DataFrame(conn.execute(select(
            Institution.code, Institution.name, Institution.level, Institution.in_county,
            Institution.region).order_by(Institution.code)).all(),
            columns=["code", "name", "level", "in_county", "region"])
    return {"areas": areas, "institutions": inst}
