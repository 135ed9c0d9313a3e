"""Episode CSV imports read in chunks (healthmap.ingest.stream): with a chunk of four rows
(the first chunk also holds the header: data rows 0-2, 3-6, 7-10, 11-14 …) hand-made
files span several chunks. The problem report must be the one a whole-file validation
gives (import_frame validates the frame read whole), every row numbered as in the file."""

import datetime as dt

import pandas as pd
import pytest

from healthmap import queries, store
from healthmap.bootstrap import init_database
from healthmap.db import make_engine
from healthmap.ingest import import_file, import_frame, read_table
from healthmap.ingest import stream
from healthmap.store.layout import INCOMING, engine_store_dir
from healthmap.models import ImportLog
from sqlalchemy import select

TODAY = dt.date(2025, 6, 30)
INST = ("code,name,level,in_county,area_code,region\nH1,玉环市人民医院,三级,是,玉城街道,玉环\n"
        "T1,台州医院,tertiary,false,,台州\n")
HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age,fund_paid,referral"


def _row(i: int, **change) -> str:
    v = {"record_id": f"E{i}", "person_id": f"P{i % 5}", "area_code": "331083001",
         "icd10": "C18.9", "date": f"2024-{i % 12 + 1:02d}-03", "setting": "inpatient",
         "institution_code": "H1" if i % 3 else "T1", "total_cost": f"{1000 + i}",
         "sex": "MF"[i % 2], "age": f"{40 + i}", "fund_paid": f"{500 + i}",
         "referral": "false"} | change
    return ",".join(v[c] for c in HEAD.split(","))


def _csv(rows) -> bytes:
    return (HEAD + "\n" + "\n".join(rows) + "\n").encode("utf-8")


GOOD = [_row(i) for i in range(1, 13)]  # data rows 0-11: file lines 2-13, four chunks


@pytest.fixture()
def small_chunks(monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 4)
    chunks = []
    real = stream.read_chunks

    def counted(*args):
        for offset, df, read in real(*args):
            chunks.append((offset, len(df)))
            yield offset, df, read

    monkeypatch.setattr(stream, "read_chunks", counted)
    return chunks


@pytest.fixture()
def loaded(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    return engine


def _held(engine) -> int:
    return int(store.query(engine, "SELECT count(*) AS n FROM episodes")["n"].iloc[0])


def _whole_file(engine, data: bytes, lang: str):
    """The problems of the same file validated whole (the in-memory path)."""
    return import_frame(engine, "episodes", read_table(data, "x.csv"), "x.csv", today=TODAY,
                        lang=lang)


def _no_incoming(engine) -> bool:
    folder = engine_store_dir(engine) / INCOMING
    return not folder.exists() or not any(folder.iterdir())


def test_bad_rows_in_several_chunks_reported_with_their_file_rows(loaded, small_chunks):
    rows = list(GOOD)
    rows[1] = _row(2, area_code="nowhere")        # line 3, chunk 0
    rows[10] = _row(11, record_id="e5")           # line 12, chunk 2: E5 (line 6) in case only
    rows += [_row(13, date="2024-13-45"),         # line 14, chunk 3
             _row(14, record_id="E1"),            # line 15, chunk 3: repeats line 2 (chunk 0)
             _row(15, fund_paid="99999")]         # line 16, chunk 4: fund above cost
    data = _csv(rows)
    res = import_file(loaded, "episodes", data, "big.csv", today=TODAY, lang="en")
    assert [o for o, _n in small_chunks] == [0, 3, 7, 11]  # four chunks were read
    assert not res.ok
    got = sorted(zip(res.problems["row"], res.problems["column"], res.problems["code"]))
    assert got == [(3, "area_code", "unknown_area"), (12, "record_id", "duplicate_case"),
                   (14, "date", "date"), (15, "record_id", "duplicate"),
                   (16, "fund_paid", "fund_gt_cost")]
    dup = res.problems.set_index("row")
    assert dup.loc[15, "reason"] == "duplicate within the file (same as row 2)"
    assert dup.loc[12, "value"] == "e5" and "6" in dup.loc[12, "reason"]
    assert _held(loaded) == 0 and _no_incoming(loaded)
    with loaded.connect() as c:
        log = c.execute(select(ImportLog.status, ImportLog.rows_total, ImportLog.n_errors)
                        .order_by(ImportLog.id.desc())).first()
    assert tuple(log) == ("rejected", 15, 5)
    for lang in ("zh", "en"):  # the very report a whole-file validation gives
        streamed = import_file(loaded, "episodes", data, "big.csv", today=TODAY, lang=lang)
        whole = _whole_file(loaded, data, lang)
        pd.testing.assert_frame_equal(streamed.problems, whole.problems)
        if lang == "zh":
            assert "文件内重复（与第 2 行重复）" in set(streamed.problems["reason"])


def test_a_form_problem_anywhere_stops_validation_as_for_a_whole_file(loaded, small_chunks):
    rows = list(GOOD)
    rows[0] = _row(1, date="2024-99-99")            # a value problem, chunk 0
    rows[9] = _row(10, person_id="P\u200b9")         # a zero-width space: a form problem
    rows[11] = _row(1)                                # a repeat of line 2
    data = _csv(rows)
    res = import_file(loaded, "episodes", data, "big.csv", today=TODAY, lang="en")
    assert list(zip(res.problems["row"], res.problems["column"], res.problems["code"])) == [
        (11, "person_id", "key_chars")]
    pd.testing.assert_frame_equal(res.problems, _whole_file(loaded, data, "en").problems)
    assert _held(loaded) == 0


def test_a_good_file_over_several_chunks_equals_the_whole_file_import(loaded, small_chunks,
                                                                      tmp_path):
    data = _csv(GOOD)
    res = import_file(loaded, "episodes", data, "big.csv", today=TODAY)
    assert res.ok, res.problems
    assert len(small_chunks) == 4
    assert (res.n_rows, res.inserted, res.updated, res.unchanged) == (12, 12, 0, 0)
    assert res.years_refreshed == [2024] and _held(loaded) == 12 and _no_incoming(loaded)
    other = make_engine(f"sqlite:///{tmp_path / 'whole.db'}")
    init_database(other)
    assert import_file(other, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    assert import_frame(other, "episodes", read_table(data, "x.csv"), "x.csv", today=TODAY).ok
    mine = store.query(loaded, "SELECT * FROM episodes ORDER BY record_id")
    theirs = store.query(other, "SELECT * FROM episodes ORDER BY record_id")
    pd.testing.assert_frame_equal(mine, theirs)
    for table in ("cells", "areas", "institutions"):
        a, b = queries.rollup(loaded, table), queries.rollup(other, table)
        key = list(a.columns)
        pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                      b.sort_values(key).reset_index(drop=True))
    other.dispose()


def test_reimporting_the_same_file_changes_nothing(loaded, small_chunks):
    data = _csv(GOOD)
    assert import_file(loaded, "episodes", data, "big.csv", today=TODAY).ok
    before = store.live_manifest(loaded)
    res = import_file(loaded, "episodes", data, "big.csv", today=TODAY)
    assert res.ok and (res.inserted, res.updated, res.unchanged) == (0, 0, 12)
    assert res.years_refreshed == []
    assert store.live_manifest(loaded) == before and _held(loaded) == 12
    # one changed row in the last chunk: that row updated, the rest unchanged
    changed = GOOD[:-1] + [_row(12, total_cost="2000")]
    res = import_file(loaded, "episodes", _csv(changed), "big2.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 11)
    cost = store.query(loaded, "SELECT total_cost_fen FROM episodes WHERE record_id = 'E12'")
    assert int(cost["total_cost_fen"].iloc[0]) == 200000


def test_a_record_id_held_in_another_case_is_refused_over_all_chunks(loaded, small_chunks):
    assert import_file(loaded, "episodes", _csv(GOOD[:2]), "a.csv", today=TODAY).ok
    rows = GOOD[2:] + [_row(20, record_id="e2")]  # line 12, the last chunk
    data = _csv(rows)
    res = import_file(loaded, "episodes", data, "b.csv", today=TODAY, lang="en")
    assert list(zip(res.problems["row"], res.problems["code"])) == [(12, "duplicate_case_held")]
    pd.testing.assert_frame_equal(res.problems, _whole_file(loaded, data, "en").problems)
    assert _held(loaded) == 2


def test_a_failure_midway_leaves_nothing(loaded, small_chunks):
    assert import_file(loaded, "episodes", _csv(GOOD[:3]), "a.csv", today=TODAY).ok
    before = store.live_manifest(loaded)
    def stop_in_third_chunk(fraction, message):
        if len(small_chunks) == 3:  # the third chunk is read, two are staged
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(loaded, "episodes", _csv(GOOD), "big.csv", today=TODAY,
                    progress=stop_in_third_chunk)
    assert store.live_manifest(loaded) == before and _held(loaded) == 3
    assert _no_incoming(loaded)

    def stop_in_summaries(fraction, message):
        if "刷新汇总表" in message:  # the roll-ups of the second phase
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(loaded, "episodes", _csv(GOOD), "big.csv", today=TODAY,
                    progress=stop_in_summaries)
    assert store.live_manifest(loaded) == before and _held(loaded) == 3
    assert queries.rollup(loaded, "cells")["episodes"].sum() == 3 and _no_incoming(loaded)
    # a row the parser cannot read, in the fourth chunk: refused, nothing written
    bad = _csv(GOOD + ["E99,P1,331083001,C18.9,2024-01-01,inpatient,H1,1,M,1,1,false,x,y"])
    res = import_file(loaded, "episodes", bad, "bad.csv", today=TODAY, lang="en")
    assert not res.ok and "14" in res.problems["reason"].iloc[0]
    assert store.live_manifest(loaded) == before and _no_incoming(loaded)


def test_progress_and_an_ignored_column_warned_once(loaded, small_chunks):
    data = (HEAD + ",note\n" + "\n".join(r + ",x" for r in GOOD) + "\n").encode("utf-8")
    messages = []
    res = import_file(loaded, "episodes", data, "big.csv", today=TODAY, lang="zh",
                      ignore_unknown_columns=True, progress=lambda f, m: messages.append((f, m)))
    assert res.ok and len(res.warnings) == 1 and res.warnings["column"].iloc[0] == "note"
    fractions = [f for f, _m in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "正在校验 12 行…" in [m for _f, m in messages]  # the rows so far, per chunk


def test_a_gbk_file_streams_too(loaded, small_chunks):
    rows = [_row(i, area_code="玉城街道") for i in range(1, 7)]
    res = import_file(loaded, "episodes", _csv(rows).decode().encode("gbk"), "gbk.csv",
                      today=TODAY)
    assert res.ok and _held(loaded) == 6 and len(small_chunks) == 2
