"""The episode store's part of ``python -m healthmap bench``: write speed and the query
that the person-level measures run, beside the peers the issue names.

Builds a store of ``n`` synthetic episodes (the bench's generator, in chunks), then times
one filtered distinct-person group-by (persons per area, one year, one disease group,
inpatient) four ways on the same rows: DuckDB on the store, DuckDB on a raw CSV of the
rows, per-request pandas (read the CSV, then group), and pandas on a frame already in
memory. Every answer is checked equal before any time is printed.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from healthmap.codes import age_group_of
from healthmap.store.layout import SOURCE_COLUMNS, to_arrow
from healthmap.store.writer import StoreWriter

YEAR, GROUP = 2024, "C_STOMACH"
STORE_SQL = """
    SELECT e.area_code, count(DISTINCT e.person_id) AS persons
    FROM episodes e JOIN icd3_groups g USING (icd3)
    WHERE e.year = ? AND g.group_code = ? AND e.setting = 'inpatient'
    GROUP BY e.area_code ORDER BY e.area_code"""
CSV_SQL = """
    SELECT e.area_code, count(DISTINCT e.person_id) AS persons
    FROM read_csv('{path}', header = true, all_varchar = true) e
    JOIN icd3_groups g ON g.icd3 = left(e.icd10, 3)
    WHERE e.date LIKE '{year}-%' AND g.group_code = ? AND e.setting = 'inpatient'
    GROUP BY e.area_code ORDER BY e.area_code"""


def source_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Synthetic import-format rows (all text) -> an import's episode columns, as the
    import derives them (ICD-3, year, month, age group; money in float yuan).

    >>> raw = pd.DataFrame({"record_id": ["r"], "person_id": ["p"], "area_code": ["a"],
    ...     "icd10": ["C16.9"], "date": ["2024-03-05"], "setting": ["inpatient"],
    ...     "institution_code": ["H"], "total_cost": ["12.30"], "fund_paid": [""],
    ...     "insurance_type": ["resident"], "referral": ["true"], "sex": ["F"], "age": ["61"]})
    >>> row = source_rows(raw).iloc[0]
    >>> (row["icd3"], int(row["year"]), int(row["month"]), float(row["total_cost"]),
    ...  bool(row["referral"]), row["age_group"])
    ('C16', 2024, 3, 12.3, True, '60-64')
    """
    date = pd.to_datetime(raw["date"], format="%Y-%m-%d")
    age = pd.to_numeric(raw["age"], errors="coerce")
    return pd.DataFrame({
        **{c: raw[c] for c in ("record_id", "person_id", "area_code", "icd10", "setting",
                               "institution_code", "insurance_type", "sex")},
        "icd3": raw["icd10"].str.slice(0, 3), "date": date, "year": date.dt.year,
        "month": date.dt.month, "total_cost": pd.to_numeric(raw["total_cost"]),
        "fund_paid": pd.to_numeric(raw["fund_paid"], errors="coerce"),
        "referral": raw["referral"].map({"true": True, "false": False}),
        "age": age, "age_group": age_group_of(age.to_numpy()),
    })[SOURCE_COLUMNS]


def _median_ms(fn, repeat: int) -> tuple[float, object]:
    out, ms = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(ms), out


def _build(n: int, chunk: int, root: Path, csv_path: Path, answer) -> None:
    """Generate ``n`` episodes in chunks, append them to a CSV and the store, publish;
    sends (write seconds, generator seconds) through ``answer`` (run in its own process,
    so that its peak memory is the build's alone)."""
    from healthmap.bench import BENCH_AREAS, _synthetic_episodes, bench_icd
    from healthmap.demo import INSTITUTIONS

    rng = np.random.default_rng(11)
    icd, inst = bench_icd(), INSTITUTIONS["code"].astype(str).tolist()
    gen_s = write_s = 0.0
    writer = StoreWriter(root, fresh=True)
    for start in range(0, n, chunk):
        t = time.perf_counter()
        raw = _synthetic_episodes(min(chunk, n - start), rng, inst, BENCH_AREAS, icd,
                                  start=start, persons=n // 3 + 1)
        raw.to_csv(csv_path, mode="a", header=start == 0, index=False)
        gen_s += time.perf_counter() - t
        t = time.perf_counter()
        writer.append(to_arrow(source_rows(raw)))
        write_s += time.perf_counter() - t
    t = time.perf_counter()
    writer.build()
    writer.publish("bench", require_rollups=False)  # the episodes alone are timed
    answer.send((time.perf_counter() - t + write_s, gen_s))


def run_store_bench(n: int, chunk: int = 500_000, keep: bool = False) -> dict[str, float]:
    """Build a store of ``n`` synthetic episodes in chunks and time the query peers."""
    import multiprocessing as mp

    from healthmap.demo import INSTITUTIONS
    from healthmap.reference import cached_disease_groups, icd3_to_group
    from healthmap.store.layout import read_manifest
    from healthmap.store.query import _open

    tmp = Path(tempfile.mkdtemp(prefix="healthmap-store-bench-"))
    root, csv_path = tmp / "bench.db.store", tmp / "episodes.csv"
    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing inherited in its memory
    here, there = ctx.Pipe()
    child = ctx.Process(target=_build, args=(n, chunk, root, csv_path, there))
    child.start()
    there.close()  # so that a failed build ends recv() with EOFError, not a hang
    write_s, gen_s = here.recv()
    child.join()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    manifest = read_manifest(root)
    size = sum((root / f).stat().st_size for f in manifest.files()) / 2**20
    print(f"episode store: {n:,} episodes written in {write_s:.1f} s "
          f"({n / write_s:,.0f} rows/s; chunks of {chunk:,}, generator and CSV {gen_s:.1f} s "
          f"not counted), {size:,.0f} MB Parquet in {len(manifest.years)} years; peak memory "
          f"of the building process (generator included) {peak:,.0f} MB")

    groups = pd.Series(icd3_to_group(cached_disease_groups()), name="group_code")
    groups = groups.rename_axis("icd3").reset_index()
    inst_df = INSTITUTIONS[["code", "in_county"]].astype({"code": str, "in_county": bool})
    db = _open(root, manifest, groups, inst_df)
    cur = db.cursor()
    store_ms, by_store = _median_ms(lambda: cur.execute(STORE_SQL, [YEAR, GROUP]).df(), 15)
    csv_sql = CSV_SQL.format(path=str(csv_path).replace("'", "''"), year=YEAR)
    csv_ms, by_csv = _median_ms(lambda: cur.execute(csv_sql, [GROUP]).df(), 3)
    group_of = dict(zip(groups["icd3"], groups["group_code"]))

    def pandas_query(frame: pd.DataFrame) -> pd.DataFrame:
        hit = frame[(frame["date"].str.startswith(f"{YEAR}-"))
                    & (frame["setting"] == "inpatient")
                    & (frame["icd10"].str.slice(0, 3).map(group_of) == GROUP)]
        return (hit.groupby("area_code")["person_id"].nunique().rename("persons")
                .reset_index().sort_values("area_code").reset_index(drop=True))

    usecols = ["person_id", "area_code", "icd10", "date", "setting"]  # kinder than "all"
    per_request_ms, by_pandas = _median_ms(lambda: pandas_query(pd.read_csv(
        csv_path, dtype=str, keep_default_na=False, usecols=usecols)), 1 if n > 3e6 else 3)
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, usecols=usecols)
    memory_ms, by_memory = _median_ms(lambda: pandas_query(frame), 3)
    del frame
    for other in (by_csv, by_pandas, by_memory):
        pd.testing.assert_frame_equal(other.astype({"persons": "int64"}),
                                      by_store.astype({"persons": "int64"}))
    print(f"distinct persons by area ({YEAR}, {GROUP}, inpatient; {len(by_store)} areas, "
          f"{int(by_store['persons'].sum()):,} person-areas), same answer four ways:")
    peers = [("DuckDB on the raw CSV", csv_ms), ("per-request pandas (read 5 CSV columns + group)",
                                                 per_request_ms),
             ("pandas on a frame already in memory", memory_ms)]
    print(f"  DuckDB on the store (Parquet)                   median {store_ms:9.1f} ms")
    for name, ms in peers:
        print(f"  {name:<47} median {ms:9.1f} ms   store is {ms / store_ms:,.1f}× faster")
    out = {"store_episodes": n, "store_write_s": write_s, "store_rows_per_s": n / write_s,
           "store_peak_rss_mb": peak, "store_query_ms": store_ms, "csv_duckdb_ms": csv_ms,
           "pandas_per_request_ms": per_request_ms, "pandas_in_memory_ms": memory_ms}
    cur.close()
    db.close()
    if keep:
        print(f"store bench files kept in {tmp}")
    else:
        shutil.rmtree(tmp)
    return out
