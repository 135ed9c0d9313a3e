"""Write validated files to the database: all or nothing, idempotent, with an import log.

An import works in two phases. First, without holding the database's write lock, it does
the heavy work: validation, then (episodes) the file's rows compared with the held ones in
the episode store, and every changed year's new episode file and summary roll-ups staged
there (:mod:`healthmap.ingest.episodes`). Then one short write transaction writes the
import log and audit entries, sets the store version and bumps the data version; right
after it commits, the store's new manifest goes live (:mod:`healthmap.store.sync`: a
two-phase commit with the database as coordinator). So a login, an audit or a ledger
write never waits for the import's work; and an interrupted import (error, Ctrl-C, killed
process) still leaves the database and the store exactly as they were. Imports are serialised per database (:func:`healthmap.dbhealth.import_lock`), and the
write transaction checks that nothing the staged summaries were built from changed since
(:func:`healthmap.summary.generation`; otherwise the second phase is redone). Records are
matched on their ids: importing the same file twice inserts nothing and updates nothing the
second time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from healthmap import audit, i18n, ids, store, summary
from healthmap.areas import AreaResolver
from healthmap.config import engine_key
from healthmap.access import Actor, require
from healthmap.db import bump_version, is_demo, set_meta
from healthmap.ingest import changes as reference_changes
from healthmap.ingest.contract import Limits
from healthmap.ingest.readers import (FileReadError, check_file_size, file_bytes, read_table,
                                      sha256)
from healthmap.ingest.validate import Problems, ValidationContext, validate
from healthmap.ingest.writers import WRITERS
from healthmap.models import Area, AreaAlias, ImportLog, Institution, Resident
from sqlalchemy.orm import Session

Progress = Callable[[float, str], None]


@dataclass
class ImportResult:
    kind: str
    ok: bool
    n_rows: int
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    years_refreshed: list[int] = field(default_factory=list)
    import_id: int | None = None
    # accepted with a recorded warning (same columns as ``problems``)
    warnings: pd.DataFrame = field(default_factory=pd.DataFrame)
    # refused only for changes to reference rows: importing again with
    # ``confirm_changes=True`` applies (and audits) them
    needs_confirmation: bool = False
    changes: list = field(default_factory=list)


class _Phrased:
    """Progress for the writers: they name a step (``write``, ``merge``) with numbers;
    this turns it into a sentence in the user's language."""

    def __init__(self, progress: Progress, lang: str):
        self.progress, self.lang = progress, lang

    def __call__(self, fraction: float, step: str, **params) -> None:
        self.progress(fraction, i18n.t(f"progress.{step}", self.lang, **params))


def _noop(_f: float, _m: str) -> None:
    pass


def build_context(engine: Engine, today: dt.date | None = None, limits: Limits | None = None,
                  ignore_unknown_columns: bool = False) -> ValidationContext:
    with engine.connect() as conn:
        areas = pd.DataFrame(conn.execute(select(Area.code, Area.name, Area.level)).all(),
                             columns=["code", "name", "level"])
        aliases = pd.DataFrame(conn.execute(select(AreaAlias.alias, AreaAlias.code)).all(),
                               columns=["alias", "code"])
        inst = set(conn.scalars(select(Institution.code)).all())
    return ValidationContext(AreaResolver(areas, aliases), inst, today or dt.date.today(),
                             area_levels=dict(zip(areas["code"], areas["level"])),
                             limits=limits or Limits.from_env(),
                             ignore_unknown_columns=ignore_unknown_columns)


def import_file(engine: Engine, kind: str, source, filename: str | None = None, *,
                progress: Progress | None = None, username: str | None = None,
                lang: str = "zh", today: dt.date | None = None,
                demo: bool = False, limits: Limits | None = None,
                ignore_unknown_columns: bool = False, confirm_changes: bool = False,
                actor: Actor | None = None, **area_options) -> ImportResult:
    """Validate and import one file (path, bytes or file-like) of ``kind``.

    ``actor`` (the page's user or the CLI's :meth:`Actor.cli`) must be allowed ``import``
    (:class:`healthmap.access.PermissionDenied` otherwise); it also names the importer.
    Only code that loads shipped data (the demo) leaves it out.

    ``kind`` is one of ``areas``, ``population``, ``institutions``, ``episodes``,
    ``residents``. Area files may be GeoJSON / Shapefile (zipped) / GeoPackage, with
    ``code_field``, ``name_field``, ``level``, ``parent_field`` and ``crs`` options.
    ``limits`` (default: :meth:`Limits.from_env`) bound sizes and plausible values;
    ``ignore_unknown_columns`` drops undeclared columns with a warning instead of refusing
    the file; ``confirm_changes`` applies (and audits) changes to reference rows that
    existing records depend on.
    """
    if actor is not None:
        require(actor, "import")
        username = actor.username
    limits = limits or Limits.from_env()
    filename = filename or (str(source) if isinstance(source, str) else "upload")
    streamed = kind == "episodes" and not filename.lower().endswith((".xlsx", ".xlsm", ".xls"))
    try:
        check_file_size(source, limits, streamed)
    except FileReadError as exc:
        return _rejected(engine, kind, filename, None, 0, _file_problem(exc, lang), username)
    if streamed:
        return _import_episodes_csv(engine, source, filename, progress=progress,
                                    username=username, lang=lang, today=today, demo=demo,
                                    limits=limits, ignore_unknown_columns=ignore_unknown_columns)
    data = file_bytes(source)
    digest = sha256(data)
    if kind == "areas" and filename.lower().endswith((".geojson", ".json", ".zip", ".shp",
                                                       ".gpkg")):
        from healthmap.geo import read_area_file
        from healthmap.ingest.geocheck import precheck

        try:
            precheck(data, filename, limits)
            df = read_area_file(data, filename, **area_options)
        except FileReadError as exc:
            return _rejected(engine, kind, filename, digest, 0, _file_problem(exc, lang),
                             username)
    else:
        try:
            df = read_table(data, filename, limits)
        except FileReadError as exc:
            return _rejected(engine, kind, filename, digest, 0, _file_problem(exc, lang),
                             username)
    # the unguarded form: healthmap.ingest.import_file holds the import lock around it all
    return _import_frame(engine, kind, df, filename, file_sha256=digest, progress=progress,
                        username=username, lang=lang, today=today, demo=demo, limits=limits,
                        ignore_unknown_columns=ignore_unknown_columns,
                        confirm_changes=confirm_changes)


def _import_episodes_csv(engine: Engine, source, filename: str, **options) -> ImportResult:
    """An episodes CSV, read, validated and staged in chunks (:mod:`healthmap.ingest.stream`;
    the file is never held whole, unless it is not UTF-8)."""
    from healthmap.ingest import stream

    if not isinstance(source, (str, Path, bytes)):
        source = file_bytes(source)
    digest, utf8 = stream.hash_and_encoding(source)
    try:
        return stream.import_episodes_csv(engine, source, filename, digest, utf8, **options)
    except FileReadError as exc:
        return _rejected(engine, "episodes", filename, digest, 0,
                         _file_problem(exc, options.get("lang", "zh")), options.get("username"))


def _moved(problems: Problems, lead: int) -> Problems:
    """``problems`` with their rows moved down ``lead`` lines (blank lines before the
    header); the file-level ones stay."""
    out = Problems()
    out.extend(problems, lead)
    return out


def _file_problem(exc: Exception, lang: str) -> pd.DataFrame:
    if getattr(exc, "problems", None) is not None:  # every row at fault, named
        return exc.problems.frame(lang)
    p = Problems()
    field_name = getattr(exc, "field", None)
    if field_name:
        p.add(-1, field_name, "", "field", field=field_name)
    elif getattr(exc, "no_crs", False):
        p.add(-1, "crs", "", "no_crs")
    elif getattr(exc, "code", "unreadable") != "unreadable":
        p.add(-1, "", "", exc.code, **exc.params)
    else:
        p.add(-1, "", "", "unreadable", detail=str(exc))
    return p.frame(lang)


def import_frame(engine: Engine, kind: str, df: pd.DataFrame, filename: str, **options
                 ) -> ImportResult:
    """Validate an all-text frame (as :func:`read_table` returns) and write it atomically
    (options as for :func:`_import_frame`), one import at a time per database: while
    another import or summary rebuild runs, refused at once with a problem naming it
    (:func:`healthmap.dbhealth.import_lock`), nothing written."""
    return guarded(engine, kind, filename, options,
                   lambda: _import_frame(engine, kind, df, filename, **options))


def guarded(engine: Engine, kind: str, filename: str | None, options: dict, run
            ) -> ImportResult:
    """``run()`` under the database's import lock; an import that cannot start (another
    runs, or the episode store is not this database's) is refused with one problem that
    names the reason, nothing written."""
    from healthmap import dbhealth
    from healthmap.store import StoreMismatch
    from healthmap.store import sync as store_sync

    url = engine.url.render_as_string(hide_password=False)
    try:
        with dbhealth.import_lock(url, kind, filename or "upload", options.get("username")):
            store_sync.tidy(engine)  # what a killed store writer left, settled now
            return run()
    except dbhealth.ImportRunning as exc:
        return running_refusal(kind, exc, options.get("lang", "zh"))
    except StoreMismatch as exc:
        return running_refusal(kind, exc, options.get("lang", "zh"), "store_mismatch")


def running_refusal(kind: str, exc, lang: str, code: str = "import_running") -> ImportResult:
    """The refusal of an import that cannot start (:class:`dbhealth.ImportRunning`, or
    :class:`healthmap.store.StoreMismatch`): one problem with the exception's message."""
    return ImportResult(kind, False, 0, problems=pd.DataFrame({
        "row": [1], "column": [""], "value": [""], "reason": [exc.message(lang)],
        "code": [code]}))


def _import_frame(engine: Engine, kind: str, df: pd.DataFrame, filename: str, *,
                 file_sha256: str | None = None, progress: Progress | None = None,
                 username: str | None = None, lang: str = "zh",
                 today: dt.date | None = None, demo: bool = False,
                 limits: Limits | None = None, ignore_unknown_columns: bool = False,
                 confirm_changes: bool = False) -> ImportResult:
    """:func:`import_frame` without the import lock (options as for :func:`import_file`)."""
    progress = progress or _noop
    lead = df.attrs.get("lead", 0)  # blank lines before the header (read_table)
    if not demo and kind in ("episodes", "residents", "population") and is_demo(engine):
        p = Problems()  # real records never mix with synthetic ones (demo safety)
        p.add(-1, "", "", "demo_database")
        return _rejected(engine, kind, filename, file_sha256, len(df), p.frame(lang), username)
    progress(0.0, i18n.t("progress.validate", lang, n=f"{len(df):,}"))
    ctx = build_context(engine, today, limits, ignore_unknown_columns)
    geometry = df.pop("_geometry") if "_geometry" in df.columns else None
    result = validate(kind, df, ctx)
    if result.frame is not None:
        df = result.frame  # contract names: what the checks below refer to
    confirmed: list[reference_changes.Change] = []
    if result.ok and geometry is not None:
        _check_geometry(df, geometry, ctx, result.problems)
    if result.ok:
        confirmed = reference_changes.check(engine, kind, df, result.clean, result.problems,
                                            ctx.limits, confirm_changes)
    if kind == "residents" and result.ok:
        _prepare_residents(engine, df, result.clean, result.problems)
    if lead:  # rows named by file line
        result.problems, result.warnings = _moved(result.problems, lead), _moved(
            result.warnings, lead)
    if not result.ok:
        out = _rejected(engine, kind, filename, file_sha256, len(df),
                        result.problems.frame(lang), username)
        out.needs_confirmation = result.problems.codes() <= reference_changes.CONFIRMABLE
        out.warnings = result.warnings.frame(lang)
        return out
    clean = result.clean
    warnings = result.warnings.frame(lang)
    if geometry is not None:
        clean["geometry"] = geometry
    counts, years, log_id = _write(engine, kind, clean, filename, file_sha256, username,
                                   demo, confirmed, warnings, _Phrased(progress, lang))
    progress(1.0, i18n.t("progress.done", lang))
    return ImportResult(kind, True, len(clean), inserted=counts[0], updated=counts[1],
                        unchanged=counts[2], years_refreshed=years, import_id=log_id,
                        warnings=warnings, changes=confirmed)


def _write(engine, kind, clean, filename, file_sha256, username, demo, confirmed, warnings,
           progress) -> tuple[tuple[int, int, int], list[int], int]:
    """Phase two of an import: the writer's plan (heavy work, no write lock), then one
    short write transaction. Retried when another writer changed what the plan was built
    from meanwhile."""
    started = dt.datetime.now()
    with engine.connect() as conn, _large_cache(conn):
        plan = None
        try:
            for attempt in range(3):
                before = summary.generation(conn)
                plan = WRITERS[kind](conn, clean, progress, retry=attempt > 0)
                conn.commit()  # ends the plan's reads and temporary writes
                progress(0.97, "commit")
                _begin_write(conn)
                if summary.generation(conn, for_update=True) == before:
                    break
                conn.rollback()  # summaries were built from rows another writer changed
                plan.cleanup(conn)
                conn.commit()
            else:
                raise RuntimeError("the episodes changed during the import three times; "
                                   "nothing was written, import again")
            log_id = conn.execute(insert(ImportLog).values(
                kind=kind, filename=filename, file_sha256=file_sha256, started_at=started,
                status="running", rows_total=len(clean), username=username)
            ).inserted_primary_key[0]
            counts, years = plan.apply(conn, log_id)
            conn.execute(ImportLog.__table__.update().where(ImportLog.id == log_id).values(
                status="success", finished_at=dt.datetime.now(), rows_inserted=counts[0],
                rows_updated=counts[1], rows_unchanged=counts[2], n_errors=0,
                message=_warning_message(warnings)))
            summary.bump_generation(conn)
            with Session(bind=conn) as s:
                for change in confirmed:  # in the import's transaction: both or neither
                    audit.record(s, username or "system", "reference_change", change.target,
                                 change.detail)
                if not demo and kind in ("episodes", "population") and counts[0] + counts[1]:
                    set_meta(s, "demo_data", "0")
                bump_version(s)
            conn.commit()
            plan.after_commit(log_id)  # e.g. the episode store's staged files go live
        except BaseException:
            conn.rollback()
            raise
        finally:
            if plan is not None:
                plan.cleanup(conn)
                conn.commit()
    return counts, years, log_id


@contextlib.contextmanager
def _large_cache(conn: Connection, mib: int = 256):
    """SQLite: a page cache of ``mib`` MiB for this import's connection (the default 2 MiB
    spills the index pages of a large merge; measured: a third less write-lock time at
    300,000 rows), the connection's own setting restored after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{mib * 1024}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _begin_write(conn: Connection) -> None:
    """Open the write transaction now (SQLite: ``BEGIN IMMEDIATE``, waiting at most the
    busy timeout for another writer), so no read in it sees an older state."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _warning_message(warnings: pd.DataFrame) -> str | None:
    """The import log's note of the warnings: their number and reasons (no values)."""
    if not len(warnings):
        return None
    reasons = warnings.groupby("reason").size().sort_values(ascending=False)
    return f"warnings: {len(warnings)} — " + "; ".join(f"{r} ×{n}" for r, n in reasons.items())


def _rejected(engine, kind, filename, digest, n_rows, problems: pd.DataFrame,
              username) -> ImportResult:
    now = dt.datetime.now()
    with engine.begin() as conn:
        log_id = conn.execute(insert(ImportLog).values(
            kind=kind, filename=filename, file_sha256=digest, started_at=now, finished_at=now,
            status="rejected", rows_total=n_rows, n_errors=len(problems),
            message="validation failed; nothing written", username=username)
        ).inserted_primary_key[0]
    return ImportResult(kind, False, n_rows, problems=problems, import_id=log_id)


# ---------------------------------------------------------------- per-kind pre-checks
def _check_geometry(df, geometry: pd.Series, ctx, problems: Problems) -> None:
    """Boundaries from a boundary file: polygons within the county outline."""
    from healthmap.ingest.geocheck import geometry_problem

    for i, text in enumerate(geometry.astype(str)):
        code = geometry_problem(text, ctx.limits)
        if code:
            problems.add(i, "geometry", "", code)


def _prepare_residents(engine, df, clean, problems: Problems) -> None:
    """Hash and mask ID numbers; an ID already held by another resident id is an error."""
    key = engine_key(engine)
    clean["id_hash"] = clean["id_number"].map(lambda v: ids.hash_id(v, key))
    clean["id_masked"] = clean["id_number"].map(ids.mask_id)
    with engine.connect() as conn:
        owners = dict(conn.execute(select(Resident.id_hash, Resident.resident_id).where(
            Resident.id_hash.in_(clean["id_hash"].tolist()))).all()) if len(clean) < 30000 \
            else dict(conn.execute(select(Resident.id_hash, Resident.resident_id)).all())
    owner = clean["id_hash"].map(owners)
    clash = owner.notna() & (owner != clean["resident_id"])
    problems.add_mask(df, clash.to_numpy(), "id_number", "duplicate_id_number", df["id_number"],
                      other="—")
    del clean["id_number"]
