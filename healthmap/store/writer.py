"""One write of the episode store: stage new year files, then swap the manifest.

A :class:`StoreWriter` holds the store's lock file (one writer at a time; readers never
lock) from creation until :meth:`StoreWriter.publish` or :meth:`StoreWriter.discard`. It
writes every new file into ``staging/<token>/``; ``publish`` moves them into
``episodes/year=YYYY/`` under new names (still unreferenced, so invisible), then replaces
``manifest.json`` in one ``os.replace``. Until that instant readers see the old
generation; after it, the new one. Files of the generation before the old one (and files
left by interrupted writes) are deleted at publish: the old generation stays for readers
that opened it just before the swap.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp()) / "db.store"
>>> rows = pd.DataFrame({"record_id": ["r1", "r2"], "person_id": ["p", "q"],
...     "area_code": ["A", "A"], "icd10": ["C16.9", "C18.0"], "icd3": ["C16", "C18"],
...     "date": ["2024-01-02", "2023-05-06"], "year": [2024, 2023], "month": [1, 5],
...     "setting": ["inpatient"] * 2, "institution_code": ["H"] * 2, "total_cost": [10.5, 2.0],
...     "fund_paid": [5.0, None], "insurance_type": ["resident"] * 2, "referral": [True, None],
...     "sex": ["F", "M"], "age": [61, None], "age_group": ["60-64", "unknown"]})
>>> w = StoreWriter(root, fresh=True)
>>> w.append(to_arrow(rows)); w.build(); m = w.publish("7", require_rollups=False)
>>> sorted(m.years), m.rows, m.data_version, read_manifest(root) == m
([2023, 2024], 2, '7', True)
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import weakref
from pathlib import Path

from healthmap.store.layout import (EPISODES, FILE_COLUMNS, LOCK, MANIFEST, PENDING,
                                    ROLLUPS, SORT_ORDER, STAGING, Manifest, fsync_dir,
                                    make_private_dir, memory_limit, read_manifest,
                                    rollup_columns, to_arrow, write_manifest)

__all__ = ["StoreWriter", "to_arrow", "write_rollup"]

#: a year's episode files at most: a year that only receives new rows (a month's import)
#: gets a file of them beside its held ones, until it has this many; then, and whenever
#: held rows are replaced, the year is rewritten as one file
MAX_YEAR_FILES = 16


#: the per-person roll-up's columns written without a dictionary (:meth:`add_rollups`)
_IDS = ("person_id", "record_id")


def _arrow_types() -> dict:
    """DuckDB type name -> Arrow type, for the roll-up files."""
    import pyarrow as pa

    return {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
            "BOOLEAN": pa.bool_(), "DECIMAL(38,0)": pa.decimal128(38, 0),
            "DATE": pa.date32(), "UTINYINT": pa.uint8()}


def _close(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases the flock


class StoreWriter:
    """Stage a new generation of the store at ``root`` (waits for another writer).

    ``fresh=True`` starts from an empty store (a rebuild); otherwise years not touched
    keep their files from the current manifest (:attr:`base`).
    """

    def __init__(self, root: Path, fresh: bool = False):
        self.root = make_private_dir(Path(root))
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        self._unlock = weakref.finalize(self, _close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.base: Manifest | None = read_manifest(self.root)
        staging = self.root / STAGING
        if staging.exists():  # left by interrupted writes: we hold the lock, nobody uses it
            shutil.rmtree(staging)
        for tmp in self.root.glob(".*.json.*.tmp"):  # a manifest's temp file, writer killed
            tmp.unlink(missing_ok=True)
        self.token = secrets.token_hex(4)
        self.stage = make_private_dir(staging / self.token)
        self.generation = (self.base.generation if self.base else 0) + 1
        self.years: dict[int, dict] = {} if fresh or self.base is None else {
            y: dict(v) for y, v in self.base.years.items()}
        self._chunks: dict[int, list[Path]] = {}
        #: years :meth:`update` only added rows to: year -> the base's files and roll-ups
        #: and the added file (:func:`healthmap.summary_increment.update_year` reads them)
        self.appended: dict[int, dict] = {}
        #: disease group -> key specialty, the code sets the person counts add
        #: (:mod:`healthmap.person_counts`; set by :func:`healthmap.store.sync.open_writer`)
        self.specialties: dict[str, str] = {}
        self._duck = None
        self.pending: Manifest | None = None  # set by prepare()
        self.done = False

    # ------------------------------------------------------------ writing
    def _db(self):
        if self._duck is None:
            import duckdb

            tmp = make_private_dir(self.stage / "tmp")
            self._duck = duckdb.connect(config={
                "memory_limit": memory_limit(),
                "temp_directory": str(tmp), "preserve_insertion_order": True})
            self._duck.execute("SET enable_progress_bar = false")
        return self._duck

    def append(self, table) -> None:
        """Add rows (an Arrow table from :func:`to_arrow`, with ``year``) to be sorted into
        their years by :meth:`build`; memory stays bounded by one chunk."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return
        for year in pc.unique(table.column("year")).to_pylist():
            part = table.filter(pc.equal(table.column("year"), year))
            files = self._chunks.setdefault(int(year), [])
            folder = make_private_dir(self.stage / "chunks" / f"year={year}")
            path = folder / f"chunk-{len(files):05d}.parquet"
            pq.write_table(part, path, compression="none")  # read once, soon
            files.append(path)

    def build(self) -> None:
        """Sort each appended year into its final file (replacing that year's old files)."""
        for year, files in sorted(self._chunks.items()):
            self._write_year(year, f"SELECT {', '.join(FILE_COLUMNS)} FROM read_parquet("
                                   f"{_sql_list(files)})")
        self._chunks.clear()
        shutil.rmtree(self.stage / "chunks", ignore_errors=True)

    def update(self, changed, held: int | None = None) -> list[int]:
        """Replace rows by record id: each year holding a changed record id or receiving a
        changed row is rewritten as its old rows minus those ids plus the changed rows of
        that year. Returns the years rewritten. ``changed`` is an Arrow table from
        :func:`to_arrow` or a list of Parquet files of such rows (a streamed import's
        staged chunks, read by DuckDB without loading them). ``held``: how many of their
        record ids are held (:meth:`compare`); 0 spares reading the held ids again."""
        db = self._db()
        _bind(db, "changed", changed)
        years = {int(y) for (y,) in db.execute("SELECT DISTINCT year FROM changed").fetchall()}
        cols = ", ".join(FILE_COLUMNS)
        for year, entry in self.years.items():
            if year not in years and held != 0 and db.execute(
                    f"SELECT count(*) FROM read_parquet({self._abs(entry['files'])}) o "
                    "SEMI JOIN changed c USING (record_id)").fetchall()[0][0]:
                years.add(year)
        for year in sorted(years):
            entry = self.years.get(year)
            if entry is not None and len(entry["files"]) < MAX_YEAR_FILES and (
                    held == 0 or not db.execute(
                    f"SELECT count(*) FROM read_parquet({self._abs(entry['files'])}) o "
                    "SEMI JOIN changed c USING (record_id)").fetchall()[0][0]):
                # rows added, none replaced (a new month): the year's files stay, the new
                # rows go into a file of their own beside them
                self._append_year(year, f"SELECT {cols} FROM changed WHERE year = {year}")
                continue
            keep = (f"SELECT {cols} FROM read_parquet({self._abs(entry['files'])}) "
                    "ANTI JOIN changed USING (record_id) UNION ALL " if entry else "")
            self._write_year(year, f"{keep}SELECT {cols} FROM changed WHERE year = {year}")
        _unbind(db, "changed", changed)
        return sorted(years)

    def compare(self, new) -> tuple[int, int, set[int]]:
        """How the rows ``new`` (an Arrow table from :func:`to_arrow`, or a list of Parquet
        files of such rows) meet the held ones:
        ``(held, changed, years)`` = how many of their record ids are held, how many of
        those differ in any column, and the years the held versions of changed rows are in
        (rows that move to another year leave their old year)."""
        held = [f for y in sorted(self.years) for f in self.years[y]["files"]]
        if not held or not (len(new) if isinstance(new, list) else new.num_rows):
            return 0, 0, set()
        db = self._db()
        _bind(db, "new_rows", new)
        cols = [c for c in FILE_COLUMNS if c != "record_id"] + ["year"]
        differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in cols)
        try:
            n_held, n_changed = db.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {differs}) "
                f"FROM read_parquet({self._abs(held)}, hive_partitioning = true, "
                "hive_types = {'year': INTEGER}) o JOIN new_rows n USING (record_id)"
            ).fetchall()[0]
            years = set() if not n_changed else {int(y) for (y,) in db.execute(
                f"SELECT DISTINCT o.year FROM read_parquet({self._abs(held)}, "
                "hive_partitioning = true, hive_types = {'year': INTEGER}) o "
                f"JOIN new_rows n USING (record_id) WHERE {differs}").fetchall()}
        finally:
            _unbind(db, "new_rows", new)
        return int(n_held), int(n_changed), years

    def year_frame(self, year: int, columns: list[str]):
        """The rows of ``year`` in this write (staged, or kept from the base) as a pandas
        frame of ``columns`` (file columns); empty when the year has no rows."""
        import pandas as pd

        files = self.year_files(year)
        if not files:
            return pd.DataFrame({c: [] for c in columns})
        return self._db().execute(f"SELECT {', '.join(columns)} FROM read_parquet("
                                  f"{_sql_list(files)})").df()

    def year_files(self, year: int) -> list[Path]:
        """The Parquet files of ``year``'s rows in this write (staged, or kept from the
        base); empty when the year has no rows."""
        entry = self.years.get(int(year))
        if not entry:
            return []
        return [self.stage / f"year={year}" / Path(f).name
                if (self.stage / f"year={year}" / Path(f).name).exists() else self.root / f
                for f in entry["files"]]

    def add_rollups(self, year: int, tables: dict) -> None:
        """Stage the roll-ups of ``year`` (``{table: frame}``, pandas or Arrow, with the
        store's roll-up columns, :func:`healthmap.summary.summarise_year`; or a list of
        them, one file each, where a store path names a held file kept as it is),
        replacing that year's old ones of those tables (a year whose episodes this write changed keeps none of its old
        ones). A year this write holds no episodes of takes none."""
        entry = self.years.get(int(year))
        if entry is None:
            return
        out: dict[str, list[str]] = {}
        writes = []  # (frame, table, path): converted and written two at a time below
        for table, frames in sorted(tables.items()):
            # a table comes whole (a frame) or in parts (a list: one file each)
            parts = [f for f in (frames if isinstance(frames, list) else [frames])
                     if f is not None and len(f)]
            out[table] = []
            for i, frame in enumerate(parts):
                if isinstance(frame, str):  # a held file kept, or a staged one (COPY)
                    out[table].append(frame)
                    continue
                folder = make_private_dir(self.stage / ROLLUPS / table / f"year={year}")
                name = f"part-{self.generation:06d}-{self.token}-{i}.parquet"
                writes.append((frame, table, folder / name))
                out[table].append(f"{ROLLUPS}/{table}/year={year}/{name}")
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:  # pyarrow encodes and compresses without the GIL
            list(pool.map(lambda job: write_rollup(*job), writes))
        entry["rollups"] = {**(entry.get("rollups") or {}), **out}

    def staged_rollup(self, year: int, table: str, i: int | str) -> tuple[Path, str]:
        """Where a roll-up file of ``year`` written outside :meth:`add_rollups` (DuckDB's
        ``COPY``, :meth:`rollup_sink`) is staged, and its store path, which
        :meth:`add_rollups` takes in place of a table."""
        folder = make_private_dir(self.stage / ROLLUPS / table / f"year={year}")
        name = f"part-{self.generation:06d}-{self.token}-c{i}.parquet"
        return folder / name, f"{ROLLUPS}/{table}/year={year}/{name}"

    def rollup_sink(self, year: int):
        """A function (table, part number, Arrow table of the table's roll-up columns) →
        store path that writes the table now as a staged roll-up file of ``year``
        (:meth:`staged_rollup`); :meth:`add_rollups` takes the path in place of the table.
        The per-person roll-up's parts are written so, each as soon as it is computed,
        beside the next part's query (:func:`healthmap.person_rollup.build_on`'s
        ``sink``), rather than held until the year's other roll-ups are done."""
        def sink(table: str, i: int, frame) -> str:
            path, name = self.staged_rollup(year, table, f"p{i}")
            write_rollup(frame, table, path)
            return name

        return sink

    def _abs(self, files: list[str]) -> str:
        return _sql_list([self.root / f for f in files])

    def _sorted_file(self, year: int, select_sql: str) -> tuple[str, int]:
        """Write ``select_sql``'s rows sorted (:data:`SORT_ORDER`) as this write's file of
        ``year``: its store path and row count (no file when no rows)."""
        folder = make_private_dir(self.stage / f"year={year}")
        name = f"part-{self.generation:06d}-{self.token}-0.parquet"
        path = folder / name
        order = ", ".join(SORT_ORDER)
        (n,) = self._db().execute(
            f"COPY (SELECT * FROM ({select_sql}) ORDER BY {order}) TO '{_sql_path(path)}' "
            "(FORMAT parquet, COMPRESSION snappy)").fetchall()[0]
        if not n:
            path.unlink()
        else:
            os.chmod(path, 0o600)
        return f"{EPISODES}/year={year}/{name}", int(n)

    def _append_year(self, year: int, select_sql: str) -> None:
        """Add ``select_sql``'s rows to ``year`` as a file of their own, the year's held
        files kept; the roll-ups are then updated rather than rebuilt
        (:attr:`appended`)."""
        entry = self.years[year]
        name, n = self._sorted_file(year, select_sql)
        if not n:
            return
        self.appended[year] = {"files": list(entry["files"]), "added": name,
                               "rollups": dict(entry.get("rollups") or {})}
        self.years[year] = {"files": [*entry["files"], name], "rows": int(entry["rows"]) + n,
                            "rollups": None}

    def _write_year(self, year: int, select_sql: str) -> None:
        name, n = self._sorted_file(year, select_sql)
        self.appended.pop(year, None)
        if not n:
            self.years.pop(year, None)
            return
        # the year's roll-ups must be rebuilt with it (add_rollups; prepare checks)
        self.years[year] = {"files": [name], "rows": n, "rollups": None}

    # ------------------------------------------------------------ finishing
    def prepare(self, data_version: str, require_rollups: bool = True) -> Manifest:
        """Phase one of publishing: move the staged files into ``episodes/`` (unreferenced,
        so invisible) and write them down as :data:`PENDING`, durably. Called inside the
        database transaction that records ``data_version`` (the import's log row), just
        before it commits: if the process dies after that commit, the next writer or
        reader finds the pending manifest at the database's version and makes it live
        (:func:`healthmap.store.sync.settle`); if it dies before, the pending manifest
        names a version the database never committed and is dropped. Every year whose
        episodes this write changed must have its roll-ups too (``require_rollups``)."""
        if self.done:
            raise RuntimeError("this store write is finished")
        if self._duck is not None:
            self._duck.close()
            self._duck = None
        from healthmap import person_counts

        person_counts.stage(self)  # the years whose per-person rows changed (or before)
        if require_rollups:
            missing = sorted(y for y, v in self.years.items() if v.get("rollups") is None)
            if missing:
                raise RuntimeError(f"the roll-ups of year(s) {missing} were not rebuilt with "
                                   "their episodes")
        staged = [(f, self.root / f.relative_to(self.stage))
                  for f in self.stage.glob(f"{ROLLUPS}/*/year=*/*.parquet")]
        staged += [(f, self.root / EPISODES / f.parent.name / f.name)
                   for f in self.stage.glob("year=*/*.parquet")]
        for src, dest in staged:
            _fsync(src)
            make_private_dir(dest.parent)
            os.replace(src, dest)
        for folder in {dest.parent for _src, dest in staged}:
            fsync_dir(folder)
        self.pending = Manifest(str(data_version), self.generation, self.years)
        write_manifest(self.root, self.pending, PENDING)
        return self.pending

    def publish(self, data_version: str | None = None, require_rollups: bool = True
                ) -> Manifest:
        """Make the staged files live: :meth:`prepare` (unless done, then ``data_version``
        may be omitted), swap the pending manifest in as ``manifest.json`` in one
        ``os.replace``, delete files no manifest of the last two generations names,
        release the lock."""
        if self.done:
            raise RuntimeError("this store write is finished")
        try:
            if self.pending is None:
                self.prepare(str(data_version), require_rollups)
            manifest = self.pending
            os.replace(self.root / PENDING, self.root / MANIFEST)
            fsync_dir(self.root)
            self._collect(set(manifest.files()) | set(self.base.files() if self.base else []))
        finally:
            self._finish()
        return manifest

    def release(self) -> None:
        """Release the lock keeping a prepared pending manifest: for a write whose database
        transaction commits later, outside this code (a migration): readers read it as live
        once that transaction has committed, and the next writer (or
        :func:`healthmap.store.sync.tidy`, which :func:`healthmap.db.upgrade` calls) makes it
        ``manifest.json`` (:func:`healthmap.store.sync.settle`)."""
        if not self.done:
            self._finish()

    def discard(self) -> None:
        """Drop the staged (and prepared) files and release the lock; the manifest stays
        as it was."""
        if self.done:
            return
        try:
            if self.pending is not None:
                drop_pending(self.root, self.base)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        if self._duck is not None:
            try:
                self._duck.close()
            except Exception:  # pragma: no cover - closing twice is harmless
                pass
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        self._unlock()

    def _collect(self, keep: set[str]) -> None:
        for pattern in ("year=*/*.parquet", "*/year=*/*.parquet"):
            for base in (self.root / EPISODES, self.root / ROLLUPS):
                for f in base.glob(pattern):
                    if f.relative_to(self.root).as_posix() not in keep:
                        f.unlink(missing_ok=True)
        for d in [*(self.root / EPISODES).glob("year=*"), *(self.root / ROLLUPS).glob("*/year=*")]:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


def _as_type(column, want):
    """An Arrow column in the store's type ``want``; text held as a dictionary of text
    stays one (Parquet writes it dictionary-encoded either way; readers see text)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type) and column.type.value_type == want:
        return column
    return column.cast(want)


def write_rollup(frame, table: str, path: Path) -> None:
    """Write ``frame`` (pandas or Arrow, with ``table``'s roll-up columns,
    :func:`healthmap.store.layout.rollup_columns`) as the Parquet file ``path`` (mode
    0600), in the store's column types; an Arrow table's schema metadata is kept (the
    person counts record their grouping there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from healthmap.person_rollup import ROW_GROUP, TABLE as PERSONS

    types = _arrow_types()
    columns = [(c, t) for c, t in rollup_columns(table) if c != "year"]
    if isinstance(frame, pa.Table):  # DuckDB's result: cast, never via Python
        arrays = [_as_type(frame.column(c), types[t]) for c, t in columns]
    else:
        arrays = [pa.array(frame[c].astype(object) if t.startswith("DECIMAL") else frame[c],
                           types[t], from_pandas=True) for c, t in columns]
    names = [c for c, _t in columns]
    meta = frame.schema.metadata if isinstance(frame, pa.Table) else None
    pq.write_table(pa.Table.from_arrays(arrays, names=names, metadata=meta), path,
                   compression="snappy",
                   **({"row_group_size": ROW_GROUP,
                       # no dictionary for the ids: nearly one value a row, so pyarrow
                       # built one and fell back to plain (writes 0.8 → 0.4 s a part at
                       # 10 M, the file a little smaller)
                       "use_dictionary": [c for c in names if c not in _IDS]}
                      if table == PERSONS else {}))
    os.chmod(path, 0o600)


def drop_pending(root: Path, live: Manifest | None) -> None:
    """Delete a pending manifest that will never go live, and the files it alone names
    (never a file of the live manifest ``live``). The caller holds the writer's lock."""
    pending = read_manifest(root, PENDING)
    keep = set(live.files()) if live else set()
    if pending is not None:
        for f in set(pending.files()) - keep:
            (root / f).unlink(missing_ok=True)
    (root / PENDING).unlink(missing_ok=True)


def _bind(db, name: str, rows) -> None:
    """Make ``rows`` (an Arrow table, or a list of Parquet files) relation ``name``."""
    if isinstance(rows, list):
        db.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet("
                   f"{_sql_list(rows)})")
    else:
        db.register(name, rows)


def _unbind(db, name: str, rows) -> None:
    if isinstance(rows, list):
        db.execute(f"DROP VIEW IF EXISTS {name}")
    else:
        db.unregister(name)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _sql_list(paths) -> str:
    return "[" + ", ".join(f"'{_sql_path(Path(p))}'" for p in paths) + "]"
