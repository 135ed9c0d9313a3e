"""Keep the episode store equal to the database's episodes table.

The database (SQLite or PostgreSQL) stays the system of record. Its *episode version* is
the id and start time of the last successful import that inserted or changed episodes
(:func:`episodes_version`); the manifest records the version its files equal.

- An import calls :func:`stage_import` before its (short) write transaction, with the
  file's rows, and :func:`publish` after the commit: the changed years' new files are
  staged outside the database's write lock and go live only once the transaction has
  committed; a failure discards them. When the store was not at the version before this
  import (missing, stale, crashed between commit and swap), the stage rebuilds it whole
  from the database first.
- :func:`ensure_current` rebuilds the store from the database whenever the versions differ
  or the store is missing (existing databases, a crash after commit, a copied database).
- :func:`rebuild` always rebuilds (``python -m healthmap store rebuild``, ``refresh``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from healthmap.models import Episode, ImportLog
from healthmap.store.layout import (SOURCE_COLUMNS, Manifest, engine_store_dir, read_manifest,
                                    to_arrow)
from healthmap.store.writer import StoreWriter

CHUNK_ROWS = 250_000


def episodes_version(conn: Connection, exclude: int | None = None) -> str:
    """The database's episode version: the id and start time of the last successful
    import that inserted or changed episodes (``"0"`` before any), optionally leaving out
    import ``exclude``. The time tells a re-created database from the old one whose store
    folder is still there (ids restart; times do not repeat)."""
    q = select(ImportLog.id, ImportLog.started_at).where(
        ImportLog.kind == "episodes", ImportLog.status == "success",
        func.coalesce(ImportLog.rows_inserted, 0) + func.coalesce(ImportLog.rows_updated, 0) > 0)
    if exclude is not None:
        q = q.where(ImportLog.id != exclude)
    row = conn.execute(q.order_by(ImportLog.id.desc()).limit(1)).first()
    return "0" if row is None else _version(*row)


def _version(import_id: int, started_at) -> str:
    return f"{import_id}@{started_at.isoformat()}"


def read_episodes(conn: Connection, import_id: int | None = None, chunk: int = CHUNK_ROWS):
    """Yield the episodes table's rows (all, or those import ``import_id`` last wrote) as
    Arrow tables of the store's columns, ``chunk`` rows at a time.

    Rows come through the driver without SQLAlchemy's per-value type processing (dates
    stay ISO text on SQLite): several times faster, and :func:`to_arrow` reads both forms.
    """
    sql = f"SELECT {', '.join(SOURCE_COLUMNS)} FROM {Episode.__tablename__}"
    params: tuple = ()
    if import_id is not None:
        sql += " WHERE import_id = " + ("?" if conn.dialect.paramstyle == "qmark" else "%s")
        params = (int(import_id),)
    if conn.dialect.name == "sqlite":  # the transaction's own DBAPI connection: plain tuples
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(sql, params)
    else:  # server-side cursor for this statement only (memory bounded by one chunk);
        # Connection.execution_options() would stream every later statement of the
        # connection too, and PostgreSQL refuses a cursor for INSERT or DROP
        cursor = conn.exec_driver_sql(sql, params,
                                      execution_options={"stream_results": True})
    try:
        while rows := cursor.fetchmany(chunk):
            yield to_arrow(dict(zip(SOURCE_COLUMNS, zip(*rows))))
    finally:
        cursor.close()


def _fill(writer: StoreWriter, conn: Connection) -> None:
    for table in read_episodes(conn):
        writer.append(table)
    writer.build()


def stage_import(conn: Connection, rows) -> StoreWriter:
    """Stage the store's new files for an import, before its write transaction.

    ``rows`` are the import's episodes (a frame of :data:`SOURCE_COLUMNS`); each year they
    touch is staged as its current rows less those record ids plus these rows (a re-sent
    identical row changes nothing). When the store is not at the database's version (missing,
    stale, crashed between commit and swap), it is staged whole from the database first.
    Nothing is visible until :func:`publish` (after the commit); ``writer.discard()`` drops
    the staged files (the import's clean-up does, whatever happened).
    """
    import pyarrow.compute as pc

    writer = StoreWriter(engine_store_dir(conn))  # waits while another writer works
    writer.engine = conn.engine  # for publish: the version of the committed import
    try:
        new = to_arrow(rows)
        if _current(writer.base, writer.root, episodes_version(conn)):
            writer.update(new)
        else:  # the whole store: held rows less the ones this import replaces, plus its rows
            writer.years.clear()
            ids = new.column("record_id")
            for table in read_episodes(conn):
                writer.append(table.filter(pc.invert(pc.is_in(table.column("record_id"),
                                                              value_set=ids))))
            writer.append(new)
            writer.build()
    except BaseException:
        writer.discard()
        raise
    return writer


def publish(writer: StoreWriter | None, import_id) -> Manifest | None:
    """Make an import's staged files live after its transaction committed, at the
    database's new episode version (import ``import_id``'s, :func:`episodes_version`)."""
    if writer is None or writer.done:
        return None
    with writer.engine.connect() as conn:
        started = conn.scalar(select(ImportLog.started_at).where(ImportLog.id == int(import_id)))
    return writer.publish(_version(int(import_id), started))


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
