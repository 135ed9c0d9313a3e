"""The episodes writer of an import, in two phases (:mod:`healthmap.ingest.load`).

Before the write transaction, holding no write lock: the file's rows are staged in a
temporary table, compared with the held ones, and the changed years' summaries computed
from the held rows plus the file's and staged too (:class:`healthmap.summary.Staged`).
The episode store's new files are staged then too (:func:`healthmap.store.stage_import`).
Inside it, :attr:`Plan.apply` only merges the staged rows and swaps the summaries in; after
the commit, :attr:`Plan.after_commit` makes the store's staged files live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (Boolean, Column, Connection, Date, Float, Integer, MetaData, String,
                        Table, func, or_, select, true)

from healthmap import store as episode_store
from healthmap import summary
from healthmap.db import bulk_insert
from healthmap.models import Episode


@dataclass
class Plan:
    """What a writer prepared before the write transaction: ``apply(conn, import_id)``
    does the writes inside it and returns ``(counts, years)``; ``cleanup(conn)`` drops
    what was staged."""

    apply: Callable[[Connection, int], tuple[tuple[int, int, int], list[int]]]
    cleanup: Callable[[Connection], None] = lambda conn: None
    #: after the commit, with the import's id (publishes the episode store's staged files)
    after_commit: Callable[[int], None] = lambda import_id: None


def dialect_insert(conn: Connection, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


_STAGING_COLS = ["record_id", "person_id", "area_code", "icd10", "icd3", "date", "year", "month",
                 "setting", "institution_code", "total_cost", "fund_paid", "insurance_type",
                 "referral", "sex", "age", "age_group"]


def _episode_records(clean: pd.DataFrame) -> pd.DataFrame:
    """The validated frame in the episodes table's columns and types."""
    rec = pd.DataFrame({
        "record_id": clean["record_id"].astype(str),
        "person_id": clean["person_id"].astype(str),
        "area_code": clean["area_code"].astype(str),
        "icd10": clean["icd10"].astype(str),
        "icd3": clean["icd10"].astype(str).str.slice(0, 3),
        "date": clean["date"].dt.date,
        "year": clean["date"].dt.year.astype(int),
        "month": clean["date"].dt.month.astype(int),
        "setting": clean["setting"],
        "institution_code": clean["institution_code"].astype(str),
        "total_cost": clean["total_cost"].astype(float).round(2),
        "fund_paid": clean["fund_paid"].astype(float).round(2),
        "insurance_type": clean["insurance_type"],
        "referral": clean["referral"],
        "sex": clean["sex"],
        "age": clean["age"],
        "age_group": clean["age_group"],
    })
    rec["age"] = rec["age"].astype(object).where(rec["age"].notna(), None)
    rec["age"] = rec["age"].map(lambda v: None if v is None else int(v))
    rec["fund_paid"] = rec["fund_paid"].astype(object).where(rec["fund_paid"].notna(), None)
    rec["referral"] = rec["referral"].astype(object).where(rec["referral"].notna(), None)
    return rec


def _staging_table() -> Table:
    return Table(
        "staging_episodes", MetaData(),
        Column("record_id", String(64), primary_key=True), Column("person_id", String(64)),
        Column("area_code", String(32)), Column("icd10", String(16)), Column("icd3", String(3)),
        Column("date", Date), Column("year", Integer), Column("month", Integer),
        Column("setting", String(12)), Column("institution_code", String(64)),
        Column("total_cost", Float), Column("fund_paid", Float),
        Column("insurance_type", String(12)), Column("referral", Boolean),
        Column("sex", String(1)), Column("age", Integer), Column("age_group", String(8)),
        prefixes=["TEMPORARY"])


def plan_episodes(conn, clean, progress) -> Plan:
    """Stage the file's rows, compare them with the held ones and compute the changed
    years' summaries (all before the write transaction); the plan's ``apply`` then only
    merges the staged rows and swaps the staged summaries in."""
    rec = _episode_records(clean)
    staging = _staging_table()
    staged: list[summary.Staged] = []
    store_files = []  # the episode store's staged generation (healthmap.store)

    def cleanup(c: Connection) -> None:
        staging.drop(c, checkfirst=True)
        for st in staged:
            st.drop(c)
        for writer in store_files:
            writer.discard()  # a no-op once published

    cleanup(conn)
    staging.create(conn)
    total = len(rec)
    n = bulk_insert(conn, staging, rec, chunk=50_000, progress=lambda f: progress(
        0.05 + 0.45 * f, "write", done=f"{round(f * total):,}", total=f"{total:,}"))
    ep = Episode.__table__
    s = staging.c
    join = ep.join(staging, ep.c.record_id == s.record_id)
    existing = conn.execute(select(func.count()).select_from(join)).scalar_one()
    compare = [c for c in _STAGING_COLS if c != "record_id"]
    distinct_any = or_(*[ep.c[c].is_distinct_from(s[c]) for c in compare])
    changed = conn.execute(select(func.count()).select_from(join).where(distinct_any)
                           ).scalar_one()
    touched = existing < n or changed
    progress(0.55, "merge")
    years: list[int] = []
    if touched:
        old_years = set(conn.scalars(select(ep.c.year).select_from(join).where(
            ep.c.year != s.year).distinct()).all())
        years = sorted(int(y) for y in old_years | set(rec["year"].unique()))
        # each changed year after the import = its held rows less those this file
        # replaces, plus the file's rows of that year
        icd3_group, in_county = summary.lookups(conn)
        staged.append(summary.Staged(conn))
        iso = rec.assign(date=clean["date"].dt.strftime("%Y-%m-%d").to_numpy())
        for i, year in enumerate(years):
            progress(0.6 + 0.35 * i / len(years), "summary", year=year)
            year_rows = pd.concat([summary.year_episodes(conn, year, select(s.record_id)),
                                   iso[iso["year"] == year]], ignore_index=True)
            staged[0].add(summary.summarise_year(year_rows, year, icd3_group, in_county))
        progress(0.95, "store")
        store_files.append(episode_store.stage_import(conn, rec))

    def apply(c: Connection, import_id: int):
        if touched:
            stmt = dialect_insert(c, ep)
            cols = _STAGING_COLS + ["import_id"]
            stmt = stmt.from_select(cols, select(*[s[col] for col in _STAGING_COLS],
                                                 func.cast(import_id, Integer)).where(true()))
            stmt = stmt.on_conflict_do_update(
                index_elements=["record_id"],
                set_={col: stmt.excluded[col] for col in cols if col != "record_id"},
                where=or_(*[ep.c[col].is_distinct_from(stmt.excluded[col])
                            for col in compare]))
            c.execute(stmt)
            staged[0].swap(c, years)
        return (n - existing, changed, existing - changed), years

    def after_commit(import_id: int) -> None:
        for writer in store_files:
            episode_store.publish(writer, str(import_id))

    return Plan(apply, cleanup, after_commit)
