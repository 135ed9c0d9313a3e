"""Summary tables equal aggregates computed directly from the raw episodes."""

import pandas as pd
from sqlalchemy import create_engine, select

from healthmap.models import Episode, Institution, SummaryCell, SummaryInstitution
from healthmap.reference import cached_disease_groups, icd3_to_group
from healthmap.summary import flag_first_episodes


def test_summaries_equal_raw_aggregates(demo_db):
    e = create_engine(demo_db)
    raw = pd.read_sql(select(Episode.__table__), e)
    inst = pd.read_sql(select(Institution.code, Institution.in_county), e)
    raw = raw.merge(inst, left_on="institution_code", right_on="code")
    cells = pd.read_sql(select(SummaryCell.__table__), e)
    # totals by year × area × setting × in/out of county
    keys = ["year", "area_code", "setting", "in_county"]
    got = cells.groupby(keys)[["episodes", "cost_sum", "fund_sum"]].sum()
    exp = raw.assign(episodes=1, cost_sum=raw["total_cost"],
                     fund_sum=raw["fund_paid"].fillna(0)).groupby(keys)[
        ["episodes", "cost_sum", "fund_sum"]].sum()
    pd.testing.assert_frame_equal(got.sort_index(), exp.sort_index(), check_dtype=False,
                                  rtol=1e-9)
    # new cases: distinct persons with a first diagnosis per disease group, year and area
    mapping = icd3_to_group(cached_disease_groups())
    raw["group"] = raw["icd3"].map(mapping).fillna("ICD:" + raw["icd3"])
    first = raw.sort_values(["date", "record_id"]).drop_duplicates(["person_id", "group", "year"])
    exp_new = first.groupby(["year", "group"]).size()
    cells["group"] = cells["icd3"].map(mapping).fillna("ICD:" + cells["icd3"])
    got_new = cells.groupby(["year", "group"])["new_cases"].sum()
    got_new = got_new[got_new > 0]
    pd.testing.assert_series_equal(got_new.sort_index(), exp_new.sort_index(), check_names=False,
                                   check_dtype=False)
    # persons: distinct persons per year
    assert cells.groupby("year")["persons"].sum().to_dict() == \
        raw.groupby("year")["person_id"].nunique().to_dict()
    # institution summary
    si = pd.read_sql(select(SummaryInstitution.__table__), e)
    assert si.groupby("institution_code")["episodes"].sum().sort_index().tolist() == \
        raw.groupby("institution_code").size().sort_index().tolist()


def test_first_episode_flags_by_hand():
    ep = pd.DataFrame({"record_id": ["a", "b", "c", "d", "e"], "person_id": ["p", "p", "p", "q", "q"],
                       "icd3": ["C18", "C19", "I10", "C18", "X99"],
                       "date": ["2024-03-01", "2024-01-05", "2024-02-01", "2024-05-01", "2024-05-01"]})
    out = flag_first_episodes(ep, {"C18": "CRC", "C19": "CRC", "I10": "HT"})
    assert out["is_new_case"].tolist() == [False, True, True, True, True]
    assert out["is_first_of_year"].tolist() == [False, True, False, True, False]
