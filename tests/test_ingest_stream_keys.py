"""The record ids a streamed episodes import stages for its repeat check
(healthmap.ingest.stream._keys) and the hash pre-check that spares the exact comparison
when no two ids are alike (_hash_repeats): the same report as a whole-file validation,
case folding included (ASCII by Arrow, any other text by Python's str.casefold)."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthmap.ingest import import_file, import_frame, read_table
from healthmap.ingest import keyhash, stream
from healthmap.ingest.problems import Problems

TODAY = dt.date(2025, 6, 30)
INST = ("code,name,level,in_county,area_code,region\nH1,玉环市人民医院,三级,是,玉城街道,玉环\n")
HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost"


def _csv(ids) -> bytes:
    rows = [f"{r},P1,331083001,C18.9,2024-03-0{i % 9 + 1},inpatient,H1,{100 + i}"
            for i, r in enumerate(ids)]
    return (HEAD + "\n" + "\n".join(rows) + "\n").encode("utf-8")


def _arrow_frame(ids) -> pd.DataFrame:
    return pd.DataFrame({"record_id": pd.array(ids, dtype=pd.StringDtype("pyarrow"))})


@pytest.fixture()
def loaded(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    return engine


@pytest.mark.parametrize("ids", [
    ["A1", "B2", "b2", "C3", "a1", "D4", "B2", "E5", "F6"],           # ASCII, across chunks
    ["STRASSE", "x1", "straße", "Ä9", "x2", "ä9", "Straße", "x3", "ΣΑ"],  # casefold only
    ["K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "K9"],            # no repeat
])
@pytest.mark.parametrize("workers", [0, 2])
def test_repeats_over_chunks_are_the_whole_file_report(loaded, monkeypatch, ids, workers):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    monkeypatch.setattr(stream, "WORKERS", workers)
    monkeypatch.setattr(stream, "POOL_MIN_BYTES", -1)
    data = _csv(ids)
    streamed = import_file(loaded, "episodes", data, "x.csv", today=TODAY, lang="en")
    whole = import_frame(loaded, "episodes", read_table(data, "x.csv"), "x.csv",
                         today=TODAY, lang="en")
    assert streamed.ok == whole.ok
    pd.testing.assert_frame_equal(streamed.problems, whole.problems)
    if not whole.ok:
        assert set(whole.problems["code"]) <= {"duplicate", "duplicate_case"}


def test_staged_keys_fold_as_python(tmp_path):
    """ASCII ids folded by Arrow, others by str.casefold: the folded column is always
    Python's casefold; empty ids get no hash; the hashes are sorted."""
    for ids in (["Ab", "", "aB", "ZZ9"], ["Straße", "ÄB", "", "İx", "ab"]):
        path = stream._keys(_arrow_frame(ids), 10, tmp_path, len(ids))
        t = pq.read_table(path).to_pydict()
        assert t["row"] == list(range(10, 10 + len(ids)))
        assert t["key"] == ids and t["folded"] == [v.casefold() for v in ids]
        h = np.load(keyhash.hash_file(path))
        assert len(h) == sum(1 for v in ids if v) and (np.diff(h.astype(np.float64)) >= 0).all()
    # an object column (a frame not read by the streaming readers) folds the same
    path = stream._keys(pd.DataFrame({"record_id": ["Straße", "AB"]}), 0, tmp_path, 99)
    assert pq.read_table(path).column("folded").to_pylist() == ["strasse", "ab"]


def test_hash_precheck(tmp_path, monkeypatch):
    """Distinct folded ids: no repeat, and the exact check is not run; a repeat in case
    only, in another chunk: found by the pre-check and reported by the exact one."""
    a = stream._keys(_arrow_frame(["A1", "B2"]), 0, tmp_path, 0)
    b = stream._keys(_arrow_frame(["C3", ""]), 2, tmp_path, 1)
    c = stream._keys(_arrow_frame(["", "b2"]), 4, tmp_path, 2)
    assert not keyhash.hash_repeats([a, b]) and not keyhash.hash_repeats([b])
    assert keyhash.hash_repeats([a, c]) and keyhash.hash_repeats([a, a])
    problems = Problems()
    with monkeypatch.context() as m:
        m.setattr(stream, "_duck", lambda folder: pytest.fail("exact check run"))
        stream._repeats([a, b], tmp_path, problems)
    assert len(problems) == 0
    stream._repeats([a, b, c], tmp_path, problems)
    assert problems.frame("en")[["row", "code"]].values.tolist() == [[7, "duplicate_case"]]


def test_hashes_are_the_same_in_another_process(tmp_path):
    """The workers hash their chunks each in its own process: DuckDB's hash must not
    depend on the process (no random seed)."""
    ids = ["E0000001", "straße", "x" * 200, "病例1", "a"]
    table = pa.table({"row": pa.array(range(5), pa.int64()), "key": ids,
                      "folded": [v.casefold() for v in ids]})
    pq.write_table(table, tmp_path / "t.parquet")
    here = keyhash.folded_hashes(table)
    code = ("import sys, numpy as np, pyarrow.parquet as pq\n"
            "from healthmap.ingest import keyhash\n"
            "t = pq.read_table(sys.argv[1])\n"
            "np.save(sys.argv[2], keyhash.folded_hashes(t))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.parquet"),
                    str(tmp_path / "h.npy")], check=True, cwd=Path(__file__).parents[1])
    assert (np.load(tmp_path / "h.npy") == here).all() and len(set(here.tolist())) == 5


@pytest.mark.parametrize("space", [" ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f",
                                   "\u3000", "\xa0", None])
def test_a_plain_chunk_is_stripped_unless_it_has_no_space(space):
    """The plain reader leaves out the strip only for an ASCII chunk without any of the
    characters a strip removes: chunks equal pandas' parser's either way."""
    from healthmap.ingest import plaincsv
    from tests.test_ingest_plaincsv import _file, _same_as_pandas, R

    rows = list(R)
    if space is not None:
        rows[5] = rows[5].replace(b",P", f",{space}P{space}".encode(), 1)
        assert not plaincsv._unspaced(b"\n".join(rows))
    else:
        assert plaincsv._unspaced(b"\n".join(rows))
    _same_as_pandas(_file(rows))
    _same_as_pandas(_file(rows).replace(b"\n", b"\r\n"))


def test_problem_values_are_the_rows_own():
    """A problem's value is the text of its own row, whatever the column's type."""
    df = pd.DataFrame({"a": pd.array(["x", "", "  y", "z"], dtype=pd.StringDtype("pyarrow")),
                       "b": pd.Series(["1", None, 2.5, "q"], dtype=object),
                       "c": pd.Series([1.0, np.nan, 3.0, 4.0])})
    p, expect = Problems(), Problems()
    mask = np.array([False, True, True, True])
    for column in ("a", "b", "c"):
        p.add_mask(df, mask, column, "required")
        expect.add_rows([1, 2, 3], column, "required", np.asarray(df[column].astype(str))[1:])
    pd.testing.assert_frame_equal(p.frame("en"), expect.frame("en"))
    assert {"  y", "z", "2.5", "q", "3.0", "4.0"} <= set(p.frame("en")["value"])
