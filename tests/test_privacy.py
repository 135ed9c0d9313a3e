"""Small-cell suppression (primary 1-4 and secondary) and stamped exports."""

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from healthmap import exports, privacy
from healthmap.indicators import compute, flag
from healthmap.queries import Filters


def test_primary_and_secondary_on_a_hand_made_table():
    # Township cases with a published county total of 45. 3 is hidden (1-4); without a
    # complement it equals 45 − (10 + 0 + 25 + 7). The smallest other non-zero cell, 7,
    # is hidden too; the zero stays visible.
    t = pd.DataFrame({"area": list("ABCDE"), "cases": [3, 10, 0, 25, 7],
                      "rate": [30.0, 50.0, 0.0, 125.0, 35.0]})
    out = privacy.suppress(t, "cases", ["rate"])
    assert out["suppression"].tolist() == ["primary", "", "", "", "secondary"]
    assert out["cases"].isna().tolist() == [True, False, False, False, True]
    assert out["rate"].isna().tolist() == [True, False, False, False, True]
    # what a reader can still derive: only the sum of the two hidden cells (10)
    assert 45 - out["cases"].sum() == 10


def test_two_primary_cells_protect_each_other():
    out = privacy.suppress(pd.DataFrame({"n": [2, 4, 50, 9]}), "n")
    assert out["suppression"].tolist() == ["primary", "primary", "", ""]


def test_secondary_works_within_each_group():
    # villages of two townships; each township total is published
    t = pd.DataFrame({"town": ["X", "X", "X", "Y", "Y", "Y"],
                      "n": [1, 30, 12, 40, 50, 60]})
    out = privacy.suppress(t, "n", group_col="town")
    assert out["suppression"].tolist() == ["primary", "", "secondary", "", "", ""]


def test_a_group_with_no_nonzero_complement_leaves_the_total_to_primary_rule():
    # [3, 0, 0]: the group total is 3 itself, which the caller suppresses as a cell of 1-4
    out = privacy.suppress(pd.DataFrame({"n": [3, 0, 0]}), "n")
    assert out["suppression"].tolist() == ["primary", "", ""]
    assert privacy.primary_mask([out["n"].sum(skipna=True) + 3]).all()


def test_any_count_column_triggers_primary():
    t = pd.DataFrame({"episodes": [300, 200, 100], "outward": [2, 40, 30]})
    out = privacy.suppress(t, ["episodes", "outward"])
    assert out["suppression"].tolist() == ["primary", "", "secondary"]


def test_suppress_checks_its_columns():
    with pytest.raises(KeyError, match="nope"):
        privacy.suppress(pd.DataFrame({"n": [1]}), "nope")


def test_flag_blanks_every_figure_of_hidden_rows():
    t = flag(pd.DataFrame({"numerator": [0, 1, 4, 5, 25], "value": [0, 1.0, 4.0, 5.0, 25.0]}),
             public=True)
    assert t["suppressed"].tolist() == [False, True, True, False, False]
    assert t["value"].isna().tolist() == [False, True, True, False, False]
    assert t["unstable"].tolist() == [True, True, True, True, False]
    staff = flag(pd.DataFrame({"numerator": [1, 30]}), public=False)
    assert not staff["suppressed"].any()


def test_public_indicator_tables_never_show_small_or_derivable_cells(demo_db):
    from healthmap.db import make_engine

    engine = make_engine(demo_db)
    # a rare group in one year: several townships have 1-4 cases
    f = Filters(years=(2024,), groups=("C_OESOPHAGUS",), setting="inpatient")
    staff = compute(engine, f, "incidence").table
    public = compute(engine, f, "incidence", public=True).table
    small = staff["numerator"].between(1, 4)
    assert small.any(), "test needs a selection with small cells"
    assert public.loc[small, "numerator"].isna().all()
    assert public.loc[small, ["value", "ci_low", "ci_high", "denominator"]].isna().all().all()
    shown = public["numerator"].dropna()
    assert not shown.between(1, 4).any()
    hidden = public["suppressed"].sum()
    assert hidden == 0 or hidden >= 2  # one hidden cell alone could be derived
    # and the hidden ones cannot be recovered from the county total
    county = compute(engine, f, "incidence", public=True).county
    if hidden:
        assert county["numerator"] - shown.sum() == staff.loc[public["suppressed"],
                                                               "numerator"].sum()
    engine.dispose()


def test_public_panels_and_flows_are_suppressed(demo_db):
    from healthmap import mapview, queries
    from healthmap.db import make_engine

    engine = make_engine(demo_db)
    f = Filters(years=(2024,), groups=("C_OESOPHAGUS",), setting="inpatient")
    pan = mapview.panels(engine, f, public=True)
    for name, d in pan.items():
        assert not d["episodes"].dropna().between(1, 4).any(), name
    flows = queries.institution_cells(engine, f, queries.selected_icd3(engine, f))
    ft = mapview.flow_table(flows, public=True)
    assert not ft["episodes"].dropna().between(1, 4).any()
    engine.dispose()


def test_export_stamp_in_csv_and_excel():
    when = dt.datetime(2025, 6, 30, 9, 5)
    stamp = exports.Stamp("demo_screening", "结直肠癌高危名单", personal=True, when=when)
    df = pd.DataFrame({"姓名": ["张*"], "n": [1]})
    raw = exports.to_csv_bytes(df, stamp)
    text = raw.decode("utf-8-sig")
    assert text.startswith("# 导出人 / exported by: demo_screening\r\n")  # CRLF (RFC 4180)
    assert "2025-06-30 09:05:00" in text and "不得外传" in text
    back = pd.read_csv(io.BytesIO(raw), comment="#", encoding="utf-8-sig")
    assert back.to_dict("list") == {"姓名": ["张*"], "n": [1]}
    book = pd.read_excel(io.BytesIO(exports.to_xlsx_bytes(df, stamp)), sheet_name=None)
    assert list(book) == ["data", "导出信息"]
    info = dict(book["导出信息"].to_numpy())
    assert info["导出人 / exported by"] == "demo_screening"
    assert np.array_equal(book["data"]["n"].to_numpy(), [1])
