"""The readers of episodes outside the import and summary code read the episode store:
the import's reference checks, the in-county change's years, the board demo's patients,
the specialties' distinct persons, the data overview and the bench refusal. Hand-made
episodes, answers worked out by hand, on both database back ends."""

import datetime as dt
import shutil

import pandas as pd
import pytest

from healthmap import board_demo, queries, ranking_data, store
from healthmap.bench import _refuse_real_database
from healthmap.ingest import changes, import_file

TODAY = dt.date(2025, 6, 30)
INST = ("code,name,level,in_county,area_code,region\n"
        "H1,玉环市人民医院,tertiary,true,331083001,玉环\n"
        "H2,坎门卫生院,primary,true,331083002,玉环\n"
        "T1,台州医院,tertiary,false,,台州\n")
HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age\n"
# specialties (data/disease_groups.csv): C16, C18-C20 GI_SURG; I10-I15 CARDIO;
# E10-E14 and E15 ENDO; J18 RESP
EPISODES = [
    "A1,P1,331083001,C16.9,2024-03-01,inpatient,H1,20000.50,M,66",
    "A2,P1,331083001,C18.9,2024-04-01,inpatient,H1,18000,M,66",
    "A3,P2,331083002,C18.9,2023-05-01,inpatient,T1,30000,F,58",
    "A4,P2,331083002,C20,2024-06-01,outpatient,T1,800,F,59",
    "A5,P3,331083101,I10,2024-01-10,outpatient,H1,150,F,70",
    "A6,P3,331083101,E11.9,2024-02-10,outpatient,H1,210,F,70",
    "A7,P4,331083002,I15.0,2024-05-05,outpatient,H2,120,M,61",
    "A8,P4,331083001,E10.9,2023-07-01,inpatient,H2,5000,M,60",
    "A9,P5,331083001,J18.9,2024-03-03,inpatient,H1,4000,M,45",
    "A10,P5,331083001,E15,2024-03-04,outpatient,H1,90,M,45",
    "A11,P3,331083002,I10,2024-09-01,outpatient,T1,160,F,70",
]


@pytest.fixture()
def held(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    res = import_file(engine, "episodes", (HEAD + "\n".join(EPISODES) + "\n").encode(),
                      "ep.csv", today=TODAY)
    assert res.ok, res.problems
    return engine


def test_episode_counts_per_institution_and_area(held):
    assert changes._episode_counts(held, "institution_code", ["H1", "H2", "T1", "X9"]) == {
        "H1": 6, "H2": 2, "T1": 3}  # A1 A2 A5 A6 A9 A10 / A7 A8 / A3 A4 A11
    assert changes._episode_counts(held, "area_code", ["331083001", "331083002",
                                                       "331083003"]) == {
        "331083001": 5, "331083002": 4}  # A1 A2 A8 A9 A10 / A3 A4 A7 A11
    assert changes._episode_counts(held, "area_code", []) == {}


def test_moving_a_village_names_the_episodes_that_live_there(held):
    village = "code,name,level,parent_code\n331083001901,东门村,village,{}\n"
    assert import_file(held, "areas", village.format("331083001").encode(), "a.csv",
                       today=TODAY).ok
    ep = HEAD + "\n".join(f"V{i},Q{i},331083001901,J18.9,2024-0{i}-01,inpatient,H1,900,F,40"
                          for i in (1, 2, 3)) + "\n"
    assert import_file(held, "episodes", ep.encode(), "v.csv", today=TODAY).ok
    res = import_file(held, "areas", village.format("331083002").encode(), "a.csv",
                      today=TODAY, lang="en")
    assert not res.ok and res.problems["code"].tolist() == ["confirm_area_parent"]
    assert "that 3 records depend on" in res.problems["reason"].iloc[0]  # V1-V3


def test_record_ids_differing_in_case_are_refused_naming_the_held_one(held):
    bad = HEAD + "a5,P3,331083101,I10,2024-01-10,outpatient,H1,150,F,70\n" \
                 "B1,P9,331083001,I10,2024-02-01,outpatient,H1,100,M,50\n"
    res = import_file(held, "episodes", bad.encode(), "bad.csv", today=TODAY, lang="en")
    assert not res.ok
    clash = res.problems[res.problems["code"] == "duplicate_case_held"]
    assert clash["value"].tolist() == ["a5"] and "A5" in clash["reason"].iloc[0]
    assert store.query(held, "SELECT count(*) AS n FROM episodes")["n"].tolist() == [11]


def test_in_county_change_refreshes_only_its_institutions_years(held):
    flipped = INST.replace("H2,坎门卫生院,primary,true", "H2,坎门卫生院,primary,false")
    plain = import_file(held, "institutions", flipped.encode(), "inst.csv", today=TODAY,
                        lang="en")
    assert not plain.ok and plain.problems["code"].tolist() == ["confirm_institution"]
    assert "that 2 records depend on" in plain.problems["reason"].iloc[0]  # A7, A8
    res = import_file(held, "institutions", flipped.encode(), "inst.csv", today=TODAY,
                      confirm_changes=True)
    assert res.ok and res.years_refreshed == [2023, 2024]  # A8 (2023), A7 (2024)
    only_2023 = flipped + "H3,新医院,primary,true,331083001,玉环\n"
    assert import_file(held, "institutions", only_2023.encode(), "inst.csv", today=TODAY).ok
    ep = HEAD + "A12,P6,331083001,J18.9,2022-03-01,inpatient,H3,3000,F,30\n"
    assert import_file(held, "episodes", ep.encode(), "ep2.csv", today=TODAY).ok
    res = import_file(held, "institutions", only_2023.replace(
        "H3,新医院,primary,true", "H3,新医院,primary,false").encode(), "inst.csv",
        today=TODAY, confirm_changes=True)
    assert res.ok and res.years_refreshed == [2022]
    renamed = (INST.replace("H2,坎门卫生院,primary,true", "H2,坎门卫生院,primary,false")
               .replace("台州医院", "台州市医院") + "H3,新医院,primary,false,331083001,玉环\n")
    nothing = import_file(held, "institutions", renamed.encode(), "inst.csv", today=TODAY,
                          confirm_changes=True)
    assert nothing.ok and nothing.years_refreshed == []  # no in-county status changed


def test_board_demo_patients_are_the_hypertension_and_diabetes_persons(held):
    got = board_demo._patients(held)
    want = pd.DataFrame({
        "person_id": ["P3", "P3", "P4", "P4"],
        "area_code": ["331083101", "331083101", "331083001", "331083002"],
        "icd3": ["E11", "I10", "E10", "I15"],  # P3's I10: the first (A5), not A11
        "disease": ["diabetes", "hypertension", "diabetes", "hypertension"]})
    pd.testing.assert_frame_equal(got[want.columns].reset_index(drop=True), want,
                                  check_dtype=False)


def test_specialty_persons_count_each_person_once_per_specialty_and_period(held):
    one = ranking_data.specialty_persons(held, (2024,))
    # new cases with a 1-year look-back: GI_SURG: P1 (C16 and C18: once), P2 (C18 on
    # 2023-05-01 is more than a year before C20 on 2024-06-01); CARDIO: P3, P4; ENDO:
    # P3 (E11), P5 (E15); RESP: P5
    assert one.to_dict() == {"CARDIO": 2, "ENDO": 2, "GI_SURG": 2, "RESP": 1}
    both = ranking_data.specialty_persons(held, (2023, 2024))
    # 2023 adds P4 (E10) to ENDO; P2 (2023 and 2024) counts once over the period
    assert both.to_dict() == {"CARDIO": 2, "ENDO": 3, "GI_SURG": 2, "RESP": 1}
    assert ranking_data.specialty_persons(held, (2019,)).empty
    assert ranking_data.specialty_persons(held, ()).empty


def test_overview_counts_the_episodes_held(held):
    assert queries.overview(held)["counts"].at[0, "episodes"] == 11
    changed = HEAD + "A1,P1,331083001,C16.9,2024-03-01,inpatient,H1,25000,M,66\n" \
                     "A13,P7,331083003,I10,2024-07-01,outpatient,H1,100,F,80\n"
    res = import_file(held, "episodes", changed.encode(), "ep3.csv", today=TODAY)
    assert res.ok and (res.inserted, res.updated) == (1, 1)
    assert queries.overview(held)["counts"].at[0, "episodes"] == 12


def test_overview_of_an_empty_database(engine):
    assert queries.overview(engine)["counts"].at[0, "episodes"] == 0


def test_bench_refuses_a_database_with_episodes(engine):
    url = engine.url.render_as_string(hide_password=False)
    _refuse_real_database(engine, url)  # initialised, no episodes: accepted
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    assert import_file(engine, "episodes", (HEAD + EPISODES[0] + "\n").encode(), "ep.csv",
                       today=TODAY).ok
    with pytest.raises(ValueError, match="already holds episodes"):
        _refuse_real_database(engine, url)
    shutil.rmtree(store.engine_store_dir(engine))  # a lost store: refused all the same
    with pytest.raises(ValueError, match="not in sync"):
        _refuse_real_database(engine, url)


@pytest.mark.sqlite_only
def test_bench_accepts_a_new_database_file(tmp_path):
    from healthmap.db import make_engine

    url = f"sqlite:///{tmp_path / 'new.db'}"
    e = make_engine(url)
    try:
        _refuse_real_database(e, url)  # no tables, no store: accepted
    finally:
        e.dispose()
