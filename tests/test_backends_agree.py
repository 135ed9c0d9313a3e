"""SQLite and PostgreSQL give the same answers (issue 14): the demo data loaded through the
same code on both back ends yields byte-identical `python -m healthmap report` output for
every reported measure, and identical summary roll-ups in the episode store, row for row
(each built by its own import on its own back end).

Needs the PostgreSQL server the suite starts (tests/pgserver.py); skips with the reason when
there is none.
"""

import shutil

import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from healthmap.demo_care import YEARS
from healthmap.store import store_dir
from healthmap.measures import REPORTED

SUMMARY_TABLES = ("cells", "areas", "institutions")


def _runs():
    """Every reported measure on every demo year, plus filters, a standard and published
    tables (--public)."""
    out = []
    for m in REPORTED:
        settings = ("inpatient", "outpatient") if m != "incidence" else ("inpatient",)
        for s in settings:
            for year in map(str, YEARS):
                out.append([m, "--year", year, "--setting", s])
    out += [["incidence", "--year", "2024", "--group", g, "--public", *margin]  # published
            for g in ("C_LUNG", "HYPERTENSION") for margin in ([], ["--margin", "sex:F"])]
    out += [["incidence", "--year", "2024", "--standard", "china_2000"],
            ["incidence", "--year", "2023", "--year", "2024", "--group", "C_LUNG"],
            ["outward_referral", "--year", "2024", "--icd", "C18", "C20", "--setting", "all"],
            ["cost_per_case", "--year", "2024", "--format", "json"]]
    return out


@pytest.fixture(scope="module")
def both(request, tmp_path_factory):
    """Writable copies of the two demo databases (report writes an audit row)."""
    if set(request.config.getoption("--backends").split(",")) != {"sqlite", "postgresql"}:
        pytest.skip("compares the back ends: needs --backends sqlite,postgresql")
    demo_sqlite, demo_postgresql, pg_server = (
        request.getfixturevalue(f) for f in ("demo_sqlite", "demo_postgresql", "pg_server"))
    from dbcopy import copy_database

    dst = tmp_path_factory.mktemp("agree") / "demo.db"
    url = copy_database(demo_sqlite, dst)
    pg = pg_server.create(template=make_url(demo_postgresql).database)
    shutil.copytree(store_dir(demo_postgresql), store_dir(pg))  # its store goes with it
    yield {"sqlite": url, "postgresql": pg}
    pg_server.drop(make_url(pg).database)


def _report(url: str, argv: list[str], capsys) -> tuple[int, str, str]:
    from healthmap.cli import main

    capsys.readouterr()
    rc = main(["--db", url, "report", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_every_report_is_identical_on_both_back_ends(both, capsys):
    runs = _runs()
    empty = []
    for argv in runs:
        a = _report(both["sqlite"], argv, capsys)
        b = _report(both["postgresql"], argv, capsys)
        assert a == b, f"report {' '.join(argv)} differs between SQLite and PostgreSQL"
        assert a[0] == 0, (argv, a[2])
        if a[1].count("\n") < 10:
            empty.append(argv)
    assert not empty  # every run printed its areas, not just a header


def _table(url: str, name: str) -> pd.DataFrame:
    from healthmap.db import make_engine
    from healthmap.queries import rollup

    e = make_engine(url)
    try:
        df = rollup(e, name)
    finally:
        e.dispose()
    return df.sort_values(list(df.columns), na_position="first").reset_index(drop=True)


@pytest.mark.parametrize("name", SUMMARY_TABLES)
def test_summary_tables_are_identical_on_both_back_ends(both, name):
    a, b = _table(both["sqlite"], name), _table(both["postgresql"], name)
    assert len(a) > 1000
    assert list(a.columns) == list(b.columns)
    for c in a.columns:  # exact: counts, and money summed in fen
        x, y = a[c], b[c]
        if x.dtype.kind in "fib" or y.dtype.kind in "fib":
            x, y = x.astype(float), y.astype(float)
        pd.testing.assert_series_equal(x, y, check_exact=True, check_dtype=False,
                                       obj=f"{name}.{c}")
