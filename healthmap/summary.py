"""Pre-aggregated summary tables, refreshed per year after each import.

Pages and reports read only these tables. Two counts need care because they do not add up
across cells if computed per cell: distinct persons and new cases. They are made additive
by flagging, within each year, the episode that is a person's first in its disease group
(``new_cases``) and the person's first episode of the year (``persons``); a cell stores
how many flagged episodes it holds. Summed over any set of cells inside one year and one
disease group, ``new_cases`` is then exactly the number of distinct persons with a first
diagnosis there (the tests check this against the raw records).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, cast, delete, select

from healthmap import cube
from healthmap.db import bulk_insert

from healthmap.models import (Episode, Icd3Group, Institution, SummaryArea, SummaryCell,
                              SummaryInstitution)

Progress = Callable[[float, str], None]

# the cube's dimensions are listed once, in healthmap.cube
CELL_KEYS, AREA_KEYS, INST_KEYS = cube.CELL_DIMS, cube.AREA_DIMS, cube.INST_DIMS
_EPISODE_COLS = ["record_id", "person_id", "area_code", "icd3", "date", "month", "setting",
                 "institution_code", "total_cost", "fund_paid", "insurance_type", "referral",
                 "sex", "age_group"]


def flag_first_episodes(ep: pd.DataFrame, icd3_group: dict[str, str]) -> pd.DataFrame:
    """Add ``is_new_case`` and ``is_first_of_year`` to one year's episodes.

    A new case is the person's first episode (by date, then record id) in a disease group
    in the year; ICD-10 categories outside every group count as their own group.

    Examples
    --------
    >>> ep = pd.DataFrame({"record_id": ["a", "b", "c", "d"], "person_id": ["p", "p", "p", "q"],
    ...                    "icd3": ["C18", "C19", "I10", "C18"],
    ...                    "date": pd.to_datetime(["2024-03-01", "2024-01-05", "2024-02-01",
    ...                                            "2024-05-01"])})
    >>> out = flag_first_episodes(ep, {"C18": "CRC", "C19": "CRC", "I10": "HT"})
    >>> out["is_new_case"].tolist(), out["is_first_of_year"].tolist()
    ([False, True, True, True], [False, True, False, True])
    """
    groups = ep["icd3"].map(icd3_group)
    group_key = groups.where(groups.notna(), "ICD:" + ep["icd3"].astype(str))
    order = np.lexsort((ep["record_id"].to_numpy(dtype=str), ep["date"].to_numpy(dtype=str)))
    sorted_person = ep["person_id"].to_numpy(dtype=str)[order]
    sorted_group = group_key.to_numpy(dtype=str)[order]
    new_case = np.empty(len(ep), dtype=bool)
    first = np.empty(len(ep), dtype=bool)
    new_case[order] = ~pd.DataFrame({"p": sorted_person, "g": sorted_group}).duplicated().to_numpy()
    first[order] = ~pd.Series(sorted_person).duplicated().to_numpy()
    return ep.assign(is_new_case=new_case, is_first_of_year=first)


def aggregate_cells(ep: pd.DataFrame) -> pd.DataFrame:
    """Sum flagged episodes into summary cells (``ep`` carries flags and ``in_county``)."""
    fund = ep["fund_paid"].astype(float)
    cost = ep["total_cost"].astype(float)
    work = ep[CELL_KEYS].copy()
    work["episodes"] = 1
    work["new_cases"] = ep["is_new_case"].astype(int)
    work["persons"] = ep["is_first_of_year"].astype(int)
    work["referrals"] = ep["referral"].fillna(False).astype(bool).astype(int)
    work["cost_sum"] = cost
    work["cost_sq_sum"] = cost * cost
    work["fund_sum"] = fund.fillna(0.0)
    work["fund_n"] = fund.notna().astype(int)
    # selecting cube.MEASURES fails loudly if the model gains a measure not computed here
    return work.groupby(CELL_KEYS, as_index=False, sort=False, observed=True).sum()[
        CELL_KEYS + cube.MEASURES]


def aggregate_institutions(ep: pd.DataFrame) -> pd.DataFrame:
    work = ep[INST_KEYS].copy()
    work["episodes"] = 1
    work["cost_sum"] = ep["total_cost"].astype(float)
    work["fund_sum"] = ep["fund_paid"].astype(float).fillna(0.0)
    return work.groupby(INST_KEYS, as_index=False, sort=False).sum()


def years_with_episodes(conn: Connection) -> list[int]:
    return sorted(conn.scalars(select(Episode.year).distinct()).all())


def refresh_years(conn: Connection, years: Iterable[int], progress: Progress | None = None,
                  frames: dict[int, pd.DataFrame] | None = None) -> list[int]:
    """Rebuild the summary rows of ``years`` inside the caller's transaction.

    ``frames`` may give, per year, every episode of that year already in memory (with the
    columns of the episodes table); other years are read from the database.
    """
    frames = frames or {}
    years = sorted(set(int(y) for y in years))
    icd3_group = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
    in_county = dict(conn.execute(select(Institution.code, Institution.in_county)).all())
    # dates as ISO text: ordering is all the flags need, and it skips per-row conversion
    cols = [cast(Episode.date, String).label("date") if c == "date" else getattr(Episode, c)
            for c in _EPISODE_COLS]
    for i, year in enumerate(years):
        if progress:
            progress(i / max(len(years), 1), str(year))
        conn.execute(delete(SummaryCell).where(SummaryCell.year == year))
        conn.execute(delete(SummaryInstitution).where(SummaryInstitution.year == year))
        conn.execute(delete(SummaryArea).where(SummaryArea.year == year))
        if year in frames:
            ep = frames[year][_EPISODE_COLS].reset_index(drop=True)
        else:
            ep = _read_frame(conn, select(*cols).where(Episode.year == year), _EPISODE_COLS)
        if ep.empty:
            continue
        ep["year"] = year
        ep["in_county"] = ep["institution_code"].map(in_county).astype(bool)
        ep = flag_first_episodes(ep, icd3_group)
        cells = aggregate_cells(ep)
        _insert_frame(conn, SummaryCell, cells)
        _insert_frame(conn, SummaryArea, cells.drop(columns=["icd3", "month",
                                                             "insurance_type"]).groupby(
            AREA_KEYS, as_index=False, sort=False, observed=True).sum())
        _insert_frame(conn, SummaryInstitution, aggregate_institutions(ep))
    if progress:
        progress(1.0, ", ".join(map(str, years)))
    return years


def refresh_all(conn: Connection, progress: Progress | None = None) -> list[int]:
    """Rebuild every year's summaries (after disease groups or institutions change)."""
    conn.execute(delete(SummaryCell))
    conn.execute(delete(SummaryInstitution))
    conn.execute(delete(SummaryArea))
    return refresh_years(conn, years_with_episodes(conn), progress)


def _read_frame(conn: Connection, stmt, columns: list[str]) -> pd.DataFrame:
    """Rows of ``stmt`` as a frame of plain columns (faster than ``pd.read_sql``)."""
    rows = conn.execute(stmt).all()
    data = list(zip(*rows)) if rows else [()] * len(columns)
    frame = pd.DataFrame({c: np.array(v, dtype=object) for c, v in zip(columns, data)})
    for c in ("total_cost", "fund_paid"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    frame["month"] = frame["month"].astype(int) if len(frame) else frame["month"]
    return frame


def _insert_frame(conn: Connection, model, frame: pd.DataFrame) -> None:
    bulk_insert(conn, model.__table__, frame)
