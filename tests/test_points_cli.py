"""``python -m healthmap points …``: the public command-line API and the bulk import."""

import subprocess
import sys

import pytest
from sqlalchemy import text

from healthmap.cli import main
from points_helpers import ROOT_DIR, add_residents


@pytest.fixture()
def url(engine):
    add_residents(engine)
    return engine.url.render_as_string(hide_password=False)


def cli(url, *argv):
    return main(["points", *argv, "--db", url])


def test_award_redeem_balance_and_refusals(url, capsys):
    assert cli(url, "award", "--resident", "R1", "--activity", "annual_checkup",
               "--source-id", "c1", "--date", "2024-05-01", "--actor", "nurse_li") == 0
    assert cli(url, "award", "--resident", "R1", "--activity", "family_doctor_contract",
               "--source-id", "f1", "--date", "2024-05-01") == 0
    assert cli(url, "award", "--resident", "R1", "--activity", "annual_checkup",
               "--source-id", "c1", "--date", "2024-05-01") == 0  # same entry again
    capsys.readouterr()
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "40\n"
    assert cli(url, "redeem", "--resident", "R1", "--item", "glucose_strips",
               "--source-id", "g1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "balance 40 is less than the 60 points" in err
    assert cli(url, "redeem", "--resident", "R1", "--item", "health_kit", "--source-id", "k1") == 0
    capsys.readouterr()
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "10\n"
    assert cli(url, "award", "--resident", "R1", "--activity", "annual_checkup",
               "--source-id", "c1", "--date", "2024-05-02") == 2  # changed repeat
    assert "c1" in capsys.readouterr().err
    assert cli(url, "award", "--resident", "R1", "--activity", "nope", "--source-id", "z") == 2
    assert cli(url, "balance", "--resident", "R404") == 2
    assert cli(url, "award", "--resident", "R1", "--activity", "annual_checkup",
               "--source-id", "d", "--date", "01/05/2024") == 2
    assert cli(url, "reverse", "k1", "--reason", "not collected") == 0
    capsys.readouterr()
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "40\n"
    from sqlalchemy import create_engine

    with create_engine(url).connect() as conn:
        rows = conn.execute(text("SELECT actor, action FROM audit_log WHERE action LIKE "
                                 "'points.%' OR action = 'view_personal' ORDER BY id")).all()
    assert rows[0] == ("cli:nurse_li", "points.award")
    assert ("points.redeem" in {a for _, a in rows} and "points.reverse" in {a for _, a in rows}
            and "view_personal" in {a for _, a in rows})


def test_activities_and_catalogue_listings(url, capsys):
    assert cli(url, "activities") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "health_lecture\t5\t1/day\t12/year" in lines and len(lines) >= 8
    cli(url, "award", "--resident", "R1", "--activity", "annual_checkup", "--source-id", "a",
        "--date", "2024-01-02")
    cli(url, "award", "--resident", "R1", "--activity", "family_doctor_contract",
        "--source-id", "b", "--date", "2024-01-02")
    cli(url, "redeem", "--resident", "R1", "--item", "health_kit", "--source-id", "k")
    capsys.readouterr()
    assert cli(url, "catalogue") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "health_kit\t30\t499" in lines and "bp_monitor\t200\t40" in lines


def write_csv(path, rows):
    path.write_text("居民编号,活动代码,来源编号,日期,备注\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return str(path)


def test_import_is_validated_all_or_nothing_and_idempotent(url, tmp_path, capsys):
    bad = write_csv(tmp_path / "bad.csv", [
        "R1,health_lecture,L1,2024-05-06,",
        "R1,health_lecture,L2,2024-05-06,",        # second lecture the same day: cap
        "R99,health_lecture,L3,2024-05-06,",       # unknown resident
        "R2,running,L4,2024-05-06,",                # unknown activity
        "R2,vaccination,L5,2024-13-01,",            # not a date
        "R3,vaccination,,2024-05-01,",              # no source id
    ])
    assert cli(url, "import", bad) == 2
    out = capsys.readouterr()
    for line in ("line 3, activity", "line 4, resident_id", "line 5, activity",
                 "line 6, date", "line 7, source_id"):
        assert line in out.out, out.out
    assert "line 2" not in out.out and "nothing written" in out.err
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "0\n"  # all or nothing
    good = write_csv(tmp_path / "good.csv", ["R1,health_lecture,L1,2024-05-06,讲座",
                                              "R1,health_lecture,L2,2024-05-07,",
                                              "R2,vaccination,V1,2024-05-06,"])
    assert cli(url, "import", good) == 0
    assert "3 recorded, 0 already recorded" in capsys.readouterr().out
    assert cli(url, "import", good) == 0
    assert "0 recorded, 3 already recorded" in capsys.readouterr().out
    # the same source id with other content is named (line and source id), nothing written
    changed = write_csv(tmp_path / "changed.csv", ["R2,vaccination,V2,2024-05-08,",
                                                    "R2,vaccination,V1,2024-05-09,"])
    assert cli(url, "import", changed) == 2
    assert "line 3, source_id = 'V1'" in capsys.readouterr().out
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "10\n"


def test_import_excel_and_missing_columns(url, tmp_path, capsys):
    import pandas as pd

    path = tmp_path / "records.xlsx"
    pd.DataFrame({"resident_id": ["R2"], "activity": ["knowledge_quiz"], "source_id": ["Q1"],
                  "date": ["2024-03-01"]}).to_excel(path, index=False)
    assert cli(url, "import", str(path)) == 0
    (tmp_path / "cols.csv").write_text("resident_id,activity\nR1,health_lecture\n")
    assert cli(url, "import", str(tmp_path / "cols.csv")) == 2
    assert "source_id" in capsys.readouterr().out


def test_module_entry_point_exits_non_zero_with_one_line(url):
    run = subprocess.run([sys.executable, "-m", "healthmap", "points", "redeem", "--resident",
                          "R1", "--item", "bp_monitor", "--source-id", "s", "--db", url],
                         capture_output=True, text=True, cwd=ROOT_DIR, timeout=120)
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0 and "balance 0 is less than" in run.stderr


def test_expire_command_writes_the_due_entries_once(url, capsys, monkeypatch):
    from dataclasses import replace

    from healthmap.points import ledger
    from healthmap.points.rules import load_rules

    assert cli(url, "award", "--resident", "R1", "--activity", "annual_checkup",
               "--source-id", "old", "--date", "2024-03-01") == 0
    assert cli(url, "expire", "--as-of", "2026-01-01") == 0  # shipped: points never expire
    assert "0 expiry entries written" in capsys.readouterr().out
    rules = load_rules()
    monkeypatch.setattr(ledger, "load_rules", lambda: replace(
        rules, settings=replace(rules.settings, expiry_years=1)))
    assert cli(url, "expire", "--as-of", "2026-01-01") == 0
    assert cli(url, "expire", "--as-of", "2026-01-01") == 0  # again: nothing more
    out = capsys.readouterr().out
    assert "1 expiry entry written (as of 2026-01-01)" in out and "0 expiry entries" in out
    assert cli(url, "balance", "--resident", "R1") == 0
    assert capsys.readouterr().out == "0\n"  # the 20 points of 2024 expired (end of 2025)
