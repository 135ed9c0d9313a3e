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
>>> w.append(to_arrow(rows)); w.build(); m = w.publish("7")
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

from healthmap.store.layout import (EPISODES, FILE_COLUMNS, LOCK, SORT_ORDER, STAGING,
                                    Manifest, make_private_dir, read_manifest, to_arrow,
                                    write_manifest)

__all__ = ["StoreWriter", "to_arrow"]


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
        self.token = secrets.token_hex(4)
        self.stage = make_private_dir(staging / self.token)
        self.generation = (self.base.generation if self.base else 0) + 1
        self.years: dict[int, dict] = {} if fresh or self.base is None else {
            y: dict(v) for y, v in self.base.years.items()}
        self._chunks: dict[int, list[Path]] = {}
        self._duck = None
        self.done = False

    # ------------------------------------------------------------ writing
    def _db(self):
        if self._duck is None:
            import duckdb

            tmp = make_private_dir(self.stage / "tmp")
            self._duck = duckdb.connect(config={
                "memory_limit": os.environ.get("HEALTHMAP_STORE_MEMORY", "1GB"),
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

    def update(self, changed) -> list[int]:
        """Replace rows by record id: each year holding a changed record id or receiving a
        changed row is rewritten as its old rows minus those ids plus the changed rows of
        that year. Returns the years rewritten."""
        db = self._db()
        db.register("changed", changed)
        years = {int(y) for (y,) in db.execute("SELECT DISTINCT year FROM changed").fetchall()}
        cols = ", ".join(FILE_COLUMNS)
        for year, entry in self.years.items():
            if year not in years and db.execute(
                    f"SELECT count(*) FROM read_parquet({self._abs(entry['files'])}) o "
                    "SEMI JOIN changed c USING (record_id)").fetchone()[0]:
                years.add(year)
        for year in sorted(years):
            keep = (f"SELECT {cols} FROM read_parquet({self._abs(self.years[year]['files'])}) "
                    "ANTI JOIN changed USING (record_id) UNION ALL " if year in self.years
                    else "")
            self._write_year(year, f"{keep}SELECT {cols} FROM changed WHERE year = {year}")
        db.unregister("changed")
        return sorted(years)

    def _abs(self, files: list[str]) -> str:
        return _sql_list([self.root / f for f in files])

    def _write_year(self, year: int, select_sql: str) -> None:
        folder = make_private_dir(self.stage / f"year={year}")
        name = f"part-{self.generation:06d}-{self.token}-0.parquet"
        path = folder / name
        order = ", ".join(SORT_ORDER)
        (n,) = self._db().execute(
            f"COPY (SELECT * FROM ({select_sql}) ORDER BY {order}) TO '{_sql_path(path)}' "
            "(FORMAT parquet, COMPRESSION snappy)").fetchone()
        if not n:
            path.unlink()
            self.years.pop(year, None)
            return
        os.chmod(path, 0o600)
        self.years[year] = {"files": [f"{EPISODES}/year={year}/{name}"], "rows": int(n)}

    # ------------------------------------------------------------ finishing
    def publish(self, data_version: str) -> Manifest:
        """Make the staged files live: move them into ``episodes/``, swap the manifest,
        delete files no manifest of the last two generations names, release the lock."""
        if self.done:
            raise RuntimeError("this store write is finished")
        try:
            if self._duck is not None:
                self._duck.close()
            for folder in sorted(self.stage.glob("year=*")):
                dest = make_private_dir(self.root / EPISODES / folder.name)
                for f in folder.glob("*.parquet"):
                    _fsync(f)
                    os.replace(f, dest / f.name)
            manifest = Manifest(str(data_version), self.generation, self.years)
            write_manifest(self.root, manifest)
            self._collect(set(manifest.files()) | set(self.base.files() if self.base else []))
        finally:
            self._finish()
        return manifest

    def discard(self) -> None:
        """Drop the staged files and release the lock; the manifest stays as it was."""
        if not self.done:
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
        base = self.root / EPISODES
        for f in base.glob("year=*/*.parquet"):
            if f.relative_to(self.root).as_posix() not in keep:
                f.unlink(missing_ok=True)
        for d in base.glob("year=*"):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


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
