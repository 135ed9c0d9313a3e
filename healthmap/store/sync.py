"""The episode store as the system of record, in step with the database's import log.

Episodes and their summary roll-ups live only in the store (decisions §1); the database
(SQLite or PostgreSQL) keeps the import log and everything operational. Its *store
version* (:func:`store_version`, a key of ``app_meta`` that every store write sets in its
transaction) names the store content the database's state goes with; the store's manifest
names the version its files hold.

Every write of the store (an import of episodes, a rebuild of roll-ups after reference data
changed, ``refresh``, a Spark load) is a two-phase commit with the database as the
coordinator:

1. :func:`open_writer` takes the store's writer lock, settles what a crashed writer left
   (:func:`settle`) and checks that the store holds the database's version;
2. the new files are staged (no database lock held, for imports);
3. inside the database transaction, :func:`prepare` sets the new store version and writes
   the next manifest as ``pending.json`` at that version, durably;
4. the transaction commits (the commit point), then :func:`publish` swaps the pending
   manifest in as ``manifest.json``.

A crash before 4's commit leaves a pending manifest at a version the database never
committed: dropped by the next writer. A crash after it leaves one at the database's
version: made live by the next writer, and read as live by readers meanwhile
(:func:`live_manifest`). A store that holds neither version (lost, or restored without
its database) is never silently rebuilt or emptied: :class:`StoreMismatch` names both
versions and the remedy (restore both from the same backup).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

import datetime as dt
import shutil

from healthmap.models import AppMeta, DiseaseGroup, ImportLog
from healthmap.store.layout import (MANIFEST, PENDING, Manifest, engine_store_dir, fsync_dir,
                                    read_manifest)
from healthmap.store.writer import StoreWriter, drop_pending

#: the database's episode version before any episodes were imported
EMPTY = "0"


class StoreMismatch(RuntimeError):
    """The episode store does not hold the episodes the database's import log says it
    should (lost, replaced, or restored without its database, or the other way round)."""

    def __init__(self, folder: Path, store_version: str | None, database_version: str):
        self.folder, self.store_version = folder, store_version
        self.database_version = database_version
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        s = self.store_version or "—"
        if lang == "en":
            return (f"the episode store {self.folder} holds data version {s}, but the "
                    f"database's import log is at {self.database_version}: the store was "
                    "lost, replaced or restored apart from its database. Restore the "
                    "database and its store folder from the same backup "
                    "(`python -m healthmap backup` copies both)")
        return (f"病例数据仓 {self.folder} 的数据版本为 {s}，而数据库导入日志的版本为 "
                f"{self.database_version}：数据仓丢失、被替换或未与数据库一同恢复。"
                "请从同一份备份同时恢复数据库及其数据仓目录（`python -m healthmap backup` "
                "会同时备份二者）")


def episodes_version(conn: Connection, exclude: int | None = None) -> str:
    """The database's episode version: the id and start time of the last successful
    import that inserted or changed episodes (:data:`EMPTY` before any), optionally leaving
    out import ``exclude``. The time tells a re-created database from the old one whose
    store folder is still there (ids restart; times do not repeat)."""
    q = select(ImportLog.id, ImportLog.started_at).where(
        ImportLog.kind == "episodes", ImportLog.status == "success",
        func.coalesce(ImportLog.rows_inserted, 0) + func.coalesce(ImportLog.rows_updated, 0) > 0)
    if exclude is not None:
        q = q.where(ImportLog.id != exclude)
    row = conn.execute(q.order_by(ImportLog.id.desc()).limit(1)).first()
    return EMPTY if row is None else _version(*row)


def _version(import_id: int, started_at) -> str:
    return f"{import_id}@{started_at.isoformat()}"


#: the ``app_meta`` key of the store version
VERSION_KEY = "store_version"


def store_version(conn: Connection) -> str:
    """The store version the database goes with: what the last store write set
    (:func:`prepare`), or for a database from before that key, its episode version."""
    value = conn.scalar(select(AppMeta.value).where(AppMeta.key == VERSION_KEY))
    return value if value else episodes_version(conn)


def _holds(manifest: Manifest | None, root: Path, version: str) -> bool:
    return (manifest is not None and manifest.data_version == version
            and all((root / f).exists() for f in manifest.files()))


def settle(root: Path, version: str) -> bool:
    """With the writer's lock held: make a pending manifest at the database's ``version``
    live (its import committed, then the process died before the swap), or drop one at
    any other version (its import never committed). Returns whether it changed anything.
    """
    pending = read_manifest(root, PENDING)
    if pending is None:
        if (root / PENDING).exists():
            (root / PENDING).unlink()
            return True
        return False
    live = read_manifest(root)
    if _holds(pending, root, version) and not _holds(live, root, version):
        (root / PENDING).replace(root / MANIFEST)
        fsync_dir(root)
    else:
        drop_pending(root, live)
    return True


def open_writer(conn: Connection) -> StoreWriter:
    """The store's writer for an import on ``conn``'s database (waits while another
    writer works), after :func:`settle`, checked to hold the database's episode version.

    Raises :class:`StoreMismatch` when it does not. A database that never had episodes
    starts from an empty store whatever an old folder at that place holds.
    """
    root = engine_store_dir(conn)
    version = store_version(conn)
    if version != EMPTY and not root.is_dir():  # lost: refused without re-creating it
        raise StoreMismatch(root, None, version)
    writer = StoreWriter(root)
    try:
        if settle(root, version):
            writer.discard()
            writer = StoreWriter(root)
        if version == EMPTY:
            if writer.base is not None and writer.base.rows:
                writer.discard()
                writer = StoreWriter(root, fresh=True)
        elif not _holds(writer.base, root, version):
            raise StoreMismatch(root, writer.base.data_version if writer.base else None,
                                version)
        writer.specialties = specialties(conn)
    except BaseException:
        writer.discard()  # gives the store's lock back
        raise
    return writer


def specialties(conn: Connection) -> dict[str, str]:
    """Disease group → key specialty, as the database's ``disease_groups`` say (groups
    without a specialty left out)."""
    return {g: s for g, s in conn.execute(select(DiseaseGroup.group_code,
                                                 DiseaseGroup.specialty_code)).all() if s}


def tidy(engine: Engine) -> bool:
    """Under the import lock, before an import of any kind: settle what a killed store
    writer left (a pending manifest, a staging folder, a manifest's temp file) now, rather
    than at the next write of episodes (an institutions import re-run after a kill may
    write none). A few ``stat`` calls when there is nothing to do; a store that is not the
    database's is left alone (the writers that need it refuse, naming it). Returns whether
    it settled."""
    from healthmap.store.layout import INCOMING, STAGING, StoreLocationError

    try:
        root = engine_store_dir(engine)
    except StoreLocationError:
        return False
    # the rows a killed streamed import staged (no import runs now: we hold the lock)
    shutil.rmtree(root / INCOMING, ignore_errors=True)
    if not ((root / PENDING).exists() or (root / STAGING).exists()
            or any(root.glob(".*.json.*.tmp"))):
        return False
    with engine.connect() as conn:
        try:
            open_writer(conn).discard()
        except StoreMismatch:
            return False
    return True


def prepare(writer: StoreWriter, conn: Connection) -> Manifest:
    """Inside the write transaction that goes with this store write, before it commits: a
    new store version (the generation and the time: a re-created database never repeats
    one) set in the database and the pending manifest at it."""
    version = f"{writer.generation}@{dt.datetime.now().isoformat()}"
    if conn.execute(AppMeta.__table__.update().where(AppMeta.key == VERSION_KEY)
                    .values(value=version)).rowcount == 0:
        conn.execute(AppMeta.__table__.insert().values(key=VERSION_KEY, value=version))
    return writer.prepare(version)


def publish(writer: StoreWriter | None) -> Manifest | None:
    """After the import's transaction committed: its pending manifest goes live."""
    if writer is None or writer.done:
        return None
    return writer.publish()


def manifest_at(root: Path, version: str) -> Manifest | None:
    """The manifest (or pending manifest) of the store at ``root`` that holds ``version``,
    or ``None``."""
    for name in (MANIFEST, PENDING):
        m = read_manifest(root, name)
        if _holds(m, root, version):
            return m
    return None


def live_manifest(engine: Engine) -> Manifest | None:
    """The manifest readers use: the one at the database's store version (the pending
    one in the instant between an import's commit and its swap, or after a crash there).
    ``None`` when the database has no episodes. Raises :class:`StoreMismatch` when the
    store holds another version."""
    root = engine_store_dir(engine)
    live = None
    for _attempt in range(3):  # an import may commit and swap between the reads
        live = read_manifest(root)
        pending = read_manifest(root, PENDING)
        with engine.connect() as conn:
            version = store_version(conn)
        if version == EMPTY:
            return None
        for m in (live, pending):
            if _holds(m, root, version):
                return m
    raise StoreMismatch(root, live.data_version if live else None, version)


def status(engine: Engine) -> dict:
    """The store's state beside the database's: folder, generation, versions, rows per
    year, files and bytes, a pending manifest, and whether the store holds the database's
    version. Generation, version and files are those of the manifest readers use (the
    pending one when it holds the database's version: ``pending_live``), else of
    ``manifest.json``."""
    root = engine_store_dir(engine)
    with engine.connect() as conn:
        version = store_version(conn)
    try:
        live = live_manifest(engine)
        in_sync = True
    except StoreMismatch:
        live, in_sync = None, False
    m = live or read_manifest(root)
    pending = read_manifest(root, PENDING)
    files = m.files() if m else []
    present = [root / f for f in files if (root / f).exists()]
    return {"folder": str(root), "generation": m.generation if m else None,
            "store_version": m.data_version if m else None, "database_version": version,
            "store_rows": {y: int(v["rows"]) for y, v in m.years.items()} if m else {},
            "files": len(files), "missing_files": len(files) - len(present),
            "bytes": sum(p.stat().st_size for p in present),
            "pending": (root / PENDING).exists(),
            "pending_live": live is not None and pending is not None
            and live.data_version == pending.data_version, "in_sync": in_sync}
