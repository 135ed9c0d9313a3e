"""Where the episode store lives, what its files hold, and its manifest.

One store folder per database (:func:`store_dir`)::

    <store>/manifest.json                       the only list of live files
    <store>/pending.json                        the next manifest, during an import's commit
    <store>/episodes/year=YYYY/part-*.parquet   hive-style, one or more files per year
    <store>/rollups/<table>/year=YYYY/*.parquet the year's summary roll-ups (cells, areas,
                                                institutions, persons), rebuilt with its
                                                episodes
    <store>/staging/                            a writer's files before they go live
    <store>/incoming/                           an import's checked rows, before its write
    <store>/.lock                               held by the one writer

Files hold the columns of :data:`COLUMNS` (``year`` comes from the folder name, as Spark's
``partitionBy("year")`` writes it), rows sorted by :data:`SORT_ORDER`. Money is integer
fen. Readers and writers other than this package follow ``docs/episode-store.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

LAYOUT_VERSION = 1
MANIFEST = "manifest.json"
#: the next manifest, written before the database commits the import that makes it; it
#: becomes ``manifest.json`` right after that commit (:mod:`healthmap.store.sync`)
PENDING = "pending.json"
EPISODES = "episodes"
#: the roll-ups' folder: ``rollups/<table>/year=YYYY/part-*.parquet`` (:data:`healthmap.cube.ROLLUPS`)
ROLLUPS = "rollups"
STAGING = "staging"
#: a streamed import's validated rows before its store write (:mod:`healthmap.ingest.stream`)
INCOMING = "incoming"
LOCK = ".lock"

# (name, DuckDB type, Arrow type name, nullable) — the file columns, in file order
COLUMNS: list[tuple[str, str, str, bool]] = [
    ("record_id", "VARCHAR", "string", False),
    ("person_id", "VARCHAR", "string", False),
    ("area_code", "VARCHAR", "string", False),
    ("icd10", "VARCHAR", "string", False),
    ("icd3", "VARCHAR", "string", False),
    ("date", "DATE", "date32", False),
    ("month", "INTEGER", "int32", False),
    ("setting", "VARCHAR", "string", False),
    ("institution_code", "VARCHAR", "string", False),
    ("total_cost_fen", "BIGINT", "int64", False),
    ("fund_paid_fen", "BIGINT", "int64", True),
    ("insurance_type", "VARCHAR", "string", False),
    ("referral", "BOOLEAN", "bool", True),
    ("sex", "VARCHAR", "string", False),
    ("age", "INTEGER", "int32", True),
    ("age_group", "VARCHAR", "string", False),
]
FILE_COLUMNS = [c[0] for c in COLUMNS]
SORT_ORDER = ("icd3", "area_code", "person_id", "date", "record_id")
# the columns an import's rows come in (healthmap.ingest.episodes; money in float yuan)
SOURCE_COLUMNS = ["record_id", "person_id", "area_code", "icd10", "icd3", "date", "year",
                  "month", "setting", "institution_code", "total_cost", "fund_paid",
                  "insurance_type", "referral", "sex", "age", "age_group"]


def rollup_columns(table: str) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) of roll-up ``table`` as its view shows them: ``year``,
    the other dimensions, then the measures, money exact (:data:`healthmap.cube.MONEY`:
    ``cost_sum_fen``, ``fund_sum_fen`` BIGINT, ``cost_sq_sum_fen2`` DECIMAL(38,0)), counts
    BIGINT. Files hold them without ``year`` (it is the partition).

    >>> [c for c, _t in rollup_columns("institutions")][-3:]
    ['episodes', 'cost_sum_fen', 'fund_sum_fen']
    >>> rollup_columns("cells")[-3:]
    [('cost_sq_sum_fen2', 'DECIMAL(38,0)'), ('fund_sum_fen', 'BIGINT'), ('fund_n', 'BIGINT')]
    """
    from healthmap.cube import MONEY, ROLLUPS

    if table not in ROLLUPS:  # the per-person roll-up (not a cube of additive measures)
        from healthmap import person_rollup

        if table == person_rollup.TABLE:
            return list(person_rollup.COLUMNS)
        from healthmap import person_counts

        if table == person_counts.TABLE:
            return list(person_counts.COLUMNS)
    dims, measures = ROLLUPS[table]
    types = {"year": "INTEGER", "month": "INTEGER", "in_county": "BOOLEAN"}
    out = [(d, types.get(d, "VARCHAR")) for d in dims]
    for m in measures:
        column = MONEY.get(m, (m, 1))[0]
        out.append((column, "DECIMAL(38,0)" if column.endswith("_fen2") else "BIGINT"))
    return out


class StoreLocationError(RuntimeError):
    """No store folder can be chosen for this database (set ``HEALTHMAP_STORE_DIR``)."""


def store_dir(url: str) -> Path:
    """The store folder of the database at ``url``.

    ``HEALTHMAP_STORE_DIR`` if set (the folder of the database in use, like
    ``HEALTHMAP_SECRET_FILE``); for a SQLite file, ``<file>.store`` beside it (copied,
    backed up and deleted together with it); for a server database (PostgreSQL), one folder
    per database under ``$XDG_DATA_HOME/healthmap/stores`` (``~/.local/share`` by default),
    named after the database and a hash of its URL without the password, the way
    :func:`healthmap.config.secret_path` names key files. An in-memory SQLite database has
    no place for files: it needs the setting.

    Examples
    --------
    >>> import os; os.environ.pop("HEALTHMAP_STORE_DIR", None) and None
    >>> store_dir("sqlite:////srv/hm/county.db").as_posix()
    '/srv/hm/county.db.store'
    >>> store_dir("sqlite+pysqlite:////srv/hm/county.db").name
    'county.db.store'
    >>> store_dir("sqlite:///file:/srv/hm/county.db?mode=ro&uri=true").as_posix()
    '/srv/hm/county.db.store'
    >>> a = store_dir("postgresql://u:secret@db/county"); b = store_dir("postgresql://u@db/county")
    >>> a.name[:7], a == b, a.parent.name
    ('county-', True, 'stores')
    """
    env = os.environ.get("HEALTHMAP_STORE_DIR", "").strip()
    if env:
        return Path(env)
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        from healthmap.dbhealth import sqlite_path  # also a URI filename (file:…?mode=ro)

        _driver, sep, rest = url.partition(":///")
        path = sqlite_path("sqlite:///" + rest) if sep else None
        if path is None or u.database in (None, "", ":memory:") or "mode=memory" in url:
            raise StoreLocationError("an in-memory database needs HEALTHMAP_STORE_DIR for its "
                                     "episode store")
        p = path.resolve()
        return p.with_name(p.name + ".store")
    plain = (f"{u.drivername.split('+')[0]}://{u.username or ''}@{u.host or ''}:"
             f"{u.port or ''}/{u.database or ''}")  # the same database whatever the driver
    tag = hashlib.sha256(plain.encode("utf-8")).hexdigest()[:12]
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base) / "healthmap" / "stores" / f"{u.database or 'database'}-{tag}"


def engine_store_dir(engine) -> Path:
    """:func:`store_dir` of the database behind a SQLAlchemy engine (or connection)."""
    return store_dir(engine.engine.url.render_as_string(hide_password=False))


def memory_limit(counts: bool = False) -> str:
    """DuckDB's memory limit while the store is written: ``HEALTHMAP_STORE_MEMORY``
    (default ``1GB``) for every connection but the person counts' build, which takes
    ``HEALTHMAP_COUNTS_MEMORY`` (default ``2GB``): it runs alone, after every other
    roll-up of the write, and its joins of millions of (code set, person) keys spill
    under 1 GB (the four years' build at 10 M episodes, alone: 28 → 20 s with 2 GB,
    measured 2026-12-03).

    >>> memory_limit() == os.environ.get("HEALTHMAP_STORE_MEMORY", "1GB")
    True
    """
    if counts:
        return os.environ.get("HEALTHMAP_COUNTS_MEMORY", "2GB")
    return os.environ.get("HEALTHMAP_STORE_MEMORY", "1GB")


def sql_file_list(paths) -> str:
    """A list of file paths as a DuckDB list literal (quotes doubled), for
    ``read_parquet(...)``.

    >>> sql_file_list(["a.parquet", "it's.parquet"])
    "['a.parquet', 'it''s.parquet']"
    """
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only (0700), like the database's folder."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
        os.chmod(p, 0o700)  # whatever the umask
    return path


@dataclass
class Manifest:
    """What ``manifest.json`` says: the live files per year and the data they hold.

    ``data_version`` is the database's episode version the files equal
    (:func:`healthmap.store.sync.episodes_version`); ``generation`` grows by one per write.

    Examples
    --------
    >>> m = Manifest("12", 3, {2024: {"files": ["episodes/year=2024/part-a.parquet"], "rows": 5}})
    >>> Manifest.from_json(m.to_json()) == m, m.rows, m.files()
    (True, 5, ['episodes/year=2024/part-a.parquet'])
    >>> m.years[2024]["rollups"] = {"cells": ["rollups/cells/year=2024/c.parquet"]}
    >>> m.files()[1], m.rollup_files("areas")
    ('rollups/cells/year=2024/c.parquet', [])
    """

    data_version: str
    generation: int = 0
    years: dict[int, dict] = field(default_factory=dict)
    layout_version: int = LAYOUT_VERSION

    @property
    def rows(self) -> int:
        return sum(int(v["rows"]) for v in self.years.values())

    def episode_files(self) -> list[str]:
        return [f for y in sorted(self.years) for f in self.years[y]["files"]]

    def rollup_files(self, table: str) -> list[str]:
        """The files of roll-up ``table`` (``cells``, ``areas``, ``institutions``)."""
        return [f for y in sorted(self.years)
                for f in (self.years[y].get("rollups") or {}).get(table, [])]

    def files(self) -> list[str]:
        """Every file the manifest names: episodes and roll-ups."""
        tables = sorted({t for v in self.years.values() for t in (v.get("rollups") or {})})
        return self.episode_files() + [f for t in tables for f in self.rollup_files(t)]

    def to_json(self) -> str:
        return json.dumps({"layout_version": self.layout_version,
                           "data_version": self.data_version, "generation": self.generation,
                           "years": {str(y): self.years[y] for y in sorted(self.years)}},
                          indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        d = json.loads(text)
        return cls(str(d["data_version"]), int(d["generation"]),
                   {int(y): v for y, v in d["years"].items()}, int(d["layout_version"]))


def read_manifest(root: Path, name: str = MANIFEST) -> Manifest | None:
    """The store's manifest (or ``name``: :data:`PENDING`), or ``None`` when there is none
    (or of another layout, or one that cannot be read as a manifest: edited or damaged
    behind the database's back; readers then name the store as not the database's,
    :class:`healthmap.store.StoreMismatch`, instead of failing with a parser error)."""
    try:
        m = Manifest.from_json((root / name).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (ValueError, KeyError, TypeError, AttributeError):  # not a manifest
        return None
    return m if m.layout_version == LAYOUT_VERSION else None


def write_manifest(root: Path, manifest: Manifest, name: str = MANIFEST) -> None:
    """Replace the manifest (or ``name``) atomically: a temp file, fsync, ``os.replace``."""
    tmp = root / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / name)
    fsync_dir(root)


def fsync_dir(root: Path) -> None:
    """Make renames in ``root`` durable."""
    dir_fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def to_arrow(frame):
    """Episode rows as an import holds them -> an Arrow table of the store's
    columns plus ``year`` (money: float yuan -> int64 fen, half up as :func:`_fen`).

    ``frame`` is a DataFrame or a dict of column sequences (a database cursor's rows,
    transposed); dates may be ISO strings (SQLite), dates or timestamps, booleans 0/1.

    Examples
    --------
    >>> f = pd.DataFrame({"record_id": ["r1"], "person_id": ["p"], "area_code": ["a"],
    ...     "icd10": ["C16.9"], "icd3": ["C16"], "date": ["2024-03-05"], "year": [2024],
    ...     "month": [3], "setting": ["inpatient"], "institution_code": ["H1"],
    ...     "total_cost": [1234.57], "fund_paid": [None], "insurance_type": ["resident"],
    ...     "referral": [None], "sex": ["F"], "age": [None], "age_group": ["60-64"]})
    >>> t = to_arrow(f)
    >>> t.column("total_cost_fen").to_pylist(), t.column("fund_paid_fen").to_pylist()
    ([123457], [None])
    >>> str(t.schema.field("date").type), t.column("date").to_pylist()[0].isoformat()
    ('date32[day]', '2024-03-05')
    >>> rows = {c: tuple(v) for c, v in f.to_dict("list").items()} | {"referral": (1,)}
    >>> to_arrow(rows).equals(to_arrow(f.assign(referral=[True])))
    True
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, names = [], []
    for name, _duck, arrow, _nullable in COLUMNS:
        if name in ("total_cost_fen", "fund_paid_fen"):
            arr = _fen(frame[name.removesuffix("_fen")])
        elif name == "date":
            arr = _date32(frame["date"])
        elif arrow == "string":
            try:  # already text (the usual case): no copy through Python objects
                arr = pa.array(frame[name], pa.string())
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                arr = pa.array([str(v) for v in frame[name]], pa.string())
        else:  # bool, int32: 0/1 and whole floats convert; None / NaN become null
            arr = pa.array(frame[name], from_pandas=True)
            arr = arr.cast(pa.bool_() if arrow == "bool" else pa.int32())
        arrays.append(arr)
        names.append(name)
    arrays.append(pa.array(frame["year"], from_pandas=True).cast(pa.int32()))
    names.append("year")
    return pa.Table.from_arrays(arrays, names=names)


def _date32(col):
    import pyarrow as pa
    import pyarrow.compute as pc

    first = next(iter(col), None) if not isinstance(col, pd.Series) else (
        col.iloc[0] if len(col) else None)
    if isinstance(first, str):
        return pc.cast(pc.utf8_slice_codeunits(pa.array(col, pa.string()), 0, 10),
                       pa.date32())
    if isinstance(col, pd.Series) and not pd.api.types.is_object_dtype(col):
        return pa.array(pd.to_datetime(col).to_numpy().astype("datetime64[D]"), pa.date32())
    return pa.array(col, pa.date32())


def _fen(yuan: pd.Series):
    """Float yuan -> an Arrow int64 array of fen (:func:`healthmap.ledger.fen_array`, the
    one conversion every engine uses; missing = null).

    >>> _fen(pd.Series([0.1 + 0.2, 19.99, 1.005, None])).to_pylist()
    [30, 1999, 101, None]
    """
    import pyarrow as pa

    from healthmap.ledger import fen_array

    values = np.asarray(pd.to_numeric(pd.Series(yuan), errors="coerce"), dtype=float)
    missing = np.isnan(values)
    fen = fen_array(np.where(missing, 0.0, values))
    return pa.array(fen, pa.int64(), mask=missing)
