"""The episode store (issue 14, decisions §1): the system of record for episodes, committed
with the database's import log in two phases, atomic, readable while written. Hand-made
rows; every expected number is worked out in the comments."""

import datetime as dt
import os

import pandas as pd
import pytest
from healthmap import store
from healthmap.ingest import import_file
from healthmap.store.layout import MANIFEST, PENDING, STAGING, read_manifest

TODAY = dt.date(2025, 6, 30)
INST = ("code,name,level,in_county,area_code,region\n"
        "H1,玉环市人民医院,三级,是,玉城街道,玉环\nT1,台州医院,tertiary,false,,台州\n")
HEAD = ("record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,"
        "age,fund_paid,referral\n")
A, B = "331083001", "331083101"  # two townships of the built-in areas


def csv(rows):
    return (HEAD + "\n".join(rows) + "\n").encode("utf-8")


FIRST = [f"E1,P1,{A},C16.9,2024-03-01,inpatient,H1,123.45,M,66,100.10,false",
         f"E2,P1,{A},C16.0,2024-05-01,inpatient,T1,0.07,M,66,,true",
         f"E3,P2,{A},C16.9,2024-02-01,outpatient,H1,200,F,70,150,",
         f"E4,P3,{B},C16.9,2023-12-30,inpatient,H1,5000,F,,3000,false",
         f"E5,P3,{B},C16.1,2024-01-10,inpatient,T1,19.99,F,58,10,true",
         f"E6,P4,{A},I10,2024-04-01,inpatient,H1,300,M,80,200,false"]


@pytest.fixture()
def loaded(engine):
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    res = import_file(engine, "episodes", csv(FIRST), "first.csv", today=TODAY)
    assert res.ok, res.problems
    st = store.status(engine)  # published by the import itself (status never rebuilds)
    assert st["in_sync"] and st["generation"] == 1
    assert st["store_version"] == st["database_version"] and st["store_version"].startswith("1@")
    return engine


def store_rows(engine):
    return store.query(engine, "SELECT * FROM episodes ORDER BY record_id")


def assert_first_rows(engine, extra=()):
    """The store holds FIRST (plus ``extra`` record ids), field by field as imported."""
    s = store_rows(engine).set_index("record_id")
    assert s.index.tolist() == sorted(["E1", "E2", "E3", "E4", "E5", "E6", *extra])
    e1 = s.loc["E1"]
    assert (e1["person_id"], e1["area_code"], e1["icd10"], e1["icd3"], e1["setting"],
            e1["institution_code"], e1["sex"], e1["age_group"]) == (
        "P1", A, "C16.9", "C16", "inpatient", "H1", "M", "65-69")
    assert e1["date"].date() == dt.date(2024, 3, 1) and (e1["year"], e1["month"]) == (2024, 3)
    assert s.at["E4", "year"] == 2023 and s.at["E4", "month"] == 12


def test_store_holds_the_imports_money_in_exact_fen(loaded):
    assert_first_rows(loaded)
    s = store_rows(loaded).set_index("record_id")
    # 123.45 yuan = 12345 fen; 0.07 yuan = 7 fen; a missing fund share stays missing
    assert s.at["E1", "total_cost_fen"] == 12345 and s.at["E1", "fund_paid_fen"] == 10010
    assert s.at["E2", "total_cost_fen"] == 7 and pd.isna(s.at["E2", "fund_paid_fen"])
    assert pd.isna(s.at["E3", "referral"]) and pd.isna(s.at["E4", "age"])
    types = dict(store.query(loaded, "DESCRIBE episodes")[["column_name", "column_type"]]
                 .itertuples(index=False))
    assert types == dict(store.VIEW_COLUMNS)
    assert types["date"] == "DATE" and types["total_cost_fen"] == "BIGINT"
    m = read_manifest(store.engine_store_dir(loaded))
    assert {y: v["rows"] for y, v in m.years.items()} == {2023: 1, 2024: 5}
    more = [f"E7,P5,{B},C18.9,2022-06-01,outpatient,H1,1.10,F,40,,"]
    assert import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY).ok
    assert_first_rows(loaded, ["E7"])
    m = read_manifest(store.engine_store_dir(loaded))
    assert {y: v["rows"] for y, v in m.years.items()} == {2022: 1, 2023: 1, 2024: 5}


def test_reimported_record_replaces_its_row_and_can_move_year(loaded):
    root = store.engine_store_dir(loaded)
    # E4 moves from 2023 to 2024 with a new cost; E1 changes only its cost
    changed = [FIRST[0].replace("123.45", "130.00"),
               FIRST[3].replace("2023-12-30", "2024-01-02").replace("5000", "5000.5")]
    res = import_file(loaded, "episodes", csv(changed), "fix.csv", today=TODAY)
    assert (res.inserted, res.updated) == (0, 2)
    s = store_rows(loaded).set_index("record_id")
    assert len(s) == 6  # replaced, not added
    assert s.at["E1", "total_cost_fen"] == 13000
    assert s.at["E4", "year"] == 2024 and s.at["E4", "total_cost_fen"] == 500050
    assert sorted(read_manifest(root).years) == [2024]  # 2023 had only E4


def test_identical_reimport_changes_nothing(loaded):
    root = store.engine_store_dir(loaded)
    before = (root / MANIFEST).read_bytes()
    files = sorted(p.name for p in root.rglob("*.parquet"))
    res = import_file(loaded, "episodes", csv(FIRST), "again.csv", today=TODAY)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 6)
    assert (root / MANIFEST).read_bytes() == before
    assert sorted(p.name for p in root.rglob("*.parquet")) == files


def test_failure_after_staging_rolls_back_both(loaded, monkeypatch):
    """The store's files are staged before the write transaction; the transaction then
    fails (injected as it prepares the store's manifest): the database rolls back, the
    staged files go."""
    root = store.engine_store_dir(loaded)
    before = (root / MANIFEST).read_bytes()
    seen = {}

    def prepare_fails(writer, conn):
        seen["staged"] = sorted(p.name for p in (root / STAGING).rglob("*.parquet"))
        raise RuntimeError("injected after staging")

    monkeypatch.setattr(store, "prepare", prepare_fails)
    more = [f"E7,P5,{B},C16.9,2024-06-01,inpatient,H1,10,F,40,,"]
    with pytest.raises(RuntimeError, match="injected"):
        import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY)
    assert len(seen["staged"]) == 6  # the year's episodes and its five roll-ups …
    assert not list((root / STAGING).rglob("*.parquet"))  # … discarded with the rollback
    assert (root / MANIFEST).read_bytes() == before and not (root / PENDING).exists()
    assert store_rows(loaded)["record_id"].tolist() == ["E1", "E2", "E3", "E4", "E5", "E6"]
    monkeypatch.undo()  # the lock was released: the next write works
    assert import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY).ok
    assert len(store_rows(loaded)) == 7


def test_crash_between_commit_and_swap_is_rolled_forward(loaded, monkeypatch):
    """The import committed (its log row says so), then the process died before the
    manifest swap: readers already read the pending manifest at the committed version, and
    the next writer makes it live."""
    root = store.engine_store_dir(loaded)
    before = (root / MANIFEST).read_bytes()

    def crash(writer):  # the process dies after the commit: its lock goes with it
        writer._unlock()
        writer.done = True
        raise SystemExit("killed")

    monkeypatch.setattr(store, "publish", crash)
    more = [f"E7,P5,{B},C16.9,2024-06-01,inpatient,H1,10,F,40,,"]
    with pytest.raises(SystemExit):
        import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY)
    monkeypatch.undo()
    assert (root / MANIFEST).read_bytes() == before and (root / PENDING).exists()
    st = store.status(loaded)
    assert st["in_sync"] and st["pending"]  # the committed version is readable …
    # … and status describes that manifest, not the superseded manifest.json
    pending = read_manifest(root, PENDING)
    assert st["pending_live"] and st["store_version"] == st["database_version"]
    assert st["store_version"] == pending.data_version
    assert st["generation"] == pending.generation == read_manifest(root).generation + 1
    assert st["files"] == len(pending.files())
    assert len(store_rows(loaded)) == 7  # … by every reader, with the new row
    more2 = [f"E8,P5,{B},C16.9,2024-07-01,inpatient,H1,10,F,40,,"]
    assert import_file(loaded, "episodes", csv(more2), "more2.csv", today=TODAY).ok
    assert not (root / PENDING).exists() and read_manifest(root).rows == 8
    assert_first_rows(loaded, ["E7", "E8"])


def test_crash_before_commit_drops_the_pending_manifest(loaded, monkeypatch):
    """The pending manifest was written, then the process died before the database
    committed: that version never existed; readers keep the old one and the next writer
    deletes the pending manifest and the files only it names."""
    root = store.engine_store_dir(loaded)
    before = (root / MANIFEST).read_bytes()
    real = store.prepare
    named = {}

    def prepare_then_die(writer, conn):
        m = real(writer, conn)
        named["files"] = set(m.files()) - set(read_manifest(root).files())
        writer._unlock()
        writer.done = True  # nothing of the writer survives the "crash"
        raise SystemExit("killed")

    monkeypatch.setattr(store, "prepare", prepare_then_die)
    more = [f"E7,P5,{B},C16.9,2024-06-01,inpatient,H1,10,F,40,,"]
    with pytest.raises(SystemExit):
        import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY)
    monkeypatch.undo()
    assert (root / PENDING).exists() and named["files"]
    assert all((root / f).exists() for f in named["files"])
    st = store.status(loaded)
    assert st["in_sync"] and st["pending"] and not st["pending_live"]
    assert st["generation"] == read_manifest(root).generation and len(store_rows(loaded)) == 6
    assert (root / MANIFEST).read_bytes() == before
    more2 = [f"E8,P5,{B},C16.9,2024-07-01,inpatient,H1,10,F,40,,"]
    assert import_file(loaded, "episodes", csv(more2), "more2.csv", today=TODAY).ok
    assert not (root / PENDING).exists()
    assert not any((root / f).exists() for f in named["files"])
    assert_first_rows(loaded, ["E8"])


def test_reader_keeps_its_generation_while_a_writer_publishes(loaded):
    old = store.connect(loaded)
    assert old.execute("SELECT count(*) FROM episodes").fetchone()[0] == 6
    more = [f"E7,P5,{B},C16.9,2024-06-01,inpatient,H1,10,F,40,,"]
    root = store.engine_store_dir(loaded)
    gen = read_manifest(root).generation
    assert import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY).ok
    assert read_manifest(root).generation == gen + 1
    assert old.execute("SELECT count(*) FROM episodes").fetchone()[0] == 6  # still readable
    new = store.connect(loaded)
    assert new.execute("SELECT count(*) FROM episodes").fetchone()[0] == 7
    # one more write: the generation `old` read is now two behind and its files are gone
    assert import_file(loaded, "episodes", csv([more[0].replace("E7", "E8")]), "m2.csv",
                       today=TODAY).ok
    live = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    prev = {f for f in live if f not in read_manifest(root).files()}
    assert live >= set(read_manifest(root).files()) and prev  # previous generation kept
    assert new.execute("SELECT count(*) FROM episodes").fetchone()[0] == 7
    old.close(), new.close()


def test_rows_are_kept_in_the_store_order_within_a_year(loaded):
    changed = [FIRST[0].replace("123.45", "130.00"),
               f"E7,P5,{B},C18.9,2022-06-01,outpatient,H1,1.10,F,40,,",
               f"E0,P9,{A},C16.9,2024-01-01,outpatient,H1,1.10,F,40,,"]
    assert import_file(loaded, "episodes", csv(changed), "fix.csv", today=TODAY).ok
    m = read_manifest(store.engine_store_dir(loaded))
    assert {y: v["rows"] for y, v in m.years.items()} == {2022: 1, 2023: 1, 2024: 6}
    # within a year, rows are in the store's order: icd3, area, person, date, record id
    # (C16: A: P1 E1 E2, P2 E3, P9 E0; B: P3 E5; then I10: E6), not by record id or date
    in_file = store.query(loaded, "SELECT record_id FROM episodes WHERE year = 2024")
    assert in_file["record_id"].tolist() == ["E1", "E2", "E3", "E0", "E5", "E6"]


def test_distinct_persons_by_area_one_year_one_group_inpatient(loaded):
    # C_STOMACH (C16), 2024, inpatient: area A has P1 (E1, E2: counted once; E3 is
    # outpatient, E6 is hypertension); area B has P3 (E5; E4 is 2023) -> A 1, B 1.
    # Add P6 in A (inpatient C16 2024) and P3 again in A: A 3 (P1, P3, P6), B 1.
    more = [f"E8,P6,{A},C16.2,2024-07-01,inpatient,H1,10,M,50,,",
            f"E9,P3,{A},C16.9,2024-08-01,inpatient,H1,10,F,58,,"]
    assert import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY).ok
    df = store.query(loaded, """
        SELECT e.area_code, count(DISTINCT e.person_id) AS persons, count(*) AS episodes,
               sum(e.total_cost_fen) AS cost_fen
        FROM episodes e JOIN icd3_groups g USING (icd3)
        WHERE e.year = ? AND g.group_code = ? AND e.setting = 'inpatient'
        GROUP BY e.area_code ORDER BY e.area_code""", [2024, "C_STOMACH"])
    # A: E1 12345 + E2 7 + E8 1000 + E9 1000 = 14352 fen; B: E5 1999 fen
    assert df.to_dict("list") == {"area_code": [A, B], "persons": [3, 1], "episodes": [4, 1],
                                  "cost_fen": [14352, 1999]}
    inst = store.query(loaded, "SELECT code, in_county FROM institutions ORDER BY code")
    assert inst.to_dict("list") == {"code": ["H1", "T1"], "in_county": [True, False]}
    # the area hierarchy: both codes are townships of the county 331083
    areas = store.query(loaded, "SELECT code, level, parent_code FROM areas WHERE code IN "
                                "(?, ?) ORDER BY code", [A, B])
    assert areas.to_dict("list") == {"code": [A, B], "level": ["township"] * 2,
                                     "parent_code": ["331083"] * 2}


def test_a_lost_store_is_named_never_rebuilt_or_emptied(loaded):
    """The store is the only copy of the episodes: when it is missing, readers and imports
    say so by name (with the remedy) and change nothing."""
    import shutil

    root = store.engine_store_dir(loaded)
    assert os.stat(root).st_mode & 0o777 == 0o700
    for p in root.rglob("*"):
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
    shutil.rmtree(root)  # e.g. a database copied or restored without its store
    with pytest.raises(store.StoreMismatch, match="restore"):
        store_rows(loaded)
    more = [f"E7,P5,{B},C16.9,2024-06-01,inpatient,H1,10,F,40,,"]
    res = import_file(loaded, "episodes", csv(more), "more.csv", today=TODAY)
    assert not res.ok and res.problems["code"].tolist() == ["store_mismatch"]
    assert "备份" in res.problems["reason"].iloc[0]
    assert read_manifest(root) is None


def test_store_location():
    assert str(store.store_dir("sqlite:////srv/x/a.db")) == "/srv/x/a.db.store"
    with pytest.raises(store.StoreLocationError):
        store.store_dir("sqlite:///:memory:")


def test_store_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("HEALTHMAP_STORE_DIR", str(tmp_path / "s"))
    assert store.store_dir("sqlite:///:memory:") == tmp_path / "s"


def test_cli_status_and_refresh(loaded, capsys):
    from healthmap.cli import main

    url = loaded.url.render_as_string(hide_password=False)
    assert main(["store", "status", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "in sync" in out and "2024" in out and "5 episodes" in out
    assert main(["refresh", "--db", url]) == 0
    assert "from the episode store" in capsys.readouterr().out
    (store.engine_store_dir(loaded) / MANIFEST).unlink()
    assert main(["store", "status", "--db", url]) == 1
    assert "NOT in sync" in capsys.readouterr().out


def test_readers_read_the_old_generation_while_a_writer_stages(loaded):
    from healthmap.store.layout import to_arrow
    from healthmap.store.writer import StoreWriter

    root = store.engine_store_dir(loaded)
    row = pd.DataFrame({"record_id": ["E1"], "person_id": ["P1"], "area_code": [A],
                        "icd10": ["C16.9"], "icd3": ["C16"], "date": ["2024-03-01"],
                        "year": [2024], "month": [3], "setting": ["inpatient"],
                        "institution_code": ["H1"], "total_cost": [1.0], "fund_paid": [None],
                        "insurance_type": ["resident"], "referral": [None], "sex": ["M"],
                        "age": [66], "age_group": ["65-69"]})
    writer = StoreWriter(root)  # holds the lock; readers take none
    writer.update(to_arrow(row))  # E1 now costs 100 fen, staged only
    during = store.connect(loaded)
    sql = "SELECT total_cost_fen FROM episodes WHERE record_id = 'E1'"
    assert during.execute(sql).fetchone()[0] == 12345
    writer.publish(read_manifest(root).data_version, require_rollups=False)  # same version
    assert during.execute(sql).fetchone()[0] == 12345  # its generation's files are kept
    after = store.connect(loaded)
    assert after.execute(sql).fetchone()[0] == 100
    during.close(), after.close()


@pytest.mark.sqlite_only  # removes the database file and makes a new one at its path
def test_a_recreated_database_does_not_take_the_old_store_for_its_own(loaded, tmp_path):
    """Same path, same import ids, other content: the versions differ by import time."""
    from healthmap.bootstrap import init_database
    from healthmap.db import make_engine

    root = store.engine_store_dir(loaded)
    path = loaded.url.database
    loaded.dispose()
    os.remove(path)
    fresh = make_engine(f"sqlite:///{path}")
    init_database(fresh)
    assert import_file(fresh, "institutions", INST.encode(), "inst.csv", today=TODAY).ok
    assert import_file(fresh, "episodes", csv(FIRST[:2]), "two.csv", today=TODAY).ok
    assert read_manifest(root).rows == 2  # a new store, not "updated" from the old 6
    assert store_rows(fresh)["record_id"].tolist() == ["E1", "E2"]
    fresh.dispose()


@pytest.mark.sqlite_only  # the app page on one back end is enough: the check is the store's
def test_the_app_names_a_lost_store_in_chinese_and_english(loaded, monkeypatch):
    """A visitor of a database whose store is gone sees what is wrong and what to do,
    not Streamlit's redacted exception page."""
    import shutil

    from streamlit.testing.v1 import AppTest

    from points_helpers import ROOT_DIR

    shutil.rmtree(store.engine_store_dir(loaded))
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", loaded.url.render_as_string(hide_password=False))
    for lang, words in (("zh", "同一份备份"), ("en", "same backup")):
        at = AppTest.from_file(f"{ROOT_DIR}/app.py", default_timeout=120)
        at.session_state["lang"] = lang
        at.run()
        assert not at.exception, at.exception
        assert any(words in e.value for e in at.error), [e.value for e in at.error]


def test_rollup_text_held_as_a_dictionary_is_written_as_it_is_and_read_as_text(tmp_path):
    # the per-person roll-up's parts come from DuckDB with their text columns as ENUMs
    # (Arrow dictionaries); the store writes them without making the strings, and every
    # reader sees the same text as from a plain column
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from healthmap import person_rollup
    from healthmap.store.writer import write_rollup

    con = duckdb.connect()
    con.execute("CREATE TYPE s AS ENUM ('*', 'inpatient', 'outpatient')")
    cols = [c for c, _t in person_rollup.COLUMNS if c != "year"]
    plain = pa.table({c: pa.array([None] * 2, pa.string()) for c in cols}).set_column(
        cols.index("setting"), "setting", pa.array(["inpatient", "*"]))
    con.register("plain", plain)
    held = con.sql(f"SELECT * REPLACE (CAST(setting AS s) AS setting) FROM plain"
                   ).to_arrow_table()
    assert pa.types.is_dictionary(held.schema.field("setting").type)
    for name, frame in (("held", held), ("plain", plain)):
        write_rollup(frame, person_rollup.TABLE, tmp_path / f"{name}.parquet")
    kept = pq.read_schema(tmp_path / "held.parquet").field("setting").type
    assert pa.types.is_dictionary(kept)  # written as it came, not cast to strings
    rows = con.execute(f"SELECT setting, typeof(setting) FROM read_parquet("
                       f"['{tmp_path}/held.parquet', '{tmp_path}/plain.parquet'])").fetchall()
    assert rows == [("inpatient", "VARCHAR"), ("*", "VARCHAR")] * 2
