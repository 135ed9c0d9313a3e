"""CLI errors and reports; accounts, lockout, audit; suppression."""

import datetime as dt
import subprocess
import sys

import pytest
from sqlalchemy import text

from healthmap import audit, auth
from healthmap.cli import main


def run(*args, env_url=None):
    return subprocess.run([sys.executable, "-m", "healthmap", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_bad_input_is_one_line_without_traceback(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    r = run("--db", db, "import", "episodes", str(tmp_path / "missing.csv"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: file not found")
    r = run("report", "nonsense")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run("--db", db, "init")
    assert r.returncode == 2 and "admin-password" in r.stderr
    r = run("--db", db, "init", "--admin-password", "weak")
    assert r.returncode == 2 and "weak administrator password" in r.stderr


def test_init_refused_for_its_password_leaves_the_database_untouched(tmp_path, capsys):
    """init also upgrades the schema: a missing or weak administrator password is refused
    before any migration runs (not after the upgrade has been committed)."""
    path = tmp_path / "x.db"
    assert main(["--db", f"sqlite:///{path}", "init"]) == 2
    assert "admin-password" in capsys.readouterr().err
    assert main(["--db", f"sqlite:///{path}", "init", "--admin-password", "weak"]) == 2
    assert "weak administrator password" in capsys.readouterr().err
    assert not path.exists() or path.stat().st_size == 0

def test_cli_init_import_report(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["--db", db, "init", "--admin-password", "tide-lantern-47-orchid"]) == 0
    inst = tmp_path / "inst.csv"
    inst.write_text("code,name,level,in_county\nH1,医院,tertiary,true\nT1,台州医院,tertiary,false\n",
                    encoding="utf-8")
    ep = tmp_path / "ep.csv"
    ep.write_text("record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost\n"
                  "E1,P1,331083001,C18,2024-01-01,inpatient,H1,100\n"
                  "E2,P2,331083001,C18,2024-01-02,inpatient,T1,300\n", encoding="utf-8")
    assert main(["--db", db, "import", "institutions", str(inst)]) == 0
    assert main(["--db", db, "import", "episodes", str(ep)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "report", "outward_referral", "--year", "2024"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("area_code,area_name,numerator,denominator,value,ci_low,ci_high,flag,"
                      "basis")
    yucheng = [l for l in out if l.startswith("331083001,")][0].split(",")
    assert yucheng[2:5] == ["1.0", "2.0", "50.0"]
    assert main(["--db", db, "report", "cost_per_case", "--format", "json"]) == 0
    assert '"value":200.0' in capsys.readouterr().out.replace(" ", "")
    # for publication only the published tables (decisions §10): outward referral is not one
    assert main(["report", "outward_referral", "--year", "2024", "--public", "--db", db]) == 2
    assert "published tables" in capsys.readouterr().err
    # colorectal incidence is: 2 persons is a small cell, so nothing about 玉城街道 is shown
    assert main(["report", "incidence", "--year", "2024", "--group", "C_COLORECTAL",
                 "--public", "--db", db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(",suppressed,flag,basis")
    assert [l for l in out if l.startswith("331083001,")][0] == \
        "331083001,玉城街道,,,,,,True,suppressed,diagnosed_cases"
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost\n"
                   "E9,P1,nowhere,C18,2024-01-01,inpatient,H1,100\n", encoding="utf-8")
    assert main(["--db", db, "import", "episodes", str(bad)]) == 2


def test_audit_log_is_append_only(engine):
    audit.record(engine, "x", "test")
    with pytest.raises(Exception):
        with engine.begin() as c:
            c.execute(text("update audit_log set actor = 'y'"))
    with pytest.raises(Exception):
        with engine.begin() as c:
            c.execute(text("delete from audit_log"))


def test_password_rules_and_roles(engine):
    with pytest.raises(auth.AuthError):
        auth.create_user(engine, "bob", "password", "leader", actor="t")
    with pytest.raises(auth.AuthError):
        auth.create_user(engine, "bob", "Strong-pass-2024", "king", actor="t")
    assert auth.can_open(None, "map") and not auth.can_open(None, "data")
    assert auth.can_open("data_manager", "data") and not auth.can_open("leader", "admin")


def test_public_view_suppresses_small_cells():
    import pandas as pd
    from healthmap.indicators import flag
    t = flag(pd.DataFrame({"numerator": [0, 1, 4, 5, 25]}), public=True)
    assert t["suppressed"].tolist() == [False, True, True, False, False]
    assert t["unstable"].tolist() == [True, True, True, True, False]
