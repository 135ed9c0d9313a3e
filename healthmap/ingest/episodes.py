"""The episodes writer of an import, in two phases (:mod:`healthmap.ingest.load`).

Episodes and their summary roll-ups live in the episode store (:mod:`healthmap.store`),
not in the database. Before the write transaction, holding no database lock: the file's
rows are compared with the held ones, each changed year's new file is staged in the
store, and that year's roll-ups are computed from it and staged beside it
(:func:`healthmap.summary.summarise_year`). Inside the transaction, :attr:`Plan.apply`
only sets the new store version and writes the pending manifest
(:func:`healthmap.store.prepare`); after the commit, :attr:`Plan.after_commit` makes it
live (:func:`healthmap.store.publish`). The database's write lock is held for the import
log, the audit rows and a manifest file, however many episodes the file has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from healthmap import store as episode_store
from healthmap import person_counts, summary, summary_increment
from healthmap.store.layout import to_arrow


@dataclass
class Plan:
    """What a writer prepared before the write transaction: ``apply(conn, import_id)``
    does the writes inside it and returns ``(counts, years)``; ``cleanup(conn)`` drops
    what was staged."""

    apply: Callable[[Connection, int], tuple[tuple[int, int, int], list[int]]]
    cleanup: Callable[[Connection], None] = lambda conn: None
    #: after the commit, with the import's id (publishes the episode store's staged files)
    after_commit: Callable[[int], None] = lambda import_id: None


def episode_records(clean: pd.DataFrame) -> pd.DataFrame:
    """The validated frame in the store's source columns (money in float yuan, rounded to
    fen; :func:`healthmap.store.layout.to_arrow` makes the file columns)."""
    return pd.DataFrame({
        "record_id": clean["record_id"].astype(str),
        "person_id": clean["person_id"].astype(str),
        "area_code": clean["area_code"].astype(str),
        "icd10": clean["icd10"].astype(str),
        "icd3": clean["icd10"].astype(str).str.slice(0, 3),
        "date": clean["date"],
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


@dataclass
class StagedEpisodes:
    """A streamed import's validated rows (:mod:`healthmap.ingest.stream`): Parquet files
    of :func:`healthmap.store.layout.to_arrow`'s columns, ``rows`` rows in all; what
    :func:`plan_episodes` takes instead of a validated frame."""

    files: list[Path]
    rows: int

    def __len__(self) -> int:
        return self.rows


def plan_episodes(conn, clean: pd.DataFrame | StagedEpisodes, progress,
                  retry: bool = False) -> Plan:
    """Compare the file's rows (a validated frame, or :class:`StagedEpisodes`) with the
    held ones, stage the changed years' store files and roll-ups (all before the write
    transaction); the plan's ``apply`` then only prepares the store's manifest.

    A year that only gains rows has its held roll-ups updated
    (:func:`healthmap.summary_increment.update_year`), which assumes they match the
    current disease groups and institutions. On a ``retry`` (another writer changed
    what the first plan was built from) they are not trusted: every changed year's
    roll-ups are built again from its episodes."""
    progress(0.05, "write", done="0", total=f"{len(clean):,}")
    if isinstance(clean, StagedEpisodes):
        new, n = list(clean.files), clean.rows
    else:
        new = to_arrow(episode_records(clean))
        n = new.num_rows
    writer = episode_store.open_writer(conn)  # waits while another store writer works

    def cleanup(c: Connection) -> None:
        writer.discard()  # a no-op once published

    try:
        existing, changed, old_years = writer.compare(new)
        touched = existing < n or changed
        years: list[int] = []
        if touched:
            progress(0.3, "write", done=f"{n:,}", total=f"{n:,}")
            # each changed year: its held rows less those this file replaces, plus the
            # file's rows of that year (a re-sent identical row changes nothing)
            years = sorted(set(writer.update(new, existing)) | old_years)
            progress(0.55, "merge")
            icd3_group, in_county = summary.lookups(conn)
            for i, year in enumerate(years):
                progress(0.6 + 0.35 * i / len(years), "summary", year=year)
                rows = writer.year_files(year)  # read by DuckDB, no frame
                tables = None
                if year in writer.appended and not retry:  # rows only added: update
                    held = writer.appended[year]
                    tables = summary_increment.update_year(
                        writer.root, held, rows[len(held["files"])], year, icd3_group,
                        in_county, lambda table, i, y=year: writer.staged_rollup(y, table, i))
                    # other persons' per-person rows kept: their counts too
                    held["rollups_updated"] = tables is not None
                if tables is None:
                    tables = summary.summarise_year(rows, year, icd3_group, in_county,
                                                    writer.rollup_sink(year))
                writer.add_rollups(year, tables)
            # the person counts of the changed years and those after (before the write
            # transaction; its prepare then finds none left)
            person_counts.stage(writer)
    except BaseException:
        cleanup(conn)
        raise

    def apply(c: Connection, import_id: int):
        if touched:
            episode_store.prepare(writer, c)
            summary.bump_generation(c)
        return (n - existing, changed, existing - changed), years

    def after_commit(import_id: int) -> None:
        episode_store.publish(writer)

    if not touched:
        writer.discard()  # nothing to write: another import need not wait for this one
    return Plan(apply, cleanup, after_commit)
