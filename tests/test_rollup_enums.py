"""The roll-ups group and sort text keys as sorted ENUM types (healthmap.summary.enum_types):
the rows, their order and the month files must be those the text gives."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from healthmap import cube, person_rollup, summary

# texts whose byte order differs from naive expectations: case, digits, quotes, non-ASCII,
# the roll-ups' own "*" and "—", the empty text
ODD = ["b", "B", "a'q", "é", "Z", "—", "*", "", "10", "9", "é2", "中"]


def test_enum_order_is_duckdb_text_order():
    db = duckdb.connect()
    db.register("t", pd.DataFrame({"v": ODD}))
    [name] = summary.enum_types(db, {"v": ODD}).values()
    text = [r[0] for r in db.execute("SELECT v FROM t ORDER BY v").fetchall()]
    enum = [r[0] for r in db.execute(f"SELECT CAST(CAST(v AS {name}) AS VARCHAR) AS w "
                                     f"FROM t ORDER BY CAST(v AS {name})").fetchall()]
    assert enum == text


def _episodes(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    pick = lambda vals: rng.choice(np.array(vals, dtype=object), n)  # noqa: E731
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366, n), "D")
    return pd.DataFrame({
        "record_id": [f"r{i}" for i in rng.permutation(n)],
        "person_id": pick([f"p{i}" for i in range(300)] + ["P'1", "人"]),
        "area_code": pick(ODD), "icd3": pick(["C18", "c18", "I10", "Z99", "é1"]),
        "date": dates.strftime("%Y-%m-%d"), "month": dates.month,
        "setting": pick(["inpatient", "outpatient", "Out", "*"]),
        "institution_code": pick(["H1", "h1", "OUT", "外"]),
        "total_cost_fen": rng.integers(0, 10**7, n), "fund_paid_fen": pd.array(
            np.where(rng.random(n) < 0.2, None, rng.integers(0, 10**6, n)), "Int64"),
        "insurance_type": pick(["resident", "employee", "Self", ""]),
        "referral": pd.array(rng.choice([True, False, None], n), "boolean"),
        "sex": pick(["F", "M", "f", "未知"]), "age_group": pick(["60-64", "5-9", "85+", ""])})


def test_rollups_equal_the_text_grouping():
    ep = _episodes()
    groups, inst = {"C18": "CRC", "c18": "CRC", "I10": "HT"}, {"H1": True, "OUT": False}
    got = summary.summarise_year(ep, 2024, groups, inst)
    with summary.rollup_db(groups, inst, "t-") as db:  # the same sums on the plain text
        db.register("ep", summary._fen_frame(ep))
        db.execute(f"CREATE TEMP TABLE flagged AS {summary.flag_sql('ep')}")
        for name in ("cells", "institutions"):
            dims, measures = cube.ROLLUPS[name]
            where = "WHERE " + " AND ".join(f"{d} IS NOT NULL" for d in dims if d != "year")
            want = db.sql(summary._sum_sql(dims, measures, "(SELECT *, 2024 AS year FROM "
                                           "flagged)", where)).to_arrow_table()
            whole = pa.concat_tables(got[name])
            assert whole.equals(want), name  # same rows, same order, text types
            assert [t.column("month")[0].as_py() for t in got[name]] == sorted(
                set(want.column("month").to_pylist()))
    parts = got[person_rollup.TABLE]
    for part in parts:
        keys = part.select(["group_code", "setting", "insurance_type"]).to_pylist()
        assert keys == sorted(keys, key=lambda r: tuple(v.encode() for v in r.values()))
        assert all(pa.types.is_string(t) for t in part.schema.types[:4])
    rows = pa.concat_tables(parts).to_pandas()
    assert set(rows["area_code"]) == set(ep["area_code"])
    assert set(rows["setting"]) == set(ep["setting"]) | {"*"}


def test_by_month_slices_and_filters_alike():
    t = pa.table({"month": [1, 1, 3, 7, 7, 7], "n": [1, 2, 3, 4, 5, 6]})
    assert [x.to_pydict() for x in summary.by_month(t)] == [
        {"month": [1, 1], "n": [1, 2]}, {"month": [3], "n": [3]},
        {"month": [7, 7, 7], "n": [4, 5, 6]}]
    u = pa.table({"month": [3, 1, 3], "n": [1, 2, 3]})  # not sorted: filtered
    assert [x.to_pydict() for x in summary.by_month(u)] == [
        {"month": [3, 3], "n": [1, 3]}, {"month": [1], "n": [2]}]


def test_parts_written_as_computed_equal_the_returned_ones(tmp_path, monkeypatch):
    """A store writer's sink (the imports' path) writes each per-person part as it is
    computed: the files hold the rows summarise_year returns without one, in the store's
    types, and add_rollups keeps them as they are."""
    import pyarrow.parquet as pq

    from healthmap.store.writer import StoreWriter, to_arrow

    monkeypatch.setattr(person_rollup, "PART_EPISODES", 1000)  # several parts
    ep = _episodes(4000, seed=11)
    groups, inst = {"C18": "CRC", "I10": "HT"}, {"H1": True, "OUT": False}
    writer = StoreWriter(tmp_path / "db.store", fresh=True)
    try:
        writer.append(to_arrow(ep.assign(year=2024, icd10=ep["icd3"], age=60,
                                         total_cost=ep["total_cost_fen"] / 100,
                                         fund_paid=ep["fund_paid_fen"] / 100)))
        writer.build()
        plain = summary.summarise_year(ep, 2024, groups, inst)
        sunk = summary.summarise_year(ep, 2024, groups, inst, writer.rollup_sink(2024))
        paths = sunk[person_rollup.TABLE]
        assert len(paths) == len(plain[person_rollup.TABLE]) > 1 and all(
            isinstance(p, str) for p in paths)
        for path, want in zip(paths, plain[person_rollup.TABLE]):
            got = pq.read_table(writer.stage / path)
            assert got.num_rows == want.num_rows > 0
            got = got.select(want.column_names).cast(want.schema)
            # the same rows (a part is ordered by group, setting and insurance only)
            order = [(c, "ascending") for c in want.column_names]
            assert got.sort_by(order).equals(want.sort_by(order))
        writer.add_rollups(2024, sunk)
        assert writer.years[2024]["rollups"][person_rollup.TABLE] == paths
    finally:
        writer.discard()
