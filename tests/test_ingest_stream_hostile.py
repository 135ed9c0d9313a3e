"""Hostile inputs for the streamed episode import (healthmap.ingest.stream) with chunks of
two to four rows: each file's report must be the one the whole-file path gives (read_table
then import_frame), rows numbered as in the file, and a refused file leaves nothing."""

import multiprocessing

import pandas as pd
import pytest

from healthmap.ingest import import_file, import_frame, read_table, stream
from healthmap.ingest.load import _file_problem
from healthmap.ingest.readers import FileReadError
from tests.test_ingest_stream import (GOOD, HEAD, INST, TODAY, _csv, _held, _no_incoming,
                                      _row)


@pytest.fixture()
def loaded(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    return engine


def _whole(engine, data: bytes, lang: str) -> pd.DataFrame:
    try:
        df = read_table(data, "x.csv")
    except FileReadError as exc:
        return _file_problem(exc, lang)
    return import_frame(engine, "episodes", df, "x.csv", today=TODAY, lang=lang).problems


LONG = "X" * 100_000
CASES = {
    "quoted_newline_and_comma_across_boundary": _csv(
        GOOD[:2] + ['E3,P3,331083001,C18.9,2024-01-03,"in\npatient",H1,"1,003",F,43,503,false']
        + GOOD[3:5] + [_row(6, date="2024-13-01")] + GOOD[6:]),
    "bom": b"\xef\xbb\xbf" + _csv(GOOD[:5] + [_row(6, age="abc")] + GOOD[6:]),
    "crlf": _csv(GOOD[:5] + [_row(6, age="abc")] + GOOD[6:]).replace(b"\n", b"\r\n"),
    "header_only": (HEAD + "\n").encode(),
    "header_only_no_newline": HEAD.encode(),
    "empty": b"",
    "only_blank_lines": b"\n\r\n  \n\n\n",
    "leading_blank_lines": b"\n\n\n" + _csv(GOOD[:5] + [_row(6, age="abc")] + GOOD[6:]),
    "no_final_newline": _csv(GOOD[:-1] + [_row(12, sex="Q")]).rstrip(b"\n"),
    "blank_lines": _csv(GOOD[:2] + [""] + GOOD[2:5] + ["", ""] + [_row(6, age="abc")]
                        + GOOD[6:]),
    "too_many_fields_later": _csv(GOOD + [_row(13) + ",x"]),
    "too_few_fields_later": _csv(GOOD[:7] + [",".join(_row(i).split(",")[:5])
                                             for i in range(8, 13)]),
    "too_few_fields_one_row": _csv(GOOD[:9] + [",".join(_row(10).split(",")[:5])]
                                   + GOOD[10:]),
    "repeated_header": _csv(GOOD[:5] + [HEAD] + GOOD[5:] + [HEAD]),
    "case_clash_chunk_1_and_3": _csv(GOOD[:2] + [_row(3, record_id="ab1")] + GOOD[3:9]
                                     + [_row(10, record_id="AB1")] + GOOD[10:]),
    "every_row_bad": _csv([_row(i, date="x") for i in range(1, 12)]),
    "long_cell": _csv(GOOD[:6] + [_row(7, icd10=LONG)] + GOOD[7:]),
    "long_unknown_cell": _csv(GOOD[:6] + [_row(7, area_code=LONG)] + GOOD[7:]),
    "missing_column": "\n".join(",".join(r.split(",")[1:])
                                for r in [HEAD] + GOOD).encode() + b"\n",
    "extra_column": (HEAD + ",note\n" + "\n".join(r + ",x" for r in GOOD) + "\n").encode(),
    "gbk": _csv([_row(i, area_code="玉城街道") for i in range(1, 8)]
                + [_row(8, area_code="无此地")]).decode().encode("gbk"),
    "mixed_encoding": _csv(GOOD[:3] + [_row(4, area_code="玉城街道")]).replace(
        b"\xe7\x8e\x89", "玉".encode("gbk") + b"x", 0) + _row(9, area_code="玉城街道").encode()
        + b"\n" + _row(10, area_code="玉城街道").encode("gbk") + b"\n",
}


@pytest.mark.parametrize("chunk", [2, 3, 4])
@pytest.mark.parametrize("case", sorted(CASES))
def test_report_equals_the_whole_file_report(loaded, monkeypatch, case, chunk):
    monkeypatch.setattr(stream, "CHUNK_ROWS", chunk)
    data = CASES[case]
    for lang in ("zh", "en"):
        res = import_file(loaded, "episodes", data, "x.csv", today=TODAY, lang=lang)
        whole = _whole(loaded, data, lang)
        pd.testing.assert_frame_equal(res.problems.reset_index(drop=True),
                                      whole.reset_index(drop=True))
        assert not res.ok and _held(loaded) == 0 and _no_incoming(loaded)


@pytest.mark.parametrize("chunk", [2, 4])
def test_blank_lines_keep_the_file_row_numbers(loaded, monkeypatch, chunk):
    # line 1 header, 2-3 rows, 4 blank, 5-7 rows, 8-9 blank, 10 a bad age, 11-16 rows;
    # the parser used to skip blank lines, so the bad age was reported on row 7
    monkeypatch.setattr(stream, "CHUNK_ROWS", chunk)
    res = import_file(loaded, "episodes", CASES["blank_lines"], "x.csv", today=TODAY,
                      lang="en")
    assert not res.ok
    got = res.problems.drop_duplicates("row")[["row", "code"]].values.tolist()
    assert got == [[4, "required"], [8, "required"], [9, "required"], [10, "integer"]]
    assert _held(loaded) == 0 and _no_incoming(loaded)


@pytest.mark.parametrize("chunk", [2, 3])
def test_blank_lines_at_the_end_are_not_rows(loaded, monkeypatch, chunk):
    monkeypatch.setattr(stream, "CHUNK_ROWS", chunk)
    data = _csv(GOOD[:5]) + b"\n \r\n\n"
    res = import_file(loaded, "episodes", data, "x.csv", today=TODAY)
    assert res.ok and res.n_rows == 5 and _held(loaded) == 5
    only_blank = (HEAD + "\n\n\n\n\n").encode()
    res = import_file(loaded, "episodes", only_blank, "y.csv", today=TODAY, lang="en")
    assert res.problems["code"].tolist() == ["empty_file"] and _held(loaded) == 5
    pd.testing.assert_frame_equal(res.problems, _whole(loaded, only_blank, "en"))


def test_a_row_with_too_many_fields_is_named_in_both_languages(loaded, monkeypatch):
    # the parser's English message used to be the reason in Chinese too
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    data = CASES["too_many_fields_later"]  # line 14: 13 fields, the header 12
    zh = import_file(loaded, "episodes", data, "x.csv", today=TODAY, lang="zh")
    en = import_file(loaded, "episodes", data, "x.csv", today=TODAY, lang="en")
    assert zh.problems["reason"].tolist() == ["第 14 行有 13 个字段，表头只有 12 个（多出的逗号？）"]
    assert en.problems["reason"].tolist() == ["line 14 has 13 fields, the header 12 (a stray comma?)"]
    assert en.problems["code"].tolist() == ["field_count"] and _held(loaded) == 0


def test_bom_crlf_quotes_and_no_final_newline_store_what_plain_lf_stores(loaded, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    quoted = [",".join(f'"{v}"' for v in r.split(",")) for r in GOOD]
    odd = b"\xef\xbb\xbf" + _csv(quoted).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    res = import_file(loaded, "episodes", odd, "odd.csv", today=TODAY)
    assert res.ok and (res.n_rows, res.inserted) == (12, 12)
    res = import_file(loaded, "episodes", _csv(GOOD), "plain.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 12)  # no "\r" or quote kept
    assert _no_incoming(loaded)


_check_chunk = stream._check_chunk


def _checked_elsewhere(*args):
    assert multiprocessing.parent_process(), "a chunk was checked in the reading process"
    return _check_chunk(*args)


@pytest.fixture()
def workers(monkeypatch):
    """Chunks checked by two worker processes, however small the file (a chunk checked in
    the test's own process fails the test)."""
    monkeypatch.setattr(stream, "WORKERS", 2)
    monkeypatch.setattr(stream, "POOL_MIN_BYTES", -1)
    monkeypatch.setattr(stream, "_check_chunk", _checked_elsewhere)


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunks_checked_by_worker_processes_give_the_whole_file_report(loaded, monkeypatch,
                                                                     workers, case):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 2)
    data = CASES[case]
    for lang in ("zh", "en"):
        res = import_file(loaded, "episodes", data, "x.csv", today=TODAY, lang=lang)
        pd.testing.assert_frame_equal(res.problems.reset_index(drop=True),
                                      _whole(loaded, data, lang).reset_index(drop=True))
        assert not res.ok and _held(loaded) == 0 and _no_incoming(loaded)


def test_a_good_file_checked_by_worker_processes_stores_what_one_process_stores(
        loaded, monkeypatch, workers):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    read = []

    def stop_in_third_chunk(fraction, message):
        read.append(message)
        if len(read) == 3:  # two chunks sent to the workers, the third read
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(loaded, "episodes", _csv(GOOD), "big.csv", today=TODAY,
                    progress=stop_in_third_chunk)
    assert _held(loaded) == 0 and _no_incoming(loaded)
    res = import_file(loaded, "episodes", _csv(GOOD), "big.csv", today=TODAY)
    assert res.ok and (res.n_rows, res.inserted) == (12, 12) and _no_incoming(loaded)
    monkeypatch.setattr(stream, "WORKERS", 0)  # the same file checked in this process
    monkeypatch.setattr(stream, "_check_chunk", _check_chunk)
    res = import_file(loaded, "episodes", _csv(GOOD), "big.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 12)
