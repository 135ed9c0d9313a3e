"""The period frames' fast path (healthmap.periodframe) gives what a pandas mask and
group-by on the same frame give (the path it replaced), and money exactly as the store's
DuckDB sums give it: on random filters over the demo data and on hand-made rows."""

import random

import numpy as np
import pandas as pd
import pytest

from healthmap import cube, periodframe, queries
from healthmap.codes import AGE_GROUPS, INSURANCE_TYPES

BYS = [[], ["area_code"], ["area_code", "age_group"], ["area_code", "in_county"], ["icd3"],
       ["year", "month"], ["insurance_type", "in_county"], ["age_group", "sex"],
       ["icd3", "setting", "in_county"], ["year", "area_code", "sex", "age_group"]]


def _pandas(frame: pd.DataFrame, conds, by, measures) -> pd.DataFrame:
    """The replaced path: a row mask, then pandas' group-by (keys as text)."""
    sub = frame.loc[cube.frame_mask(frame, conds), by + measures]
    if not by:
        return sub[measures].sum().to_frame().T
    out = sub.groupby(by, observed=True, as_index=False)[measures].sum()
    for c in by:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(str)
    return out


def _random_filters(rng, years, groups):
    m0 = rng.randint(1, 12)
    pick = lambda xs, k: tuple(rng.sample(list(xs), rng.randint(0, k)))  # noqa: E731
    whole = rng.random() < 0.5
    return queries.Filters(
        years=pick(years, len(years)) or tuple(years[-1:]),
        month_from=None if whole else m0, month_to=None if whole else rng.randint(m0, 12),
        groups=pick(groups, 3) if rng.random() < 0.6 else (),
        icd3=pick(["C16", "C18", "I10", "J18", "E11", "Z99"], 2),
        sex=rng.choice([None, "M", "F"]), age_groups=pick(AGE_GROUPS, 4),
        insurance=pick(INSURANCE_TYPES, 2) if rng.random() < 0.5 else (),
        setting=rng.choice([None, "inpatient", "outpatient"]))


def _same(fast: pd.DataFrame, ref: pd.DataFrame, by, measures, what) -> None:
    assert list(fast.columns) == by + measures, what
    assert len(fast) == len(ref), what
    for c in by:
        assert fast[c].astype(str).tolist() == ref[c].astype(str).tolist(), (what, c)
    for m in measures:
        if m == "cost_sq_sum":  # fen² summed as floats on both paths
            np.testing.assert_allclose(fast[m], ref[m].astype(float), rtol=1e-12, err_msg=what)
        elif fast[m].dtype.kind == "f":  # money: exact fen against the yuan floats' sum
            np.testing.assert_allclose(fast[m], ref[m].astype(float), rtol=1e-12, atol=1e-6,
                                       err_msg=what)
        else:
            assert fast[m].tolist() == ref[m].astype(np.int64).tolist(), (what, m)


def test_fast_path_equals_pandas_and_the_store_on_random_filters(demo_db):
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    years = tuple(queries.periods(e))
    groups = queries.disease_groups(e)["group_code"].tolist()
    # one year as loaded, and several years concatenated as the pages do
    frames = {"one": queries.load_cells_frame(e, years[-1:]),
              "all": queries.concat_frames([queries.load_cells_frame(e, (y,)) for y in years])}
    inst = queries.concat_frames([queries.load_institution_frame(e, (y,)) for y in years])
    assert all(isinstance(f, periodframe.PeriodFrame) for f in [*frames.values(), inst])
    rng = random.Random(14)
    for i in range(60):
        f = _random_filters(rng, years, groups)
        icd3 = queries.resolve(e, f).icd3_list
        conds = cube.conditions(f, icd3)
        by = rng.choice(BYS)
        frame = frames["all" if i % 2 else "one"]
        if i % 2 == 0:
            f = queries.Filters(**{**f.__dict__, "years": years[-1:]})
            conds = cube.conditions(f, icd3)
        fast = queries.cells(e, f, by, icd3, frame)
        _same(fast, _pandas(frame, conds, by, cube.MEASURES), by, cube.MEASURES, (f, by))
        # money exactly as the store's DuckDB sums (fen summed, divided once)
        sql = queries.cells(e, f, by, icd3)
        if by:
            sql = sql[sql["episodes"] > 0].reset_index(drop=True)
            mem = fast[fast["episodes"] > 0].reset_index(drop=True)
            mem = mem.sort_values(by, kind="stable").reset_index(drop=True)
            sql = sql.sort_values(by, kind="stable").reset_index(drop=True)
        else:
            mem = fast
        for m in ("episodes", "new_cases", "referrals", "cost_sum", "fund_sum", "fund_n"):
            assert mem[m].tolist() == sql[m].tolist(), (f, by, m)
        # patient flows, also narrowed to some areas
        codes = rng.sample(sorted(inst["area_code"].cat.categories), 3) if i % 3 == 0 else None
        keys = ["area_code", "institution_code", *rng.choice([(), ("icd3", "setting")])]
        iconds = conds + ([cube.Condition("area_code", "in", tuple(codes))] if codes else [])
        got = periodframe.grouped(inst, "institutions", iconds, keys, cube.INST_MEASURES)
        _same(got, _pandas(inst, iconds, keys, cube.INST_MEASURES), keys, cube.INST_MEASURES,
              (f, keys, codes))
    e.dispose()


def _hand_made() -> pd.DataFrame:
    """Six cells: two areas, a missing insurance type and a missing age group; money
    whose yuan floats do not add up exactly (0.1 + 0.2)."""
    cat = pd.Categorical
    return pd.DataFrame({
        "year": [2024] * 6, "month": [1, 1, 2, 3, 3, 12],
        "area_code": cat(["A", "B", "A", "A", "B", "B"]),
        "sex": cat(["F", "M", "F", "M", "F", "M"]),
        "age_group": cat(["60-64", "60-64", None, "65-69", "65-69", "60-64"]),
        "icd3": cat(["C16", "C18", "C16", "I10", "C16", "C18"]),
        "setting": cat(["inpatient"] * 4 + ["outpatient"] * 2),
        "in_county": [True, False, True, True, False, True],
        "insurance_type": cat(["resident", "employee", "resident", None, "resident",
                               "employee"]),
        "episodes": [2, 1, 3, 4, 1, 2], "new_cases": [1, 1, 0, 2, 1, 1],
        "persons": [1, 1, 0, 2, 1, 1], "referrals": [0, 1, 0, 0, 0, 1],
        "cost_sum": [0.1, 0.2, 0.2, 1000.05, 7.0, 0.1],
        "cost_sq_sum": [0.01, 0.04, 0.02, 500000.0, 49.0, 0.01],
        "fund_sum": [0.1, 0.0, 0.2, 600.0, 0.0, 0.0], "fund_n": [2, 1, 3, 4, 0, 2]})


def test_hand_made_rows_worked_out_by_hand():
    frame = periodframe.period_frame(_hand_made(), "cells")
    # three runs sorted by ICD-10 category (C16 C18 | C16 I10 | C16 C18): kept in order, a
    # disease selection is a slice of each run
    assert frame["icd3"].astype(str).tolist() == ["C16", "C18", "C16", "I10", "C16", "C18"]
    starts = periodframe.index_of(frame, "cells").base.starts
    assert starts[:, 0].tolist() == [0, 2, 4] and starts[:, 1].tolist() == [1, 3, 5]
    # beyond a few runs the rows stay where they are: the index takes them sorted
    many = pd.concat([_hand_made()] * 40, ignore_index=True)
    kept = periodframe.period_frame(many, "cells")
    assert kept["icd3"].astype(str).tolist() == many["icd3"].astype(str).tolist()
    order = periodframe.row_order(kept)
    assert order[:3].tolist() == [0, 2, 4] and order[-3:].tolist() == [3 + 6 * 37, 3 + 6 * 38,
                                                                        3 + 6 * 39]
    assert many["icd3"].astype(str).to_numpy()[order].tolist() == sorted(
        many["icd3"].astype(str))
    c16 = [cube.Condition("icd3", "in", ("C16", "X00"))]
    out = periodframe.grouped(frame, "cells", c16, ["area_code"])
    # A: rows 1 and 3 (2 + 3 episodes, 0.1 + 0.2 yuan); B: row 5
    assert out["area_code"].tolist() == ["A", "B"]
    assert out["episodes"].tolist() == [5, 1]
    assert out["cost_sum"].tolist() == [0.3, 7.0]  # exact: 30 fen, not 0.30000000000000004
    assert 0.1 + 0.2 != 0.3
    # a missing key drops its rows from that grouping only (as pandas' group-by does)
    by_age = periodframe.grouped(frame, "cells", [], ["age_group"], ["episodes"])
    assert by_age.to_dict("list") == {"age_group": ["60-64", "65-69"], "episodes": [5, 5]}
    # conditions never keep a missing value
    ins = periodframe.grouped(frame, "cells", [cube.Condition("insurance_type", "in",
                                                              ("resident",))], [], ["episodes"])
    assert ins["episodes"].tolist() == [6]
    months = periodframe.grouped(frame, "cells", [cube.Condition("month", "between", (2, 3)),
                                                  cube.Condition("sex", "eq", ("F",))],
                                 ["year", "in_county"], ["episodes", "fund_n"])
    assert months.to_dict("list") == {"year": [2024, 2024], "in_county": [False, True],
                                      "episodes": [1, 3], "fund_n": [0, 3]}
    # nothing selected: no groups, or one row of zeros without a grouping
    none = [cube.Condition("icd3", "in", ("Z99",))]
    assert periodframe.grouped(frame, "cells", none, ["area_code"]).empty
    assert periodframe.grouped(frame, "cells", none, [])["episodes"].tolist() == [0]


def test_coarser_roll_ups_answer_as_the_rows_do():
    """A question that needs no ICD-10 detail is answered from the roll-up without it
    (built on first use), with the sums of the rows themselves."""
    rows = pd.concat([_hand_made().assign(icd3=f"C{k:02d}") for k in range(50)],
                     ignore_index=True).astype({"icd3": "category"})
    frame = periodframe.period_frame(rows, "cells")
    index = periodframe.index_of(frame, "cells")
    assert not index.built
    conds = [cube.Condition("setting", "eq", ("inpatient",))]
    got = periodframe.grouped(frame, "cells", conds, ["area_code", "in_county"])
    assert [dims for dims in index.built if "icd3" not in dims]  # 6 rows, not 300
    ref = _pandas(rows, conds, ["area_code", "in_county"], cube.MEASURES)
    _same(got, ref, ["area_code", "in_county"], cube.MEASURES, "projection")
    assert got["episodes"].tolist() == [450, 50]  # A in county: 50 × (2 + 3 + 4); B: 50 × 1
    assert got["cost_sum"].tolist() == [50017.5, 10.0]  # 50 × 1,000.35 and 50 × 0.2, exact
    # a disease selection is still answered from the rows' slices
    c05 = periodframe.grouped(frame, "cells", [cube.Condition("icd3", "in", ("C05",))],
                              ["area_code"], ["episodes"])
    assert c05.to_dict("list") == {"area_code": ["A", "B"], "episodes": [9, 4]}


def test_derived_frames_are_plain_and_a_plain_frame_is_indexed_on_the_fly():
    frame = periodframe.period_frame(_hand_made(), "cells")
    assert type(frame[frame["episodes"] > 1]) is pd.DataFrame
    assert type(frame.assign(x=1)) is pd.DataFrame
    plain = _hand_made()
    a = periodframe.grouped(plain, "cells", [], ["icd3"], ["episodes"])
    assert a.to_dict("list") == {"icd3": ["C16", "C18", "I10"], "episodes": [6, 3, 4]}


@pytest.mark.parametrize("table", ["cells", "institutions"])
def test_a_period_frame_keeps_its_rows(demo_db, table):
    """Loading sorts and indexes; the rows are the roll-up's, unchanged."""
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    year = queries.periods(e)[-1]
    load = queries.load_cells_frame if table == "cells" else queries.load_institution_frame
    frame = load(e, (year,))
    raw = queries.rollup(e, table, [cube.Condition("year", "in", (year,))])
    dims = cube.ROLLUPS[table][0]
    a = pd.DataFrame(frame).astype({d: str for d in dims}).sort_values(dims).reset_index(
        drop=True)
    b = raw.astype({d: str for d in dims}).sort_values(dims).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False)
    e.dispose()


def test_bench_peers_give_the_same_answer(demo_db, capsys):
    """The benchmark's map questions come out the same from the period frame, the cells
    roll-up, the raw episodes and per-request pandas (map_peers checks it, then times)."""
    from healthmap import bench
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    year = queries.periods(e)[-1]
    f = queries.Filters(years=(year,), setting="inpatient")
    out = bench.map_peers(e, f, queries.load_cells_frame(e, (year,)))
    assert len(out) == 4 * len(bench.PEER_QUESTIONS)
    assert "DuckDB on the raw episodes" in capsys.readouterr().out
    e.dispose()


def _shuffled_year(rng: np.random.Generator, year: int, n: int = 3000) -> pd.DataFrame:
    """``n`` cells in no order (thousands of runs by ICD-10 category), with fen² sums whose
    float total depends on the order they are added in."""
    cat = lambda xs: pd.Categorical(rng.choice(xs, n))  # noqa: E731
    return pd.DataFrame({
        "year": year, "month": rng.integers(1, 13, n),
        "area_code": cat(["A", "B", "C"]), "sex": cat(["F", "M"]),
        "age_group": cat(["60-64", "65-69"]), "icd3": cat([f"C{k:02d}" for k in range(40)]),
        "setting": cat(["inpatient", "outpatient"]), "in_county": rng.random(n) < 0.7,
        "insurance_type": cat(["resident", "employee"]),
        "episodes": rng.integers(1, 9, n), "new_cases": rng.integers(0, 3, n),
        "persons": rng.integers(0, 3, n), "referrals": rng.integers(0, 2, n),
        "cost_sum": rng.integers(1, 10**7, n) / 100,
        "cost_sq_sum": rng.random(n) * 10.0 ** rng.integers(0, 14, n),
        "fund_sum": rng.integers(0, 10**6, n) / 100, "fund_n": rng.integers(0, 9, n)})


def test_rows_taken_in_sorted_order_sum_as_the_sorted_rows_do():
    """A frame of many runs keeps its rows and its index takes them in the stable sorted
    order: every sum, float ones included, is the one the rows sorted beforehand (the
    earlier loading) give, bit for bit; also for years concatenated (each in its order)."""
    rng = np.random.default_rng(14)
    years = [_shuffled_year(rng, 2023), _shuffled_year(rng, 2024)]
    moved = [y.take(np.argsort(y["icd3"].cat.codes.to_numpy(), kind="stable")
                    ).reset_index(drop=True) for y in years]
    kept = [periodframe.period_frame(y, "cells") for y in years]
    assert all(periodframe.row_order(k) is not None for k in kept)
    assert all(periodframe.row_order(periodframe.period_frame(m, "cells")) is None
               for m in moved)
    pairs = [(kept[1], periodframe.period_frame(moved[1], "cells")),
             (queries.concat_frames(kept),
              queries.concat_frames([periodframe.period_frame(m, "cells") for m in moved]))]
    assert len(periodframe.row_order(pairs[1][0])) == 6000
    questions = [([], ["area_code"]), ([cube.Condition("icd3", "in", ("C03", "C17"))],
                                       ["area_code", "age_group"]),
                 ([cube.Condition("sex", "eq", ("M",))], ["in_county"]),
                 ([cube.Condition("month", "between", (2, 5))], ["icd3"]),
                 ([cube.Condition("setting", "eq", ("inpatient",)),
                   cube.Condition("icd3", "in", ("C00", "C39"))], []),
                 ([], ["year", "month", "sex"]), ([], ["icd3", "month", "insurance_type"])]
    for a, b in pairs:
        for conds, by in questions:
            got, ref = (periodframe.grouped(x, "cells", conds, by) for x in (a, b))
            pd.testing.assert_frame_equal(got, ref, check_exact=True)
            assert got["cost_sq_sum"].sum() > 0
    # the coarser roll-ups were built from rows in the same order, so they agree too
    for a, b in pairs:
        ia, ib = (periodframe.index_of(x, "cells") for x in (a, b))
        assert ia.built.keys() == ib.built.keys() and ia.built
        for dims, t in ia.built.items():
            for m, v in t.values.items():
                np.testing.assert_array_equal(v, ib.built[dims].values[m], err_msg=str(dims))


@pytest.mark.parametrize("table", ["cells", "institutions"])
def test_rows_read_from_the_files_are_the_sql_rows(demo_db, table, monkeypatch):
    """Reading a period's roll-up rows straight from the store's Parquet files gives what
    the DuckDB query gives: the same rows in the same order, the same values (money in
    yuan bit for bit) and types (categories in sorted order): one year, several, all,
    and a year the store does not hold; and by DuckDB when fen² sums could not be
    converted exactly."""
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    years = tuple(queries.periods(e))
    asks = [years[-1:], years[:2], (), (1990,), (years[0], 1990)]
    for ask in asks:
        got = queries.period_rows(e, table, ask)
        conds = [cube.Condition("year", "in", ask)] if ask else []
        ref = queries.rollup(e, table, conds, categorical=True)
        pd.testing.assert_frame_equal(got, ref, check_exact=True)
        assert len(got) == 0 if ask == (1990,) else len(got) > 1000, ask
    # fen² sums a double cannot be made of here: DuckDB converts that column (same frame)
    calls = []
    real = queries._sql_doubles
    monkeypatch.setattr(queries, "_fen2_doubles", lambda col: None)
    monkeypatch.setattr(queries, "_sql_doubles", lambda *a: calls.append(a) or real(*a))
    got = queries.period_rows(e, table, years[-1:])
    assert len(calls) == (table == "cells")  # only the cells hold fen²
    pd.testing.assert_frame_equal(got, queries.rollup(e, table, [cube.Condition(
        "year", "in", years[-1:])], categorical=True), check_exact=True)
    e.dispose()


def test_fen2_sums_become_the_doubles_duckdb_makes():
    """Whole fen² sums beyond 2⁵³ (not every integer is a double there) round to the
    double DuckDB's cast gives, up to the int64 limit; beyond it, or below -2⁵³ (DuckDB
    rounds negative 128-bit integers in two steps), none is made (DuckDB converts)."""
    import decimal

    import duckdb
    import pyarrow as pa

    big = [0, 1, 2**53, 2**53 + 1, 2**53 + 3, 2**60 + 2**7 + 1, 2**62 + 2**9 - 1,
           2**63 - 1, 123456789012345678, -(2**53), -5]
    col = pa.chunked_array([pa.array([decimal.Decimal(v) for v in big], pa.decimal128(38, 0))])
    got = queries._fen2_doubles(col)
    con = duckdb.connect()
    con.register("t", pa.table({"x": col}))
    ref = con.execute("SELECT CAST(x AS DOUBLE) AS v FROM t").df()["v"].to_numpy()
    assert got.tolist() == ref.tolist()
    assert got[3] == float(2**53) and got[4] == float(2**53 + 4)  # ties to even
    for outside in (2**63, -(2**53) - 1):
        assert queries._fen2_doubles(pa.chunked_array([pa.array(
            [decimal.Decimal(outside)], pa.decimal128(38, 0))])) is None
