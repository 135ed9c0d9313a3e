"""Issue 9 items 2 and 8: sex of the denominator, SIR table (hand-worked)."""

import pandas as pd
import pytest

from healthmap import comparisons, metrics


def _frames():
    # County rates: young 1/1000, old 10/1000. Island: old population, county rates.
    # Town: young population, twice the county's young rate.
    num = pd.DataFrame({"area_code": ["island", "island", "town", "town", "town"],
                        "age_group": ["30-34", "70-74", "30-34", "70-74", "unknown"],
                        "new_cases": [2, 40, 36, 10, 3]})
    pop = pd.DataFrame({"area_code": ["island", "island", "town", "town"],
                        "age_group": ["30-34", "70-74", "30-34", "70-74"],
                        "persons": [2000, 4000, 18000, 1000]})
    areas = pd.DataFrame({"code": ["island", "town"], "name": ["海山乡", "玉城街道"]})
    return num, pop, areas


def test_sir_table_by_hand():
    num, pop, areas = _frames()
    t = comparisons.sir_table(num, pop, areas).set_index("area_code")
    # reference: young 38/20000 = 0.0019, old 50/5000 = 0.01
    # island E = 2000·0.0019 + 4000·0.01 = 43.8, O = 42 → SIR 0.959
    # town   E = 18000·0.0019 + 1000·0.01 = 44.2, O = 46 (unknown age left out) → 1.041
    assert t.loc["island", "expected"] == pytest.approx(43.8)
    assert t.loc["town", "expected"] == pytest.approx(44.2)
    assert t.loc["island", "sir"] == pytest.approx(42 / 43.8)
    assert t["observed"].sum() == pytest.approx(t["expected"].sum())
    lo, hi = metrics.crude_rate_ci([42], [1], per=1)
    assert t.loc["island", "ci_low"] == pytest.approx(lo[0] / 43.8)
    assert t.loc["island", "ci_high"] == pytest.approx(hi[0] / 43.8)
    assert (t["funnel"] == "within").all()
    # the crude rate alone puts the old island far above the town: 700 vs 242 per 100,000
    assert 42 / 6000 > 2.5 * (46 / 19000)


def test_sir_table_without_age_detail_is_empty_not_an_error():
    num, _, areas = _frames()
    t = comparisons.sir_table(num, pd.DataFrame(columns=["area_code", "persons"]), areas)
    assert t.empty and "sir" in t.columns


def test_selection_sex_from_the_shipped_groups():
    from healthmap.reference import load_disease_groups

    g = load_disease_groups()
    assert comparisons.selection_sex(("C_PROSTATE",), g) == "M"
    assert comparisons.selection_sex(("C_CERVIX", "C_OVARY", "C_BREAST"), g) == "F"
    assert comparisons.selection_sex(("C_PROSTATE", "C_CERVIX"), g) is None
    assert comparisons.selection_sex(("C_LUNG",), g) is None
    assert comparisons.selection_sex((), g) is None
