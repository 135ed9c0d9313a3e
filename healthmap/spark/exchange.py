"""The app's side of the Spark job: the reference tables it reads, and loading its output.

Neither function needs PySpark: they read and write Parquet with pyarrow/pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from healthmap import audit, db, dbhealth
from healthmap.models import Icd3Group, Institution


def _columns(table: str) -> list[str]:
    from healthmap.store.layout import rollup_columns

    return [c for c, _t in rollup_columns(table)]


#: each roll-up the job writes, with its columns (the store's: money in fen and fen²)
TABLES = {name: _columns(name) for name in ("cells", "areas", "institutions")}


def write_reference(engine: Engine, out: str | Path) -> dict[str, int]:
    """Write ``icd3_groups.parquet`` (icd3, group_code) and ``institutions.parquet``
    (code, in_county) into ``out``; rows written per file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        groups = pd.DataFrame(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all(),
                              columns=["icd3", "group_code"])
        inst = pd.DataFrame(conn.execute(select(Institution.code, Institution.in_county)).all(),
                            columns=["code", "in_county"])
    inst["in_county"] = inst["in_county"].astype(bool)
    groups.to_parquet(out / "icd3_groups.parquet", index=False)
    inst.to_parquet(out / "institutions.parquet", index=False)
    return {"icd3_groups": len(groups), "institutions": len(inst)}


def read_rollups(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The job's output, one frame per roll-up, columns in the store's order.

    A folder without all three tables, or a table without its columns, is refused by name.
    """
    folder = Path(folder)
    frames = {}
    for name, cols in TABLES.items():
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing (is this the Spark job's output folder?)")
        frame = pd.read_parquet(path)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        frames[name] = frame[cols]
    return frames


def load_rollups(engine: Engine, folder: str | Path, actor: str = "cli") -> list[int]:
    """Replace the roll-ups of every year found in the job's output in the episode store,
    all or nothing (one store write committed with its database transaction), and bump the
    data version so every app process reloads; the years replaced.

    Runs under the import lock (:func:`healthmap.dbhealth.import_lock`): an import running
    at the same time is named and this load refused. The per-person roll-up
    (:mod:`healthmap.person_rollup`) is not a Spark output: this load builds it itself from
    the store's episodes of each loaded year. A year the store holds no episodes of
    is refused by name.
    """
    from healthmap import person_rollup, store, summary

    frames = read_rollups(folder)
    years = sorted({int(y) for f in frames.values() for y in f["year"].unique()})
    url = engine.url.render_as_string(hide_password=False)
    with dbhealth.import_lock(url, "summaries", str(folder), actor):
        writer = None
        try:
            with Session(engine) as s, s.begin():
                conn = s.connection()
                writer = store.open_writer(conn)
                unknown = sorted(set(years) - set(writer.years))
                if unknown:
                    raise ValueError(f"{folder}: year(s) {unknown} have no episodes in the "
                                     "episode store")
                icd3_group, in_county = summary.lookups(conn)
                for year in years:
                    files = [writer.root / f for f in writer.years[year]["files"]]
                    persons = person_rollup.build_files(files, icd3_group, in_county)
                    writer.add_rollups(year, {**{name: f[f["year"] == year]
                                                 for name, f in frames.items()},
                                              person_rollup.TABLE: persons})
                store.prepare(writer, conn)
                summary.bump_generation(conn)
                db.bump_version(s)
                audit.record(s, actor, "load_summaries", Path(folder).name,
                             f"years={','.join(map(str, years))}")
            store.publish(writer)
        finally:
            if writer is not None:
                writer.discard()
    return years
