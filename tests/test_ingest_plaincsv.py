"""The plain-CSV fast path of the streamed import (healthmap.ingest.plaincsv): which files
it reads itself and where it hands over to pandas' parser, and that read_chunks gives the
very chunks (or the very refusal) of the pandas path in every case."""

import numpy as np
import pandas as pd
import pytest

from healthmap.ingest import plaincsv, stream
from healthmap.ingest.contract import Limits
from healthmap.ingest.readers import FileReadError
from healthmap.ingest.validate import _empty, _to_float
from tests.test_ingest_stream import GOOD, HEAD, _row

R = [r.encode() for r in GOOD]  # 12 rows: with chunks of 4, chunks of 3, 4, 4, 1 rows
H = HEAD.encode()


def _file(rows, head=H, end=b"\n") -> bytes:
    return head + b"\n" + b"\n".join(rows) + end


def _plain_given(data: bytes, chunk: int = 4) -> tuple[bool, int]:
    """(whether the plain reader read the whole file, how many chunks it gave)."""
    given = [0]
    it = plaincsv.plain_chunks(data, Limits.from_env(), chunk, given)
    while True:
        try:
            next(it)
        except StopIteration as stop:
            return stop.value, given[0]


def _chunks(it):
    out = []
    try:
        for offset, df, _read in it:
            out.append((offset, df))
    except FileReadError as exc:
        out.append((str(exc), exc.code, exc.params,
                    None if exc.problems is None else exc.problems.frame("en")))
    return out


def _same_as_pandas(data: bytes, chunk: int = 4) -> None:
    mine = _chunks(stream.read_chunks(data, True, Limits.from_env(), chunk))
    theirs = _chunks(stream._parsed_chunks(data, True, Limits.from_env(), chunk, 0))
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        if len(a) == 2:
            assert a[0] == b[0]
            pd.testing.assert_frame_equal(a[1], b[1])
            assert a[1].attrs == b[1].attrs
        else:
            assert a[:3] == b[:3]
            if a[3] is not None:
                pd.testing.assert_frame_equal(a[3], b[3])


def _quoted(row: bytes) -> bytes:
    return row.replace(b",inpatient,", b',"in,patient",')


# (file, whether the plain reader reads it whole, chunks it gives before pandas takes over)
CASES = {
    "plain": (_file(R), True, 4),
    "crlf": (_file(R).replace(b"\n", b"\r\n"), True, 4),
    "bom": (b"\xef\xbb\xbf" + _file(R), True, 4),
    "no_final_newline": (_file(R, end=b""), True, 4),
    "leading_and_trailing_spaces": (_file([b" , ".join(r.split(b",")) + b" " for r in R]),
                                    True, 4),
    "trailing_comma_everywhere": (_file([r + b"," for r in R], head=H + b","), True, 4),
    "blank_line_in_chunk_3": (_file(R[:8] + [b""] + R[8:]), False, 2),
    "spaces_line_in_chunk_2": (_file(R[:5] + [b"  "] + R[5:]), False, 1),
    "quoted_comma_in_chunk_3": (_file(R[:9] + [_quoted(R[9])] + R[10:]), False, 2),
    "quoted_newline_in_chunk_1": (
        _file([R[0].replace(b",inpatient,", b',"in\npatient",')] + R[1:]), False, 0),
    "leading_space_then_quote": (_file(R[:6] + [R[6].replace(b",inpatient,",
                                                             b', "in,patient",')] + R[7:]),
                                 False, 1),
    "short_row_in_chunk_4": (_file(R[:11] + [b",".join(R[11].split(b",")[:5])]), False, 3),
    "long_row_in_chunk_2": (_file(R[:4] + [R[4] + b",x"] + R[5:]), False, 1),
    "lone_carriage_return": (_file(R[:4] + [R[4].replace(b",inpatient,", b",in\rpatient,")]
                                   + R[5:]), False, 1),
    "nul_byte": (_file(R[:4] + [R[4].replace(b",inpatient,", b",in\x00patient,")] + R[5:]),
                 False, 1),
    "blank_lines_at_the_end": (_file(R, end=b"\n\n \r\n"), False, 3),
    "spaces_at_the_end": (_file(R, end=b"\n   "), False, 3),
    "empty_row_ending_chunk_2": (_file(R[:6] + [b"," * 11] + R[6:]), False, 1),
    "blank_lines_before_header": (b"\n \n" + _file(R), False, 0),
    "blank_header": (_file(R, head=b"," * 11), False, 0),
    "one_column": (b"record_id\n" + b"\n".join(r.split(b",")[0] for r in R) + b"\n",
                   False, 0),
    "header_only": (H + b"\n", False, 0),
    "header_without_newline": (H, False, 0),
    "empty": (b"", False, 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plain_reader_hands_over_where_the_file_stops_being_plain(case):
    data, whole, given = CASES[case]
    assert _plain_given(data) == (whole, given)


@pytest.mark.parametrize("chunk", [2, 3, 4, 50])
@pytest.mark.parametrize("case", sorted(CASES))
def test_chunks_and_refusals_are_the_pandas_parsers(case, chunk):
    _same_as_pandas(CASES[case][0], chunk)


def test_a_gbk_file_is_left_to_pandas():
    data = _file([_row(i, area_code="玉城街道").encode("gbk") for i in range(1, 6)])
    mine = _chunks(stream.read_chunks(data, False, Limits.from_env(), 3))
    theirs = _chunks(stream._parsed_chunks(data, False, Limits.from_env(), 3, 0))
    assert [o for o, _ in mine] == [o for o, _ in theirs] == [0, 2]
    for (_, a), (_, b) in zip(mine, theirs):
        pd.testing.assert_frame_equal(a, b)


def test_plain_decimals_are_read_as_pandas_reads_them():
    rng = np.random.default_rng(7)
    values = [f"{x:.{d}f}" for x, d in zip(rng.uniform(0, 1e9, 20_000)
                                           * rng.choice([1, 1e-3, 1e-6], 20_000),
                                           rng.integers(0, 7, 20_000))]
    values += ["", " ", "1.", ".5", "+1", "-1", "-0", "inf", "nan", "1e5", "0x10", "1_0",
               "１２", "00012.50", "999999999.999999", "1234567890.5", "0.1234567", "1,5"]
    s = pd.Series(values, dtype="str")
    got = _to_float(s, _empty(s)).to_numpy()
    want = pd.to_numeric(s.astype(object).where(~_empty(s), None),
                         errors="coerce").astype(float).to_numpy()
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_form_checks_of_short_ascii_columns_find_what_the_per_value_checks_find(monkeypatch):
    from healthmap.ingest import form
    from healthmap.ingest.problems import Problems
    from healthmap.ingest.validate import ValidationContext

    rows = [[*r.split(",")] for r in GOOD]
    df = pd.DataFrame(rows, columns=HEAD.split(",")).astype("str")
    odd = {"record_id": ["E 1", "E/2"], "person_id": ["P1\t", "Ｐ2"], "total_cost": ["1２", "x"],
           "age": ["4" * 30, "1"], "icd10": ["C18\x019", "C18.9"],
           "sex": ["11010119900307777X", "M"], "area_code": ["a\u200bb", ""]}
    for i, (column, values) in enumerate(odd.items()):
        df[column] = df[column].astype(object)
        df.loc[i, column], df.loc[i + 5, column] = values
        df[column] = df[column].astype("str")
    ctx = ValidationContext(resolver=None)
    assert form._short_ascii(df["setting"], 100) and not form._short_ascii(df["record_id"], 2)
    assert not form._short_ascii(df["sex"], 100)  # an ID number's length

    def found(shortcut: bool) -> pd.DataFrame:
        if not shortcut:
            monkeypatch.setattr(form, "_short_ascii", lambda values, limit: False)
        p = Problems()
        form.form_checks("episodes", df, ctx, p)
        return p.frame("en")

    fast, slow = found(True), found(False)
    pd.testing.assert_frame_equal(fast, slow)
    assert {"key_chars", "nonascii_digit", "control_chars", "too_long"} <= set(fast["code"])
