"""The summary cube, described once: its dimensions, its measures and its filters.

The roll-up tables of the episode store (:mod:`healthmap.summary` builds them,
:mod:`healthmap.store` keeps them), the queries and the in-memory filtering
(:mod:`healthmap.queries`) and the tests all read these lists. A
filter is described once as a list of :class:`Condition` (column, operator, values); the
SQL ``WHERE`` clause and the pandas row mask are both generated from that description, so
they cannot drift apart (``tests/test_cube.py`` checks them against each other on random
filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

#: additive measures of every summary row: episodes; new cases (episodes that are a
#: person's first in their disease group in the year) and persons (a person's first episode
#: of the year), both additive across cells within one year and group; referrals; cost,
#: its square (for the cost interval) and fund share (yuan once loaded; fen in the store);
#: episodes with a known fund share
MEASURES: list[str] = ["episodes", "new_cases", "persons", "referrals", "cost_sum",
                       "cost_sq_sum", "fund_sum", "fund_n"]
#: dimensions of the ``cells`` roll-up (the map's cube)
CELL_DIMS = ["year", "month", "area_code", "sex", "age_group", "icd3", "setting", "in_county",
             "insurance_type"]
#: the ``areas`` roll-up: the cells without ICD-10, month and insurance detail (a few
#: thousand rows a year whatever the volume; the whole-year queries without a disease or
#: insurance filter)
AREA_DIMS = [k for k in CELL_DIMS if k not in ("icd3", "month", "insurance_type")]
#: the ``institutions`` roll-up (patient flows)
INST_DIMS = ["year", "month", "area_code", "icd3", "setting", "institution_code", "sex",
             "age_group", "insurance_type"]
INST_MEASURES = ["episodes", "cost_sum", "fund_sum"]
#: the roll-up tables: name -> (dimensions, measures)
ROLLUPS: dict[str, tuple[list[str], list[str]]] = {
    "cells": (CELL_DIMS, MEASURES), "areas": (AREA_DIMS, MEASURES),
    "institutions": (INST_DIMS, INST_MEASURES)}
#: money measures as the store keeps them, exact: measure -> (store column, units per yuan);
#: integer fen (int64), and the squares in fen² (DECIMAL(38,0): fen² overflows int64 at
#: province scale). Yuan only when read for display (:mod:`healthmap.queries`).
MONEY: dict[str, tuple[str, int]] = {"cost_sum": ("cost_sum_fen", 100),
                                     "cost_sq_sum": ("cost_sq_sum_fen2", 10_000),
                                     "fund_sum": ("fund_sum_fen", 100)}


@dataclass(frozen=True)
class Condition:
    """One restriction of a filter: ``column`` ``op`` ``values``.

    ``op`` is ``in`` (any of ``values``), ``eq`` (``values[0]``) or ``between``
    (``values[0]`` ≤ column ≤ ``values[1]``, inclusive).
    """

    column: str
    op: Literal["in", "eq", "between"]
    values: tuple


def conditions(f, icd3: list[str] | tuple[str, ...] | None) -> list[Condition]:
    """The restrictions that :class:`healthmap.queries.Filters` ``f`` and the resolved
    ICD-10 categories ``icd3`` (``None`` = no disease filter) put on the cube.

    A month range covering the whole year adds no condition (so the month-less roll-up
    can answer).

    >>> from healthmap.queries import Filters
    >>> [(c.column, c.op, c.values) for c in conditions(
    ...     Filters(years=(2024,), month_from=1, month_to=6, sex="F"), ["C16"])]
    [('year', 'in', (2024,)), ('month', 'between', (1, 6)), ('icd3', 'in', ('C16',)), \
('setting', 'eq', ('inpatient',)), ('sex', 'eq', ('F',))]
    """
    out: list[Condition] = []
    if f.years:
        out.append(Condition("year", "in", tuple(f.years)))
    if f.month_from is not None and f.month_to is not None and f.months < 12:
        out.append(Condition("month", "between", (f.month_from, f.month_to)))
    if icd3 is not None:
        out.append(Condition("icd3", "in", tuple(icd3)))
    if f.setting:
        out.append(Condition("setting", "eq", (f.setting,)))
    if f.sex:
        out.append(Condition("sex", "eq", (f.sex,)))
    if f.age_groups:
        out.append(Condition("age_group", "in", tuple(f.age_groups)))
    if f.insurance:
        out.append(Condition("insurance_type", "in", tuple(f.insurance)))
    return out


def sql_where(conds: list[Condition], columns: list[str]) -> tuple[str, list]:
    """``conds`` as a SQL ``WHERE`` clause with ``?`` placeholders and its parameters, for
    a relation with ``columns`` (DuckDB on the store's roll-ups).

    A condition on a column the relation does not have is an error, never silently skipped.

    >>> sql_where([Condition("year", "in", (2023, 2024)), Condition("month", "between", (1, 6)),
    ...            Condition("sex", "eq", ("F",))], ["year", "month", "sex"])
    ('WHERE year IN (?, ?) AND month BETWEEN ? AND ? AND sex = ?', [2023, 2024, 1, 6, 'F'])
    >>> sql_where([], ["year"])
    ('', [])
    """
    parts, params = [], []
    for c in conds:
        if c.column not in columns:
            raise KeyError(f"the relation has no column {c.column!r}")
        if c.op == "in":
            parts.append(f"{c.column} IN ({', '.join('?' * len(c.values))})"
                         if c.values else "false")
            params.extend(c.values)
        elif c.op == "eq":
            parts.append(f"{c.column} = ?")
            params.append(c.values[0])
        else:
            parts.append(f"{c.column} BETWEEN ? AND ?")
            params.extend(c.values[:2])
    return ("WHERE " + " AND ".join(parts) if parts else ""), params


def condition_mask(col: pd.Series, c: Condition) -> np.ndarray:
    """Which values of ``col`` condition ``c`` keeps (a missing value never).

    >>> condition_mask(pd.Series([1, 5, 7, None]), Condition("month", "between", (2, 6)))
    array([False,  True, False, False])
    """
    if c.op == "in":
        return col.isin(c.values).to_numpy()
    if c.op == "eq":
        return (col == c.values[0]).fillna(False).to_numpy(dtype=bool)
    return col.between(*c.values).fillna(False).to_numpy(dtype=bool)


def frame_mask(frame: pd.DataFrame, conds: list[Condition]) -> np.ndarray:
    """Rows of an in-memory summary frame that ``conds`` keep (the loaded period frames
    evaluate the same conditions on their distinct values: :mod:`healthmap.periodframe`).

    >>> df = pd.DataFrame({"year": [2023, 2024, 2024], "sex": ["M", "F", "M"]})
    >>> frame_mask(df, [Condition("year", "in", (2024,)), Condition("sex", "eq", ("M",))])
    array([False, False,  True])
    """
    m = np.ones(len(frame), dtype=bool)
    for c in conds:
        m &= condition_mask(frame[c.column], c)
    return m
