"""Small-cell suppression for public tables (primary and secondary suppression).

Public views, and any export meant for publication, must not show counts of 1-4 cases
(domain.md §4, usual public-health disclosure rule). Hiding those cells is not enough
when the table also shows a total: one hidden cell could be recovered as
``total − sum(shown cells)``. Secondary (complementary) suppression therefore hides, in
every group whose total is published, the smallest other non-zero cell whenever exactly
one cell of the group is hidden. Zero cells are shown and never chosen as complements:
a zero discloses nobody, and a hidden zero protects little because other public tables
often reveal it.

The functions are pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUPPRESS_MIN, SUPPRESS_MAX = 1, 4


def primary_mask(counts, low: int = SUPPRESS_MIN, high: int = SUPPRESS_MAX) -> np.ndarray:
    """Cells whose count lies in ``[low, high]`` (1-4 by default).

    >>> primary_mask([0, 1, 4, 5, np.nan]).tolist()
    [False, True, True, False, False]
    """
    c = np.asarray(counts, dtype=float)
    return (c >= low) & (c <= high)


def secondary_mask(counts, hidden, groups=None) -> np.ndarray:
    """Complementary cells to hide so no hidden cell can be recovered from a group total.

    Parameters
    ----------
    counts : array-like
        Cell counts (the quantity whose total is published).
    hidden : array-like of bool
        Cells already hidden (primary suppression).
    groups : array-like, optional
        Group label per cell; each group's total is assumed published. ``None`` = one group.

    Returns
    -------
    numpy.ndarray of bool
        The extra cells to hide (never a primary cell, never a zero cell).

    Examples
    --------
    Five townships with a published county total of 45; 3 is hidden, so the smallest
    other non-zero cell (7) must be hidden too, else 3 = 45 − (10 + 0 + 25 + 7):

    >>> c = [3, 10, 0, 25, 7]
    >>> secondary_mask(c, primary_mask(c)).tolist()
    [False, False, False, False, True]

    Two hidden cells protect each other; nothing more is needed:

    >>> c = [2, 4, 50]
    >>> secondary_mask(c, primary_mask(c)).tolist()
    [False, False, False]
    """
    c = np.asarray(counts, dtype=float)
    h = np.asarray(hidden, dtype=bool)
    g = np.zeros(len(c), dtype=int) if groups is None else pd.factorize(
        pd.Series(groups).astype(str))[0]
    extra = np.zeros(len(c), dtype=bool)
    for label in np.unique(g):
        idx = np.flatnonzero(g == label)
        if h[idx].sum() != 1:
            continue
        candidates = idx[~h[idx] & (np.nan_to_num(c[idx]) > 0)]
        if len(candidates):
            extra[candidates[np.argmin(c[candidates])]] = True
    return extra


def suppress(table: pd.DataFrame, count_cols: list[str] | str, value_cols: list[str] = (),
             group_col: str | None = None) -> pd.DataFrame:
    """Apply primary and secondary suppression to a public table.

    A row is hidden when any of ``count_cols`` is 1-4 (primary) or when it is needed to
    protect a hidden row of its group (secondary, computed on the first count column,
    whose group total is taken as published). Hidden rows get ``NaN`` in ``count_cols`` and
    ``value_cols``; the columns ``suppressed`` (bool) and ``suppression``
    (``"primary"``/``"secondary"``/``""``) say why.

    Examples
    --------
    >>> t = pd.DataFrame({"area": list("ABCDE"), "cases": [3, 10, 0, 25, 7],
    ...                   "rate": [1.5, 5.0, 0.0, 12.5, 3.5]})
    >>> out = suppress(t, "cases", ["rate"])
    >>> out["suppression"].tolist()
    ['primary', '', '', '', 'secondary']
    >>> out["cases"].tolist()
    [nan, 10.0, 0.0, 25.0, nan]
    """
    if isinstance(count_cols, str):
        count_cols = [count_cols]
    missing = [c for c in [*count_cols, *value_cols] if c not in table.columns]
    if missing:
        raise KeyError(f"suppress: columns not in the table: {missing}")
    out = table.copy()
    prim = np.zeros(len(out), dtype=bool)
    for col in count_cols:
        prim |= primary_mask(out[col])
    groups = out[group_col].to_numpy() if group_col else None
    sec = secondary_mask(out[count_cols[0]], prim, groups)
    hide = prim | sec
    out["suppressed"] = hide
    out["suppression"] = np.where(prim, "primary", np.where(sec, "secondary", ""))
    for col in [*count_cols, *value_cols]:
        out[col] = out[col].astype(float).where(~hide)
    return out
