"""The summary cube, described once: its dimensions, its measures and its filters.

The summary tables (:mod:`healthmap.summary` writes them), the SQL queries and the
in-memory filtering (:mod:`healthmap.queries`) and the tests all read these lists. A
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

from healthmap.models import SummaryMeasures

#: additive measures of every summary row, in the order of the model's mixin
MEASURES: list[str] = list(SummaryMeasures.__annotations__)
#: dimensions of ``summary_cells`` (the map's cube)
CELL_DIMS = ["year", "month", "area_code", "sex", "age_group", "icd3", "setting", "in_county",
             "insurance_type"]
#: ``summary_areas``: the cells without ICD-10, month and insurance detail
AREA_DIMS = [k for k in CELL_DIMS if k not in ("icd3", "month", "insurance_type")]
#: ``summary_institutions`` (patient flows)
INST_DIMS = ["year", "month", "area_code", "icd3", "setting", "institution_code", "sex",
             "age_group", "insurance_type"]
INST_MEASURES = ["episodes", "cost_sum", "fund_sum"]


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


def sql_where(stmt, table, conds: list[Condition]):
    """``stmt`` restricted by ``conds`` on the mapped ``table`` (a summary model).

    A condition on a column the table does not have is an error, never silently skipped.
    """
    for c in conds:
        col = getattr(table, c.column)
        if c.op == "in":
            stmt = stmt.where(col.in_(c.values))
        elif c.op == "eq":
            stmt = stmt.where(col == c.values[0])
        else:
            stmt = stmt.where(col.between(*c.values))
    return stmt


def frame_mask(frame: pd.DataFrame, conds: list[Condition]) -> np.ndarray:
    """Rows of an in-memory summary frame that ``conds`` keep.

    >>> df = pd.DataFrame({"year": [2023, 2024, 2024], "sex": ["M", "F", "M"]})
    >>> frame_mask(df, [Condition("year", "in", (2024,)), Condition("sex", "eq", ("M",))])
    array([False, False,  True])
    """
    m = np.ones(len(frame), dtype=bool)
    for c in conds:
        col = frame[c.column]
        if c.op == "in":
            m &= col.isin(c.values).to_numpy()
        elif c.op == "eq":
            m &= (col == c.values[0]).to_numpy()
        else:
            m &= col.between(*c.values).to_numpy()
    return m
