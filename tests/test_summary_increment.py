"""Issue 14: a month's import into a held year updates the year's roll-ups
(healthmap/summary_increment.py) instead of rebuilding them; every roll-up must equal a
full rebuild from the episodes (``refresh``), row for row, money to the fen. Hand-made
episodes; the month's file moves a held person's first episode earlier (flags of held
episodes change), adds new persons, an episode outside the county and a new cell."""

import datetime as dt

import pandas as pd
import pytest

from healthmap import person_rollup, queries, store, summary

TODAY = dt.date(2025, 6, 30)
TOWN, ISLAND = "331083001", "331083201"
COLS = ["record_id", "person_id", "area_code", "icd10", "date", "setting",
        "institution_code", "insurance_type", "referral", "total_cost", "fund_paid"]


@pytest.fixture()
def db(engine):
    from healthmap.ingest.load import import_frame

    inst = pd.DataFrame({"code": ["YH001", "HZ001"], "name": ["县医院", "省医院"],
                         "level": ["tertiary", "tertiary"], "in_county": ["true", "false"]})
    assert import_frame(engine, "institutions", inst, "i.csv", today=TODAY).ok
    held = [
        ("E1", "P1", TOWN, "C16.9", "2023-06-01", "outpatient", "YH001", "employee", "", "100.10", "60"),
        ("E2", "P1", TOWN, "C16.9", "2024-03-01", "inpatient", "YH001", "employee", "", "5000", "3000.55"),
        ("E3", "P2", TOWN, "C18.0", "2024-04-01", "inpatient", "YH001", "resident", "", "800", ""),
        ("E4", "P2", TOWN, "C18.0", "2024-05-01", "inpatient", "HZ001", "resident", "true", "9000", "4000"),
        ("E5", "P3", ISLAND, "I10", "2024-06-01", "outpatient", "YH001", "resident", "", "50.05", "20"),
        ("E6", "P4", ISLAND, "C16.9", "2024-07-01", "inpatient", "YH001", "employee", "", "7000", "5000"),
        ("E7", "P5", ISLAND, "J18.9", "2024-09-15", "inpatient", "YH001", "resident", "", "3000", ""),
    ]
    assert import_frame(engine, "episodes", _frame(held), "held.csv", today=TODAY).ok
    return engine


def _frame(rows):
    return pd.DataFrame(rows, columns=COLS).assign(sex="M", age="62")


def _rollups(engine) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("cells", "areas", "institutions", person_rollup.TABLE):
        df = store.query(engine, f"SELECT * FROM rollup_{name}")
        out[name] = df.sort_values(list(df.columns), ignore_index=True)
    return out


def _files(engine, table: str, year: int) -> list[str]:
    return store.live_manifest(engine).years[year]["rollups"][table]


def test_a_month_import_updates_the_roll_ups_as_a_rebuild_would(db, monkeypatch):
    from healthmap.ingest.load import import_frame

    monkeypatch.setattr(person_rollup, "PART_EPISODES", 2)  # the held year in 3 parts
    held_cells = _files(db, "cells", 2024)
    assert len(held_cells) == 6  # one file per month with episodes: 3, 4, 5, 6, 7, 9
    month = [
        # P2's first colorectal episode moves from April to January (the held April
        # episode loses its new-case flag and P2's first of the year moves too)
        ("N1", "P2", TOWN, "C18.0", "2024-01-20", "outpatient", "YH001", "resident", "", "120", "60"),
        # P4 again in September, outside the county, referred
        ("N2", "P4", ISLAND, "C16.9", "2024-09-02", "inpatient", "HZ001", "employee", "true", "12000.99", "8000"),
        # a new person in a September cell of its own, and one in P5's cell
        ("N3", "P6", TOWN, "C50.9", "2024-09-03", "inpatient", "YH001", "employee", "", "4000", ""),
        ("N4", "P7", ISLAND, "J18.9", "2024-09-15", "inpatient", "YH001", "resident", "", "1000.01", "500"),
    ]
    assert import_frame(db, "episodes", _frame(month), "month.csv", today=TODAY).ok
    manifest = store.live_manifest(db)
    # the year's episodes were not rewritten: the month's rows are a file beside them
    assert len(manifest.years[2024]["files"]) == 2
    # the cells of the months without a change are the held files, kept
    cells = _files(db, "cells", 2024)
    kept = set(cells) & set(held_cells)
    assert len(kept) == 4  # March, May, June, July: January, April, September rewritten
    incremental = _rollups(db)
    # P2's January outpatient episode is now the new case; April's is not
    c = incremental["cells"]
    p2 = c[(c["year"] == 2024) & (c["icd3"] == "C18")].set_index("month")
    assert p2["new_cases"].to_dict() == {1: 1, 4: 0, 5: 0}
    assert p2["persons"].to_dict() == {1: 1, 4: 0, 5: 0}
    # the full rebuild from the episodes gives the same rows, money to the fen
    assert summary.rebuild(db, "test") == [2023, 2024]
    rebuilt = _rollups(db)
    for name, df in rebuilt.items():
        pd.testing.assert_frame_equal(incremental[name], df, check_exact=True, obj=name)
    assert len(rebuilt[person_rollup.TABLE]) > 0


def test_a_re_sent_row_rewrites_the_year_and_rebuilds(db):
    """A file that changes a held row is not a pure addition: the year is rewritten as
    one file and its roll-ups rebuilt, equal to a refresh."""
    from healthmap.ingest.load import import_frame

    changed = [("E3", "P2", TOWN, "C18.0", "2024-04-02", "inpatient", "YH001", "resident", "", "800", ""),
               ("N9", "P9", TOWN, "C16.9", "2024-10-01", "inpatient", "YH001", "employee", "", "10", "")]
    assert import_frame(db, "episodes", _frame(changed), "c.csv", today=TODAY).ok
    assert len(store.live_manifest(db).years[2024]["files"]) == 1
    after = _rollups(db)
    summary.rebuild(db, "test")
    for name, df in _rollups(db).items():
        pd.testing.assert_frame_equal(after[name], df, check_exact=True, obj=name)
    assert queries.rollup(db, "cells").query("year == 2024")["episodes"].sum() == 7
