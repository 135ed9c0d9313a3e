"""Policy targets: loading with validation and the one status rule (every comparison and
boundary)."""

import math

import pytest

from healthmap import targets
from healthmap.reference import ReferenceDataError


@pytest.mark.parametrize("actual, ci, expected", [
    (90.0, None, "at_risk"),      # exactly on the target: satisfied, inside the band
    (89.999, None, "missed"),
    (94.49, None, "at_risk"),     # band = 5 % of 90 = 4.5
    (94.5, None, "met"),          # band edge belongs to "met"
    (99.0, (95.0, 99.5), "met"),
    (99.0, (90.0, 99.5), "at_risk"),  # interval reaches the target
    (99.0, (89.0, 99.5), "at_risk"),
    (99.0, (float("nan"), float("nan")), "met"),
    (None, None, "no_data"),
    (float("nan"), None, "no_data"),
])
def test_at_least(actual, ci, expected):
    assert targets.status(actual, 90, ">=", ci=ci) == expected


@pytest.mark.parametrize("actual, ci, expected", [
    (10.0, None, "at_risk"),
    (10.0001, None, "missed"),
    (9.51, None, "at_risk"),      # band = 0.5
    (9.5, None, "met"),
    (-3.0, None, "met"),          # shrinking expenditure meets a growth ceiling
    (5.0, (2.0, 10.0), "at_risk"),
    (5.0, (2.0, 9.9), "met"),
])
def test_at_most(actual, ci, expected):
    assert targets.status(actual, 10, "<=", ci=ci) == expected


def test_equal_and_zero_target_and_margin():
    assert targets.status(30, 30, "=") == "met"
    assert targets.status(30.000001, 30, "=") == "missed"
    assert targets.status(29, 30, "=", ci=(20, 40)) == "missed"
    # target 0: the band is the margin in absolute units
    assert targets.status(0.01, 0, ">=") == "at_risk"
    assert targets.status(0.06, 0, ">=") == "met"
    # a wider margin moves the boundary
    assert targets.status(95, 90, ">=", margin=0.10) == "at_risk"
    assert targets.status(99, 90, ">=", margin=0.10) == "met"
    with pytest.raises(ValueError, match="comparison"):
        targets.status(1, 1, ">")


def test_shipped_targets_load_and_honour_comparison():
    t = targets.load()
    assert t["in_county_rate"].comparison == ">=" and t["in_county_rate"].value == 90
    assert t["fund_growth"].comparison == "<=" and t["fund_growth"].measure == "fund_growth"
    assert t["chronic_new_managed"].comparison == "=" and t["chronic_new_managed"].value == 50
    assert t["in_county_rate"].text() == "≥ 90 %"
    assert t["fund_growth"].text() == "≤ 10 %/年" and t["fund_growth"].text("en") == "≤ 10 %/year"
    assert "whole county" in targets.rule_text("en") and "全市" in targets.rule_text("zh")


def test_bad_target_files_refused(tmp_path):
    src = (targets.load_policy_targets.__globals__["DATA_DIR"] / "policy_targets.csv")
    text = src.read_text(encoding="utf-8")
    bad = tmp_path / "policy_targets.csv"
    bad.write_text(text.replace(",90,%,>=,", ",90,%,>,", 1), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="comparison"):
        targets.load(bad)
    lines = text.splitlines()
    bad.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="duplicate code"):
        targets.load(bad)
    bad.write_text(text.replace(",90,%,>=,", ",inf,%,>=,", 1), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="finite"):
        targets.load(bad)
    assert math.isfinite(targets.get("in_county_rate").value)
    with pytest.raises(ValueError, match="unknown target"):
        targets.get("nope")
