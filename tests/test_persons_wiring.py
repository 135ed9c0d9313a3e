"""Issue 9 items 1 and 7 through the indicator tables, the CLI report, the map page's
model, the page itself and the ranking table: person counts from the episode store, the
新发 / 就诊患者 label, person-level outward referral. Hand-made data, answers by hand."""

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthmap import indicators, mapmodel, queries
from healthmap.queries import Filters

TODAY = dt.date(2025, 6, 30)
TOWN, ISLAND = "331083001", "331083201"  # 玉城街道, 海山乡
STOMACH = Filters(years=(2024,), groups=("C_STOMACH",))


@pytest.fixture()
def db(engine):
    from healthmap.ingest.load import import_frame

    inst = pd.DataFrame({"code": ["YH001", "HZ001"], "name": ["县医院", "省医院"],
                         "level": ["tertiary", "tertiary"], "in_county": ["true", "false"]})
    assert import_frame(engine, "institutions", inst, "i.csv", today=TODAY).ok
    pop = pd.DataFrame([(a, str(y), str(n)) for a, n in ((TOWN, 10_000), (ISLAND, 5_000))
                        for y in (2023, 2024)], columns=["area_code", "year", "population"])
    assert import_frame(engine, "population", pop, "p.csv", today=TODAY).ok
    ep = [  # record, person, area, date, setting, institution, referral
        ("E1", "P1", TOWN, "2023-06-01", "outpatient", "YH001", ""),
        ("E2", "P1", TOWN, "2024-03-01", "inpatient", "YH001", ""),
        ("E3", "P2", TOWN, "2024-04-01", "inpatient", "YH001", ""),
        ("E4", "P2", TOWN, "2024-05-01", "inpatient", "HZ001", "true"),
        ("E5", "P2", TOWN, "2024-06-01", "inpatient", "YH001", ""),
        ("E6", "P3", ISLAND, "2024-07-01", "inpatient", "YH001", ""),
    ]
    frame = pd.DataFrame(ep, columns=["record_id", "person_id", "area_code", "date", "setting",
                                      "institution_code", "referral"])
    frame = frame.assign(icd10="C16.9", total_cost="5000", sex="M", age="62")
    assert import_frame(engine, "episodes", frame, "e.csv", today=TODAY).ok
    return engine


def test_incidence_counts_persons_new_with_look_back_and_diagnosed_without(db):
    # 2024 inpatient stomach cancer: P1 (town; outpatient visit in June 2023), P2 (town,
    # three stays) and P3 (island): 3 diagnosed cases, 2 new (P1 seen within the year)
    new = indicators.compute(db, STOMACH, "incidence", lookback=1)
    assert new.table.set_index("area_code").loc[[TOWN, ISLAND], "numerator"].tolist() == [1, 1]
    assert new.county["numerator"] == 2 and new.basis == "new" and new.lookback == 1
    assert new.county["value"] == pytest.approx(2 / 15_000 * 1e5)
    seen = indicators.compute(db, STOMACH, "incidence", lookback=0)
    assert seen.county["numerator"] == 3 and seen.basis == "diagnosed"
    # P2's three stays are one person (the episode rate counts them all)
    assert indicators.compute(db, STOMACH, "episode_rate").county["numerator"] == 5
    # 2023 is the first data year: no window to look back on, labelled diagnosed
    first = indicators.compute(db, Filters(years=(2023,), groups=("C_STOMACH",), setting=None),
                               "incidence", lookback=1)
    assert first.county["numerator"] == 1
    assert (first.basis, first.short_years) == ("diagnosed", (2023,))
    # by year: each year its own period; the two-year total counts P1 once
    both = Filters(years=(2023, 2024), groups=("C_STOMACH",), setting=None)
    by_year = indicators.compute(db, both, "incidence", key="year", lookback=0)
    assert by_year.table.set_index("year")["numerator"].to_dict() == {2023: 1, 2024: 3}
    assert by_year.county["numerator"] == 3


def test_person_level_referral_beside_episode_level(db):
    ep = indicators.compute(db, STOMACH, "outward_referral")
    pp = indicators.compute(db, STOMACH, "outward_referral_persons")
    e, p = ep.table.set_index("area_code"), pp.table.set_index("area_code")
    # town: 1 of 4 stays outside vs 1 of 2 patients; county 1/5 vs 1/3
    assert (e.loc[TOWN, "numerator"], e.loc[TOWN, "denominator"]) == (1, 4)
    assert (p.loc[TOWN, "numerator"], p.loc[TOWN, "denominator"]) == (1, 2)
    assert p.loc[TOWN, "value"] == 50.0 and e.loc[TOWN, "value"] == 25.0
    assert ep.county["value"] == pytest.approx(20.0)
    assert pp.county["value"] == pytest.approx(100 / 3)
    assert p.loc[TOWN, "formal"] == 1 and p.loc[ISLAND, "numerator"] == 0
    assert (ep.basis, pp.basis) == ("episodes", "patients")


def test_cli_report_says_what_was_counted(db, capsys):
    from healthmap import cli

    url = db.url.render_as_string(hide_password=False)
    assert cli.main(["report", "incidence", "--year", "2024", "--group", "C_STOMACH",
                     "--db", url]) == 0
    out = capsys.readouterr()
    t = pd.read_csv(io.StringIO(out.out), comment="#", dtype={"area_code": str})
    assert t["basis"].eq("new_cases_lookback_1y").all()
    assert t.set_index("area_code").loc[indicators.TOTAL, "numerator"] == 2
    assert "new cases" in out.err
    assert cli.main(["report", "incidence", "--year", "2024", "--group", "C_STOMACH",
                     "--lookback", "0", "--db", url]) == 0
    out = capsys.readouterr()
    t = pd.read_csv(io.StringIO(out.out), comment="#", dtype={"area_code": str})
    assert t["basis"].eq("diagnosed_cases").all() and "not incidence" in out.err
    assert t.set_index("area_code").loc[indicators.TOTAL, "numerator"] == 3
    assert cli.main(["report", "outward_referral_persons", "--year", "2024", "--group",
                     "C_STOMACH", "--db", url]) == 0
    out = capsys.readouterr()
    t = pd.read_csv(io.StringIO(out.out), comment="#", dtype={"area_code": str})
    assert t["basis"].eq("patients").all() and "Per patient" in out.err


def test_map_labels_and_export_say_new_or_diagnosed(db):
    inp = mapmodel.MapInputs(STOMACH, "incidence", lang="zh", lookback=1)
    res = mapmodel.indicator(db, inp, queries.resolve(db, STOMACH),
                             queries.area_set(db), None, None)
    assert mapmodel.value_label(inp, res).endswith("新发（回溯1年）")
    assert "新发（回溯1年）" in mapmodel.export_table(res, inp).columns[1]
    zero = mapmodel.MapInputs(STOMACH, "incidence", lang="en", lookback=0)
    res0 = mapmodel.indicator(db, zero, queries.resolve(db, STOMACH),
                              queries.area_set(db), None, None)
    assert mapmodel.value_label(zero, res0).endswith("diagnosed cases")
    assert "not incidence" in mapmodel.basis_text(res0, "en")
    # the look-back is part of the numbers' cache key; the language is not
    assert mapmodel.computed_part(inp) != mapmodel.computed_part(zero)


def test_ranking_incidence_counts_new_cases(db):
    from healthmap import ranking_data

    t = ranking_data.group_indicators(db, (2024,), all_years=[2023, 2024]).set_index(
        "group_code")
    assert t.loc["C_STOMACH", "new_cases"] == 2  # P1 was seen in 2023
    assert t.loc["C_STOMACH", "case_basis"] == "new"
    assert t.loc["C_STOMACH", "population"] == 15_000
    assert t.loc["C_STOMACH", "episodes"] == 5  # referral and cost stay per episode
    first = ranking_data.group_indicators(db, (2023,), all_years=[2023, 2024])
    assert first.set_index("group_code").loc["C_STOMACH", "case_basis"] == "diagnosed"
    assert np.isnan(t.loc["C_STOMACH", "trend"])  # one year with a full window


def test_map_page_shows_the_look_back_and_the_label(demo_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from healthmap.texts.persons import TEXT

    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                            default_timeout=180)
    app.session_state["user"] = {"username": "demo_planner", "role": "planner", "demo": True}
    app.run()
    assert not app.exception
    assert app.sidebar.selectbox(key="lookback_zh").value == 1
    assert "新发（回溯1年）" in app.metric[0].label
    assert any(TEXT["basis.new_long"][0].format(n=1) in c.value for c in app.caption)
    new = app.metric[2].value
    app.sidebar.selectbox(key="lookback_zh").set_value(0).run()
    assert not app.exception and "就诊患者" in app.metric[0].label
    assert int(app.metric[2].value.replace(",", "")) > int(new.replace(",", ""))
    app.sidebar.selectbox(key="measure_zh").set_value("outward_referral_persons").run()
    assert not app.exception and "按患者" in app.metric[0].label
    assert any(TEXT["basis.patients_long"][0] in c.value for c in app.caption)
    assert app.sidebar.selectbox(key="lookback_zh").disabled
