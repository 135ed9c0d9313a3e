"""Issue 9 items 2, 3, 5, 6, 8, 10 through the indicator tables and the CLI report, on a
small hand-made database whose answers are worked out by hand."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from healthmap import indicators
from healthmap.codes import AGE_GROUPS
from healthmap.queries import Filters

TODAY = dt.date(2025, 6, 30)
TOWN, ISLAND = "331083001", "331083201"  # 玉城街道, 海山乡


@pytest.fixture()
def db(engine):
    from healthmap.ingest.load import import_frame

    inst = pd.DataFrame({"code": ["YH001", "HZ001"], "name": ["县医院", "省医院"],
                         "level": ["tertiary", "tertiary"], "in_county": ["true", "false"]})
    assert import_frame(engine, "institutions", inst, "i.csv", today=TODAY).ok
    # persons per sex: young town, old island; 100 per sex in every other age group
    young = {TOWN: 4500, ISLAND: 500}
    old = {TOWN: 500, ISLAND: 1000}
    rows = []
    for area in (TOWN, ISLAND):
        for sex in ("M", "F"):
            for g in AGE_GROUPS:
                n = young[area] if g == "30-34" else old[area] if g == "70-74" else 100
                rows.append((area, "2024", sex, g, str(n)))
    pop = pd.DataFrame(rows, columns=["area_code", "year", "sex", "age_group", "population"])
    assert import_frame(engine, "population", pop, "p.csv", today=TODAY).ok
    ep = []

    def add(area, icd, sex, age, n, cost="5000", inst="YH001", setting="inpatient"):
        for _ in range(n):
            k = len(ep)
            ep.append((f"E{k}", f"P{k}", area, icd, "2024-05-06", setting, inst, cost, sex,
                       str(age)))

    # stomach cancer: county rates young 10/10,000 = 1/1000, old 30/3,000 = 10/1000
    add(TOWN, "C16.9", "M", 32, 9)
    add(TOWN, "C16.9", "M", 72, 10)
    add(ISLAND, "C16.9", "F", 32, 1)
    add(ISLAND, "C16.9", "F", 72, 20)
    add(TOWN, "C61", "M", 72, 3)  # prostate: 3 men
    add(ISLAND, "C25.9", "M", 72, 1, cost="1000")  # pancreas: 2 stays, very unequal costs
    add(ISLAND, "C25.9", "M", 72, 1, cost="100000", inst="HZ001")
    add(TOWN, "I10", "F", 72, 4, cost="150", setting="outpatient")
    cols = ["record_id", "person_id", "area_code", "icd10", "date", "setting",
            "institution_code", "total_cost", "sex", "age"]
    assert import_frame(engine, "episodes", pd.DataFrame(ep, columns=cols), "e.csv",
                        today=TODAY).ok
    return engine


def test_sir_by_hand_and_crude_rates_that_differ_only_by_age(db):
    f = Filters(years=(2024,), groups=("C_STOMACH",))
    res = indicators.compute(db, f, "incidence_sir")
    t = res.table.set_index("area_code")
    # town E = 9,000·0.001 + 1,000·0.01 = 19; island E = 1,000·0.001 + 2,000·0.01 = 21
    assert t.loc[TOWN, "expected"] == pytest.approx(19)
    assert t.loc[ISLAND, "expected"] == pytest.approx(21)
    assert t.loc[[TOWN, ISLAND], "value"].tolist() == pytest.approx([1.0, 1.0])
    assert res.county["value"] == pytest.approx(1.0)
    crude = indicators.compute(db, f, "incidence").table.set_index("area_code")["value"]
    # crude: town 19 per 13,200, island 21 per 6,200: the older island looks far worse
    assert crude[ISLAND] > 2 * crude[TOWN]


def test_sex_specific_group_counts_men_per_men(db):
    res = indicators.compute(db, Filters(years=(2024,), groups=("C_PROSTATE",)), "incidence")
    t = res.table.set_index("area_code")
    men = 4500 + 500 + 16 * 100  # the town's men
    assert t.loc[TOWN, "denominator"] == men
    assert t.loc[TOWN, "value"] == pytest.approx(3 / men * 1e5)
    assert "sex_denominator_M" in res.notes
    lung = indicators.compute(db, Filters(years=(2024,), groups=("C_LUNG",)), "incidence")
    assert lung.table.set_index("area_code").loc[TOWN, "denominator"] == 2 * men  # everyone


def test_cost_interval_is_positive_and_flagged(db):
    res = indicators.compute(db, Filters(years=(2024,), groups=("C_PANCREAS",)),
                             "cost_per_case")
    row = res.table.set_index("area_code").loc[ISLAND]
    assert row["value"] == 50500
    assert 0 < row["ci_low"] < 50500 < row["ci_high"]
    assert bool(row["unstable"])


def test_cost_over_all_settings_is_refused(db):
    with pytest.raises(ValueError, match="separately"):
        indicators.compute(db, Filters(years=(2024,), setting=None), "cost_per_case")
    # totals may still span both settings
    indicators.compute(db, Filters(years=(2024,), setting=None), "fund_outflow")


def test_report_of_an_empty_selection_is_explained_with_flags_and_county_row(db):
    t = indicators.report(db, "cost_per_case", Filters(years=(2024,), groups=("C_LUNG",),
                                                        setting="outpatient"))
    assert t["flag"].eq("no_data").all() and t["value"].isna().all()
    assert t["area_name"].iloc[-1] == "county" and len(t) == 12  # 11 townships + county
    assert t.attrs["notes"] == ["empty_selection"]


def test_report_flags_unstable_rows_and_adds_the_county_total(db):
    t = indicators.report(db, "incidence", Filters(years=(2024,), groups=("C_STOMACH",)))
    by = t.set_index("area_code")
    assert by.loc[TOWN, "flag"] == "unstable"  # 19 cases
    assert by.loc[ISLAND, "flag"] == ""  # 21 cases
    assert by.loc[indicators.TOTAL, "numerator"] == 40
    assert np.isnan(by.loc["331083002", "value"]) and by.loc["331083002", "flag"] == "no_data"


def test_cli_report_does_not_crash_on_an_empty_selection(db, capsys):
    from healthmap import cli

    url = db.url.render_as_string(hide_password=False)
    rc = cli.main(["report", "cost_per_case", "--year", "2024", "--group", "C_LUNG",
                   "--setting", "outpatient", "--db", url])
    out = capsys.readouterr()
    assert rc == 0 and "no_data" in out.out and "No episodes match" in out.err
    assert cli.main(["report", "cost_per_case", "--setting", "all", "--db", url]) == 2


def test_unstable_areas_get_a_dashed_outline_on_the_map(db):
    from healthmap import mapview, queries

    aset = queries.area_set(db, "township")
    res = indicators.compute(db, Filters(years=(2024,), groups=("C_STOMACH",)), "incidence")
    fig = mapview.choropleth(res.table, aset.areas, "rate", lang="en")
    dashed = [tr for tr in fig.data if tr.line is not None and tr.line.dash == "dash"]
    # the town (19 cases) is unstable, the island (21) is not, the rest have no data
    assert len(dashed) == 1 and dashed[0].name.startswith("Dashed outline")
    town_x = [x for x in mapview._rings(aset.areas.set_index("code").loc[TOWN, "geometry"])[0]]
    assert list(dashed[0].x) == town_x


def test_flow_saving_is_summed_per_group_and_setting(db):
    from healthmap import mapmodel, queries

    f = Filters(years=(2024,), groups=("C_PANCREAS", "C_STOMACH"))
    sel = queries.resolve(db, f)
    aset = queries.area_set(db, "township")
    fv = mapmodel.flow_view(db, sel, None, aset, None, "county", False, "en")
    # pooled: inside 41 stays (40 × 5,000 + 1,000) = 5,000 mean 201,000/41; outside 1 stay
    # of 100,000. Per group: pancreas 1 × (100,000 − 1,000) = 99,000; stomach has no
    # out-of-county stay. So 99,000, not the pooled 1 × (100,000 − 4,902.4) = 95,097.6.
    assert fv.saving["saving"] == pytest.approx(99000.0)
    assert fv.saving["cost_in"] == pytest.approx(201000 / 41)
    frame = queries.load_institution_frame(db, (2024,))  # the page's in-memory path
    fv2 = mapmodel.flow_view(db, sel, frame, aset, None, "county", False, "en")
    assert fv2.saving["saving"] == pytest.approx(99000.0)
