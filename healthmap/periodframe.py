"""A period's roll-up rows held in memory for fast filter changes (issue 14).

The pages load one period's ``cells`` and ``institutions`` roll-ups once
(:func:`healthmap.queries.load_cells_frame`) and answer every filter change from them. At
10 M episodes a year holds about 2.5 M rows of each (the roll-ups barely summarise), so a
pandas mask and group-by per table took 50-250 ms, several times per change. This module
answers the same question (rows that a list of :class:`healthmap.cube.Condition` keep,
summed by some dimensions) on integer codes:

- a condition becomes a lookup table over the column's distinct values (evaluated with
  :func:`healthmap.cube.condition_mask`, the one definition of a condition), indexed by
  the rows' category codes;
- the rows are taken in order of ICD-10 category (the frame's own order when it is a few
  runs sorted by it, as the store writes each year; otherwise through a stable sorting
  permutation the index keeps, so loading moves no rows), so a disease selection is a few
  slices;
- the sums are ``numpy.bincount`` over a combined group code, exact integers (money in
  fen, divided into yuan once: the same figures the store's DuckDB sums give);
- coarser roll-ups of the frame (:data:`PROJECTIONS`: without ICD-10 detail, without area
  and month, …), built from its rows on first use (0.1-0.3 s each at 2.5 M rows, once per
  loaded period), answer any question that needs none of the dimensions they drop, from
  tens of thousands of rows instead of millions.

A :class:`PeriodFrame` is an ordinary (read-only) DataFrame that carries this index;
anything derived from it is a plain DataFrame. A plain DataFrame is indexed on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from healthmap import cube

#: the dimension the frame and its roll-ups are sorted by (a disease selection = slices)
SORT_DIM = "icd3"
#: coarser in-memory roll-ups per table, as the dimensions each drops: no disease filter
#: (the whole-disease map, panels and flows); the top-groups panel, the board and the
#: ranking (by ICD-10 without area or month); the whole-year headline without insurance;
#: by ICD-10 with a month range (panel, board); flows without a month filter; the flows'
#: saving per ICD-10 category (by area or not, whole year or a month range)
PROJECTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cells": (("icd3",), ("area_code", "month"), ("icd3", "month", "insurance_type"),
              ("area_code", "sex", "age_group", "insurance_type")),
    "institutions": (("icd3",), ("icd3", "month"),
                     ("month", "sex", "age_group", "insurance_type"),
                     ("area_code", "month", "sex", "age_group", "insurance_type"),
                     ("area_code", "sex", "age_group", "insurance_type")),
}
#: measures summed exactly as integers (counts; money in fen: ``cube.MONEY`` units of 100
#: per yuan); the squares (fen², beyond int64 at scale) are summed as floats, as the store
#: query does
_FEN = 100
#: largest group-code space counted directly (larger ones are numbered with np.unique)
_DIRECT = 1 << 22


class PeriodFrame(pd.DataFrame):
    """A loaded period frame with its index (:func:`period_frame`); treat as read-only."""

    _internal_names = pd.DataFrame._internal_names + ["_cube", "_table"]
    _internal_names_set = set(_internal_names)

    @property
    def _constructor(self):
        return pd.DataFrame  # anything derived is a plain frame, without the index


@dataclass
class _Table:
    """Rows as codes (-1 = missing) and measure sums; ``starts`` when the rows, taken in
    ``order`` (row numbers; ``None`` = as stored), are a few runs each sorted by
    :data:`SORT_DIM` (e.g. one per year: rows of its code k in run r are
    ``order[starts[r, k]:starts[r, k + 1]]``). Every sum reads the rows in that order, so
    float sums do not depend on how the rows are stored."""

    dims: tuple[str, ...]
    codes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    n: int
    starts: np.ndarray | None = None
    yuan: frozenset[str] = frozenset()  # money columns still in yuan (the frame's own)
    order: np.ndarray | None = None


@dataclass
class Index:
    """The coded form of a period frame and its coarser roll-ups (built on first use)."""

    table: str
    cats: dict[str, np.ndarray]
    missing: dict[str, bool]
    base: _Table
    built: dict[tuple[str, ...], _Table] = field(default_factory=dict)
    luts: dict[cube.Condition, np.ndarray] = field(default_factory=dict)

    def lut(self, cond: cube.Condition) -> np.ndarray:
        """Per code, whether ``cond`` keeps it; the last slot is a missing value (code -1).
        Kept per condition: a filter change asks the same ones for every table."""
        lut = self.luts.get(cond)
        if lut is None:  # threads may race here: each gets a correct table
            values = pd.Series(self.cats[cond.column], dtype=object)
            lut = np.zeros(len(values) + 1, dtype=bool)
            lut[:-1] = cube.condition_mask(values, cond)
            if len(self.luts) > 512:
                self.luts.clear()
            self.luts[cond] = lut
        return lut

    def projection(self, dims: tuple[str, ...]) -> _Table:
        t = self.built.get(dims)
        if t is None:  # a benign race between threads builds it twice
            source = min((t for t in [self.base, *list(self.built.values())]
                          if set(dims) <= set(t.dims)), key=lambda t: t.n)
            codes, values = _group(self, source, source.order, list(dims), keep_missing=True)
            n = len(next(iter(values.values())))
            t = self.built[dims] = _Table(dims, codes, values, n, _starts(self, codes, n))
        return t

    def pick(self, need: set[str], luts: dict[str, np.ndarray]) -> _Table:
        """The table that answers a question on dimensions ``need`` from the fewest rows
        (a coarser roll-up is built on first use: about 0.1-0.3 s at 2.5 M rows)."""
        dims = cube.ROLLUPS[self.table][0]
        best, best_rows = self.base, _estimate(self.base, luts)
        for drop in PROJECTIONS[self.table]:
            kept = tuple(sorted((d for d in dims if d not in drop), key=lambda d: d != SORT_DIM))
            if not need <= set(kept):
                continue
            t = self.built.get(kept)
            rows = (_estimate(t, luts) if t is not None else
                    min(self.base.n, int(np.prod([len(self.cats[d]) for d in kept],
                                                 dtype=np.float64))))
            if rows < best_rows:
                best, best_rows = (t if t is not None else kept), rows
        return best if isinstance(best, _Table) else self.projection(best)


def _money(table: str) -> set[str]:
    return {m for m in cube.ROLLUPS[table][1] if cube.MONEY.get(m, (m, 1))[1] == _FEN}


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 = missing) and the values they stand for (in ascending order)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), np.asarray(col.cat.categories.astype(object))
    v = col.to_numpy()
    if v.dtype == bool:
        return v.view(np.int8), np.array([False, True])
    if v.dtype.kind in "iu" and len(v) and int(v.max()) - int(v.min()) < 1 << 16:
        lo, hi = int(v.min()), int(v.max())  # years, months: a range, no hashing
        return ((v - lo).astype(np.int8 if hi - lo < 127 else np.int32),
                np.arange(lo, hi + 1, dtype=v.dtype))
    codes, uniques = pd.factorize(col, sort=True)
    return codes.astype(np.int32), np.asarray(uniques)


#: most sorted runs a table is sliced by (more: conditions are masks over every row)
_RUNS = 64


def _runs(c: np.ndarray) -> np.ndarray:
    """Where the ascending runs of ``c`` start, and its length."""
    return np.concatenate([[0], np.flatnonzero(c[1:] < c[:-1]) + 1, [len(c)]])


def _starts(index: Index, codes: dict[str, np.ndarray], n: int,
            order: np.ndarray | None = None) -> np.ndarray | None:
    if SORT_DIM not in codes:
        return None
    c = codes[SORT_DIM] if order is None else codes[SORT_DIM][order]
    edges = _runs(c)
    if len(edges) - 1 > _RUNS:
        return None
    k = np.arange(len(index.cats[SORT_DIM]) + 1)
    return np.stack([a + np.searchsorted(c[a:b], k) for a, b in zip(edges[:-1], edges[1:])])


def build(frame: pd.DataFrame, table: str, order: np.ndarray | None = None) -> Index:
    """The index of ``frame`` (rows of roll-up ``table``, money in yuan), its rows taken in
    ``order`` (default: as stored; more than :data:`_RUNS` sorted runs of
    :data:`SORT_DIM`: in the stable order sorted by it)."""
    dims, measures = cube.ROLLUPS[table]
    cats, codes, missing = {}, {}, {}
    for d in dims:
        codes[d], cats[d] = _codes(frame[d])
        missing[d] = bool((codes[d] < 0).any())
    # the frame's own columns, no copies: money in yuan is turned into fen when summed
    values = {m: frame[m].to_numpy() for m in measures}
    index = Index(table, cats, missing, _Table(tuple(dims), codes, values, len(frame),
                                               yuan=frozenset(_money(table))))
    if order is None and SORT_DIM in codes and len(_runs(codes[SORT_DIM])) - 1 > _RUNS:
        order = np.argsort(codes[SORT_DIM], kind="stable")
    index.base.order = order
    index.base.starts = _starts(index, codes, len(frame), order)
    return index


def period_frame(df: pd.DataFrame, table: str, order: np.ndarray | None = None
                 ) -> PeriodFrame:
    """``df`` carrying its index (the coarser roll-ups are built on first use). Its rows
    stay where they are: when they are more than a few runs sorted by :data:`SORT_DIM`
    (the store writes each year's roll-ups sorted by their keys; several years
    concatenated are one run each) the index takes them in ``order`` (default: the stable
    order sorted by it), as if sorted, without moving the frame's 2.5 M rows a year."""
    out = PeriodFrame(df)
    out._table = table
    out._cube = build(out, table, order)
    return out


def row_order(frame: pd.DataFrame) -> np.ndarray | None:
    """The order its index takes the rows of a :class:`PeriodFrame` in (``None``: as
    stored), e.g. to concatenate frames keeping each one's order."""
    index = getattr(frame, "_cube", None) if isinstance(frame, PeriodFrame) else None
    return None if index is None else index.base.order


def index_of(frame: pd.DataFrame, table: str) -> Index:
    """The frame's index: carried by a :class:`PeriodFrame`, else built now."""
    index = getattr(frame, "_cube", None) if isinstance(frame, PeriodFrame) else None
    if index is None or index.table != table:
        index = build(frame, table)
        if isinstance(frame, PeriodFrame):  # e.g. unpickled: index once more
            frame._cube = index
    return index


def _rows(index: Index, t: _Table, luts: dict[str, np.ndarray]) -> np.ndarray | None:
    """Row numbers of ``t`` that ``luts`` keep, in the table's order (``None`` = every
    row as stored)."""
    idx = t.order
    rest = dict(luts)
    if t.starts is not None and SORT_DIM in rest:
        keep = np.flatnonzero(rest.pop(SORT_DIM)[:-1])
        lo, hi = t.starts[:, keep].ravel(), t.starts[:, keep + 1].ravel()
        idx = (np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(keep)
               else np.zeros(0, dtype=np.int64))
        if t.order is not None:
            idx = t.order[idx]
    if not rest:
        return idx
    mask = None
    for d, lut in rest.items():
        m = lut[t.codes[d] if idx is None else t.codes[d][idx]]
        mask = m if mask is None else mask & m
    return np.flatnonzero(mask) if idx is None else idx[mask]


def _estimate(t: _Table, luts: dict[str, np.ndarray]) -> int:
    if t.starts is None or SORT_DIM not in luts:
        return t.n
    keep = np.flatnonzero(luts[SORT_DIM][:-1])
    return int((t.starts[:, keep + 1] - t.starts[:, keep]).sum())


def _sum(group: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``v`` per group number; integers exactly."""
    if v.dtype.kind != "i":
        return np.bincount(group, weights=v, minlength=size)
    if len(v) and float(np.abs(v).max()) * len(v) < 2.0 ** 53:  # every partial sum exact
        return np.bincount(group, weights=v, minlength=size).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, group, v)
    return out


def _group(index: Index, t: _Table, idx: np.ndarray | None, by: list[str],
           keep_missing: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Codes of the groups (sorted as pandas sorts categorical keys) and their sums.
    A missing key drops its rows (as pandas' group-by does), or with ``keep_missing``
    (a coarser roll-up) forms a group of its own."""
    n = t.n if idx is None else len(idx)
    shift = {d: int(keep_missing and index.missing[d]) for d in by}
    width = {d: len(index.cats[d]) + shift[d] for d in by}
    size = int(np.prod([width[d] for d in by], dtype=np.float64))
    key = np.zeros(n, dtype=np.int32 if size < 1 << 31 else np.int64)
    valid = None
    for d in by:
        c = t.codes[d] if idx is None else t.codes[d][idx]
        if index.missing[d] and not keep_missing:
            valid = (c >= 0) if valid is None else valid & (c >= 0)
        key *= width[d]
        key += c
        if shift[d]:
            key += 1
    if valid is not None and not valid.all():
        key = key[valid]
        idx = np.flatnonzero(valid) if idx is None else idx[valid]
    if not by:  # one row of totals, also of no rows
        present, group, size = np.zeros(1, dtype=np.int64), key, 1
    elif size <= _DIRECT:
        present, group = np.flatnonzero(np.bincount(key, minlength=size)), key
    else:
        present, group = np.unique(key, return_inverse=True)
        size = len(present)
    values = {}
    for m, v in t.values.items():
        v = v if idx is None else v[idx]
        if m in t.yuan:  # the store's exact fen (the double nearest n/100, × 100, rounds to n)
            v = np.rint(v * _FEN).astype(np.int64)
        s = _sum(group, v, size)
        values[m] = s if size == len(present) else s[present]
    codes, rest = {}, present.copy()
    for d in reversed(by):
        codes[d] = (rest % width[d]).astype(np.int32) - shift[d]
        rest //= width[d]
    return {d: codes[d] for d in by}, values


def grouped(frame: pd.DataFrame, table: str, conds: list[cube.Condition], by: list[str],
            measures: list[str] | None = None) -> pd.DataFrame:
    """Sums of ``measures`` (default: the table's) over the rows of period frame ``frame``
    (roll-up ``table``) that ``conds`` keep, by ``by``; money in yuan. The same rows, order
    and values as a pandas mask and ``groupby(by, observed=True)`` on ``frame`` (text keys
    as ``str``), with money summed exactly in fen; no ``by``: one row of totals.

    >>> df = pd.DataFrame({"year": [2024] * 3, "month": [1, 2, 2],
    ...                    "area_code": pd.Categorical(["A", "B", "A"]),
    ...                    "sex": pd.Categorical(["F", "M", "F"]),
    ...                    "age_group": pd.Categorical(["0-4"] * 3),
    ...                    "icd3": pd.Categorical(["C16", "C18", "C16"]),
    ...                    "setting": pd.Categorical(["inpatient"] * 3),
    ...                    "in_county": [True, False, True],
    ...                    "insurance_type": pd.Categorical(["resident"] * 3),
    ...                    "episodes": [2, 1, 3], "new_cases": [1, 1, 0], "persons": [1, 1, 0],
    ...                    "referrals": [0, 1, 0], "cost_sum": [100.1, 50.0, 0.2],
    ...                    "cost_sq_sum": [5000.0, 2500.0, 0.04], "fund_sum": [60.0, 0.0, 0.1],
    ...                    "fund_n": [2, 1, 3]})
    >>> grouped(df, "cells", [cube.Condition("icd3", "in", ("C16",))], ["area_code"],
    ...         ["episodes", "cost_sum"])
      area_code  episodes  cost_sum
    0         A         5     100.3
    """
    measures = measures or cube.ROLLUPS[table][1]
    index = index_of(frame, table)
    luts = {}
    for c in conds:
        lut = index.lut(c)
        luts[c.column] = lut if c.column not in luts else luts[c.column] & lut
    t = index.pick(set(by) | set(luts), luts)
    codes, values = _group(index, t, _rows(index, t, luts), list(by))
    money = _money(table)
    out = {}
    for d in by:
        out[d] = index.cats[d][codes[d]]
    for m in measures:
        out[m] = values[m] / _FEN if m in money else values[m]
    df = pd.DataFrame(out)
    for d in by:
        if index.cats[d].dtype == object:
            df[d] = df[d].astype(str)
    return df
