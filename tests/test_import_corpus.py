"""A generated corpus of import files (issue 16), each with its expected outcome.

Every case (tests/import_corpus_cases.py) builds its file in the test, imports it into a
fresh copy of a small database with records that depend on the reference rows, and checks
the outcome: ``ok``, ``warn:<code>`` (imported, the warning recorded in the import log) or
a refusal naming ``<code>``, with every table's row count unchanged.
"""

from __future__ import annotations

import shutil

import pytest
from import_corpus_base import TABLES, TODAY, Case, csv_bytes
from import_corpus_cases import AR, CASES, INS, POP, RES, YH001, res_rows
from import_corpus_episodes import EP, EP_OK
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


def test_lengths_are_checked_before_anything_is_staged(monkeypatch, tmp_path):
    """The 1 MB record id (issue 16's hang in the writing stage), read in chunks of two
    rows: refused as too long, and no chunk from the long one on reaches the staging of
    record ids or rows."""
    from healthmap.bootstrap import init_database
    from healthmap.ingest import stream

    monkeypatch.setattr(stream, "CHUNK_ROWS", 2)
    keyed, staged = [], []
    real_keys, real_stage = stream._keys, stream._stage
    monkeypatch.setattr(stream, "_keys", lambda df, offset, *a: keyed.append(
        (offset, df["record_id"].str.len().max())) or real_keys(df, offset, *a))
    monkeypatch.setattr(stream, "_stage", lambda rec, *a: staged.append(len(rec))
                        or real_stage(rec, *a))
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    init_database(engine)
    assert import_file(engine, "institutions", csv_bytes(INS, [YH001]), "i.csv").ok
    case = {c.name: c for c in CASES}["1 MB record id in 10 rows"]
    res = import_file(engine, "episodes", case.make(), "x.csv", today=TODAY, lang="en")
    assert res.problems[["row", "code"]].values.tolist() == [[11, "too_long"]]
    # chunks of rows 0 (with the header), 1-2, 3-4, 5-6, 7-8, 9: the long id is row 9
    # (line 11); the good rows before it are staged (and deleted), nothing of it
    assert [o for o, _ in keyed] == [0, 1, 3, 5, 7] and max(n for _, n in keyed) == 2
    assert sum(staged) == 9 and _counts(engine)["episodes"] == 0
    engine.dispose()


def test_a_misspelt_column_is_named_with_the_column_meant(tmp_path):
    from healthmap.bootstrap import init_database

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    init_database(engine)
    by_name = {c.name: c for c in CASES}
    for name, meant in (("fund_payed", "fund_paid"), ("referal", "referral")):
        res = import_file(engine, "episodes", by_name[name].make(), "x.csv", today=TODAY,
                          lang="en")
        assert res.problems["reason"].tolist() == [
            f"unknown column {name}; did you mean {meant}?"], res.problems.to_string()
    engine.dispose()


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
    _run(case, base_db, tmp_path)


#: the episode CSV files (read in chunks, healthmap/ingest/stream.py), again in chunks of
#: two rows: every case spans chunks, with the same outcome and the same rows named
STREAMED = [c for c in CASES if c.kind == "episodes" and c.filename.endswith(".csv")]


@pytest.mark.parametrize("case", STREAMED, ids=[c.name for c in STREAMED])
def test_corpus_case_in_chunks_of_two_rows(case: Case, base_db, tmp_path, monkeypatch):
    from healthmap.ingest import stream

    monkeypatch.setattr(stream, "CHUNK_ROWS", 2)
    _run(case, base_db, tmp_path)


def test_episode_csv_files_take_the_chunked_path(monkeypatch, tmp_path):
    from healthmap.bootstrap import init_database
    from healthmap.ingest import stream

    seen = []
    real = stream.import_episodes_csv
    monkeypatch.setattr(stream, "import_episodes_csv",
                        lambda *a, **k: seen.append(a[2]) or real(*a, **k))
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    init_database(engine)
    for name in ("x.csv", "x.xlsx"):
        import_file(engine, "episodes", STREAMED[0].make(), name, today=TODAY)
    assert seen == ["x.csv"] and len(STREAMED) >= 100
    engine.dispose()


def _run(case: Case, base_db, tmp_path):
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
        if case.rows:  # every row at fault named, not only the first
            assert tuple(sorted(named["row"])) == case.rows, named.to_string()
        assert (named["reason"].str.len() > 0).all() and not named["reason"].str.startswith(
            "err.").any()
        assert named["value"].str.len().max() <= 80  # values are shortened
        shown = " ".join(res.problems["value"].astype(str))  # and ID numbers masked
        assert not any(ids.check_digit(m[:17]) == m[17].upper() for m in ID_LIKE.findall(shown))
        assert _counts(engine) == before  # nothing written
    finally:
        engine.dispose()
