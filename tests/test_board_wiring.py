"""The board's tiles and outflow table from imported episodes (contract → store → summary
sums → tiles), on a tiny hand-made database whose every figure is worked out by hand in
the comments. test_board.py checks the same functions on hand-made summary frames; this
checks the path in between (fen → yuan, in/out of county from the institutions, insurance
type, months, persons)."""

import datetime as dt

import pandas as pd
import pytest

from healthmap import board

TODAY = dt.date(2025, 6, 30)
TOWN = "331083001"  # 玉城街道


@pytest.fixture()
def db(engine):
    from healthmap.ingest.load import import_frame

    inst = pd.DataFrame({"code": ["YH001", "HZ001"], "name": ["县医院", "省医院"],
                         "level": ["tertiary", "tertiary"], "in_county": ["true", "false"]})
    assert import_frame(engine, "institutions", inst, "i.csv", today=TODAY).ok
    ep = []

    def add(person, date, setting, inst, cost, fund, insurance, icd="C16.9", n=1):
        for _ in range(n):
            k = len(ep)
            ep.append((f"E{k}", person if n == 1 else f"{person}{k}", TOWN, icd, date,
                       setting, inst, cost, fund, insurance, "M", "60"))

    # 2023, months 1-6: 8 stays in county (10,000 yuan, fund 6,000 each), 2 outside
    # (30,000, fund 15,000), 10 outpatient visits (200, fund 100, employee insurance)
    add("A", "2023-03-10", "inpatient", "YH001", "10000", "6000", "resident", n=8)
    add("B", "2023-04-10", "inpatient", "HZ001", "30000", "15000", "resident", n=2)
    add("C", "2023-05-10", "outpatient", "YH001", "200", "100", "employee", icd="I10", n=10)
    # 2023, August: 5 more stays; 2024 has data up to June only, so these never count
    add("D", "2023-08-10", "inpatient", "YH001", "10000", "6000", "resident", n=5)
    # 2024, months 1-6: 9 stays in county (11,000, fund 7,000), 1 outside (40,000, fund
    # 20,000) by person S, who also has one of the 9 stays in county; 20 outpatient visits
    # (150, fund 50, employee)
    add("T", "2024-02-10", "inpatient", "YH001", "11000", "7000", "resident", n=8)
    add("S", "2024-02-11", "inpatient", "YH001", "11000", "7000", "resident")
    add("S", "2024-06-11", "inpatient", "HZ001", "40000", "20000", "resident")
    add("U", "2024-03-10", "outpatient", "YH001", "150", "50", "employee", icd="I10", n=20)
    cols = ["record_id", "person_id", "area_code", "icd10", "date", "setting",
            "institution_code", "total_cost", "fund_paid", "insurance_type", "sex", "age"]
    assert import_frame(engine, "episodes", pd.DataFrame(ep, columns=cols), "e.csv",
                        today=TODAY).ok
    return engine


def test_tiles_from_imported_episodes(db):
    cells = board.board_cells(db)
    assert board.last_month(cells, 2024) == 6 and board.last_month(cells, 2023) == 8
    t = {x.key: x for x in board.tiles(cells, 2024, board.screening_cases(db))}
    # episodes: 2024 = 9 + 1 + 20 = 30; 2023 Jan-Jun = 8 + 2 + 10 = 20 (August left out)
    assert (t["episodes"].value, t["episodes"].previous, t["episodes"].change) == (30, 20, 10)
    # in-county (inpatient): 9 / 10 = 90 % (2023: 8 / 10); exactly on the ≥ 90 % target:
    # satisfied but inside the 4.5-point band → at risk
    assert t["in_county_rate"].value == pytest.approx(90.0)
    assert t["in_county_rate"].previous == pytest.approx(80.0)
    assert t["in_county_rate"].status == "at_risk"
    assert t["outward_referral"].value == pytest.approx(10.0)
    # inpatient cost per case: (9 × 11,000 + 40,000) / 10 = 13,900; 2023 (8 × 10,000 +
    # 2 × 30,000) / 10 = 14,000; outpatient 150 (2023: 200)
    assert t["cost_inpatient"].value == pytest.approx(13_900)
    assert t["cost_inpatient"].previous == pytest.approx(14_000)
    assert t["cost_outpatient"].value == pytest.approx(150)
    assert t["cost_outpatient"].previous == pytest.approx(200)
    # fund paid: 2024 = 9 × 7,000 + 20,000 + 20 × 50 = 84,000; 2023 = 48,000 + 30,000 +
    # 1,000 = 79,000
    assert t["fund_expenditure"].value == pytest.approx(84_000)
    assert t["fund_expenditure"].previous == pytest.approx(79_000)
    # resident fund growth: 83,000 / 78,000 − 1 = 6.41 % ≤ 10 % and outside the 0.5 band
    assert t["fund_growth"].value == pytest.approx((83_000 / 78_000 - 1) * 100)
    assert t["fund_growth"].status == "met"
    # outflow: fund paid outside the county, 20,000 (2023: 2 × 15,000)
    assert t["fund_outflow"].value == pytest.approx(20_000)
    assert t["fund_outflow"].previous == pytest.approx(30_000)
    # stomach-cancer patients (a screening cancer), each person once per year: 2024 = 8 (T)
    # + 1 (S, twice) = 9; 2023 Jan-Jun = 8 + 2 = 10 (the August patients left out)
    assert t["screening_cancers"].value == 9 and t["screening_cancers"].previous == 10


def test_outflow_table_from_imported_episodes(db):
    cells = board.board_cells(db)
    out = board.outflow_by_group(board.group_cells(db, 2024, board.last_month(cells, 2024)))
    # only stomach cancer, inpatient, has care outside the county: 1 stay, fund 20,000;
    # saving 1 × (40,000 − 11,000) = 29,000; hypertension visits are all in the county
    assert out[["group_code", "setting"]].values.tolist() == [["C_STOMACH", "inpatient"]]
    r = out.iloc[0]
    assert (r["episodes_out"], r["fund_outflow"], r["mean_out"], r["mean_in"]) == (
        1, pytest.approx(20_000), pytest.approx(40_000), pytest.approx(11_000))
    assert r["saving"] == pytest.approx(29_000)
    g = board.group_cells(db, 2024, 6)
    assert board.outflow_totals(g) == {"fund_outflow": pytest.approx(20_000),
                                       "saving": pytest.approx(29_000)}


def test_an_earlier_year_uses_its_own_months(db):
    # 2023 has data to August: its period is Jan-Aug, with no year before it
    t = {x.key: x for x in board.tiles(board.board_cells(db), 2023)}
    assert t["episodes"].value == 25 and t["episodes"].previous is not None
    assert pd.isna(t["episodes"].previous) and t["episodes"].change is None
    # in county 13 of 15 stays = 86.67 % < 90 % → missed
    assert t["in_county_rate"].value == pytest.approx(13 / 15 * 100)
    assert t["in_county_rate"].status == "missed"
    assert t["fund_growth"].status == "no_data"
