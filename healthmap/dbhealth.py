"""A broken environment, named: what is wrong with which database file and what to do.

The driver's own words (``no such table: areas``, ``database disk image is malformed``,
``attempt to write a readonly database``, ``FileExistsError``) tell a county's IT staff
little. :func:`explain` turns such an error into a :class:`DatabaseProblem` with a code,
the file, and the remedy (run ``init``, restore from a backup, fix permissions), in
Chinese and English; :func:`diagnose` finds the same problems before anything is opened
(the app's first page and ``python -m healthmap check`` use it). :func:`check` reports
integrity, migration level, key fingerprint and free disk space; :func:`backup` makes a
consistent copy with SQLite's online backup API while the app runs, with the episode store
beside it.

Examples
--------
>>> p = explain(Exception("(sqlite3.OperationalError) no such table: areas"),
...             "sqlite:////srv/hm/county.db")
>>> p.code, p.path
('not_initialised', '/srv/hm/county.db')
>>> print(p.message("en").splitlines()[0])
the database /srv/hm/county.db has no HealthMap tables (not set up, or the wrong file)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

SQLITE_HEADER = b"SQLite format 3\x00"

# code → (what is wrong, what to do), each (zh, en); {path} is the file
_TEXT: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "missing": (("数据库文件 {path} 不存在", "the database file {path} does not exist"),
                ("请运行 `python -m healthmap init` 建库，或从备份恢复",
                 "run `python -m healthmap init` to create it, or restore it from a backup")),
    "not_initialised": (("数据库 {path} 中没有健康地图的数据表（尚未建库或文件不对）",
                         "the database {path} has no HealthMap tables (not set up, or the "
                         "wrong file)"),
                        ("请运行 `python -m healthmap init`，或检查 HEALTHMAP_DATABASE_URL 指向的文件",
                         "run `python -m healthmap init`, or check which file "
                         "HEALTHMAP_DATABASE_URL points to")),
    "malformed": (("数据库文件 {path} 已损坏（可能被截断）", "the database file {path} is damaged "
                   "(malformed or truncated)"),
                  ("请停止应用，从备份恢复（`python -m healthmap backup` 做的副本）",
                   "stop the app and restore the file from a backup (made with "
                   "`python -m healthmap backup`)")),
    "not_a_database": (("{path} 不是 SQLite 数据库文件", "{path} is not an SQLite database file"),
                       ("请检查 HEALTHMAP_DATABASE_URL / --db 指向的文件，或从备份恢复",
                        "check the file HEALTHMAP_DATABASE_URL / --db points to, or restore "
                        "it from a backup")),
    "readonly_file": (("数据库文件 {path} 只读，无法写入", "the database file {path} is read-only"),
                      ("请让运行应用的用户可写该文件（如 chmod u+w），只读时仅能查看",
                       "make it writable for the user that runs the app (e.g. chmod u+w); "
                       "read-only, it can only be viewed")),
    "readonly_url": (("数据库 {path} 以只读方式打开（地址中有 mode=ro）",
                      "the database {path} is opened read-only (mode=ro in its URL)"),
                     ("只能查看；要登录或修改数据，请去掉 HEALTHMAP_DATABASE_URL / --db 中的 mode=ro",
                      "it can only be viewed; for logins and changes, remove mode=ro from "
                      "HEALTHMAP_DATABASE_URL / --db")),
    "readonly_outdated": (("只读数据库 {path} 的结构版本较旧，需要升级，但无法写入",
                           "the read-only database {path} has an older schema that needs an "
                           "upgrade, which cannot be written"),
                          ("请以可写方式运行一次 `python -m healthmap init`（或启动应用），再设为只读",
                           "run `python -m healthmap init` (or start the app) once with the "
                           "database writable, then make it read-only again")),
    "readonly_folder": (("数据库所在文件夹 {path} 不可写（SQLite 需要在旁边建立日志文件）",
                         "the folder {path} of the database is not writable (SQLite keeps "
                         "its journal files beside the database)"),
                        ("请让运行应用的用户可写该文件夹，或把数据库放到可写的位置",
                         "make the folder writable for the user that runs the app, or move "
                         "the database to a writable place")),
    "folder_blocked": (("无法建立数据库文件夹 {path}（路径中有同名文件或无权限）",
                        "the folder {path} for the database cannot be made (a file of that "
                        "name is in the way, or no permission)"),
                       ("请改用其他路径（--db / HEALTHMAP_DATABASE_URL），或移开挡路的文件",
                        "choose another path (--db / HEALTHMAP_DATABASE_URL), or move the "
                        "file out of the way")),
    "busy": (("数据库 {path} 正被其他进程长时间占用写入（例如正在导入）",
              "the database {path} is busy with another writer (for example a running "
              "import)"),
             ("请等待导入结束后重试", "try again when the import has finished")),
    "cannot_open": (("无法打开数据库文件 {path}", "the database file {path} cannot be opened"),
                    ("请检查路径和权限", "check the path and the permissions")),
    "server_unreachable": (("无法连接数据库服务器 {path}（未运行、地址不对或登录被拒绝）",
                            "the database server {path} cannot be reached (not running, "
                            "wrong address, or the login was refused)"),
                           ("请检查 HEALTHMAP_DATABASE_URL / --db 中的主机、端口、用户名和密码，"
                            "以及 PostgreSQL 服务是否在运行",
                            "check host, port, user and password in HEALTHMAP_DATABASE_URL "
                            "/ --db, and that the PostgreSQL server is running")),
}


@dataclass
class DatabaseProblem(RuntimeError):
    """A named problem with a database file (``code`` is a key of the message table)."""

    code: str
    path: str

    def message(self, lang: str = "en") -> str:
        what, todo = _TEXT[self.code]
        i = 1 if lang == "en" else 0
        return f"{what[i].format(path=self.path)}\n{todo[i]}"

    def __str__(self) -> str:
        return self.message("en").replace("\n", ": ", 1)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (``None`` for other databases and in-memory ones),
    also of a URI filename (``sqlite:///file:/srv/x.db?mode=ro&uri=true``).

    >>> str(sqlite_path("sqlite:////srv/hm/county.db"))
    '/srv/hm/county.db'
    >>> str(sqlite_path("sqlite:///file:/srv/hm/county.db?mode=ro&uri=true"))
    '/srv/hm/county.db'
    >>> str(sqlite_path("sqlite:///file%3A/srv/hm/county.db?mode=ro&uri=true"))
    '/srv/hm/county.db'
    """
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    rest, _, query = url.removeprefix("sqlite:///").partition("?")
    rest = unquote(rest)  # SQLAlchemy renders ``file:`` as ``file%3A``
    if rest.startswith("file:") and "uri=true" in query:
        rest = rest.removeprefix("file:")
        if rest.startswith("//"):  # file:///srv/x.db
            rest = "/" + rest.lstrip("/")
    if not rest or rest == ":memory:" or "mode=memory" in query:
        return None
    return Path(rest)


def read_only_url(url: str) -> bool:
    """Whether an SQLite URL opens its file read-only (``mode=ro`` or ``immutable=1``).

    >>> read_only_url("sqlite:///file:/srv/x.db?mode=ro&uri=true"), read_only_url("sqlite:////srv/x.db")
    (True, False)
    """
    query = url.partition("?")[2].split("&")
    return url.startswith("sqlite:") and ("mode=ro" in query or "immutable=1" in query)


def read_only(url: str) -> DatabaseProblem | None:
    """Why the database at ``url`` cannot be written (opened read-only, a read-only file
    or folder), found without writing; ``None`` when it can (or is not SQLite)."""
    path = sqlite_path(url)
    if path is None:
        return None
    if read_only_url(url):
        return DatabaseProblem("readonly_url", str(path))
    problem = diagnose(url, must_exist=False)
    return problem if problem and problem.code.startswith("readonly") else None


def _blocked_folder(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists but is not a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def diagnose(url: str, must_exist: bool = True, need_write: bool = True
             ) -> DatabaseProblem | None:
    """A problem with the SQLite file at ``url`` found without opening it, or ``None``."""
    path = sqlite_path(url)
    if path is None:
        return None
    blocked = _blocked_folder(path)
    if blocked is not None:
        return DatabaseProblem("folder_blocked", str(path.parent))
    if not path.exists():
        if not path.parent.exists():
            return DatabaseProblem("missing", str(path)) if must_exist else None
        if need_write and not os.access(path.parent, os.W_OK | os.X_OK):
            return DatabaseProblem("readonly_folder", str(path.parent))
        return DatabaseProblem("missing", str(path)) if must_exist else None
    if path.is_dir():
        return DatabaseProblem("not_a_database", str(path))
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        return DatabaseProblem("not_a_database", str(path))
    if need_write:
        if not os.access(path, os.W_OK):
            return DatabaseProblem("readonly_file", str(path))
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return DatabaseProblem("readonly_folder", str(path.parent))
    if head and path.stat().st_size < 512:  # a header and nothing else: cut short
        return DatabaseProblem("malformed", str(path))
    return None


def explain(exc: BaseException, url: str) -> DatabaseProblem | None:
    """The named problem behind a driver or file-system error, or ``None``."""
    if isinstance(exc, DatabaseProblem):
        return exc
    path = sqlite_path(url)
    where = str(path) if path else url.split("@")[-1]
    text = str(exc).lower()
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return DatabaseProblem("folder_blocked", str(path.parent if path else where))
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return DatabaseProblem("not_initialised", where)
    if any(w in text for w in ("connection refused", "could not connect", "connection failed",
                               "password authentication failed", "no password supplied")):
        return DatabaseProblem("server_unreachable", where)
    if "malformed" in text or "database disk image" in text:
        return DatabaseProblem("malformed", where)
    if "file is not a database" in text or "file is encrypted" in text:
        return DatabaseProblem("not_a_database", where)
    if "readonly database" in text or "read-only" in text:
        if path is not None and read_only_url(url):
            return DatabaseProblem("readonly_url", where)
        if path is not None and path.exists() and not os.access(path, os.W_OK):
            return DatabaseProblem("readonly_file", where)
        return DatabaseProblem("readonly_folder", str(path.parent) if path else where)
    if "database is locked" in text:
        return DatabaseProblem("busy", where)
    if "unable to open database file" in text:
        return diagnose(url) or DatabaseProblem("cannot_open", where)
    if isinstance(exc, PermissionError):
        return DatabaseProblem("readonly_folder", str(path.parent) if path else where)
    return None


# ---------------------------------------------------------------------- check and backup

def check(engine) -> dict:
    """Integrity, migration level, key fingerprint, free disk space and the audit chain.

    Returns ``{"ok": bool, "lines": [(item, value, ok)]}``; nothing is written.
    """
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from healthmap import audit, config, db

    lines: list[tuple[str, str, bool]] = []
    url = engine.url.render_as_string(hide_password=False)
    path = sqlite_path(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            res = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").all()]
            lines.append(("integrity", "ok" if res == ["ok"] else "; ".join(res[:5]),
                          res == ["ok"]))
        if engine.dialect.name == "postgresql":  # integrity is the server's job
            version, size = conn.execute(text(
                "SELECT current_setting('server_version'), "
                "pg_database_size(current_database())")).one()
            lines.append(("server", f"PostgreSQL {version}, database {size / 2**20:,.1f} MB",
                          True))
        have = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    lines.append(("migration", f"{have} (newest {head})" if have != head else f"{have}",
                  have == head))
    stored = db.get_meta(engine, "key_fingerprint")
    try:
        current = config.fingerprint(config.engine_key(engine))
    except RuntimeError as exc:
        current, why = None, str(exc).splitlines()[0]
    if current is None:
        lines.append(("key", f"missing: {why}", False))
    elif stored is None:
        lines.append(("key", f"fingerprint {current} (none stored in the database)", True))
    else:
        lines.append(("key", f"fingerprint {current}" + ("" if stored == current else
                                                         f" ≠ database's {stored}"),
                      stored == current))
    if current is not None:
        v = audit.verify(engine)
        lines.append(("audit chain", f"{v.rows:,} rows intact" if v.ok else
                      (f"broken at row {v.broken_id}: {v.reason}" if v.broken_id else v.reason),
                      v.ok))
    if path is not None:
        free = shutil.disk_usage(path.parent).free
        size = path.stat().st_size
        # an import rewrites summaries and the WAL grows: want room for the file twice over
        lines.append(("disk", f"{free / 2**30:,.1f} GB free, database {size / 2**20:,.1f} MB",
                      free > 2 * size + 100 * 2**20))
    return {"ok": all(ok for _, _, ok in lines), "lines": lines}


def backup(engine, dest: Path, overwrite: bool = False, progress=None,
           user: str | None = None) -> dict:
    """A consistent copy of the SQLite database behind ``engine`` at ``dest`` (online
    backup API: readers and writers may go on), checked with ``integrity_check``, and of its
    episode store at ``<dest>.store/`` (where :func:`healthmap.store.store_dir` looks for
    the store of a database file ``dest``); everything created owner-only (files 0600,
    folders 0700). PostgreSQL: use ``pg_dump`` and copy the store folder (docs/security.md).

    The pair agrees: the whole backup holds the import lock
    (:func:`healthmap.importlock.import_lock`, kind ``backup``), so no import, ``refresh``
    or ``spark-load`` commits episodes meanwhile (an import publishes its store manifest
    right after its commit, under that same lock), and the store's writer lock (an
    exclusive ``flock`` on ``<store>/.lock``, taken after the import lock as an import
    does) keeps any other store writer from swapping or deleting files during the copy. An import started
    meanwhile is refused naming the backup; a backup started during an import raises
    :class:`ImportRunning` naming the import. Of the store, the manifest at the database's
    store version (``pending.json`` if an import committed but had not swapped it in) is
    written as ``manifest.json`` with exactly the files it names (episodes and roll-ups;
    not the previous generation, staging leftovers or the lock file), and each year's row
    count is checked against the copies' Parquet footers; a store at another version is
    refused (:class:`healthmap.store.StoreMismatch`): the pair would not agree.
    """
    src_path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if src_path is None:
        raise ValueError("backup copies SQLite databases; for PostgreSQL use pg_dump and "
                         "copy the episode store folder (docs/security.md)")
    from healthmap.store import engine_store_dir

    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"{src_path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.db"
    dest_store = dest.with_name(dest.name + ".store")
    for target in (dest, dest_store):
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists (use --force to overwrite)")
    src_store = engine_store_dir(engine)
    if src_path.resolve() in (dest.resolve(), dest_store.resolve()) or \
            src_store.resolve() in (dest.resolve(), dest_store.resolve()):
        raise ValueError("the backup cannot overwrite the database or its store")
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = engine.url.render_as_string(hide_password=False)
    with import_lock(url, "backup", str(dest), user), _store_lock(src_store):
        tmp = dest.with_name(dest.name + ".partial")
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))
        src = sqlite3.connect(src_path, timeout=30)
        try:
            out = sqlite3.connect(tmp)
            try:
                src.backup(out, pages=1024, progress=(lambda s, r, t: progress((t - r) / t))
                           if progress else None)
                out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                ok = out.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                out.close()
        finally:
            src.close()
        if ok != "ok":
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"the copy failed its integrity check: {ok}")
        stored = _copy_store(src_store, dest_store, engine)
        os.replace(tmp, dest)  # last: a backup file is there only when all of it is
    return {"path": str(dest), "bytes": dest.stat().st_size, **stored}


class _store_lock:
    """The episode store's writer lock (``healthmap.store.writer``: an exclusive flock on
    ``<store>/.lock``), waited for; nothing when there is no store folder."""

    def __init__(self, root: Path):
        self.root, self.fd = root, None

    def __enter__(self):
        import fcntl

        from healthmap.store.layout import LOCK

        if self.root.is_dir():
            self.fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
        return False


def _copy_store(root: Path, dest: Path, engine) -> dict:
    """Copy the store's manifest and the files it names to ``dest`` (owner-only), check the
    copies' row counts; the caller holds the store's writer lock."""
    import pyarrow.parquet as pq

    from healthmap.store.layout import MANIFEST, make_private_dir, read_manifest
    from healthmap.store.sync import EMPTY, StoreMismatch, manifest_at, store_version

    none = {"store": None, "store_files": 0, "store_bytes": 0, "store_in_sync": None}
    with engine.connect() as conn:  # the import lock keeps this version where it was
        version = store_version(conn)
    if version == EMPTY:
        return none
    # the manifest at the database's version: live, or pending (committed, not yet swapped)
    manifest = manifest_at(root, version)
    if manifest is None:
        live = read_manifest(root)  # None when missing or unreadable
        raise StoreMismatch(root, live.data_version if live else None, version)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    make_private_dir(partial)
    size = 0
    try:
        episode_files = set(manifest.episode_files())
        rows: dict[int, int] = {}
        for year, entry in manifest.years.items():
            for name in [*entry["files"], *[f for fs in (entry.get("rollups") or {}).values()
                                            for f in fs]]:
                rel = Path(name)
                if rel.is_absolute() or ".." in rel.parts:
                    raise RuntimeError(f"{root / MANIFEST} names a file outside the store: "
                                       f"{name}")
                target = make_private_dir(partial / rel.parent) / rel.name
                size += _copy_private(root / rel, target)
                if name in episode_files:
                    rows[year] = rows.get(year, 0) + pq.read_metadata(target).num_rows
            if rows.get(year, 0) != int(entry["rows"]):
                raise RuntimeError(f"the store copy of {year} holds {rows.get(year, 0):,} "
                                   f"rows, its manifest says {entry['rows']:,}")
        manifest_file = partial / MANIFEST  # after what it names
        manifest_file.write_text(manifest.to_json(), encoding="utf-8")
        os.chmod(manifest_file, 0o600)
        size += manifest_file.stat().st_size
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if dest.exists():  # --force: the checks above allowed it
        shutil.rmtree(dest)
    os.replace(partial, dest)
    return {"store": str(dest), "store_files": len(manifest.files()) + 1,
            "store_bytes": size, "store_in_sync": True}


def _copy_private(src: Path, dest: Path) -> int:
    """Copy one file, created 0600 whatever the umask, synced; its size."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    return dest.stat().st_size


# ---------------------------------------------------------------------- one import at a time
# (its own module; these names stay importable from here)
from healthmap.importlock import (ImportRunning, _lock_path, import_lock,  # noqa: E402,F401
                                  running_import)
