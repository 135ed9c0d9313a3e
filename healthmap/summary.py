"""Pre-aggregated summary roll-ups, rebuilt per year with its episodes.

The roll-ups (``cells``, ``areas``, ``institutions``: :data:`healthmap.cube.ROLLUPS`) live
in the episode store beside each year's episodes (:mod:`healthmap.store`), money in
integer fen; pages and reports read only them (:mod:`healthmap.queries`). Two counts need care because they do not add up
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
from sqlalchemy import Connection, Integer, String, cast, insert, select, update

from healthmap import cube, ledger

from healthmap.models import AppMeta, Icd3Group, Institution

Progress = Callable[[float, str], None]

# the cube's dimensions are listed once, in healthmap.cube
CELL_KEYS, AREA_KEYS, INST_KEYS = cube.CELL_DIMS, cube.AREA_DIMS, cube.INST_DIMS
#: the episode store's columns the summaries are made from (money in fen)
EPISODE_COLS = ["record_id", "person_id", "area_code", "icd3", "date", "month", "setting",
                "institution_code", "total_cost_fen", "fund_paid_fen", "insurance_type",
                "referral", "sex", "age_group"]


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
    """Cost and fund in integer fen (decisions §2), and whether the fund amount is known:
    the store's ``total_cost_fen`` / ``fund_paid_fen``, or float yuan ``total_cost`` /
    ``fund_paid`` converted by :func:`healthmap.ledger.fen_array`.

    Sums are taken in integer fen and turned into yuan once per summary row, so every engine
    that sums the same episodes (pandas here, Spark in :mod:`healthmap.spark`, SQL) gets
    bit-identical results whatever order it adds them in.
    """
    if "total_cost_fen" in ep:
        fund = pd.to_numeric(ep["fund_paid_fen"])
        known = fund.notna().to_numpy()
        return (pd.to_numeric(ep["total_cost_fen"]).to_numpy(dtype=np.int64),
                fund.fillna(0).to_numpy(dtype=np.int64), known)
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


def _institutions_fen(ep: pd.DataFrame) -> pd.DataFrame:
    cost, fund, _ = _fen_columns(ep)
    work = ep[INST_KEYS].copy()
    work["episodes"] = 1
    work["cost_sum"] = cost
    work["fund_sum"] = fund
    return work.groupby(INST_KEYS, as_index=False, sort=False).sum()


def _tables_fen(ep: pd.DataFrame) -> dict[str, pd.DataFrame]:
    cells = _cells_fen(ep)
    areas = cells.drop(columns=["icd3", "month", "insurance_type"]).groupby(
        AREA_KEYS, as_index=False, sort=False, observed=True).sum()
    return {"cells": cells, "areas": areas, "institutions": _institutions_fen(ep)}


def store_rollups(ep: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three roll-ups of one year's flagged episodes (``ep`` carries the flags and
    ``in_county``) as the store keeps them (:func:`healthmap.store.layout.rollup_columns`),
    keyed by table name. Money is summed exactly, in fen and fen², so the result does not
    depend on the order of addition; ``areas`` is summed from the cells while still exact.

    Examples
    --------
    >>> ep = pd.DataFrame({k: ["x"] * 3 for k in CELL_KEYS + ["institution_code"]})
    >>> ep = ep.assign(is_new_case=[True, False, True], is_first_of_year=[True, False, False],
    ...                referral=[True, None, False], total_cost=[0.1, 0.2, 100.0],
    ...                fund_paid=[0.05, None, 50.0])
    >>> row = store_rollups(ep)["cells"].iloc[0]
    >>> [int(row[c]) for c in ("episodes", "new_cases", "persons", "referrals", "cost_sum_fen",
    ...                        "cost_sq_sum_fen2", "fund_sum_fen", "fund_n")]
    [3, 2, 1, 1, 10030, 100000500, 5005, 2]
    """
    out = {}
    for name, frame in _tables_fen(ep).items():
        frame = frame.rename(columns={m: col for m, (col, _u) in cube.MONEY.items()})
        dims, measures = cube.ROLLUPS[name]
        out[name] = frame[dims + [cube.MONEY.get(m, (m, 1))[0] for m in measures]]
    return out


def lookups(conn: Connection) -> tuple[dict[str, str], dict[str, bool]]:
    """What the summaries need besides the episodes: ICD-10 category → disease group and
    institution → in the county."""
    icd3_group = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
    in_county = dict(conn.execute(select(Institution.code, Institution.in_county)).all())
    return icd3_group, in_county


def summarise_year(ep: pd.DataFrame, year: int, icd3_group: dict[str, str],
                   in_county: dict[str, bool]) -> dict[type, pd.DataFrame]:
    """The roll-ups of one year from all of that year's episodes (the store's
    :data:`EPISODE_COLS`, or money as float yuan ``total_cost`` / ``fund_paid``; ``date``
    as ISO text or dates), keyed by table name, as the store keeps them
    (:func:`store_rollups`), and the per-person roll-up (:mod:`healthmap.person_rollup`).

    Examples
    --------
    >>> ep = pd.DataFrame({"record_id": ["a", "b"], "person_id": ["p", "p"],
    ...     "area_code": ["331083001"] * 2, "icd3": ["C18", "C18"],
    ...     "date": ["2024-01-05", "2024-03-01"], "month": [1, 3],
    ...     "setting": ["inpatient"] * 2, "institution_code": ["H1"] * 2,
    ...     "total_cost": [100.0, 300.0], "fund_paid": [60.0, None],
    ...     "insurance_type": ["resident"] * 2, "referral": [True, None],
    ...     "sex": ["F"] * 2, "age_group": ["60-64"] * 2})
    >>> rows = summarise_year(ep, 2024, {"C18": "CRC"}, {"H1": True})
    >>> area = rows["areas"].iloc[0]
    >>> [int(area[c]) for c in ("episodes", "new_cases", "persons", "referrals",
    ...                         "cost_sum_fen", "fund_n")]
    [2, 1, 1, 1, 40000, 1]
    >>> len(rows["cells"]), len(rows["institutions"])
    (2, 2)
    """
    if ep.empty:
        return {}
    money = ["total_cost_fen", "fund_paid_fen"] if "total_cost_fen" in ep else [
        "total_cost", "fund_paid"]
    ep = ep[[c for c in EPISODE_COLS if not c.endswith("_fen")] + money].reset_index(drop=True)
    ep["date"] = ep["date"].astype(str)
    ep["year"] = year
    from healthmap import person_rollup

    persons = person_rollup.build(ep, icd3_group, in_county)
    ep["in_county"] = ep["institution_code"].map(in_county).astype(bool)
    return {**store_rollups(flag_first_episodes(ep, icd3_group)),
            person_rollup.TABLE: persons}


def rebuild_rollups(conn: Connection, years: Iterable[int] | None = None,
                    progress: Progress | None = None, in_county: dict | None = None,
                    prepare: bool = True):
    """Rebuild the roll-ups of ``years`` (all years when ``None``) from the episode store,
    inside the caller's database transaction: the new files are staged and the pending
    manifest prepared (:func:`healthmap.store.prepare`). Returns the store writer: the
    caller publishes it after the commit (:func:`healthmap.store.publish`) or discards it
    on failure. ``in_county`` overrides institutions' held statuses (an institutions
    import stages the roll-ups of its new statuses before its write transaction, with
    ``prepare=False``, and prepares the writer in it). Episode imports stage their
    roll-ups themselves (:mod:`healthmap.ingest.episodes`)."""
    from healthmap import store

    writer = store.open_writer(conn)
    try:
        years = sorted(writer.years) if years is None else sorted(
            set(int(y) for y in years) & set(writer.years))
        icd3_group, held_in_county = lookups(conn)
        statuses = {**held_in_county, **(in_county or {})}
        for i, year in enumerate(years):
            if progress:
                progress(i / max(len(years), 1), str(year))
            rows = writer.year_frame(year, EPISODE_COLS)
            writer.add_rollups(year, summarise_year(rows, year, icd3_group, statuses))
        if prepare:
            store.prepare(writer, conn)
            bump_generation(conn)
            from sqlalchemy.orm import Session

            from healthmap.db import bump_version

            with Session(bind=conn) as s:  # every app process reloads its cached frames
                bump_version(s)
    except BaseException:
        writer.discard()
        raise
    if progress:
        progress(1.0, ", ".join(map(str, years)))
    writer.years_rebuilt = years
    return writer


#: a counter every writer of episodes, summaries or what they are built from (disease
#: groups, institutions) advances in its transaction: an import that computed summaries
#: before its write transaction checks inside it that nothing changed meanwhile
GENERATION_KEY = "summary_inputs_generation"


def generation(conn: Connection, for_update: bool = False) -> int:
    """The current :data:`GENERATION_KEY` (0 before any write)."""
    stmt = select(AppMeta.value).where(AppMeta.key == GENERATION_KEY)
    value = conn.scalar(stmt.with_for_update() if for_update else stmt)
    return int(value or 0)


def bump_generation(conn: Connection) -> None:
    """Advance :data:`GENERATION_KEY` inside the caller's transaction."""
    done = conn.execute(update(AppMeta).where(AppMeta.key == GENERATION_KEY).values(
        value=cast(cast(AppMeta.value, Integer) + 1, String))).rowcount
    if not done:
        conn.execute(insert(AppMeta).values(key=GENERATION_KEY, value="1"))


def rebuild(engine, user: str | None, progress: Progress | None = None) -> list[int]:
    """Every year's roll-ups rebuilt from the episode store (``refresh``) in its own
    transaction, holding the database's import lock (a rebuild while an import runs raises
    :class:`healthmap.dbhealth.ImportRunning`, which names that import)."""
    from healthmap import dbhealth, store

    url = engine.url.render_as_string(hide_password=False)
    with dbhealth.import_lock(url, "refresh", "summary tables", user):
        writer = None
        try:
            with engine.begin() as conn:
                writer = rebuild_rollups(conn, None, progress)
            store.publish(writer)
        finally:
            if writer is not None:
                writer.discard()
        return writer.years_rebuilt
