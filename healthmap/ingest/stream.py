"""Import an episodes CSV in chunks: memory bounded by one chunk, whatever the file's size.

The file is read :data:`CHUNK_ROWS` rows at a time. Each chunk is validated with the same
rules as a whole file (:func:`healthmap.ingest.validate.validate` with
``file_wide=False``), its problems kept with their file row numbers, and its valid rows
staged as Parquet files in the episode store's folder (``incoming/<token>/``). What spans
chunks is checked after the last one, over every row's record id (staged beside the rows):
repeated record ids within the file, and record ids that differ from held ones only in
case. The problem report is the one a whole-file validation gives: if any cell fails the
form checks, only those (validation stops there); otherwise every value problem and every
repeat. A large file's chunks are validated and staged by :data:`WORKERS` processes while
this one reads on; their results are taken in the file's order, as if checked in turn.

All or nothing: any problem anywhere and the staged files are deleted, the import is
logged as refused and nothing else changes. Otherwise the staged rows go through the same
second phase as a file read whole (:func:`healthmap.ingest.load._write`, the episode
store's two-phase commit with the database), which reads them from the staged files.

A file that is not UTF-8 is decoded whole first (:func:`healthmap.ingest.readers._decode`:
GBK, or refused naming the line in another encoding), then read in chunks from the text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import multiprocessing
import os
import secrets
import shutil
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from healthmap import i18n
from healthmap.ingest.contract import Limits
from healthmap.ingest.plaincsv import plain_chunks
from healthmap.ingest.episodes import StagedEpisodes, episode_records
from healthmap.ingest.keyhash import folded_hashes, hash_file, hash_repeats
from healthmap.ingest.problems import Problems
from healthmap.ingest.readers import (FileReadError, _decode, check_file_size, file_size,
                                      leading_blank, parser_error, skip_blank_start,
                                      text_frame, trailing_blank)
from healthmap.ingest.validate import FILE_WIDE, validate
from healthmap.store.layout import (INCOMING, engine_store_dir, make_private_dir,
                                    memory_limit, sql_file_list)

#: rows read, validated and staged at a time (measured: about 0.7 GB peak per 500,000)
CHUNK_ROWS = 500_000
#: processes that validate and stage chunks while this one reads the next (a file above
#: POOL_MIN_BYTES, about 1.3 million episodes: below, starting them gains nothing). They
#: start from a fork server, which imports a program run as a script: such a program
#: keeps its work under ``if __name__ == "__main__":`` (the CLI and the app do)
WORKERS = (min(2, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1
           and "forkserver" in multiprocessing.get_all_start_methods() else 0)
POOL_MIN_BYTES = 128 << 20
_BLOCK = 16 << 20  # bytes hashed and checked per read


def hash_and_encoding(source) -> tuple[str, bool]:
    """The SHA-256 of the file (path or bytes) and whether it is UTF-8 (with or without
    BOM), read in blocks.

    >>> hash_and_encoding("名".encode("utf-8"))[1], hash_and_encoding("名".encode("gbk"))[1]
    (True, False)
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with _open(source) as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            # ASCII after a whole character (the decoder holds nothing back) is UTF-8:
            # checked 5x faster than decoded (10 M episodes: 2.2 -> 1.0 s)
            if utf8 and not (block.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return digest.hexdigest(), utf8


def _open(source):
    return open(source, "rb") if isinstance(source, (str, Path)) else io.BytesIO(source)


def read_chunks(source, utf8: bool, limits: Limits, chunk_rows: int
                ) -> Iterator[tuple[int, pd.DataFrame, float]]:
    """``(first_row, frame, fraction read)`` per chunk of the CSV ``source`` (path or
    bytes): frames as :func:`healthmap.ingest.readers.read_table` gives them (text, contract
    column names), ``first_row`` the index of the chunk's first row in the whole file (row
    ``i`` of the file is line ``i + 2``; blank lines before the header are skipped but
    counted, so that this stays true). An empty file gives one empty frame.

    A plain UTF-8 file is read by Arrow's CSV reader (:mod:`healthmap.ingest.plaincsv`);
    from its first chunk that is not plain on, by pandas' parser, which reads the file
    from its start again and skips the chunks already given (the same rows)."""
    if chunk_rows < 2:
        raise ValueError("chunks hold at least two rows (the first one holds the header)")
    given = [0]
    if utf8 and (yield from plain_chunks(source, limits, chunk_rows, given)):
        return
    yield from _parsed_chunks(source, utf8, limits, chunk_rows, given[0])


def _parsed_chunks(source, utf8: bool, limits: Limits, chunk_rows: int, skip: int):
    """:func:`read_chunks` by pandas' parser, without the first ``skip`` chunks."""
    if utf8:
        fh = _open(source)
        size = fh.seek(0, io.SEEK_END) or 1
        fh.seek(0)
        opts = {"encoding": "utf-8-sig"}
    else:  # decoded whole: within the limit of a file read whole
        check_file_size(source, limits)
        fh = io.StringIO(_decode(_open(source).read()))  # GBK, or refused with the line
        size = fh.seek(0, io.SEEK_END) or 1
        fh.seek(0)
        opts = {}
    with fh:
        lead = skip_blank_start(fh)  # blank lines before the header: not rows
        start = fh.tell()
        first = next(csv.reader([_first_line(fh)]), [])
        if len(first) > limits.max_columns:  # before parsing a file of a million columns
            raise FileReadError("too many columns", "too_many_columns",
                                limit=limits.max_columns)
        try:
            reader = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True,
                                 header=None, chunksize=chunk_rows, skip_blank_lines=False,
                                 **opts)
            headers, offset, held, given = None, lead, None, False
            for raw in reader:
                if len(raw.columns) > limits.max_columns:
                    raise FileReadError("too many columns", "too_many_columns",
                                        limit=limits.max_columns)
                if headers is None:
                    offset += leading_blank(raw)
                    raw = raw.iloc[leading_blank(raw):]
                    if not len(raw):
                        continue
                    headers = [str(h) for h in raw.iloc[0]]
                    raw = raw.iloc[1:]
                elif len(raw.columns) != len(headers):  # the parser's own message otherwise
                    raise FileReadError(f"row {offset + 2}: {len(raw.columns)} fields, the "
                                        f"header has {len(headers)}")
                # blank lines at a chunk's end are held back: rows only if data follows
                # (as read_table drops those at the file's end)
                raw = raw if held is None else pd.concat([held, raw])
                keep = len(raw) - trailing_blank(raw)
                raw, held = raw.iloc[:keep], raw.iloc[keep:]
                if len(raw):
                    if skip:  # given by the plain reader
                        skip -= 1
                    else:
                        yield (offset, text_frame(raw, headers, arrow=True),
                               min(fh.tell() / size, 1.0))
                    offset, given = offset + len(raw), True
            if headers is None:  # blank lines only
                yield 0, pd.DataFrame(), 1.0
            elif not given:  # a header and nothing else
                yield 0, text_frame(held.iloc[:0], headers), 1.0
        except FileReadError:
            raise
        except pd.errors.EmptyDataError:
            yield 0, pd.DataFrame(), 1.0
        except Exception as exc:  # parser errors carry no personal data, only positions
            fh.seek(start)  # every row with too many fields, found on a second reading
            lines = fh if not utf8 else io.TextIOWrapper(fh, encoding="utf-8-sig",
                                                         newline="")
            raise parser_error(exc, lines, lead) from exc


def _first_line(fh) -> str:
    """The line at the handle's position as text (the header), the handle left there."""
    start = fh.tell()
    line = fh.readline()
    fh.seek(start)
    if isinstance(line, bytes):
        line = line.decode("utf-8-sig", "replace")
    return line.split("\n", 1)[0]


class _Stages:
    """The problems of every chunk by where its validation stopped, and the warnings."""

    def __init__(self) -> None:
        self.form, self.values, self.warnings = Problems(), Problems(), Problems()

    def add(self, result, offset: int) -> None:
        # a column's warning (an ignored column) once, from the first chunk
        self.warnings.extend(result.warnings, offset, file_level=offset == 0)
        if not result.ok:
            (self.form if result.stage == "form" else self.values).extend(
                result.problems, offset)

    def report(self) -> Problems:
        """What a whole-file validation reports: form problems stop it before values."""
        return self.form if len(self.form) else self.values

    @property
    def ok(self) -> bool:
        return not len(self.form) and not len(self.values)


def import_episodes_csv(engine, source, filename: str, digest: str, utf8: bool, *,
                        progress=None, username: str | None = None, lang: str = "zh",
                        today: dt.date | None = None, demo: bool = False,
                        limits: Limits | None = None, ignore_unknown_columns: bool = False,
                        chunk_rows: int | None = None):
    """Validate and import an episodes CSV (path or bytes) chunk by chunk; options and
    result as :func:`healthmap.ingest.load.import_file` (which calls this for episode CSV
    files, under the import lock). ``digest`` and ``utf8`` come from
    :func:`hash_and_encoding`."""
    from healthmap.db import is_demo
    from healthmap.ingest import load
    from healthmap.store import live_manifest

    progress = progress or load._noop
    limits = limits or Limits.from_env()
    if not demo and is_demo(engine):
        p = Problems()  # real records never mix with synthetic ones (demo safety)
        p.add(-1, "", "", "demo_database")
        return load._rejected(engine, "episodes", filename, digest, 0, p.frame(lang), username)
    ctx = load.build_context(engine, today, limits, ignore_unknown_columns)
    # a store that is not the database's is refused before anything is staged in its
    # folder (StoreMismatch, which the import lock's guard turns into the refusal)
    live_manifest(engine)
    folder = make_private_dir(engine_store_dir(engine) / INCOMING / secrets.token_hex(4))
    try:
        stages, keys, files, n = _Stages(), [], [], 0
        chunks = _read(source, utf8, limits, chunk_rows or CHUNK_ROWS, progress, lang)
        workers = WORKERS if (file_size(source) or 0) > POOL_MIN_BYTES else 0
        with closing(_checked(chunks, ctx, folder, stages, workers)) as checked:
            for offset, rows, result, key_file, row_files in checked:
                if result.stage == "columns" and not result.ok:  # the header: whole file
                    out = load._rejected(engine, "episodes", filename, digest, n + rows,
                                         result.problems.frame(lang), username)
                    out.warnings = result.warnings.frame(lang)
                    return out
                stages.add(result, offset)
                if not len(stages.form):  # no cell of the wrong form (too long …) is staged
                    keys.append(key_file)
                if stages.ok:  # rows are staged only while the file is still good
                    files += row_files
                n += rows  # rows (offsets count blank lines before the header too)
        problems = stages.report()
        if not len(stages.form):  # a whole file's validation stops before repeats
            _repeats(keys, folder, problems)
        if not len(problems):
            _held_case_clashes(engine, keys, problems)
        warnings = stages.warnings.frame(lang)
        if len(problems):
            out = load._rejected(engine, "episodes", filename, digest, n,
                                 problems.frame(lang), username)
            out.warnings = warnings
            return out
        staged = StagedEpisodes(files, n)
        counts, years, log_id = load._write(engine, "episodes", staged, filename, digest,
                                            username, demo, [], warnings,
                                            _Later(progress, lang))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    progress(1.0, i18n.t("progress.done", lang))
    return load.ImportResult("episodes", True, n, inserted=counts[0], updated=counts[1],
                             unchanged=counts[2], years_refreshed=years, import_id=log_id,
                             warnings=warnings)


def _read(source, utf8: bool, limits: Limits, chunk_rows: int, progress, lang: str):
    """:func:`read_chunks`' ``(first_row, frame)``, the progress told as each is read."""
    n = 0
    for offset, df, read in read_chunks(source, utf8, limits, chunk_rows):
        n += len(df)
        progress(0.49 * read, i18n.t("progress.validate", lang, n=f"{n:,}"))
        yield offset, df


def _check_chunk(df: pd.DataFrame, offset: int, folder: Path, k: int, ctx, form_ok: bool,
                 ok: bool):
    """Validate the ``k``-th chunk (its first row ``offset`` in the file) and stage what
    the import may need of it: its record ids (:func:`_keys`) unless a cell has the wrong
    form here or before (``form_ok``: none before, as far as known), its rows
    (:func:`_stage`) if it and the chunks before (``ok``) are good. Returns the result
    without its frames, the keys' file (``None`` when not staged) and the rows' files."""
    result = validate("episodes", df, ctx or _worker_ctx["ctx"], file_wide=False)
    key_file, row_files = None, []
    if form_ok and result.stage == "values":
        key_file = _keys(df, offset, folder, k)
    if ok and result.ok:
        row_files = _stage(episode_records(result.clean), folder, k)
    result.clean = result.frame = None  # not sent back from a worker
    return result, key_file, row_files


_worker_ctx: dict = {}


def _init_worker(ctx) -> None:
    _worker_ctx["ctx"] = ctx


def _checked(chunks, ctx, folder: Path, stages: _Stages, workers: int):
    """``(first_row, rows, result, keys' file, rows' files)`` of each chunk
    (:func:`_check_chunk`), in the file's order: checked here one after another, or with
    ``workers`` processes while this one reads on (at most ``workers + 1`` chunks in
    flight). What a chunk stages is decided by the problems known when it is sent
    (``stages``); the caller keeps it only if the chunks before it turn out as good, so
    the outcome is the one of checking them in turn."""
    if not workers:
        for k, (offset, df) in enumerate(chunks):
            yield (offset, len(df),
                   *_check_chunk(df, offset, folder, k, ctx, not len(stages.form), stages.ok))
        return
    from concurrent.futures import ProcessPoolExecutor

    # forked from a server process started clean (a fork of this one, with its threads
    # and open connections, is not safe), with this module loaded
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker,
                               initargs=(ctx,))
    pending: deque = deque()
    try:
        for k, (offset, df) in enumerate(chunks):
            pending.append((offset, len(df), pool.submit(
                _check_chunk, df, offset, folder, k, None, not len(stages.form), stages.ok)))
            del df
            while len(pending) > workers:
                offset, rows, done = pending.popleft()
                yield (offset, rows, *done.result())
        while pending:
            offset, rows, done = pending.popleft()
            yield (offset, rows, *done.result())
    finally:  # also when the caller stops early: nothing is left writing in its folder
        for *_, waiting in pending:
            waiting.cancel()
        pool.shutdown(wait=True)


class _Later:
    """The second phase's progress (:class:`healthmap.ingest.load._Phrased`) in the second
    half of the bar: the first half is reading and validating."""

    def __init__(self, progress, lang: str):
        from healthmap.ingest.load import _Phrased

        self.phrased = _Phrased(progress, lang)

    def __call__(self, fraction: float, step: str, **params) -> None:
        self.phrased(0.5 + 0.5 * fraction, step, **params)


def _keys(df: pd.DataFrame, offset: int, folder: Path, k: int) -> Path:
    """Stage the chunk's record ids as the duplicate check reads them (the text as given,
    and case-folded as :func:`healthmap.ingest.validate._duplicates` folds it) with their
    rows. A column of Arrow strings (a streamed chunk) is written as it is; if all of it
    is ASCII, folded by Arrow (``str.casefold`` of ASCII text is its ASCII lower case)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    column = FILE_WIDE["episodes"]
    key = df[column] if column in df else pd.Series([""] * len(df), dtype=object)
    arr = _arrow_text(key)
    if arr is not None and pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        folded = pc.ascii_lower(arr)
    else:
        key = key.astype(str)
        arr = pa.array(key.to_numpy(dtype=object), pa.string())
        folded = pa.array(key.str.casefold().to_numpy(dtype=object), pa.string())
    path = make_private_dir(folder / "keys") / f"chunk-{k:05d}.parquet"
    table = pa.table({"row": pa.array(np.arange(offset, offset + len(df), dtype=np.int64)),
                      "key": arr, "folded": folded})
    pq.write_table(table, path, compression="none", use_dictionary=False,
                   write_statistics=False)
    np.save(hash_file(path), folded_hashes(table))
    return path


def _arrow_text(values: pd.Series):
    """The Arrow strings behind a column of pandas' Arrow-backed text without missing
    values (one array), or ``None`` for any other column."""
    import pyarrow as pa

    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return None
    arr = pa.array(values.array)  # pandas' own Arrow strings (__arrow_array__)
    return arr if arr.null_count == 0 else None


def _stage(rec: pd.DataFrame, folder: Path, k: int) -> list[Path]:
    """Stage a chunk's valid rows (:func:`healthmap.store.layout.to_arrow`'s columns), one
    file per year, so that each year's write reads only its own."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from healthmap.store.layout import to_arrow

    table = to_arrow(rec)
    out = []
    for year in pc.unique(table.column("year")).to_pylist():
        path = make_private_dir(folder / "rows" / f"year={year}") / f"chunk-{k:05d}.parquet"
        # read once, soon, and whole: no compression, statistics of the year only (a
        # year's rows are read by it), a dictionary for the columns of few values only
        # (the ids' fell back to plain anyway): 0.47 -> 0.34 s a chunk
        pq.write_table(table.filter(pc.equal(table.column("year"), year)), path,
                       compression="none", use_dictionary=_FEW_VALUES,
                       write_statistics=["year"])
        out.append(path)
    return out


#: the staged rows' columns of few distinct values (written with a dictionary)
_FEW_VALUES = ["area_code", "icd10", "icd3", "setting", "institution_code", "insurance_type",
               "sex", "age_group"]


def _duck(folder: Path):
    import duckdb

    return duckdb.connect(config={
        "memory_limit": memory_limit(),
        "temp_directory": str(make_private_dir(folder / "tmp")),
        "preserve_insertion_order": True})


def _repeats(keys: list[Path], folder: Path, problems: Problems) -> None:
    """Record ids repeated within the file, over all chunks, reported as a whole-file
    validation reports them (:func:`healthmap.ingest.validate._duplicates`): every repeat
    after the first occurrence, naming the first row; ``duplicate_case`` when only upper
    and lower case differ from every earlier spelling."""
    if not keys:
        return
    if not hash_repeats(keys):  # no two folded ids alike: nothing repeats (10 M: 0.5 s)
        return
    column = FILE_WIDE["episodes"]
    with _duck(folder) as db:
        rows = db.execute(f"""
            WITH k AS (SELECT * FROM read_parquet({sql_file_list(keys)}) WHERE key <> ''),
            rep AS (SELECT folded FROM k GROUP BY folded HAVING count(*) > 1)
            SELECT row, key, min(row) OVER (PARTITION BY folded) AS first,
                   row > min(row) OVER (PARTITION BY key) AS exact
            FROM k SEMI JOIN rep USING (folded) ORDER BY row""").df()
    rows = rows[rows["row"] > rows["first"]]
    for exact, code in ((True, "duplicate"), (False, "duplicate_case")):
        part = rows[rows["exact"] == exact]
        problems.add_rows(part["row"].to_numpy(), column, code, part["key"].to_numpy(),
                          other=(part["first"] + 2).astype(str).to_numpy())


def _held_case_clashes(engine, keys: list[Path], problems: Problems) -> None:
    """Record ids that differ from held ones only in case, refused as a whole file's are
    (:func:`healthmap.ingest.changes._episode_case_clashes`): the held ids are read once,
    against all the file's ids."""
    from healthmap.ingest.changes import _store_cursor

    if not keys:
        return
    cur = _store_cursor(engine)
    if cur is None:
        return
    try:
        clash = cur.execute(f"""
            WITH held AS (SELECT lower(record_id) AS folded, min(record_id) AS other
                          FROM episodes GROUP BY 1)
            SELECT f.row, f.key, h.other
            FROM read_parquet({sql_file_list(keys)}) f JOIN held h ON lower(f.key) = h.folded
            WHERE h.other <> f.key ORDER BY f.row""").df()
    finally:
        cur.close()
    problems.add_rows(clash["row"].to_numpy(), "record_id", "duplicate_case_held",
                      clash["key"].to_numpy(), other=clash["other"].to_numpy(dtype=object))
