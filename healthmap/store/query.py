"""The query engine over the episode store: DuckDB views on the manifest's files.

:func:`connect` returns a DuckDB cursor on an in-memory DuckDB database that holds the
views of :mod:`healthmap.store` (the contract is in its docstring). The database is built
once per store generation and reference data (a new manifest, a changed ICD-3 grouping or
institution list makes the next call build a new one); each call returns a new cursor, so
use one per thread or per request and close it when done. A cursor keeps answering from
the generation it was opened on while a writer publishes the next one.

The DuckDB database belongs to the engine it reads for (:func:`reader`: one
:class:`StoreReader` per engine, kept with the engine as SQLAlchemy keeps its compiled-SQL
cache), so it lives exactly as long as the engine its caller owns (the app's one engine
per database, a CLI command's, a test's) and no module-level state holds it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from healthmap.models import Area, Icd3Group, Institution
from healthmap.store.layout import COLUMNS, engine_store_dir, rollup_columns
from healthmap.store.sync import live_manifest


# the episodes view's columns in order: the file columns with ``year`` after ``date``
VIEW_COLUMNS: list[tuple[str, str]] = [(c[0], c[1]) for c in COLUMNS]
VIEW_COLUMNS.insert(6, ("year", "INTEGER"))


def _mappings(engine: Engine) -> tuple[tuple, str]:
    """The reference rows the views join (groups, institutions, areas) as plain tuples, and
    a digest of their content: the cache key part that notices any change to them. Frames
    are built only when a new DuckDB base is opened (:func:`_frames`)."""
    with engine.connect() as conn:
        groups = tuple(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)
                                    .order_by(Icd3Group.icd3)).all())
        inst = tuple(conn.execute(select(Institution.code, Institution.in_county)
                                  .order_by(Institution.code)).all())
        areas = tuple(conn.execute(select(Area.code, Area.level, Area.parent_code)
                                   .order_by(Area.code)).all())
    rows = tuple(tuple(tuple(r) for r in part) for part in (groups, inst, areas))
    return rows, hashlib.sha256(repr(rows).encode()).hexdigest()


def _frames(rows: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rows of :func:`_mappings` as the frames :func:`_open` loads."""
    groups, inst, areas = rows
    groups = pd.DataFrame(list(groups), columns=["icd3", "group_code"]).astype(str)
    inst = pd.DataFrame(list(inst), columns=["code", "in_county"]).astype(
        {"code": str, "in_county": bool})
    areas = pd.DataFrame(list(areas), columns=["code", "level", "parent_code"])
    return groups, inst, areas


def _files_sql(root: Path, files: list[str], columns: list[tuple[str, str]],
               missing: tuple[str, ...] = ()) -> str:
    """A SELECT of ``columns`` over the Parquet ``files`` (year from the hive path), or an
    empty relation of those columns when there are none; ``missing``: columns some files
    lack (of an older format), shown as NULL, the files read by column name."""
    if not files:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns)
        return f"SELECT {cols} WHERE false"
    paths = ", ".join("'" + str(root / f).replace("'", "''") + "'" for f in files)
    cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" if c in missing else c for c, t in columns)
    union = ", union_by_name = true" if missing else ""
    return (f"SELECT {cols} FROM read_parquet([{paths}], hive_partitioning = true, "
            f"hive_types = {{'year': INTEGER}}{union})")


def _open(root: Path, manifest, groups: pd.DataFrame, inst: pd.DataFrame,
          areas: pd.DataFrame | None = None):
    import duckdb

    from healthmap.cube import ROLLUPS
    from healthmap.person_counts import TABLE as COUNTS, current, digest
    from healthmap.person_rollup import TABLE as PERSONS, current as persons_current

    db = duckdb.connect(":memory:")
    db.execute("SET enable_progress_bar = false")
    files = manifest.episode_files() if manifest else []
    db.execute(f"CREATE VIEW episodes AS {_files_sql(root, files, VIEW_COLUMNS)}")
    # person counts of an older format are not read until the upgrade computes them again
    counted = bool(manifest) and current(root / f for f in manifest.rollup_files(COUNTS))
    for table in (*ROLLUPS, PERSONS, COUNTS):
        files = manifest.rollup_files(table) if manifest and (
            table != COUNTS or counted) else []
        # a per-person roll-up of an older format until the upgrade rebuilds it
        missing = ("settings",) if table == PERSONS and not persons_current(
            root / f for f in files) else ()
        db.execute(f"CREATE VIEW rollup_{table} AS "
                   f"{_files_sql(root, files, rollup_columns(table), missing)}")
    # the manifest's years and whether each has the per-person roll-up and the person
    # counts (a store from before them lacks them until upgraded:
    # healthmap.person_rollup.ensure)
    # and the digest of the specialties' grouping its counts were computed with
    db.execute("CREATE TABLE store_years (year INTEGER, persons BOOLEAN, counts BOOLEAN, "
               "specialties VARCHAR)")
    for year, entry in sorted((manifest.years if manifest else {}).items()):
        has = counted and COUNTS in (entry.get("rollups") or {})
        db.execute("INSERT INTO store_years VALUES (?, ?, ?, ?)",
                   [int(year), PERSONS in (entry.get("rollups") or {}), has,
                    digest(root / f for f in entry["rollups"][COUNTS]) if has else None])
    tables = {"icd3_groups": ("icd3 VARCHAR, group_code VARCHAR", groups),
              "institutions": ("code VARCHAR, in_county BOOLEAN", inst),
              "areas": ("code VARCHAR, level VARCHAR, parent_code VARCHAR", areas)}
    for name, (columns, frame) in tables.items():
        db.execute(f"CREATE TABLE {name} ({columns})")
        if frame is not None and len(frame):
            db.register("_frame", frame)
            names = ", ".join(c.split()[0] for c in columns.split(", "))
            db.execute(f"INSERT INTO {name} SELECT {names} FROM _frame")
            db.unregister("_frame")
    return db


class StoreReader:
    """The in-memory DuckDB database with the store's views for one engine, rebuilt when
    the store folder, the live manifest (generation, data version) or the reference rows
    change (those are read again when the database's data version changes:
    :mod:`healthmap.refcache`); :meth:`cursor` hands out cursors on it. Thread-safe. Get an
    engine's own one with :func:`reader`.

    Examples
    --------
    >>> import tempfile
    >>> from healthmap.db import make_engine
    >>> from healthmap.bootstrap import init_database
    >>> engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/t.db"); _ = init_database(engine)
    >>> r = reader(engine)
    >>> r is reader(engine), r.base is None
    (True, True)
    >>> r.cursor(engine).close(); first = r.base
    >>> r.cursor(engine).close(); r.base is first  # nothing changed: the same database
    True
    >>> engine.dispose()
    """

    __slots__ = ("_lock", "_key", "base", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self.base = None  # the DuckDB connection cursors are made from; None until used

    def cursor(self, engine: Engine):
        """A new cursor on the current database (built first when the key changed);
        an older database stays alive while cursors opened on it are open."""
        from healthmap import refcache

        root = engine_store_dir(engine)
        manifest = live_manifest(engine)
        # the reference rows, read again only after a change of the data version
        rows, digest = refcache.snapshot(engine).get("store_mappings",
                                                     lambda: _mappings(engine))
        key = (str(root), manifest.generation if manifest else None,
               manifest.data_version if manifest else None, digest)
        with self._lock:
            if self.base is None or self._key != key:
                self.base = _open(root, manifest if manifest else None, *_frames(rows))
                self._key = key
            return self.base.cursor()


_READER = "healthmap_store_reader"  # the engine's attribute holding its StoreReader


def reader(engine: Engine) -> StoreReader:
    """The :class:`StoreReader` that belongs to ``engine`` (made on first use; the same
    one for every later call with this engine, from any thread)."""
    own = vars(engine)
    found = own.get(_READER)
    return found if found is not None else own.setdefault(_READER, StoreReader())


def connect(engine: Engine):
    """A DuckDB cursor with the store's views (read-only use; close it when done), on the
    files of the manifest at the database's episode version
    (:func:`healthmap.store.sync.live_manifest`: one small query and the manifest; raises
    :class:`healthmap.store.StoreMismatch` when the store holds another version).

    Examples
    --------
    >>> import tempfile
    >>> from healthmap.db import make_engine
    >>> from healthmap.bootstrap import init_database
    >>> engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/t.db"); _ = init_database(engine)
    >>> cur = connect(engine)
    >>> cur.execute("SELECT count(*) FROM episodes").fetchone()[0]
    0
    >>> [r[0] for r in cur.execute("DESCRIBE episodes").fetchall()][:7]
    ['record_id', 'person_id', 'area_code', 'icd10', 'icd3', 'date', 'year']
    >>> cur.close(); engine.dispose()
    """
    return reader(engine).cursor(engine)


def query(engine: Engine, sql: str, params=None) -> pd.DataFrame:
    """Run one parameterised query on the store (``?`` or ``$name`` placeholders) and
    return a DataFrame.

    Examples
    --------
    >>> import tempfile
    >>> from healthmap.db import make_engine
    >>> from healthmap.bootstrap import init_database
    >>> engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/t.db"); _ = init_database(engine)
    >>> query(engine, "SELECT count(*) AS n FROM episodes WHERE year = ?", [2024])["n"].tolist()
    [0]
    >>> engine.dispose()
    """
    cur = connect(engine)
    try:
        return cur.execute(sql, params if params is not None else []).df()
    finally:
        cur.close()
