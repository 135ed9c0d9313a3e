"""Imports: every problem reported, all-or-nothing writes, idempotence, aliases."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from healthmap.ingest import import_file
from healthmap import store
from healthmap import queries
from healthmap.models import ImportLog, Population, Resident

TODAY = dt.date(2025, 6, 30)
INST = "code,name,level,in_county,area_code,region\nH1,玉环市人民医院,三级,是,玉城街道,玉环\nT1,台州医院,tertiary,false,,台州\n"


def _count(engine, model):
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(model))


def _episodes(engine) -> int:
    """Episodes held (in the episode store, their system of record)."""
    return int(store.query(engine, "SELECT count(*) AS n FROM episodes")["n"].iloc[0])


def _episodes_csv(rows):
    head = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age,fund_paid,referral\n"
    return (head + "\n".join(rows) + "\n").encode("utf-8")


GOOD = ["E1,P1,331083001,C18.9,2024-03-01,inpatient,H1,20000,M,66,12000,false",
        "E2,P1,玉城街道,C19,2024-05-01,住院,T1,40000,男,66,20000,是",
        "E3,P2,玉环县楚门镇,I10,2024-02-01,outpatient,H1,200,F,70,150,",
        "E4,P3,坎门镇,J18.9,2023-12-30,inpatient,H1,5000,,,3000,false"]


@pytest.fixture()
def loaded(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    return engine


def test_valid_file_imports_and_aliases_map(loaded):
    res = import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY)
    assert res.ok, res.problems
    assert (res.inserted, res.updated, res.unchanged) == (4, 0, 0)
    areas = dict(store.query(loaded, "SELECT record_id, area_code FROM episodes").itertuples(
        index=False))
    # name, old county name + township in an address, and an old town name all resolve
    assert areas == {"E1": "331083001", "E2": "331083001", "E3": "331083101", "E4": "331083002"}
    assert sorted(res.years_refreshed) == [2023, 2024]


def test_reimport_is_idempotent(loaded):
    data = _episodes_csv(GOOD)
    import_file(loaded, "episodes", data, "ep.csv", today=TODAY)
    before = queries.rollup(loaded, "cells")
    res = import_file(loaded, "episodes", data, "ep.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 4)
    assert _episodes(loaded) == 4
    after = queries.rollup(loaded, "cells")
    pd.testing.assert_frame_equal(before.sort_values(list(before.columns)).reset_index(drop=True),
                                  after.sort_values(list(after.columns)).reset_index(drop=True))


def test_changed_record_updates_and_moves_year(loaded):
    import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY)
    moved = GOOD[:3] + ["E4,P3,坎门镇,J18.9,2024-01-02,inpatient,H1,5000,,,3000,false"]
    res = import_file(loaded, "episodes", _episodes_csv(moved), "ep2.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 3)
    assert sorted(res.years_refreshed) == [2023, 2024]  # the old year is rebuilt too
    assert queries.periods(loaded) == [2024]  # 2023 had only E4: no episodes, no roll-ups
    assert len(queries.rollup(loaded, "cells", [queries.cube.Condition("year", "in", (2023,))])) == 0


def test_every_problem_reported_and_nothing_written(loaded):
    bad = GOOD + [
        "E1,P9,331083001,C18,2024-01-01,inpatient,H1,10,,,,",       # duplicate id
        "E6,P9,nowhere,C18,2024-01-01,inpatient,H1,10,,,,",         # unknown area
        "E7,P9,331083001,XYZ,2024-01-01,inpatient,H1,10,,,,",       # bad ICD-10
        "E8,P9,331083001,C18,2030-01-01,inpatient,H1,10,,,,",       # future date
        "E9,P9,331083001,C18,2024-01-01,inpatient,H1,-5,,,,",       # negative cost
        "E10,P9,331083001,C18,2024-01-01,inpatient,NOPE,10,,,,",    # unknown institution
        "E11,P9,331083001,C18,2024-01-01,inpatient,H1,10,,,20,",    # fund > cost
    ]
    res = import_file(loaded, "episodes", _episodes_csv(bad), "bad.csv", today=TODAY)
    assert not res.ok
    p = res.problems
    got = set(zip(p["row"], p["column"]))
    assert {(6, "record_id"), (7, "area_code"), (8, "icd10"), (9, "date"), (10, "total_cost"),
            (11, "institution_code"), (12, "fund_paid")} <= got
    assert "文件内重复" in p.loc[p["column"] == "record_id", "reason"].iloc[0]
    assert _episodes(loaded) == 0
    with loaded.connect() as c:
        assert c.scalar(select(ImportLog.status).order_by(ImportLog.id.desc())) == "rejected"


def test_missing_columns_and_english_reasons(loaded):
    res = import_file(loaded, "episodes", b"record_id,person_id\nE1,P1\n", "x.csv", today=TODAY,
                      lang="en")
    assert not res.ok and set(res.problems["reason"]) == {"required column is missing"}
    assert set(res.problems["column"]) >= {"icd10", "date", "total_cost"}


def test_interrupted_import_leaves_database_unchanged(loaded):
    import_file(loaded, "episodes", _episodes_csv(GOOD[:2]), "ep.csv", today=TODAY)

    def boom(fraction, message):
        if 0.7 < fraction < 1.0:  # during the summary refresh
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY,
                    progress=boom)
    assert _episodes(loaded) == 2
    assert queries.rollup(loaded, "cells")["episodes"].sum() == 2


def test_population_totals_and_detail_cannot_mix(loaded):
    csv = ("area_code,year,population,sex,age_group\n331083001,2024,100,,\n"
           "331083001,2024,60,M,60-64\n").encode()
    res = import_file(loaded, "population", csv, "pop.csv", today=TODAY)
    assert not res.ok and "重复计数" in res.problems["reason"].iloc[0]
    ok = split_csv("331083001", 2024, 100)
    r1 = import_file(loaded, "population", ok, "pop.csv", today=TODAY)
    r2 = import_file(loaded, "population", ok, "pop.csv", today=TODAY)
    assert r1.ok and (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 36)
    assert _count(loaded, Population) == 36
    partial = b"area_code,year,population,sex,age_group\n331083001,2025,60,M,60-64\n"
    res = import_file(loaded, "population", partial, "pop.csv", today=TODAY, lang="en")
    assert list(res.problems["code"]) == ["split_incomplete"]
    assert "1 of 36 cells" in res.problems["reason"].iloc[0]


def split_csv(area, year, persons_per_cell):
    """A complete sex × age split (36 cells) for one area-year."""
    from healthmap.codes import AGE_GROUPS
    rows = [f"{area},{year},{persons_per_cell},{s},{g}" for s in "MF" for g in AGE_GROUPS]
    return ("area_code,year,population,sex,age_group\n" + "\n".join(rows) + "\n").encode()


def test_excel_with_chinese_headers(loaded, tmp_path):
    df = pd.DataFrame({"区划编码": ["331083001"], "年份": [2024], "人口数": [1234]})
    path = tmp_path / "pop.xlsx"
    df.to_excel(path, index=False)
    res = import_file(loaded, "population", path, "pop.xlsx", today=TODAY)
    assert res.ok, res.problems


def test_residents_id_numbers_hashed_masked_and_checked(loaded):
    from healthmap import ids
    good = ids.make_id("339900", dt.date(1960, 5, 1), 13)  # odd sequence → male
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    csv = ("resident_id,id_number,name,sex,birth_date,area_code,smoking_pack_years,copd\n"
           f"R1,{good},张三,M,1960-05-01,331083001,35,true\n"
           f"R2,{bad_check},李四,M,1960-05-01,331083001,,\n"
           f"R3,{good},王五,F,1961-05-01,331083001,,\n")
    res = import_file(loaded, "residents", csv.encode(), "res.csv", today=TODAY)
    assert not res.ok
    reasons = res.problems.set_index("row")["reason"]
    assert "校验位" in reasons[3]
    assert good not in res.problems.to_string()  # ID numbers are masked in the report
    ok = import_file(loaded, "residents", "\n".join(csv.splitlines()[:2]).encode(), "r.csv",
                     today=TODAY)
    assert ok.ok, ok.problems
    with loaded.connect() as c:
        r = c.execute(select(Resident)).one()[0] if False else c.execute(select(
            Resident.id_hash, Resident.id_masked, Resident.risk_factors)).one()
    assert r.id_hash != good and len(r.id_hash) == 64 and r.id_masked == ids.mask_id(good)
    assert r.risk_factors == {"smoking_pack_years": 35.0, "copd": True}


def test_undeclared_columns_refused_unless_declared_locally(loaded, tmp_path, monkeypatch):
    from healthmap import ids
    good = ids.make_id("339900", dt.date(1960, 5, 1), 13)
    csv = ("resident_id,id_number,name,sex,birth_date,area_code,local_extra\n"
           f"R1,{good},张三,M,1960-05-01,331083001,x\n").encode()
    res = import_file(loaded, "residents", csv, "r.csv", today=TODAY, lang="en")
    assert list(res.problems["code"]) == ["unknown_column"]
    assert _count(loaded, Resident) == 0
    ignored = import_file(loaded, "residents", csv, "r.csv", today=TODAY,
                          ignore_unknown_columns=True)
    assert ignored.ok and list(ignored.warnings["column"]) == ["local_extra"]
    local = tmp_path / "local_columns.csv"
    local.write_text("kind,name,type,zh,lo,hi,max_len,note\n"
                     "residents,local_extra,text,本地字段,,,10,a local marker\n", encoding="utf-8")
    monkeypatch.setenv("HEALTHMAP_LOCAL_COLUMNS", str(local))
    res = import_file(loaded, "residents", csv.replace(b"R1,", b"R2,").replace(
        good.encode(), ids.make_id("339900", dt.date(1960, 5, 1), 15).encode()), "r.csv",
        today=TODAY)
    assert res.ok, res.problems
    with loaded.connect() as c:
        kept = c.scalar(select(Resident.risk_factors).where(Resident.resident_id == "R2"))
    assert kept == {"local_extra": "x"}


def test_unreadable_file_is_a_clear_problem(loaded):
    res = import_file(loaded, "episodes", b"\x00\x01\x02", "x.xlsx", today=TODAY)
    assert not res.ok and "无法读取" in res.problems["reason"].iloc[0]


def test_geojson_areas_import_reprojects_and_requires_crs(loaded, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box
    g = gpd.GeoDataFrame({"vcode": ["331083001001"], "vname": ["东门村"], "parent": ["331083001"]},
                         geometry=[box(121.24, 28.14, 121.25, 28.15)], crs=4326).to_crs(3857)
    path = tmp_path / "v.geojson"
    g.to_file(path, driver="GeoJSON")
    res = import_file(loaded, "areas", path, "v.geojson", code_field="vcode", name_field="vname",
                      level="village", parent_field="parent", today=TODAY)
    assert res.ok, res.problems
    from healthmap.queries import area_set
    v = area_set(loaded, "village").areas
    assert v["code"].tolist() == ["331083001001"] and not v["schematic"].iloc[0]
    assert '121.24' in v["geometry"].iloc[0]  # back in WGS84
    res = import_file(loaded, "areas", path, "v.geojson", code_field="nope", today=TODAY)
    assert not res.ok and "nope" in res.problems["reason"].iloc[0]


def test_cli_import_audited_with_actor_and_changes_need_confirmation(loaded, tmp_path, capsys):
    from healthmap import audit
    from healthmap.cli import main
    url = loaded.url.render_as_string(hide_password=False)
    assert import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY).ok
    flipped = tmp_path / "inst.csv"
    flipped.write_text(INST.replace("H1,玉环市人民医院,三级,是,玉城街道,玉环",
                                    "H1,玉环市人民医院,三级,否,玉城街道,台州"), encoding="utf-8")
    assert main(["import", "institutions", str(flipped), "--db", url, "--actor", "alice",
                 "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "--confirm-changes" in err and "3 records depend on" in err  # E1, E3, E4 use H1
    assert _episodes(loaded) == 4
    assert main(["import", "institutions", str(flipped), "--db", url, "--actor", "alice",
                 "--confirm-changes"]) == 0
    log = audit.search_audit(loaded)
    imports = log[log["action"] == "import"]
    assert set(imports["actor"]) == {"cli:alice"} and len(imports) == 2
    change = log[log["action"] == "reference_change"]
    assert list(change["target"]) == ["institutions:H1"]
    assert "in_county: true→false" in change["detail"].iloc[0] and "records=3" in \
        change["detail"].iloc[0]
    from healthmap.models import Institution
    with loaded.connect() as c:
        assert c.scalar(select(Institution.in_county).where(Institution.code == "H1")) is False


def test_cli_import_actor_defaults_to_the_os_user(loaded, tmp_path):
    import getpass

    from healthmap import audit
    from healthmap.cli import main
    path = tmp_path / "inst.csv"
    path.write_text(INST, encoding="utf-8")
    url = loaded.url.render_as_string(hide_password=False)
    assert main(["import", "institutions", str(path), "--db", url]) == 0
    log = audit.search_audit(loaded, action="import")
    assert log["actor"].iloc[0] == f"cli:{getpass.getuser()}"


def test_warnings_are_recorded_shown_and_the_import_succeeds(loaded):
    rows = GOOD[:1] + ["E9,P9,331083001,C18.9,2024-03-01,inpatient,H1,800000,M,66,,false"]
    res = import_file(loaded, "episodes", _episodes_csv(rows), "ep.csv", today=TODAY, lang="en")
    assert res.ok and res.inserted == 2
    assert list(res.warnings["row"]) == [3] and list(res.warnings["code"]) == ["cost_high"]
    assert "inpatient plausibility threshold of 500,000" in res.warnings["reason"].iloc[0]
    with loaded.connect() as c:
        note = c.scalar(select(ImportLog.message).where(ImportLog.id == res.import_id))
    assert note.startswith("warnings: 1")


def test_limits_come_from_the_environment(loaded, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_LIMIT_COST_CEILING_YUAN", "10000")
    res = import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY)
    assert not res.ok and set(res.problems["code"]) == {"cost_ceiling"}
    assert set(res.problems["row"]) == {2, 3}  # 20,000 and 40,000 yuan


def test_readme_states_every_limit_with_its_default():
    from dataclasses import fields
    from pathlib import Path

    from healthmap.ingest.contract import Limits
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Data formats", 1)[1].split("\n## ", 1)[0]
    for f in fields(Limits):
        default = getattr(Limits(), f.name)
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        shown = f"{default:,}" if isinstance(default, int) and default >= 10_000 else str(default)
        shown = f"({shown})"  # the README gives each default in brackets after the name
        assert f"`{f.name}`" in section and shown in section, f.name


def test_map_page_renders_with_a_township_without_boundary(demo_copy, monkeypatch):
    """A township imported without a boundary (CSV) is accepted; the map keeps working."""
    from streamlit.testing.v1 import AppTest

    from healthmap.db import make_engine
    engine = make_engine(demo_copy)
    csv = "code,name,level,parent_code\n331083009,新建镇,township,331083\n".encode()
    res = import_file(engine, "areas", csv, "a.csv")
    assert res.ok, res.problems
    engine.dispose()
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    at = AppTest.from_file(str(__import__("pathlib").Path(__file__).resolve().parent.parent
                               / "app.py"), default_timeout=180)
    at.session_state["user"] = {"username": "demo_leader", "role": "leader", "demo": True}
    at.run()
    assert not at.exception
    assert at.get("plotly_chart") and at.metric


def test_data_page_second_step_confirms_a_reference_change(demo_copy, monkeypatch):
    """The data page refuses a change to YH001 that episodes depend on, shows it with the
    number of records, and applies it (audited) only after the confirmation button."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from healthmap import audit
    from healthmap.db import make_engine
    from healthmap.models import Institution
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_copy)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=180)
    at.session_state["user"] = {"username": "demo_data_manager", "role": "data_manager",
                                "demo": True}
    at.run()
    at.switch_page("pages/data_management.py").run()
    at.selectbox(key="data_kind").set_value("institutions").run()
    flipped = ("code,name,level,in_county,area_code,region\n"
               "YH001,玉环市人民医院,tertiary,false,331083001,台州\n").encode()
    at.file_uploader[0].set_value(("inst.csv", flipped, "text/csv")).run()
    at.button(key="do_import").click().run()
    assert not at.exception
    shown = " ".join(d.value.to_string() for d in at.dataframe)
    assert "in_county: true→false" in shown and "条就诊记录" in shown
    engine = make_engine(demo_copy)
    with engine.connect() as c:
        assert c.scalar(select(Institution.in_county).where(Institution.code == "YH001"))
    at.button(key="do_confirm").click().run()
    assert not at.exception and at.success
    with engine.connect() as c:
        assert not c.scalar(select(Institution.in_county).where(Institution.code == "YH001"))
    change = audit.search_audit(engine, action="reference_change")
    assert list(change["target"]) == ["institutions:YH001"]
    assert change["actor"].iloc[0] == "demo_data_manager"
    # an undeclared column: refused, then imported without it when the box is ticked
    extra = ("code,name,level,in_county,region,beds\nYH099,某卫生院,primary,true,玉环,30\n"
             ).encode()
    at.file_uploader[0].set_value(("inst2.csv", extra, "text/csv")).run()
    at.button(key="do_import").click().run()
    assert "未知列 beds" in " ".join(d.value.to_string() for d in at.dataframe)
    at.checkbox(key="ignore_unknown").check().run()
    at.button(key="do_import").click().run()
    assert not at.exception and at.success and at.warning
    engine.dispose()


def test_an_in_county_change_rebuilds_the_summaries_it_moves(loaded):
    """H1 becomes an out-of-county hospital: its three episodes (2023 and 2024) move from
    in-county to out-of-county cells at once, exactly as a full rebuild would put them."""
    from healthmap import summary

    assert import_file(loaded, "episodes", _episodes_csv(GOOD), "ep.csv", today=TODAY).ok

    def by_county():
        cells = queries.rollup(loaded, "cells", by=["in_county"], measures=["episodes"])
        return dict(zip(cells["in_county"].astype(bool), cells["episodes"]))

    assert by_county() == {True: 3, False: 1}  # E1, E3, E4 at H1; E2 at T1
    flipped = INST.replace("H1,玉环市人民医院,三级,是,玉城街道,玉环",
                           "H1,玉环市人民医院,三级,否,玉城街道,台州")
    res = import_file(loaded, "institutions", flipped.encode(), "inst.csv", today=TODAY,
                      confirm_changes=True)
    assert res.ok and res.years_refreshed == [2023, 2024]
    assert by_county() == {False: 4}
    keys = ["year", "icd3", "in_county"]
    incremental = queries.rollup(loaded, "cells", by=keys, measures=["episodes"])
    summary.rebuild(loaded, "test")
    pd.testing.assert_frame_equal(queries.rollup(loaded, "cells", by=keys, measures=["episodes"]),
                                  incremental)
