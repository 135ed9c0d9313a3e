"""The measure registry and indicator tables by any key (issue 8: one definition of each
measure; the same CIs, flags and suppression per area, year, disease group …)."""

import numpy as np
import pandas as pd
import pytest

from healthmap import indicators, measures
from healthmap.measures import REGISTRY


def test_every_measure_has_its_texts_and_a_consistent_entry():
    from healthmap import i18n

    for key, m in REGISTRY.items():
        assert m.key == key
        assert m.label_key in i18n.TEXT and m.unit in i18n.TEXT, key
        assert i18n.explain(key, "zh") and i18n.explain(key, "en"), key
        assert m.kind in ("rate", "proportion", "mean", "total")
        assert m.family in ("rate", "referral", "cost")
        assert m.higher_is in ("worse", "better")
        assert not m.funnel or m.kind in ("rate", "proportion")
    assert set(measures.REPORTED) <= set(REGISTRY)


def test_cli_report_choices_come_from_the_registry():
    from healthmap.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    report = sub.choices["report"]
    measure = next(a for a in report._actions if a.dest == "measure")
    assert tuple(measure.choices) == measures.REPORTED


def test_a_new_measure_is_one_entry(demo_db, monkeypatch):
    """Adding a measure: one registry entry (here: the episode rate's smoothed twin)."""
    from dataclasses import replace

    from healthmap.db import make_engine
    from healthmap.queries import Filters

    new = replace(REGISTRY["incidence_eb"], key="episode_rate_eb", cases="episodes")
    monkeypatch.setitem(REGISTRY, new.key, new)
    e = make_engine(demo_db)
    f = Filters(years=(2024,))
    eb = indicators.compute(e, f, "episode_rate_eb").table
    crude = indicators.compute(e, f, "episode_rate").table
    assert (eb["numerator"] == crude["numerator"]).all()
    # smoothing pulls every area towards the county: the spread shrinks
    assert eb["value"].std() < crude["value"].std()
    e.dispose()


def _table(e, f, measure, key, public=False):
    return indicators.compute(e, f, measure, key=key, public=public).table


def test_rates_by_year_equal_one_year_at_a_time(demo_db):
    from healthmap.db import make_engine
    from healthmap.queries import Filters

    e = make_engine(demo_db)
    f = Filters(years=(2023, 2024), groups=("C_STOMACH",))
    for measure in ("incidence", "incidence_asr", "outward_referral", "cost_per_case"):
        by_year = _table(e, f, measure, "year").set_index("year")
        assert by_year.index.tolist() == [2023, 2024]
        for y in (2023, 2024):
            one = indicators.compute(e, Filters(years=(y,), groups=("C_STOMACH",)), measure)
            for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
                assert by_year.at[y, c] == pytest.approx(one.county[c], rel=1e-9), (measure, c)
    e.dispose()


def test_rates_by_disease_group_equal_one_group_at_a_time(demo_db):
    from healthmap.db import make_engine
    from healthmap.queries import Filters

    e = make_engine(demo_db)
    groups = ("C_STOMACH", "C_COLORECTAL", "C_LUNG")
    f = Filters(years=(2024,), groups=groups)
    for measure in ("incidence", "outward_referral", "cost_per_case"):
        t = _table(e, f, measure, "group_code").set_index("group_code")
        assert sorted(t.index) == sorted(groups)
        for g in groups:
            one = indicators.compute(e, Filters(years=(2024,), groups=(g,)), measure).county
            for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
                assert t.at[g, c] == pytest.approx(one[c], rel=1e-9), (measure, g, c)
            assert bool(t.at[g, "unstable"]) == bool(one["numerator" if measure == "incidence"
                                                          else "denominator"] < 20)
    # every group shares the whole population as its denominator
    inc = _table(e, f, "incidence", "group_code")
    assert inc["denominator"].nunique() == 1
    # public suppression works on these rows too
    pub = _table(e, Filters(years=(2024,), groups=groups, sex="M", age_groups=("40-44",)),
                 "incidence", "group_code", public=True)
    assert pub.loc[pub["suppressed"], "value"].isna().all()
    assert not (pub.loc[~pub["suppressed"], "numerator"].between(1, 4)).any()
    e.dispose()


def test_rows_by_month_count_one_month_of_person_time(demo_db):
    from healthmap.db import make_engine
    from healthmap.queries import Filters

    e = make_engine(demo_db)
    f = Filters(years=(2024,))
    by_month = _table(e, f, "episode_rate", "month")
    assert by_month["month"].tolist() == list(range(1, 13))
    march = indicators.compute(e, Filters(years=(2024,), month_from=3, month_to=3),
                               "episode_rate").county
    row = by_month.set_index("month").loc[3]
    assert row["value"] == pytest.approx(march["value"], rel=1e-9)
    e.dispose()


def test_name_column_and_rows_in_order():
    c = pd.DataFrame({"group_code": ["B", "A"], "in_county": [True, True],
                      "episodes": [5, 7], "referrals": [0, 0]})
    rows = pd.DataFrame({"code": ["A", "B", "C"], "name": ["甲", "乙", "丙"]})
    t = indicators.referral_table(c, rows, key="group_code")
    assert t[["group_code", "group_name"]].values.tolist() == [["A", "甲"], ["B", "乙"],
                                                                ["C", "丙"]]
    assert t["denominator"].tolist() == [7.0, 5.0, 0.0] and np.isnan(t["value"].iloc[2])
