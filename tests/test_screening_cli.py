"""``python -m healthmap screen``: the public command (issue 12), through cli.main."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from healthmap.cli import main

HEADER = ("resident_id,id_number,name,sex,birth_date,area_code,smoking_pack_years,quit_years,"
          "copd,waist_cm,sbp,height_cm,weight_kg,family_history_diabetes\n")
ROWS = ("R1,,张三,M,1960-05-01,331083001,40,0,false,92,135,170,75,false\n"
        "R2,,李四,F,1990-01-01,331083001,,,,,,,,\n"
        "R3,,王五,M,1965-07-01,331083104,0,0,true,80,120,165,60,true\n")


@pytest.fixture()
def residents(tmp_path, monkeypatch):
    # no database: point the URL at a folder that does not exist; nothing may be created
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", f"sqlite:///{tmp_path}/nodb/none.db")
    path = tmp_path / "residents.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lung_csv_output(residents, capsys, tmp_path):
    code, out, err = run(capsys, "screen", "lung", "--input", str(residents),
                         "--as-of", "2025-06-30")
    assert code == 0, err
    df = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    assert list(df.columns) == ["resident_id", "score", "tier", "eligible", "reasons"]
    assert df["tier"].tolist() == ["high", "not_target", "high"]
    assert df["eligible"].tolist() == ["true", "false", "true"]
    assert (df["score"] == "").all()  # criteria rule: score blank (decisions §8)
    assert "≥ 30 pack-years" in df["reasons"][0]
    assert not (tmp_path / "nodb").exists()  # no database was opened


def test_diabetes_json_output_with_missing_data(residents, capsys):
    code, out, err = run(capsys, "screen", "diabetes", "--input", str(residents),
                         "--as-of", "2025-06-30", "--format", "json")
    assert code == 0, err
    rows = {r["resident_id"]: r for r in json.loads(out)}
    # R1: 65 → 18, BMI 26.0 → 3, waist (M) 92 → 8, SBP 135 → 6, male 2 = 37
    assert (rows["R1"]["score"], rows["R1"]["tier"], rows["R1"]["eligible"]) == (37, "high", True)
    assert rows["R2"]["score"] is None and rows["R2"]["eligible"] is None
    assert rows["R2"]["tier"] == "cannot_assess"
    assert "cannot assess: missing height_cm, weight_kg, waist_cm, sbp" in rows["R2"]["reasons"]


def test_as_of_moves_ages(residents, capsys):
    # R3 born 1965-07-01: 59 on 2025-06-30 (CDRS 15), 60 the next day (16)
    _, before, _ = run(capsys, "screen", "diabetes", "--input", str(residents),
                       "--as-of", "2025-06-30", "--format", "json")
    _, after, _ = run(capsys, "screen", "diabetes", "--input", str(residents),
                      "--as-of", "2025-07-01", "--format", "json")
    assert json.loads(after)[2]["score"] == json.loads(before)[2]["score"] + 1


def test_list_shows_rule_sets_and_versions(capsys):
    code, out, _ = run(capsys, "screen", "--list")
    assert code == 0
    for rid in ("colorectal", "lung", "gastric", "diabetes"):
        assert rid in out
    assert "version 2024.1" in out and "colorectal.apcs (score)" in out
    code, out, _ = run(capsys, "screen", "--list", "--format", "json")
    assert {r["ruleset"]: r["version"] for r in json.loads(out)}["lung"] == "2024.1"


def test_one_rule_of_a_set(residents, capsys):
    code, out, _ = run(capsys, "screen", "colorectal.apcs", "--input", str(residents),
                       "--as-of", "2025-06-30", "--format", "json")
    assert code == 0
    # R1: age 65 → 2, male 1, smoker 1 = 4 already, family history column absent (0 or 2):
    # high whatever it is, but no exact score is claimed
    r1 = json.loads(out)[0]
    assert (r1["score"], r1["tier"], r1["eligible"]) == (None, "high", True)
    assert r1["reasons"].startswith("APCS 4–6 (incomplete)")


@pytest.mark.parametrize("content,message", [
    ("resident_id,sex\nR1,M\n", "lacks column(s) birth_date needed by rule set lung"),
    ("resident_id,sex,birth_date,copd\nR1,M,1960-01-01,maybe\n",
     "line 2 copd: 'maybe' is not true/false"),
    ("resident_id,sex,birth_date\nR1,M,1960-13-45\n", "line 2 birth_date"),
    ("resident_id,sex,birth_date\n,M,1960-01-01\n", "resident_id is empty on line(s) 2"),
])
def test_bad_input_is_refused_in_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "screen", "lung", "--input", str(path))
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_refusals_for_unknown_rule_set_and_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "screen", "liver", "--input", str(tmp_path / "x.csv"))
    assert code == 2 and "unknown rule set 'liver'" in err
    code, _, err = run(capsys, "screen", "lung", "--input", str(tmp_path / "x.csv"))
    assert code == 2 and "input file not found" in err
    code, _, err = run(capsys, "screen", "lung", "--input", str(tmp_path / "x.csv"),
                       "--as-of", "30/06/2025")
    assert code == 2
    code, _, err = run(capsys, "screen")
    assert code == 2 and "needs a RULESET" in err


def test_chinese_headers_and_excel_input(tmp_path, capsys):
    df = pd.DataFrame({"居民编号": ["R1"], "性别": ["男"], "出生日期": ["1960-05-01"],
                       "慢阻肺": ["是"]})
    path = tmp_path / "residents.xlsx"
    df.to_excel(path, index=False)
    code, out, err = run(capsys, "screen", "lung", "--input", str(path), "--as-of",
                         "2025-06-30", "--lang", "zh")
    assert code == 0, err
    assert "R1,,high,true,2021肺癌指南" in out


def test_csv_output_neutralises_formula_like_ids(tmp_path, capsys):
    """An imported id beginning with '=' is printed as text, not as a live formula."""
    from healthmap.cli import main

    f = tmp_path / "r.csv"
    f.write_text("resident_id,sex,birth_date,smoking_pack_years,quit_years\n"
                 "=1+1,M,1960-01-01,35,0\n", encoding="utf-8")
    assert main(["screen", "lung", "--input", str(f), "--as-of", "2025-01-01"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith("'=1+1,")
