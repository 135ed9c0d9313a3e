"""The board's figures, each checked against a hand-worked small frame of summary sums."""

import numpy as np
import pandas as pd
import pytest

from healthmap import board, board_maps


def _cells() -> pd.DataFrame:
    """Two years; 2024 has data up to June only, 2023 all year.

    2023 Jan-Jun: inpatient 80 in county (cost 800,000, fund 500,000) + 20 outside
    (cost 400,000, fund 300,000); outpatient 1,000 in county (cost 100,000, fund 50,000);
    resident fund 850,000. 2023 Jul-Dec adds 100 inpatient stays in county (must not count
    in the same-months comparison).
    2024 Jan-Jun: inpatient 95 in county (cost 1,045,000, fund 700,000) + 5 outside
    (cost 150,000, fund 100,000); outpatient 1,200 (cost 132,000, fund 60,000, employee).
    """
    rows = [
        # year, month, setting, in_county, insurance, episodes, cost, fund
        (2023, 3, "inpatient", True, "resident", 80, 800_000.0, 500_000.0),
        (2023, 5, "inpatient", False, "resident", 20, 400_000.0, 300_000.0),
        (2023, 6, "outpatient", True, "resident", 1000, 100_000.0, 50_000.0),
        (2023, 9, "inpatient", True, "resident", 100, 900_000.0, 600_000.0),
        (2024, 2, "inpatient", True, "resident", 95, 1_045_000.0, 700_000.0),
        (2024, 6, "inpatient", False, "resident", 5, 150_000.0, 100_000.0),
        (2024, 4, "outpatient", True, "employee", 1200, 132_000.0, 60_000.0),
    ]
    return pd.DataFrame(rows, columns=["year", "month", "setting", "in_county",
                                       "insurance_type", "episodes", "cost_sum", "fund_sum"])


def _by_key(ts):
    return {t.key: t for t in ts}


def test_tiles_hand_worked():
    c = _cells()
    assert board.last_month(c, 2024) == 6 and board.last_month(c, 2023) == 9
    t = _by_key(board.tiles(c, 2024))
    assert t["episodes"].value == 1300 and t["episodes"].previous == 1100  # Jan-Jun only
    assert t["episodes"].change == 200
    assert t["in_county_rate"].value == pytest.approx(95.0)
    assert t["in_county_rate"].previous == pytest.approx(80.0)
    # 95 % in county ≥ 90 %, but the Wilson interval of 95/100 (88.8-97.8) reaches 90
    assert t["in_county_rate"].ci[0] < 90 and t["in_county_rate"].status == "at_risk"
    assert t["outward_referral"].value == pytest.approx(5.0)
    assert t["outward_referral"].target is None and t["outward_referral"].status == ""
    assert t["cost_inpatient"].value == pytest.approx(11_950.0)  # 1,195,000 / 100
    assert t["cost_inpatient"].previous == pytest.approx(12_000.0)  # 1,200,000 / 100
    assert t["cost_outpatient"].value == pytest.approx(110.0)
    assert t["fund_expenditure"].value == 860_000 and t["fund_expenditure"].previous == 850_000
    # resident fund: 800,000 vs 850,000 → -5.88 %: met (≤ 10 %, outside the 0.5 band)
    assert t["fund_growth"].value == pytest.approx((800_000 / 850_000 - 1) * 100)
    assert t["fund_growth"].status == "met"
    assert t["fund_outflow"].value == 100_000 and t["fund_outflow"].previous == 300_000
    assert t["screening_cancers"].value is None and t["screening_cancers"].note
    assert t["managed"].note == "board.note.no_register"
    assert list(t["episodes"].series.index) == [2023, 2024]


def test_status_missed_and_growth_over_ceiling():
    c = _cells()
    c.loc[c["year"] == 2024, "fund_sum"] *= 1.2  # resident 960,000 vs 850,000 → +12.9 %
    c.loc[(c["year"] == 2024) & ~c["in_county"], "episodes"] = 50
    t = _by_key(board.tiles(c, 2024))
    assert t["fund_growth"].value == pytest.approx((960_000 / 850_000 - 1) * 100)
    assert t["fund_growth"].status == "missed"
    assert t["in_county_rate"].value == pytest.approx(95 / 145 * 100)
    assert t["in_county_rate"].status == "missed"


def test_screening_and_managed_series_use_the_same_months():
    c = _cells()
    s = pd.DataFrame({"year": [2023, 2023, 2024], "month": [2, 11, 5],
                      "new_cases": [7, 50, 9]})
    managed = pd.Series({2023: 120, 2024: 150})
    t = _by_key(board.tiles(c, 2024, s, managed))
    assert t["screening_cancers"].value == 9 and t["screening_cancers"].previous == 7
    assert t["managed"].value == 150 and t["managed"].change == 30


def test_fund_by_insurance():
    f = board.fund_by_insurance(_cells(), 2024, 6).set_index("insurance_type")
    assert f.loc["resident", "previous"] == 850_000 and f.loc["resident", "current"] == 800_000
    assert np.isnan(f.loc["employee", "growth_pct"])  # nothing the year before


def test_outflow_top_groups_and_saving():
    c = pd.DataFrame({
        "group_code": ["A", "A", "B", "B", "C", "C", "C"],
        "setting": ["inpatient"] * 4 + ["inpatient", "inpatient", "outpatient"],
        "in_county": [True, False, True, False, True, False, False],
        "episodes": [100, 10, 50, 50, 5, 3, 4],
        "cost_sum": [100_000.0, 30_000.0, 1_000_000.0, 750_000.0, 5_000.0, 9_000.0, 400.0],
        "fund_sum": [60_000.0, 18_000.0, 600_000.0, 400_000.0, 3_000.0, 6_000.0, 200.0],
    })
    t = board.outflow_by_group(c, top=3)
    assert t[["group_code", "setting"]].values.tolist() == [
        ["B", "inpatient"], ["A", "inpatient"], ["C", "inpatient"]]
    # A: 10 × (3,000 − 1,000) = 20,000; B costs less outside → 0; C: 3 × (3,000 − 1,000)
    assert t["saving"].tolist() == [0.0, 20_000.0, 6_000.0]
    # C outpatient has no in-county mean: no saving, and it is 4th by outflow (cut by top=3)
    full = board.outflow_by_group(c)
    assert full.loc[full["setting"] == "outpatient", "saving"].tolist() == [0.0]
    # totals over every group and setting, not only the top 3: outflow 18,000 + 400,000 +
    # 6,000 + 200 = 424,200; saving 20,000 + 0 + 6,000 + 0 = 26,000
    assert board.outflow_totals(c) == {"fund_outflow": 424_200.0, "saving": 26_000.0}


def test_compare_to_county_funnel():
    # 95 % limits around 90 % with 400 stays: about 87.1-92.9; with 2,000: 88.7-91.3
    t = pd.DataFrame({"value": [50.0, 90.0, 89.0, 99.9], "ci_low": np.nan, "ci_high": np.nan,
                      "denominator": [400, 400, 0, 2000]})
    out = board_maps.compare_to_county(t, 90.0, "proportion", 100).tolist()
    assert out == ["below", "within", "no_data", "above"]


def test_every_tile_is_explained_in_both_languages():
    s = pd.DataFrame({"year": [2024], "month": [5], "new_cases": [9]})
    ts = board.tiles(_cells(), 2024, s, pd.Series({2023: 1, 2024: 2}))
    for t in ts:
        zh, en = board.definition(t, "zh"), board.definition(t, "en")
        assert zh != f"board.def.{t.key}" and en != zh and len(en) > 30, t.key
    d = {t.key: t for t in ts}
    assert "胃癌" in board.definition(d["screening_cancers"], "zh")  # the groups named
    assert "{groups}" not in board.definition(d["screening_cancers"], "en")
    frame = board.tiles_frame(ts, "en", definitions=True)
    assert frame["Definition"].str.len().min() > 30


def test_entered_counts_are_shown_as_counts_in_the_briefing_table():
    from healthmap import aggregates

    v = pd.DataFrame({"indicator": ["hospice_beds", "nego_drugs_hospital"],
                      "period": ["2024", "2024"], "value": [12.0, 22.5]})
    frame = board.tiles_frame(aggregates.tiles(v, 2024, lang="en"), "en", formatted=True)
    got = dict(zip(frame["Indicator"], frame["Actual"]))
    assert got["Hospice beds"] == "12"  # a count, not "12.0"
    assert got["Negotiated drugs stocked (public grade-3B general hospitals)"] == "22.5"


def test_a_key_map_without_any_value_says_so(demo_copy):
    """Without population the screening-cancer incidence map has no value anywhere: it
    says so in its middle instead of showing a grey map; the other maps are unchanged."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from healthmap import db

    engine = db.make_engine(demo_copy)
    groups = tuple(board.screening_group_codes())

    def notes():
        return [[a.text for a in fig.layout.annotations]
                for _, fig in board_maps.small_multiples(engine, 2024, groups, "en")]

    assert not any("No township has a value" in t for n in notes() for t in n)
    with Session(engine) as s, s.begin():
        s.execute(text("DELETE FROM population"))
        db.bump_version(s)
    got = notes()
    assert len(got) == len(board_maps.KEY_MAPS)
    assert ["No township has a value" in " ".join(n) for n in got] == [
        groups == "screening" for _m, _s, groups in board_maps.KEY_MAPS]
