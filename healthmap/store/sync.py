"""Keep the episode store equal to the database's episodes table.

The database (SQLite or PostgreSQL) stays the system of record. Its *episode version* is
the id of the last successful import that inserted or changed episodes
(:func:`episodes_version`); the manifest records the version its files equal.

- An import calls :func:`stage_import` inside its transaction (after the episodes are
  written) and :func:`publish` after the commit: the changed years' new files are staged
  while the transaction is open and go live only once it has committed; a rollback
  discards them. When the store was not at the version before this import (missing,
  stale, crashed between commit and swap), the stage rebuilds it whole from the
  transaction's view of the episodes instead.
- :func:`ensure_current` rebuilds the store from the database whenever the versions differ
  or the store is missing (existing databases, a crash after commit, a copied database).
- :func:`rebuild` always rebuilds (``python -m healthmap store rebuild``, ``refresh``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, event, func, select

from healthmap.models import Episode, ImportLog
from healthmap.store.layout import (SOURCE_COLUMNS, Manifest, engine_store_dir, read_manifest,
                                    to_arrow)
from healthmap.store.writer import StoreWriter

CHUNK_ROWS = 250_000


def episodes_version(conn: Connection, exclude: int | None = None) -> str:
    """The database's episode version: the id of the last successful import that inserted
    or changed episodes (``"0"`` before any), optionally leaving out import ``exclude``."""
    q = select(func.max(ImportLog.id)).where(
        ImportLog.kind == "episodes", ImportLog.status == "success",
        func.coalesce(ImportLog.rows_inserted, 0) + func.coalesce(ImportLog.rows_updated, 0) > 0)
    if exclude is not None:
        q = q.where(ImportLog.id != exclude)
    return str(conn.scalar(q) or 0)


def read_episodes(conn: Connection, where=None, chunk: int = CHUNK_ROWS):
    """Yield the episodes table's rows (all, or those matching ``where``) as Arrow tables of
    the store's columns, ``chunk`` rows at a time."""
    cols = [Episode.__table__.c[c] for c in SOURCE_COLUMNS]
    q = select(*cols)
    if where is not None:
        q = q.where(where)
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(q)
    for part in result.partitions(chunk):
        yield to_arrow(pd.DataFrame.from_records(part, columns=SOURCE_COLUMNS))


def _fill(writer: StoreWriter, conn: Connection) -> None:
    for table in read_episodes(conn):
        writer.append(table)
    writer.build()


def stage_import(conn: Connection, kind: str, import_id: int, counts) -> StoreWriter | None:
    """Stage the store's new files for an import, inside its (still open) transaction.

    ``counts`` are the import's (inserted, updated, unchanged); nothing happens unless it
    inserted or changed episodes. Returns the writer for :func:`publish` (called after the
    commit); a rollback of ``conn``'s transaction discards the staged files. The import's
    rows are found by ``import_id`` (the episodes table keeps the import that last wrote
    each row).
    """
    if kind != "episodes" or not (counts[0] + counts[1]):
        return None
    writer = StoreWriter(engine_store_dir(conn))  # waits while another writer works
    try:
        event.listen(conn, "rollback", lambda _c: writer.discard(), once=True)
        base = writer.base
        if base is not None and base.data_version == episodes_version(conn, exclude=import_id):
            changed = list(read_episodes(conn, Episode.import_id == import_id))
        else:
            changed = []
        if changed:
            import pyarrow as pa

            writer.update(pa.concat_tables(changed))
        else:  # not at the version before this import: rebuild from the transaction's rows
            writer.years.clear()
            _fill(writer, conn)
        writer.data_version = episodes_version(conn)
    except BaseException:
        writer.discard()
        raise
    return writer


def publish(writer: StoreWriter | None) -> Manifest | None:
    """Make an import's staged files live (after its transaction committed)."""
    if writer is None or writer.done:
        return None
    return writer.publish(writer.data_version)


def _snapshot(engine: Engine):
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    conn.begin()  # one read transaction: the version and the rows agree
    return conn


def rebuild(engine: Engine, force: bool = True) -> Manifest | None:
    """Rebuild the store from the database's episodes (all years) and publish it.

    With ``force=False`` nothing is written when the store is already at the database's
    version (checked after taking the writer's lock). Returns the new manifest, or
    ``None`` when nothing was written.
    """
    writer = StoreWriter(engine_store_dir(engine), fresh=True)
    try:
        with _snapshot(engine) as conn:
            version = episodes_version(conn)
            if not force and _current(writer.base, writer.root, version):
                writer.discard()
                return None
            _fill(writer, conn)
        return writer.publish(version)
    finally:
        writer.discard()


def _current(manifest: Manifest | None, root: Path, version: str) -> bool:
    return (manifest is not None and manifest.data_version == version
            and all((root / f).exists() for f in manifest.files()))


def ensure_current(engine: Engine) -> bool:
    """Rebuild the store if it is missing or not at the database's episode version.

    Cheap when current (one small query and the manifest). Returns whether it rebuilt.
    """
    root = engine_store_dir(engine)
    with engine.connect() as conn:
        version = episodes_version(conn)
    if _current(read_manifest(root), root, version):
        return False
    return rebuild(engine, force=False) is not None


def status(engine: Engine) -> dict:
    """The store's state beside the database's: folder, generation, versions, rows per
    year on both sides, files and bytes, and whether they agree."""
    root = engine_store_dir(engine)
    m = read_manifest(root)
    with engine.connect() as conn:
        version = episodes_version(conn)
        db_rows = {int(y): int(n) for y, n in conn.execute(
            select(Episode.year, func.count()).group_by(Episode.year)).all()}
    files = m.files() if m else []
    store_rows = {y: int(v["rows"]) for y, v in m.years.items()} if m else {}
    present = [root / f for f in files if (root / f).exists()]
    return {"folder": str(root), "generation": m.generation if m else None,
            "store_version": m.data_version if m else None, "database_version": version,
            "store_rows": store_rows, "database_rows": db_rows, "files": len(files),
            "missing_files": len(files) - len(present),
            "bytes": sum(p.stat().st_size for p in present),
            "in_sync": m is not None and m.data_version == version and store_rows == db_rows
            and len(present) == len(files)}
