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

from healthmap import cube, ledger
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


def _fen_columns(ep: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cost and fund in integer fen (decisions §2), and whether the fund amount is known.

    Sums are taken in integer fen and turned into yuan once per summary row, so every engine
    that sums the same episodes (pandas here, Spark in :mod:`healthmap.spark`, SQL) gets
    bit-identical results whatever order it adds them in.
    """
    cost = ledger.fen_array(ep["total_cost"].astype(float))
    fund = ep["fund_paid"].astype(float)
    known = fund.notna().to_numpy()
    return cost, ledger.fen_array(fund.fillna(0.0)), known


def _squares(cost_fen: np.ndarray) -> np.ndarray:
    """fen², exact: int64 while no summary row can overflow, Python integers beyond."""
    top = int(cost_fen.max()) if len(cost_fen) else 0
    if top * top * len(cost_fen) < 2 ** 63:
        return cost_fen * cost_fen
    return np.array([int(v) * int(v) for v in cost_fen], dtype=object)


FEN_MEASURES = {"cost_sum": 100, "cost_sq_sum": 10_000, "fund_sum": 100}  # fen, fen², fen


def _cells_fen(ep: pd.DataFrame) -> pd.DataFrame:
    cost, fund, known = _fen_columns(ep)
    work = ep[CELL_KEYS].copy()
    work["episodes"] = 1
    work["new_cases"] = ep["is_new_case"].astype(int)
    work["persons"] = ep["is_first_of_year"].astype(int)
    work["referrals"] = ep["referral"].fillna(False).astype(bool).astype(int)
    work["cost_sum"] = cost
    work["cost_sq_sum"] = _squares(cost)
    work["fund_sum"] = fund
    work["fund_n"] = known.astype(int)
    # selecting cube.MEASURES fails loudly if the model gains a measure not computed here
    return work.groupby(CELL_KEYS, as_index=False, sort=False, observed=True).sum()[
        CELL_KEYS + cube.MEASURES]


def _to_yuan(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col, per_yuan in FEN_MEASURES.items():
        if col in out:
            out[col] = out[col].astype(float) / per_yuan
    return out


def aggregate_cells(ep: pd.DataFrame) -> pd.DataFrame:
    """Sum flagged episodes into summary cells (``ep`` carries flags and ``in_county``).

    Money is summed in integer fen and converted to yuan once per cell (``cost_sq_sum`` in
    yuan² from fen²), so the result does not depend on the order of addition.

    Examples
    --------
    >>> ep = pd.DataFrame({k: ["x"] * 3 for k in CELL_KEYS})
    >>> ep = ep.assign(is_new_case=[True, False, True], is_first_of_year=[True, False, False],
    ...                referral=[True, None, False], total_cost=[0.1, 0.2, 100.0],
    ...                fund_paid=[0.05, None, 50.0])
    >>> aggregate_cells(ep)[["episodes", "new_cases", "persons", "referrals", "cost_sum",
    ...                      "cost_sq_sum", "fund_sum", "fund_n"]].iloc[0].tolist()
    [3.0, 2.0, 1.0, 1.0, 100.3, 10000.05, 50.05, 2.0]
    """
    return _to_yuan(_cells_fen(ep))


def aggregate_institutions(ep: pd.DataFrame) -> pd.DataFrame:
    """Episodes, cost and fund per institution row (money summed in fen, as above)."""
    cost, fund, _ = _fen_columns(ep)
    work = ep[INST_KEYS].copy()
    work["episodes"] = 1
    work["cost_sum"] = cost
    work["fund_sum"] = fund
    return _to_yuan(work.groupby(INST_KEYS, as_index=False, sort=False).sum())


def rollups(ep: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three summary tables of one year's flagged episodes, keyed by table name.

    ``summary_areas`` is summed from the cells while still in fen, so it too is exact.
    """
    cells = _cells_fen(ep)
    areas = cells.drop(columns=["icd3", "month", "insurance_type"]).groupby(
        AREA_KEYS, as_index=False, sort=False, observed=True).sum()
    return {SummaryCell.__tablename__: _to_yuan(cells),
            SummaryArea.__tablename__: _to_yuan(areas),
            SummaryInstitution.__tablename__: aggregate_institutions(ep)}


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
        tables = rollups(ep)
        for model in (SummaryCell, SummaryArea, SummaryInstitution):
            _insert_frame(conn, model, tables[model.__tablename__])
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
