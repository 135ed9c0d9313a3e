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
from sqlalchemy import (Connection, Integer, String, cast, delete, insert, select,
                        table, update)

from healthmap import cube, ledger
from healthmap.db import bulk_insert

from healthmap.models import (AppMeta, Icd3Group, Institution, SummaryArea, SummaryCell,
                              SummaryInstitution)

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


def years_with_episodes(engine) -> list[int]:
    """The years the episode store holds episodes of."""
    from healthmap import store

    manifest = store.live_manifest(engine.engine)
    return sorted(manifest.years) if manifest else []


def lookups(conn: Connection) -> tuple[dict[str, str], dict[str, bool]]:
    """What the summaries need besides the episodes: ICD-10 category → disease group and
    institution → in the county."""
    icd3_group = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
    in_county = dict(conn.execute(select(Institution.code, Institution.in_county)).all())
    return icd3_group, in_county


def summarise_year(ep: pd.DataFrame, year: int, icd3_group: dict[str, str],
                   in_county: dict[str, bool]) -> dict[type, pd.DataFrame]:
    """The summary rows of one year from all of that year's episodes (the store's
    :data:`EPISODE_COLS`, or money as float yuan ``total_cost`` / ``fund_paid``; ``date``
    as ISO text or dates), per summary model.

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
    >>> area = rows[SummaryArea].iloc[0]
    >>> [int(area[c]) for c in ("episodes", "new_cases", "persons", "referrals", "cost_sum",
    ...                         "fund_n")]
    [2, 1, 1, 1, 400, 1]
    >>> len(rows[SummaryCell]), len(rows[SummaryInstitution])
    (2, 2)
    """
    if ep.empty:
        return {}
    money = ["total_cost_fen", "fund_paid_fen"] if "total_cost_fen" in ep else [
        "total_cost", "fund_paid"]
    ep = ep[[c for c in EPISODE_COLS if not c.endswith("_fen")] + money].reset_index(drop=True)
    ep["date"] = ep["date"].astype(str)
    ep["year"] = year
    ep["in_county"] = ep["institution_code"].map(in_county).astype(bool)
    ep = flag_first_episodes(ep, icd3_group)
    tables = rollups(ep)
    return {model: tables[model.__tablename__]
            for model in (SummaryCell, SummaryArea, SummaryInstitution)}


def year_episodes(engine, year: int) -> pd.DataFrame:
    """The held episodes of ``year`` (the store's :data:`EPISODE_COLS`, ``date`` as ISO
    text: ordering is all the flags need)."""
    from healthmap import store

    cols = ", ".join("strftime(date, '%Y-%m-%d') AS date" if c == "date" else c
                     for c in EPISODE_COLS)
    return store.query(engine.engine, f"SELECT {cols} FROM episodes WHERE year = ?", [year])


def refresh_years(conn: Connection, years: Iterable[int], progress: Progress | None = None
                  ) -> list[int]:
    """Rebuild the summary rows of ``years`` from the episode store, inside the caller's
    transaction (imports instead stage the rows first: :class:`Staged`)."""
    years = sorted(set(int(y) for y in years))
    icd3_group, in_county = lookups(conn)
    for i, year in enumerate(years):
        if progress:
            progress(i / max(len(years), 1), str(year))
        rows = summarise_year(year_episodes(conn, year), year, icd3_group, in_county)
        _delete_years(conn, [year])
        for model, frame in rows.items():
            _insert_frame(conn, model, frame)
    bump_generation(conn)
    if progress:
        progress(1.0, ", ".join(map(str, years)))
    return years


class Staged:
    """New summary rows computed before the write transaction and kept in temporary
    tables of the connection, so the transaction only swaps them in (:meth:`swap`): a
    short write lock however many episodes the years hold.

    >>> from sqlalchemy import create_engine
    >>> from healthmap.models import Base
    >>> e = create_engine("sqlite://")
    >>> Base.metadata.create_all(e)
    >>> with e.connect() as c:
    ...     st = Staged(c)
    ...     st.add({SummaryArea: pd.DataFrame([dict(year=2024, area_code="A", sex="F",
    ...         age_group="0-4", setting="inpatient", in_county=True, episodes=1,
    ...         new_cases=1, persons=1, referrals=0, cost_sum=9.5, cost_sq_sum=90.25,
    ...         fund_sum=0.0, fund_n=0)])})
    ...     st.swap(c, [2024])
    ...     c.exec_driver_sql("SELECT year, cost_sum FROM summary_areas").all()
    [(2024, 9.5)]
    """

    MODELS = (SummaryCell, SummaryArea, SummaryInstitution)

    def __init__(self, conn: Connection):
        self._conn = conn
        self.names = {m: f"stage_{m.__tablename__}" for m in self.MODELS}
        self.drop(conn)
        for model, name in self.names.items():
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} AS SELECT * FROM "
                                 f"{model.__tablename__} WHERE 1 = 0")

    def add(self, rows: dict[type, pd.DataFrame]) -> None:
        """Stage one year's rows (as :func:`summarise_year` gives them)."""
        for model, frame in rows.items():
            bulk_insert(self._conn, table(self.names[model]), frame)

    def swap(self, conn: Connection, years: Iterable[int]) -> None:
        """Inside the write transaction: replace the summary rows of ``years`` by the
        staged ones."""
        _delete_years(conn, years)
        for model, name in self.names.items():
            cols = ", ".join(c.name for c in model.__table__.columns if c.name != "id")
            conn.exec_driver_sql(f"INSERT INTO {model.__tablename__} ({cols}) "
                                 f"SELECT {cols} FROM {name}")
        bump_generation(conn)

    def drop(self, conn: Connection) -> None:
        for name in self.names.values():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def _delete_years(conn: Connection, years: Iterable[int]) -> None:
    years = [int(y) for y in years]
    for model in Staged.MODELS:
        conn.execute(delete(model).where(model.year.in_(years)))


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


def refresh_all(conn: Connection, progress: Progress | None = None) -> list[int]:
    """Rebuild every year's summaries (after disease groups or institutions change)."""
    for model in Staged.MODELS:
        conn.execute(delete(model))
    return refresh_years(conn, years_with_episodes(conn), progress)


def rebuild(engine, user: str | None, progress: Progress | None = None) -> list[int]:
    """:func:`refresh_all` in its own transaction, holding the database's import lock (a
    refresh while an import runs raises :class:`healthmap.dbhealth.ImportRunning`, which
    names that import)."""
    from healthmap import dbhealth

    url = engine.url.render_as_string(hide_password=False)
    with dbhealth.import_lock(url, "refresh", "summary tables", user), engine.begin() as conn:
        return refresh_all(conn, progress)


def _insert_frame(conn: Connection, model, frame: pd.DataFrame) -> None:
    bulk_insert(conn, model.__table__, frame)
