"""A generated corpus of import files (issue 16), each with its expected outcome.

Every case (tests/import_corpus_cases.py) builds its file in the test, imports it into a
fresh copy of a small database with records that depend on the reference rows, and checks
the outcome: ``ok``, ``warn:<code>`` (imported, the warning recorded in the import log) or
a refusal naming ``<code>``, with every table's row count unchanged.
"""

from __future__ import annotations

import shutil

import pytest
from import_corpus_cases import (AR, CASES, EP, EP_OK, INS, POP, RES, TABLES, TODAY, YH001,
                                 Case, csv_bytes, res_rows)
from sqlalchemy import func, select

from healthmap import ids
from healthmap.db import make_engine
from healthmap.ingest import import_file
from healthmap.ingest.contract import SPECS
from healthmap.ingest.problems import ID_LIKE
from healthmap.models import ImportLog
from healthmap.store import store_dir


def test_corpus_is_large_and_covers_every_kind():
    kinds = {c.kind for c in CASES}
    assert len(CASES) >= 300 and kinds == set(SPECS)
    assert len({(c.kind, c.name) for c in CASES}) == len(CASES)
    from healthmap.i18n import TEXT
    for c in CASES:
        code = c.expect.removeprefix("warn:")
        assert code == "ok" or f"err.{code}" in TEXT, c.name


# ------------------------------------------------------------------ the run
@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    """A small database with records that depend on the reference rows."""
    from healthmap.bootstrap import init_database

    path = tmp_path_factory.mktemp("corpus") / "base.db"
    engine = make_engine(f"sqlite:///{path}")
    init_database(engine)
    steps = [
        ("institutions", csv_bytes(INS, [YH001, ["YH002", "楚门卫生院", "primary", "true",
                                                 "331083101", "玉环"],
                                         ["TZ001", "台州医院", "tertiary", "false", "",
                                          "台州"]])),
        ("areas", csv_bytes(AR, [["331083001001", "东门村", "village", "331083001"],
                                 ["331083101001", "西青村", "village", "331083101"]])),
        ("episodes", csv_bytes(EP, [
            [dict(EP_OK, record_id="B1", area_code="331083001001")[c] for c in EP],
            [dict(EP_OK, record_id="B2")[c] for c in EP],
            [dict(EP_OK, record_id="B3", institution_code="TZ001")[c] for c in EP]])),
        ("population", csv_bytes(POP, [["331083001", "2024", "110080", "", ""],
                                       ["331083002", "2023", "67000", "", ""]])),
        ("residents", csv_bytes(RES, res_rows()[:1])),
    ]
    for kind, data in steps:
        res = import_file(engine, kind, data, f"base_{kind}.csv", today=TODAY)
        assert res.ok, (kind, res.problems)
    engine.dispose()
    return path


def _counts(engine) -> dict[str, int]:
    from healthmap import store

    with engine.connect() as c:
        out = {m.__tablename__: c.scalar(select(func.count()).select_from(m)) for m in TABLES}
    manifest = store.live_manifest(engine)
    out["episodes"] = manifest.rows if manifest else 0
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}:{c.name}" for c in CASES])
def test_corpus_case(case: Case, base_db, tmp_path):
    path = tmp_path / "case.db"
    shutil.copy(base_db, path)
    shutil.copytree(store_dir(f"sqlite:///{base_db}"), store_dir(f"sqlite:///{path}"))
    engine = make_engine(f"sqlite:///{path}")  # with its episode store, as copied together
    try:
        before = _counts(engine)
        res = import_file(engine, case.kind, case.make(), case.filename, today=TODAY,
                          lang="en", **case.opts)
        if case.expect == "ok" or case.expect.startswith("warn:"):
            assert res.ok, res.problems.to_string()
            want = case.expect.removeprefix("warn:").removeprefix("ok")
            assert set(res.warnings["code"]) == ({want} if want else set())
            with engine.connect() as c:  # warnings are recorded in the import log
                note = c.scalar(select(ImportLog.message).where(ImportLog.id == res.import_id))
            assert (note or "").startswith("warnings:") == bool(want)
            return
        assert not res.ok
        codes = set(res.problems["code"])
        assert case.expect in codes, res.problems.to_string()
        named = res.problems[res.problems["code"] == case.expect]
        assert (named["reason"].str.len() > 0).all() and not named["reason"].str.startswith(
            "err.").any()
        assert named["value"].str.len().max() <= 80  # values are shortened
        shown = " ".join(res.problems["value"].astype(str))  # and ID numbers masked
        assert not any(ids.check_digit(m[:17]) == m[17].upper() for m in ID_LIKE.findall(shown))
        assert _counts(engine) == before  # nothing written
    finally:
        engine.dispose()
