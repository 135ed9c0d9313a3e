"""What the ranking page's first view computes, computed with fewer queries, gives the
same answers: the specialties' new cases in one statement on the per-person roll-up
(healthmap.ranking_data._rollup_specialty_cases) equal the per-specialty answers of
healthmap.persons.cases (one query per specialty), by hand on hand-made episodes and on
the demo data, a year between a period's years counted before the index date only; the
indicator table's trend takes a one-year period's own year from the period's counts,
equal to counting that year again; the page fills the specialties' persons in last."""

import pandas as pd
import pytest

from healthmap import persons, ranking_data, store
from healthmap.db import make_engine
from healthmap.queries import Filters, Selection


def _codes(con, specialty_of):
    codes = con.execute("SELECT icd3, group_code FROM icd3_groups").df()
    codes["specialty_code"] = codes["group_code"].map(specialty_of)
    return codes.dropna(subset=["specialty_code"])


def _one_query_per_specialty(con, codes, years, lookback):
    out = {}
    for spec, sub in codes.groupby("specialty_code", sort=True):
        sel = Selection(Filters(years=years, setting=None), tuple(sorted(sub["icd3"])))
        n = int(persons.cases(con, sel, by=(), lookback=lookback)["persons"].sum())
        if n:
            out[spec] = n
    return out


def test_one_statement_by_hand(monkeypatch):
    import test_persons
    from test_ranking import SPECIALTY_EPISODES, SPECIALTY_OF

    monkeypatch.setitem(test_persons.PATH, "rollup", True)
    con = test_persons.con_with(SPECIALTY_EPISODES)
    codes = _codes(con, SPECIALTY_OF)
    batched = ranking_data._rollup_specialty_cases
    # worked out in tests/test_ranking.py (test_specialty_new_cases_count_a_person_once_
    # per_specialty): 2024 with a one-year look-back: GI P1, P3, P5; CARD P4
    assert batched(con, codes, (2024,), 1).to_dict() == {"CARD": 1, "GI": 3}
    assert batched(con, codes, (2024,), 0).to_dict() == {"CARD": 1, "GI": 5}
    assert batched(con, codes, (2023, 2024), 1).to_dict() == {"CARD": 1, "GI": 5}
    # P5's 2022-03-01 stay lies before a two-year window from 2024-04-01 (2022-04-01
    # on), inside a three-year one: P5 is new with two years, not with three
    assert batched(con, codes, (2024,), 2).to_dict() == {"CARD": 1, "GI": 3}
    assert batched(con, codes, (2024,), 3).to_dict() == {"CARD": 1, "GI": 2}
    assert batched(con, codes, (2019,), 1).empty
    for years in ((2024,), (2023,), (2022, 2024), (2023, 2024)):
        for lookback in (0, 1, 2, 3):
            assert batched(con, codes, years, lookback).to_dict() == \
                _one_query_per_specialty(con, codes, years, lookback), (years, lookback)
    # specialty_new_cases takes the one statement when the roll-up answers
    calls = []
    monkeypatch.setattr(ranking_data, "_rollup_specialty_cases",
                        lambda *a: calls.append(a) or batched(*a))
    assert ranking_data.specialty_new_cases(con, SPECIALTY_OF, (2024,), 1).to_dict() == \
        {"CARD": 1, "GI": 3}
    assert len(calls) == 1


@pytest.mark.sqlite_only
@pytest.mark.parametrize("years, lookback", [((2024,), 1), ((2023,), 0),
                                             ((2022, 2023, 2024), 2)])
def test_one_statement_equals_one_query_per_specialty_on_the_demo_data(demo_db, years,
                                                                       lookback):
    e = make_engine(demo_db)
    with e.connect() as conn:
        from sqlalchemy import select

        from healthmap.models import DiseaseGroup

        specialty_of = dict(conn.execute(select(DiseaseGroup.group_code,
                                                DiseaseGroup.specialty_code)).all())
    con = store.connect(e)
    try:
        codes = _codes(con, specialty_of)
        one = ranking_data._rollup_specialty_cases(con, codes, years, lookback).to_dict()
        each = _one_query_per_specialty(con, codes, years, lookback)
        assert one == each
        assert len(one) == codes["specialty_code"].nunique() > 20
        assert ranking_data.specialty_persons(e, years, lookback).to_dict() == each
    finally:
        con.close()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("years, lookback", [((2024,), 1), ((2023,), 2), ((2023, 2024), 1)])
def test_trend_counts_equal_a_query_of_every_year(demo_db, years, lookback):
    e = make_engine(demo_db)
    table = ranking_data.group_indicators(e, years, "inpatient", lookback=lookback)
    span = tuple(int(y) for y in table["trend_years"].iloc[0].split(","))
    assert years[-1] in span
    con = store.connect(e)
    try:
        yearly = persons.cases(con, Selection(Filters(years=span, setting=None), None),
                               ("group_code", "year"), lookback)
    finally:
        con.close()
    want = (yearly.pivot_table(index="group_code", columns="year", values="persons")
            .reindex(index=table["group_code"], columns=list(span)).fillna(0).astype(int))
    assert table["trend_cases"].tolist() == want.values.tolist()
    assert sum(map(sum, table["trend_cases"])) > 1000


@pytest.mark.sqlite_only
def test_bench_times_the_ranking_page_steps(demo_db, capsys):
    from healthmap import bench

    out = bench._ranking_scenarios(make_engine(demo_db),
                                   Filters(years=(2024,), setting="inpatient"), "demo", True)
    parts = [k for k in out if k.startswith("ranking first view: ")]
    assert len(parts) == 5 and out["ranking first view ms"] == pytest.approx(
        sum(out[k] for k in parts))
    # the page shows all but the specialties' persons first (it counts them last)
    assert out["ranking first view before the specialties' persons ms"] == pytest.approx(
        out["ranking first view ms"] - out["ranking first view: specialty new cases ms"])
    # each change's time includes its figures', so the medians keep that order
    assert 0 < out["ranking change figures median ms"] <= out["ranking change median ms"]
    printed = capsys.readouterr().out
    assert "weight/method change median" in printed and "target median < 100 ms" in printed


@pytest.mark.sqlite_only
def test_indicator_table_from_cached_person_counts_for_every_setting(demo_db):
    e = make_engine(demo_db)
    cases = ranking_data.group_cases(e, (2024,))
    for setting in ("inpatient", "outpatient", None):
        whole = ranking_data.group_indicators(e, (2024,), setting)
        pd.testing.assert_frame_equal(
            ranking_data.group_indicators(e, (2024,), setting, cases=cases), whole)
    # the setting's figures differ, the person counts do not
    other = ranking_data.group_indicators(e, (2024,), "outpatient", cases=cases)
    assert not other["episodes"].equals(whole["episodes"])
    assert other["new_cases"].equals(whole["new_cases"])
    with pytest.raises(ValueError, match="not of the current disease groups"):
        ranking_data.group_indicators(e, (2024,), None, cases=cases.iloc[1:])


def test_one_statement_with_a_year_between_the_periods_years(monkeypatch):
    """A period of 2022 and 2024: 2023 lies before an index date in 2024 (its stays count
    in the look-back) but after one in 2022 (they do not); years before the period count
    for every index date."""
    import test_persons
    from test_ranking import SPECIALTY_EPISODES, SPECIALTY_OF

    rows = SPECIALTY_EPISODES + [
        ("k", "P7", "A", "C16", "2022-11-01", "inpatient"),  # P7: 2022, then 2023
        ("l", "P7", "A", "C18", "2023-02-01", "inpatient"),
        ("m", "P8", "A", "C18", "2021-12-01", "inpatient"),  # P8: 2021, then 2022
        ("n", "P8", "A", "C16", "2022-06-01", "inpatient"),
    ]
    monkeypatch.setitem(test_persons.PATH, "rollup", True)
    con = test_persons.con_with(rows)
    codes = _codes(con, SPECIALTY_OF)
    batched = ranking_data._rollup_specialty_cases
    # (2022, 2024), one year: P1, P3 (first GI stay in 2024, nothing before), P5
    # (2022-03-01, nothing before), P7 (2022-11-01: its 2023 stay comes after); not P2
    # (2023-09-01 before 2024-05-01) nor P6 (2023-08-01 before 2024-02-01) nor P8
    # (2021-12-01 before 2022-06-01)
    assert batched(con, codes, (2022, 2024), 1).to_dict() == {"CARD": 1, "GI": 4}
    # without a look-back every person with a GI stay in 2022 or 2024: P1-P3, P5-P8
    assert batched(con, codes, (2022, 2024), 0).to_dict() == {"CARD": 1, "GI": 7}
    # 2023 alone, one year: P2, P6 (nothing in the year before); not P7 (2022-11-01)
    assert batched(con, codes, (2023,), 1).to_dict() == {"GI": 2}
    for years in ((2022, 2024), (2021, 2023), (2021, 2024), (2022, 2023), (2021, 2022, 2024)):
        for lookback in (0, 1, 2, 3):
            assert batched(con, codes, years, lookback).to_dict() == \
                _one_query_per_specialty(con, codes, years, lookback), (years, lookback)



@pytest.mark.sqlite_only
def test_page_fills_the_specialties_persons_in_place_after_the_map(demo_copy, monkeypatch):
    """The page shows the ranking, its figures and the map before counting the
    specialties' persons, then fills their table in its place with
    healthmap.ranking_data.specialty_persons of the period, and no "counting" note is
    left."""
    from streamlit.testing.v1 import AppTest

    from healthmap import i18n

    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    at = AppTest.from_file(str(__import__("pathlib").Path(__file__).resolve().parent.parent
                               / "app.py"), default_timeout=240)
    at.session_state["user"] = {"username": "demo_planner", "role": "planner", "demo": True}
    at.run()
    at.switch_page("pages/ranking.py").run()
    assert not at.exception
    year = max(ranking_data.queries.periods(make_engine(demo_copy)))
    want = ranking_data.specialty_persons(make_engine(demo_copy), (year,))
    persons_col = i18n.t("ranking.col.persons", "zh")
    [spec] = [d.value for d in at.dataframe if persons_col in d.value.columns]
    assert spec[persons_col].notna().sum() == len(want) > 20
    assert sorted(spec[persons_col].dropna().astype(int).tolist()) == sorted(want.tolist())
    counting = i18n.t("ranking.rollup_counting", "zh")
    assert not [c for c in at.caption if c.value == counting]
