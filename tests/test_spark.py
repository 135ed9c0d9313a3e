"""The summary build on Spark (local mode) equals the single-machine build exactly.

Issue 14: "the same roll-ups from episode files (Parquet), written where the app reads them;
the app itself does not change ... a test that the Spark output equals the single-machine
output exactly". Money is summed in integer fen on both sides (decisions §2), so even the
cost sums compare bit for bit.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI installs a JRE
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

from healthmap.cube import AREA_DIMS, CELL_DIMS, INST_DIMS  # noqa: E402
from healthmap.db import make_engine  # noqa: E402
from healthmap.spark import exchange  # noqa: E402


# the job reads the episode store, not the database: one back end is enough
pytestmark = [pytest.mark.sqlite_only,
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")]

DIMS = {"cells": CELL_DIMS, "areas": AREA_DIMS, "institutions": INST_DIMS}


def _db_table(engine, name: str) -> pd.DataFrame:
    """The store's roll-up ``name`` as its files hold it (money in fen and fen²)."""
    from healthmap import store

    cols = exchange.TABLES[name]
    return store.query(engine, f"SELECT {', '.join(cols)} FROM rollup_{name}")


def _canonical(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if c in ("year", "month") or c in ("episodes", "new_cases", "persons", "referrals",
                                           "fund_n"):
            out[c] = out[c].astype("int64")
        elif c == "in_county":
            out[c] = out[c].astype(bool)
        elif c.endswith("_fen"):
            out[c] = out[c].astype("int64")
        elif c.endswith("_fen2"):  # DECIMAL(38,0): compared as exact integers
            out[c] = out[c].map(int).astype(object)
        else:
            out[c] = out[c].astype(str)
    return out.sort_values(DIMS[name]).reset_index(drop=True)


@pytest.fixture(scope="module")
def spark_output(demo_db, tmp_path_factory):
    from healthmap.spark import rollups
    from healthmap import store

    root = tmp_path_factory.mktemp("spark")
    engine = make_engine(demo_db)
    exchange.write_reference(engine, root / "reference")
    counts = rollups.run(str(store.engine_store_dir(engine)), str(root / "reference"),
                         str(root / "out"))
    return engine, root / "out", counts


def test_spark_rollups_equal_the_single_machine_build(spark_output):
    engine, out, counts = spark_output
    frames = exchange.read_rollups(out)
    for name in exchange.TABLES:
        expected = _canonical(_db_table(engine, name), name)
        got = _canonical(frames[name], name)
        assert counts[name] == len(expected)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_loading_the_spark_output_leaves_every_report_unchanged(spark_output, demo_copy):
    from healthmap import store
    from healthmap.queries import data_version

    _engine, out, _counts = spark_output
    engine = make_engine(demo_copy)
    before = {name: _canonical(_db_table(engine, name), name) for name in exchange.TABLES}
    people = "SELECT * FROM rollup_persons ORDER BY ALL"
    persons_before = store.query(engine, people)
    files_before = store.live_manifest(engine).rollup_files("persons")
    version = data_version(engine)
    years = exchange.load_rollups(engine, out, actor="test")
    assert years == sorted(before["cells"]["year"].unique().tolist())
    for name in exchange.TABLES:
        pd.testing.assert_frame_equal(_canonical(_db_table(engine, name), name), before[name],
                                      check_exact=True)
    assert data_version(engine) > version  # every app process reloads
    # the per-person roll-up is no Spark output: the load built it again, the same
    files = store.live_manifest(engine).rollup_files("persons")
    assert len(files) == len(years) and not set(files) & set(files_before)
    pd.testing.assert_frame_equal(store.query(engine, people), persons_before)


def test_an_incomplete_output_folder_is_refused_and_changes_nothing(spark_output, demo_copy,
                                                                     tmp_path):
    _engine, out, _counts = spark_output
    broken = tmp_path / "broken"
    shutil.copytree(out / "cells", broken / "cells")
    engine = make_engine(demo_copy)
    before = _db_table(engine, "areas")
    with pytest.raises(FileNotFoundError, match="areas"):
        exchange.load_rollups(engine, broken)
    pd.testing.assert_frame_equal(_db_table(engine, "areas"), before)
