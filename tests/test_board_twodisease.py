"""The two 两病 import kinds and the monthly report, against a small hand-made dataset."""

import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest

from healthmap import access, twodisease, twodisease_import

TODAY = dt.date(2025, 6, 30)
ADMIN = access.Actor("wang", "data_manager")
T = "331083001"  # a township of the built-in areas

SETTLEMENTS = pd.DataFrame([
    # record, person, area, date, disease, scheme, class, drug, policy, fund (yuan)
    ["S1", "P1", T, "2024-02-10", "高血压", "两病专项", "降压药", "100.00", "90.00", "45.00"],
    ["S2", "P1", T, "2025-05-03", "hypertension", "special", "antihypertensive", "80.50",
     "80.50", "40.25"],
    ["S3", "P1", T, "2025-05-20", "hypertension", "special", "other", "30.00", "30.00",
     "15.00"],  # not an antihypertensive: counts as a visit, not in the money columns
    ["S4", "P2", T, "2025-05-21", "hypertension", "special", "antihypertensive", "20.00",
     "20.00", "0"],  # below the deductible: no benefit
    ["S5", "P3", T, "2024-07-01", "糖尿病", "门诊慢特病", "降糖药", "200.00", "180.00",
     "108.00"],
    ["S6", "P3", T, "2023-12-31", "diabetes", "chronic", "antidiabetic", "999.00", "999.00",
     "500.00"],  # before the policy start
    ["S7", "P4", T, "2025-06-02", "diabetes", "general", "antidiabetic", "50.00", "50.00",
     "25.00"],  # after the report month
], columns=["record_id", "person_id", "area_code", "date", "disease", "scheme", "drug_class",
            "drug_cost", "policy_cost", "fund_paid"])
REGISTER = pd.DataFrame([
    ["P1", "hypertension", "2023-06-01", "true"],
    ["P2", "hypertension", "2025-05-01", "false"],  # not standardised
    ["P3", "diabetes", "2025-06-15", "是"],  # managed only after the report month
], columns=["person_id", "disease", "managed_since", "standardised"])


def _load(engine, register=True):
    kinds = (("drug_settlements", SETTLEMENTS),) + (
        (("chronic_register", REGISTER),) if register else ())
    for kind, df in kinds:
        clean, problems = twodisease_import.validate(engine, kind, df, TODAY)
        assert clean is not None, problems
        twodisease_import.write(engine, ADMIN, kind, clean, f"{kind}.csv")


def _sheet(engine):
    data = twodisease.report_xlsx(engine, 2025, 5, "玉环市")
    return openpyxl.load_workbook(io.BytesIO(data))["两病门诊用药保障情况表"]


def test_report_layout_and_values(engine):
    _load(engine)
    ws = _sheet(engine)
    assert [ws.cell(3, c).value for c in (1, 2, 3, 9, 15)] == ["市别", "类别", "高血压",
                                                               "糖尿病", "备注"]
    assert ws["C4"].value == "规范化管理人数（人）" and ws["F4"].value == "降血压药品费用（元）"
    assert ws["L4"].value == "降血糖药品费用（元）" and ws["N4"].value == "降血糖药品基金支出（元）"
    assert [ws.cell(r, 2).value for r in (5, 6, 7)] == list(twodisease.SCHEMES.values())
    assert ws["A5"].value == "玉环市"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"C3:H3", "I3:N3", "A3:A4", "B3:B4", "O3:O4", "A5:A7"} <= merged
    # special scheme, hypertension, cumulative 2024-01-01..2025-05-31:
    # managed P1 (P2 not standardised) = 1; benefit persons P1 = 1 (P2 fund 0);
    # benefit visits S1, S2, S3 = 3; antihypertensive money S1 + S2 (+ S4, fund 0)
    assert [ws.cell(6, c).value for c in range(3, 9)] == [1, 1, 3, 200.5, 190.5, 85.25]
    # chronic scheme, diabetes: S5 only (S6 before the start); P3 managed after May
    assert [ws.cell(7, c).value for c in range(9, 15)] == [0, 1, 1, 200.0, 180.0, 108.0]
    # general scheme: S7 is in June, after the report month
    assert [ws.cell(5, c).value for c in range(3, 15)] == [0] * 12
    # this month beside (columns Q..AC): May 2025 only: S2, S3, S4
    assert ws["Q3"].value == "类别" and ws["Q6"].value == twodisease.SCHEMES["special"]
    assert [ws.cell(6, c).value for c in range(18, 24)] == [1, 1, 2, 100.5, 100.5, 40.25]
    assert ws["R7"].value == 0 and ws["Q1"].value == "其中本月（2025年5月）"
    assert "2024-01-01" in ws["A8"].value and ws["O5"].value is None


def test_blank_managed_cells_are_explained_without_a_register(engine):
    _load(engine, register=False)
    ws = _sheet(engine)
    assert ws["C6"].value is None and ws["I7"].value is None and ws["D6"].value == 1
    assert "chronic_register" in ws["O5"].value
    assert any("规范化管理人数空白" in (ws.cell(r, 1).value or "") for r in range(8, 13))
    assert twodisease.new_managed(engine, 2025) is None


def test_register_counts(engine):
    _load(engine)
    assert twodisease.new_managed(engine, 2023) == 1  # P1 (standardised since 2023)
    assert twodisease.new_managed(engine, 2025) == 1  # P3
    m = twodisease.managed_by_year(engine, [2022, 2023, 2025])
    assert m.tolist() == [0, 1, 2]
    # a part-year board (months 1-5) counts at the end of May of every year: P1 (since
    # 2023-06-01) not yet in 2023, P3 (2025-06-15) not yet in 2025
    m = twodisease.managed_by_year(engine, [2023, 2024, 2025], months=5)
    assert m.tolist() == [0, 1, 1]
    assert twodisease.managed_by_year(engine, [2023], months=6).tolist() == [1]


def test_bad_rows_all_named_and_nothing_written(engine):
    bad = SETTLEMENTS.copy()
    bad.loc[0, "disease"] = "asthma"
    bad.loc[1, "fund_paid"] = "90"  # more than the policy-scope cost
    bad.loc[2, "record_id"] = "S1"
    bad.loc[3, "area_code"] = "nowhere"
    bad.loc[4, "drug_cost"] = "-5"
    clean, p = twodisease_import.validate(engine, "drug_settlements", bad, TODAY)
    assert clean is None
    assert sorted(zip(p["row"], p["code"])) == [
        (2, "bad_code_board"), (3, "money_order_board"), (4, "duplicate_board"),
        (5, "unknown_area"), (6, "negative")]
    clean, p = twodisease_import.validate(engine, "chronic_register",
                                          REGISTER.assign(extra="x"), TODAY)
    assert clean is None and p["code"].tolist() == ["unknown_column"]
    assert twodisease.load(engine, dt.date(2000, 1, 1), TODAY)[0].empty


def test_write_needs_permission_and_replaces(engine):
    clean, _ = twodisease_import.validate(engine, "chronic_register", REGISTER, TODAY)
    with pytest.raises(access.PermissionDenied):
        twodisease_import.write(engine, access.Actor("li", "leader"), "chronic_register",
                                clean, "r.csv")
    twodisease_import.write(engine, ADMIN, "chronic_register", clean, "r.csv")
    clean2, _ = twodisease_import.validate(engine, "chronic_register",
                                           REGISTER.assign(standardised="true"), TODAY)
    twodisease_import.write(engine, ADMIN, "chronic_register", clean2, "r2.csv")
    _, reg = twodisease.load(engine, TODAY, TODAY)
    assert len(reg) == 3 and reg["standardised"].all()


def test_templates_match_the_contract():
    for kind, cols in twodisease_import.SPECS.items():
        t = twodisease_import.template_frame(kind)
        assert list(t.columns) == [c.name for c in cols]


def test_cli_imports_and_writes_the_report(engine, tmp_path, capsys):
    from healthmap.cli import main

    db = str(engine.url)
    SETTLEMENTS.to_csv(tmp_path / "s.csv", index=False)
    assert main(["import-two-disease", "drug_settlements", str(tmp_path / "s.csv"),
                 "--db", db]) == 0
    bad = REGISTER.assign(disease="asthma")
    bad.to_csv(tmp_path / "r.csv", index=False)
    assert main(["import-two-disease", "chronic_register", str(tmp_path / "r.csv"),
                 "--db", db]) == 2
    assert "asthma" in capsys.readouterr().out
    out = tmp_path / "r.xlsx"
    assert main(["two-disease-report", "--year", "2025", "--month", "5", "--out", str(out),
                 "--db", db]) == 0
    ws = openpyxl.load_workbook(out)["两病门诊用药保障情况表"]
    assert ws["C6"].value is None and ws["E6"].value == 3  # no register: managed blank
    assert main(["two-disease-report", "--year", "2025", "--month", "13", "--out",
                 str(out), "--db", db]) == 2


def test_demo_report_is_filled(demo_db):
    """The demo's settlements and register fill every scheme row for both diseases, and
    each cumulative figure is at least this month's."""
    from healthmap.db import make_engine

    data = twodisease.report_xlsx(make_engine(demo_db), 2024, 12, "玉环市")
    ws = openpyxl.load_workbook(io.BytesIO(data))["两病门诊用药保障情况表"]
    for r in (5, 6, 7):
        total = [ws.cell(r, c).value for c in range(3, 15)]
        month = [ws.cell(r, c).value for c in range(18, 30)]
        assert all(v > 0 for v in total), (r, total)
        assert all(t >= m for t, m in zip(total, month)), (r, total, month)
