"""Issue 9 items 1 and 7 on hand-made episodes: distinct persons, look-back, labels and
person-level outward referral (healthmap/persons.py). Each test reproduces one of the
issue's bugs with a handful of episodes whose answer is worked out by hand, answered from
the episodes (live) and from the per-person roll-up where it can answer (issue 14)."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from healthmap import indicators, persons
from healthmap.queries import Filters, Selection

GROUPS = {"C16": "C_STOMACH", "C18": "C_COLORECTAL", "C19": "C_COLORECTAL",
          "C20": "C_COLORECTAL", "C50": "C_BREAST", "I10": "HYPERTENSION", "J18": "PNEUMONIA"}
CRC = ("C18", "C19", "C20")


@pytest.fixture(autouse=True, params=["live", "rollup"])
def path(request, monkeypatch):
    monkeypatch.setitem(PATH, "rollup", request.param == "rollup")
    return request.param


PATH = {"rollup": False}


def con_with(rows):
    """A DuckDB connection with the store's three views, from ``rows`` of
    (record, person, area, icd3, date, setting[, institution, referral, sex, age_group])."""
    cols = ["record_id", "person_id", "area_code", "icd3", "date", "setting",
            "institution_code", "referral", "sex", "age_group"]
    full = [r + ("IN", False, "F", "60-64")[len(r) - 6:] for r in rows]
    ep = pd.DataFrame(full, columns=cols)
    ep["date"] = pd.to_datetime(ep["date"]).dt.date
    ep["year"] = [d.year for d in ep["date"]]
    ep["month"] = [d.month for d in ep["date"]]
    ep["icd10"] = ep["icd3"]
    ep["insurance_type"] = "employee"
    con = duckdb.connect()
    con.register("episodes", ep)
    con.register("icd3_groups", pd.DataFrame(list(GROUPS.items()),
                                             columns=["icd3", "group_code"]))
    con.register("institutions", pd.DataFrame({"code": ["IN", "OUT"],
                                               "in_county": [True, False]}))
    if PATH["rollup"]:
        from test_person_rollup import attach_rollup

        attach_rollup(con, ep, GROUPS, {"IN": True, "OUT": False})
    return con


def count(con, codes, lookback=0, by=(), **kw):
    kw.setdefault("years", (2024,))
    out = persons.cases(con, Selection(Filters(**kw), codes), by=by, lookback=lookback)
    if not by:
        return int(out["persons"].iloc[0]) if len(out) else 0
    return dict(zip(map(tuple, out[list(by)].values.tolist()), out["persons"]))


def test_first_episode_outpatient_then_admitted_counts_as_inpatient_case():
    # P1: outpatient in February, admitted in April (the old new-case flag sat on the
    # outpatient visit, so the inpatient selection lost him: hypertension 1,253 vs 1,304)
    con = con_with([("a", "P1", "A", "I10", "2021-02-01", "outpatient"),
                    ("b", "P1", "A", "I10", "2021-04-01", "inpatient"),
                    ("c", "P2", "A", "I10", "2021-05-01", "outpatient")])
    assert count(con, ("I10",), years=(2021,), setting="inpatient") == 1
    assert count(con, ("I10",), years=(2021,), setting="outpatient") == 2
    assert count(con, ("I10",), years=(2021,), setting=None) == 2
    # with a look-back the index date is the first visit in any setting (February):
    # nothing in the year before it, so P1 is new in 2021
    assert count(con, ("I10",), lookback=1, years=(2021,), setting="inpatient") == 1


def test_the_old_summary_flags_dropped_that_person():
    # the roll-ups' new-case flag (summarise_year) sits on the outpatient visit: the
    # inpatient cells hold no new case for P1
    from healthmap.summary import summarise_year

    ep = pd.DataFrame({"record_id": ["a", "b"], "person_id": ["P1", "P1"],
                       "area_code": "A", "icd3": ["I10", "I10"],
                       "date": ["2021-02-01", "2021-04-01"], "month": [2, 4],
                       "setting": ["outpatient", "inpatient"], "institution_code": "IN",
                       "total_cost": 10.0, "fund_paid": None, "insurance_type": "employee",
                       "referral": None, "sex": "F", "age_group": "60-64"})
    cells = pd.concat(t.to_pandas() for t in summarise_year(
        ep, 2021, GROUPS, {"IN": True})["cells"])
    assert cells.groupby("setting")["new_cases"].sum().to_dict() == {"inpatient": 0,
                                                                     "outpatient": 1}


def test_month_range_counts_a_person_first_seen_earlier_in_the_year():
    # P1 admitted in March and September, P2 only in October: Jul-Dec has two patients
    # (the old flag counted P2 only: pneumonia 1,996 vs 2,235)
    con = con_with([("a", "P1", "A", "J18", "2024-03-10", "inpatient"),
                    ("b", "P1", "A", "J18", "2024-09-10", "inpatient"),
                    ("c", "P2", "A", "J18", "2024-10-10", "inpatient")])
    assert count(con, ("J18",), month_from=7, month_to=12) == 2
    # new cases in Jul-Dec: P1 was seen in March, inside the year before 10 September
    assert count(con, ("J18",), lookback=1, month_from=7, month_to=12) == 1
    assert count(con, ("J18",), month_from=1, month_to=6) == 1


def test_c18_selection_counts_a_person_whose_first_colorectal_episode_was_c19():
    # P1: C19 in January, C18 in March; P2: C20 only (the old flag put P1's new case on
    # the C19 episode, so --icd C18 missed him: 144 vs 195)
    con = con_with([("a", "P1", "A", "C19", "2024-01-05", "inpatient"),
                    ("b", "P1", "A", "C18", "2024-03-05", "inpatient"),
                    ("c", "P2", "A", "C20", "2024-04-05", "inpatient")])
    assert count(con, ("C18",)) == 1
    assert count(con, CRC) == 2
    # the C19 stay is not a C18 episode: P1 is a new C18 case
    assert count(con, ("C18",), lookback=1) == 1


def test_a_two_year_period_counts_a_person_once():
    con = con_with([("a", "P1", "A", "C16", "2023-05-01", "inpatient"),
                    ("b", "P1", "A", "C16", "2024-05-01", "inpatient"),
                    ("c", "P2", "A", "C16", "2024-06-01", "inpatient")])
    assert count(con, ("C16",), years=(2023, 2024)) == 2  # the old sum gave 3
    assert count(con, ("C16",), by=("year",), years=(2023, 2024)) == {(2023,): 1, (2024,): 2}
    # new cases over 2023-2024 with a 1-year look-back: P1's index date is May 2023
    assert count(con, ("C16",), lookback=1, years=(2023, 2024)) == 2
    # year by year: in 2024 P1 had a stay in May 2023, inside the window
    assert count(con, ("C16",), lookback=1, by=("year",), years=(2023, 2024)) == {
        (2023,): 1, (2024,): 1}


def test_look_back_excludes_a_person_seen_the_year_before_in_any_setting():
    con = con_with([("a", "P1", "A", "C16", "2023-06-01", "outpatient"),
                    ("b", "P1", "A", "C16", "2024-03-01", "inpatient"),
                    ("c", "P2", "A", "C16", "2022-01-15", "inpatient"),
                    ("d", "P2", "A", "C16", "2024-03-01", "inpatient"),
                    ("e", "P3", "A", "I10", "2023-06-01", "inpatient"),
                    ("f", "P3", "A", "C16", "2024-03-01", "inpatient")])
    assert count(con, ("C16",)) == 3  # diagnosed cases (就诊患者)
    # P1: outpatient visit 9 months before; P2: 2022 is more than a year back; P3: the
    # earlier stay was for another disease
    assert count(con, ("C16",), lookback=1) == 2
    assert count(con, ("C16",), lookback=3) == 1  # P2's 2022 stay is within 3 years


def test_first_data_year_is_labelled_diagnosed_cases():
    con = con_with([("a", "P1", "A", "C16", "2022-06-01", "inpatient"),
                    ("b", "P2", "A", "C16", "2023-06-01", "inpatient")])
    first = persons.first_data_year(con)
    assert first == 2022
    assert persons.year_labels([2022, 2023], 1, first) == {2022: "diagnosed", 2023: "new"}
    assert persons.label([2023], 1, first) == "new"
    assert persons.label([2023], 2, first) == "diagnosed"  # a 2-year window needs 2021
    assert persons.label([2022, 2023], 1, first) == "diagnosed"
    assert persons.label([2023], 0, first) == "diagnosed"  # no look-back: 就诊患者


def test_attributes_come_from_the_first_qualifying_episode():
    # P1 moves from A to B and has a birthday between the stays; the outpatient visit in
    # C does not qualify for the inpatient selection
    con = con_with([("a", "P1", "C", "C16", "2024-01-01", "outpatient", "IN", False, "M",
                     "60-64"),
                    ("b", "P1", "A", "C16", "2024-02-01", "inpatient", "IN", False, "M",
                     "60-64"),
                    ("c", "P1", "B", "C16", "2024-08-01", "inpatient", "IN", False, "M",
                     "65-69")])
    assert count(con, ("C16",), by=("area_code", "age_group")) == {("A", "60-64"): 1}
    assert count(con, ("C16",), age_groups=("65-69",)) == 0


def test_male_breast_cancer_counts_in_the_all_sex_count_and_not_for_women():
    con = con_with([("a", "W", "A", "C50", "2024-02-01", "inpatient", "IN", False, "F"),
                    ("b", "M", "A", "C50", "2024-03-01", "inpatient", "IN", False, "M")])
    assert count(con, ("C50",)) == 2
    assert count(con, ("C50",), sex="F") == 1
    assert count(con, ("C50",), by=("sex",)) == {("F",): 1, ("M",): 1}


def test_groups_are_separate_code_sets_but_a_person_counts_once_in_their_union():
    con = con_with([("a", "P1", "A", "C16", "2024-02-01", "inpatient"),
                    ("b", "P1", "A", "C18", "2024-03-01", "inpatient")])
    assert count(con, ("C16", *CRC)) == 1
    assert count(con, ("C16", *CRC), by=("group_code",)) == {("C_COLORECTAL",): 1,
                                                           ("C_STOMACH",): 1}
    # the colorectal row's look-back does not see the stomach stay
    assert count(con, ("C16", *CRC), lookback=1, by=("group_code",)) == {
        ("C_COLORECTAL",): 1, ("C_STOMACH",): 1}
    with pytest.raises(ValueError, match="not by month"):
        count(con, ("C16",), by=("month",))


def test_person_level_referral_beside_episode_level():
    # P1: three stays, one outside the county (formally referred); P2: one stay inside
    con = con_with([("a", "P1", "A", "C16", "2024-01-01", "inpatient", "IN"),
                    ("b", "P1", "A", "C16", "2024-02-01", "inpatient", "OUT", True),
                    ("c", "P1", "A", "C16", "2024-03-01", "inpatient", "IN"),
                    ("d", "P2", "A", "C16", "2024-04-01", "inpatient", "IN")])
    sel = Selection(Filters(years=(2024,)), ("C16",))
    c = persons.referrals(con, sel)
    assert c.sort_values("in_county").values.tolist() == [["A", False, 1, 1],
                                                          ["A", True, 1, 0]]
    t = indicators.referral_table(c).iloc[0]
    # persons: 1 of 2 = 50 %; Wilson with z = 1.959964 (z² = 3.841459): centre
    # (0.5 + z²/4)/(1 + z²/2) = 0.5, half-width z·sqrt(0.25/2 + z²/16)/(1 + z²/2)
    # = 1.959964 · 0.604228 / 2.920729 = 0.405469
    assert (t["numerator"], t["denominator"], t["value"]) == (1, 2, 50.0)
    assert t["ci_low"] == pytest.approx(9.4531, abs=1e-4)
    assert t["ci_high"] == pytest.approx(90.5469, abs=1e-4)
    assert (t["formal"], t["self_directed"]) == (1, 0)
    # episodes: 1 of 4 = 25 %, the stays of one patient counted as independent
    ep = pd.DataFrame({"area_code": ["A", "A"], "in_county": [True, False],
                       "episodes": [3, 1], "referrals": [0, 1]})
    assert indicators.referral_table(ep).iloc[0]["value"] == 25.0
    # the outpatient selection has no patient: an empty frame, not an error
    empty = persons.referrals(con, Selection(Filters(years=(2024,), setting="outpatient"),
                                             ("C16",)))
    assert empty.empty
    assert np.isnan(indicators.referral_table(empty, pd.DataFrame({"code": ["A"]}))
                    .iloc[0]["value"])
