"""The refactor of issue 8 keeps every report as it was: outputs pinned on the demo data.

``tests/golden/reports_demo.csv`` was written by the code *before* the measure registry
existed (see ``write_golden`` below); the test recomputes every report and compares.
The incidence cases (0, 1, 2 and 9) were rewritten when incidence became distinct persons
with a 1-year look-back (issue 9 item 1, docs/definitions.md); the other cases are the
original pins (the ``basis`` column the reports gained is not pinned).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GOLDEN = Path(__file__).parent / "golden" / "reports_demo.csv"

CASES = [  # (measure, filter keywords, standard, public)
    ("incidence", {}, None, False),
    ("incidence", {}, "china_2000", False),
    ("incidence", {"groups": ("C_COLORECTAL",), "sex": "M"}, None, True),
    ("outward_referral", {}, None, False),
    ("outward_referral", {"groups": ("C_STOMACH",)}, None, True),
    ("cost_per_case", {}, None, False),
    ("cost_per_case", {"setting": "outpatient", "age_groups": ("60-64", "65-69")}, None, True),
    ("in_county_rate", {}, None, False),
    ("episode_rate", {"insurance": ("resident",)}, None, False),
    ("incidence_eb", {"groups": ("C_LUNG",)}, None, False),
    ("fund_per_case", {}, None, False),
    ("oop_share", {}, None, False),
    ("fund_outflow", {}, None, False),
]


def _all_reports(url: str) -> pd.DataFrame:
    from healthmap import indicators
    from healthmap.db import make_engine
    from healthmap.queries import Filters

    e = make_engine(url)
    out = []
    for i, (measure, kw, standard, public) in enumerate(CASES):
        f = Filters(years=(2024,), **kw)
        if measure in ("incidence", "outward_referral", "cost_per_case"):
            t = indicators.report(e, measure, f, standard=standard, public=public)
        else:
            res = indicators.compute(e, f, measure, public=public)
            t = res.table[indicators.REPORT_COLUMNS].copy()
        t.insert(0, "case", i)
        out.append(t)
    e.dispose()
    df = pd.concat(out, ignore_index=True)
    if "suppressed" in df:
        df["suppressed"] = df["suppressed"].fillna(False).astype(bool)
    return df


def write_golden(url: str) -> None:  # run once, before the refactor
    _all_reports(url).to_csv(GOLDEN, index=False)


def test_reports_on_the_demo_data_are_unchanged(demo_db):
    expected = pd.read_csv(GOLDEN, dtype={"area_code": str})
    got = _all_reports(demo_db)
    assert len(got) == len(expected) > 100
    assert got["area_code"].tolist() == expected["area_code"].tolist()
    assert got["area_name"].tolist() == expected["area_name"].tolist()
    for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
        a, b = got[c].to_numpy(float), expected[c].to_numpy(float)
        assert (np.isnan(a) == np.isnan(b)).all(), c
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=1e-9,
                                   err_msg=c)
    assert got["suppressed"].tolist() == expected["suppressed"].astype(bool).tolist()


if __name__ == "__main__":  # python tests/test_report_pins.py sqlite:///path/demo.db
    import sys

    write_golden(sys.argv[1])
