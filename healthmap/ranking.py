"""Multi-criteria ranking of disease groups for the key-specialty catalogue (domain.md §5).

Pure functions on a decision matrix ``X`` (rows = alternatives, here disease groups;
columns = criteria, here indicators). Decisions §7 fixes the method:

* objective weights by Shannon entropy on the raw non-negative matrix
  (:func:`entropy_weights`: p = x / column sum, 0·ln 0 = 0, k = 1 / ln m);
* a weighted sum of min-max normalised columns (:func:`weighted_sum`);
* TOPSIS with vector normalisation (:func:`topsis`; Hwang & Yoon 1981);
* one specialty per disease group (:func:`rollup_specialties`).

Every ranking input of the key-specialty ranking is "higher = higher priority" (a benefit
criterion); the functions still take a ``benefit`` flag per column so that they are the
general methods and can be checked against published examples with cost criteria.
Rank stability lives in :mod:`healthmap.ranking_stability`.

Examples
--------
Three disease groups, two criteria (new cases, outward referral %):

>>> X = [[120, 30.0], [40, 60.0], [80, 45.0]]
>>> w = entropy_weights(X)
>>> [round(float(v), 3) for v in w]
[0.698, 0.302]
>>> [round(float(v), 3) for v in weighted_sum(X, w, [True, True])]
[0.698, 0.302, 0.5]
>>> ranks(topsis(X, w, [True, True])).tolist()
[1, 3, 2]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def _matrix(matrix, stacked: bool = False) -> np.ndarray:
    x = np.asarray(matrix, dtype="float64")
    if x.ndim != (3 if stacked else 2):
        raise ValueError("the decision matrix must be two-dimensional (alternatives × criteria)"
                         + ("; a stack of them three-dimensional" if stacked else ""))
    if not np.isfinite(x).all():
        raise ValueError("the decision matrix has missing or infinite values; fill or drop "
                         "those alternatives first")
    return x


def _weights(weights, n: int, stacked: bool = False) -> np.ndarray:
    """The weights rescaled to sum to 1 (``stacked``: each row of a 2-D array)."""
    w = np.asarray(weights, dtype="float64")
    w = w.reshape(-1, w.shape[-1]) if stacked else w.reshape(-1)
    if w.shape[-1] != n:
        raise ValueError(f"{w.shape[-1]} weights for {n} criteria")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and not negative")
    total = w.sum(axis=-1, keepdims=stacked)
    if (total <= 0).any():
        raise ValueError("at least one weight must be positive")
    return w / total


def _benefit(benefit, n: int) -> np.ndarray:
    if benefit is None:
        return np.ones(n, dtype=bool)
    b = np.asarray(benefit, dtype=bool).reshape(-1)
    if b.shape[0] != n:
        raise ValueError(f"{b.shape[0]} benefit flags for {n} criteria")
    return b


def minmax_normalize(matrix, benefit=None) -> np.ndarray:
    """Scale each column to [0, 1]: the best value becomes 1, the worst 0.

    For a benefit column (``True``) r = (x − min) / (max − min); for a cost column
    r = (max − x) / (max − min). A constant column cannot tell alternatives apart and
    becomes 0 (it then adds nothing to a weighted sum).

    Parameters
    ----------
    matrix : array_like, shape (m, n)
    benefit : array_like of bool, shape (n,), optional
        ``True`` where larger is better (default: every column).

    Examples
    --------
    >>> minmax_normalize([[1, 10], [3, 10], [2, 10]]).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]
    >>> minmax_normalize([[1], [3]], benefit=[False]).tolist()
    [[1.0], [0.0]]
    """
    x = _matrix(matrix)
    return _minmax(x, _benefit(benefit, x.shape[1]))


def _minmax(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`minmax_normalize` of a checked matrix, or of each matrix of a stack laid out
    (alternatives, matrices, criteria)."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b, x - lo, hi - x) / span
    return np.where(span > 0, r, 0.0)


def vector_normalize(matrix) -> np.ndarray:
    """Divide each column by its Euclidean norm (TOPSIS's normalisation, Hwang & Yoon 1981).

    A column of zeros stays zero.

    Examples
    --------
    >>> vector_normalize([[3, 0], [4, 0]]).tolist()
    [[0.6, 0.0], [0.8, 0.0]]
    """
    return _vector(_matrix(matrix))


def _vector(x: np.ndarray) -> np.ndarray:
    """:func:`vector_normalize` of a checked matrix or a stack (alternatives, matrices,
    criteria)."""
    norm = np.sqrt((x ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, x / norm, 0.0)


def entropy_weights(matrix) -> np.ndarray:
    """Objective criterion weights from Shannon entropy (Hwang & Yoon 1981; Zeleny 1982).

    With m alternatives: p_ij = x_ij / Σ_i x_ij, e_j = −k Σ_i p_ij ln p_ij with k = 1 / ln m
    and 0·ln 0 = 0, d_j = 1 − e_j, w_j = d_j / Σ_j d_j. A criterion on which the
    alternatives differ more carries more information and gets more weight; a constant
    (or all-zero) column gets weight 0. If no column varies, the weights are equal.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
        The raw, non-negative decision matrix (decisions §7: entropy on raw values, not on
        normalised ones); m ≥ 2.

    Returns
    -------
    ndarray, shape (n,)
        Weights summing to 1.

    Examples
    --------
    Xu (2004), *EJOR* 156(2): 530-532, the example reproduced in ``tests/test_ranking.py``:

    >>> X = [[30, 30, 38, 29], [19, 54, 86, 29], [19, 15, 85, 28.9], [68, 70, 60, 29]]
    >>> np.round(entropy_weights(X), 4).tolist()
    [0.463, 0.3992, 0.1378, 0.0]
    """
    x = _matrix(matrix)
    m, n = x.shape
    if (x < 0).any():
        raise ValueError("entropy weights need a non-negative matrix")
    if m < 2:
        raise ValueError("entropy weights need at least two alternatives")
    total = x.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, x / total, 0.0)
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = np.where(total > 0, -plogp.sum(axis=0) / np.log(m), 1.0)
    d = np.clip(1.0 - e, 0.0, None)
    if d.sum() <= 1e-15:
        return np.full(n, 1.0 / n)
    return d / d.sum()


def weighted_sum(matrix, weights, benefit=None) -> np.ndarray:
    """Simple additive weighting on min-max normalised columns: scores in [0, 1].

    s_i = Σ_j w_j r_ij with r from :func:`minmax_normalize` and the weights rescaled to
    sum to 1. An alternative best on every criterion scores 1.

    Examples
    --------
    >>> weighted_sum([[1, 5], [3, 1], [2, 3]], [0.75, 0.25], [True, True]).tolist()
    [0.25, 0.75, 0.5]
    """
    x = _matrix(matrix)
    return _weighted_sum(x, _weights(weights, x.shape[1]), _benefit(benefit, x.shape[1]))


def _weighted_sum(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`weighted_sum` of a checked matrix (weights ``w`` summing to 1), or of a stack
    (alternatives, matrices, criteria) with a row of ``w`` per matrix: then (matrices,
    alternatives), each row the same matrix-vector product as one matrix's."""
    r = _minmax(x, b)
    if x.ndim == 2:
        return r @ w
    r = np.ascontiguousarray(r.transpose(1, 0, 2))
    out = np.empty(r.shape[:2])
    for k in range(len(r)):
        out[k] = r[k] @ w[k]
    return out


def topsis(matrix, weights, benefit=None, details: bool = False):
    """TOPSIS closeness to the ideal solution (Hwang & Yoon 1981), in [0, 1].

    Steps: vector-normalise each column (:func:`vector_normalize`), multiply by the
    weights (rescaled to sum to 1), take the ideal A⁺ (best value of each column: the
    maximum for benefit, the minimum for cost criteria) and the anti-ideal A⁻, the
    Euclidean distances S⁺ and S⁻ of each alternative to them, and C = S⁻ / (S⁺ + S⁻).
    If an alternative equals both (every alternative identical) C is 0.5.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
    weights : array_like, shape (n,)
    benefit : array_like of bool, shape (n,), optional
        ``True`` where larger is better (default: every column).
    details : bool
        Also return a dict with the normalised and weighted matrices, A⁺, A⁻, S⁺, S⁻.

    Examples
    --------
    Hwang & Yoon's (1981, p. 133) fighter-aircraft example (attribute 4, cost, is the
    only cost criterion); their closeness values are 0.643, 0.268, 0.613, 0.312:

    >>> X = [[2.0, 1500, 20000, 5.5, 5, 9], [2.5, 2700, 18000, 6.5, 3, 5],
    ...      [1.8, 2000, 21000, 4.5, 7, 7], [2.2, 1800, 20000, 5.0, 5, 5]]
    >>> c = topsis(X, [0.2, 0.1, 0.1, 0.1, 0.2, 0.3], [1, 1, 1, 0, 1, 1])
    >>> np.round(c, 3).tolist(), ranks(c).tolist()
    ([0.643, 0.268, 0.614, 0.312], [1, 4, 2, 3])
    """
    x = _matrix(matrix)
    c, parts = _topsis(x, _weights(weights, x.shape[1]), _benefit(benefit, x.shape[1]))
    if details:
        return c, parts
    return c


def _topsis(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    """:func:`topsis` of a checked matrix (weights ``w`` summing to 1), or of a stack
    (alternatives, matrices, criteria) with a row of ``w`` per matrix, by the same
    arithmetic (the alternatives stay on axis 0); a stack's closeness is (matrices,
    alternatives)."""
    r = _vector(x)
    v = r * w
    best = np.where(b, v.max(axis=0), v.min(axis=0))
    worst = np.where(b, v.min(axis=0), v.max(axis=0))
    s_plus = np.sqrt(((v - best) ** 2).sum(axis=-1))
    s_minus = np.sqrt(((v - worst) ** 2).sum(axis=-1))
    denom = s_plus + s_minus
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(denom > 0, s_minus / denom, 0.5)
    if x.ndim == 3:
        c = c.T
    return c, {"normalized": r, "weighted": v, "ideal": best, "anti_ideal": worst,
               "s_plus": s_plus, "s_minus": s_minus}


METHODS = {"weighted_sum": weighted_sum, "topsis": topsis}
_STACKED = {"weighted_sum": _weighted_sum, "topsis": lambda x, w, b: _topsis(x, w, b)[0]}


def score(matrix, weights, benefit=None, method: str = "topsis") -> np.ndarray:
    """Scores by ``method`` (``"weighted_sum"`` or ``"topsis"``).

    >>> score([[1, 2], [2, 1]], [1, 0], method="weighted_sum").tolist()
    [0.0, 1.0]
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    return METHODS[method](matrix, weights, benefit)


def stacked_scores(matrices, weights, benefit=None, method: str = "topsis") -> np.ndarray:
    """:func:`score` of many matrices at once: ``matrices`` (k, m, n), one row of
    ``weights`` (k, n) per matrix; row i of the result equals
    ``score(matrices[i], weights[i], benefit, method)`` exactly (the same arithmetic,
    vectorised over the stack: :mod:`healthmap.ranking_stability` scores its reruns so).

    >>> x = [[[1, 2], [2, 1]], [[1, 2], [2, 1]]]
    >>> stacked_scores(x, [[1, 0], [0, 1]], method="weighted_sum").tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    x = _matrix(matrices, stacked=True)
    w = _weights(weights, x.shape[2], stacked=True)
    if len(w) != len(x):
        raise ValueError(f"{len(w)} weight rows for {len(x)} matrices")
    # alternatives first: the column sums, minima and maxima then run over whole slabs
    # in the order one matrix's do (bit for bit the same scores), and fast
    x = np.ascontiguousarray(x.transpose(1, 0, 2))
    return _STACKED[method](x, w, _benefit(benefit, x.shape[2]))


def ranks(scores) -> np.ndarray:
    """Ranks, 1 = highest score; ties share the best rank ("competition" ranking); a 2-D
    array is ranked row by row.

    >>> ranks([0.2, 0.9, 0.2, 0.5]).tolist()
    [3, 1, 3, 2]
    >>> ranks([[0.2, 0.9], [0.5, 0.5]]).tolist()
    [[2, 1], [1, 1]]
    """
    return rankdata(-np.asarray(scores, dtype="float64"), method="min", axis=-1).astype(int)


def rollup_specialties(groups: pd.DataFrame, score_col: str = "score",
                       persons: pd.Series | None = None, drivers: int = 3) -> pd.DataFrame:
    """Roll disease-group scores up to clinical specialties (one specialty per group).

    A specialty's score is the best score among its disease groups (a specialty is a
    priority when one of its diseases is; averaging would let a specialty with many minor
    groups sink its one major group). The driving groups are its groups in score order.
    New cases are *not* summed across groups: a person with two diseases of one specialty
    would count twice. ``persons`` gives each specialty's distinct persons (computed from
    person-level data, see :func:`healthmap.ranking_data.specialty_persons`); without it
    the column is left empty rather than filled with a sum that overcounts.

    Parameters
    ----------
    groups : DataFrame
        One row per disease group with ``group_code``, ``specialty_code`` and ``score_col``;
        optional ``name`` (shown in the drivers), ``specialty_name``.
    persons : Series, optional
        Distinct persons per ``specialty_code``.
    drivers : int
        How many driving groups to name.

    Returns
    -------
    DataFrame
        One row per specialty, best first: ``specialty_code``, [``specialty_name``],
        ``score``, ``rank``, ``n_groups``, ``top_group``, ``drivers`` (names with scores),
        ``persons``.

    Examples
    --------
    >>> g = pd.DataFrame({"group_code": ["CRC", "GC", "HT"], "name": ["CRC", "GC", "HT"],
    ...                   "specialty_code": ["GI", "GI", "CARD"], "score": [0.8, 0.5, 0.6]})
    >>> out = rollup_specialties(g, persons=pd.Series({"GI": 150, "CARD": 90}))
    >>> out[["specialty_code", "score", "rank", "n_groups", "drivers", "persons"]].values.tolist()
    [['GI', 0.8, 1, 2, 'CRC 0.80; GC 0.50', 150], ['CARD', 0.6, 2, 1, 'HT 0.60', 90]]
    """
    names = groups["name"] if "name" in groups.columns else groups["group_code"]
    named = "specialty_name" in groups.columns
    g = pd.DataFrame({"group_code": groups["group_code"], "spec": groups["specialty_code"],
                      "score": groups[score_col], "name": names.astype(str),
                      "specialty_name": groups["specialty_name"] if named else None}
                     ).sort_values("score", ascending=False, kind="stable")
    at = g.groupby("spec", sort=False).indices  # positions in g, in g's order
    code, score, name, spec_name = (g[c].to_numpy() for c in ("group_code", "score", "name",
                                                                "specialty_name"))
    rows = []
    for spec in pd.unique(g["spec"]):
        if spec not in at:  # a group without a specialty
            continue
        i = at[spec]
        row = {"specialty_code": spec}
        if named:
            row["specialty_name"] = spec_name[i[0]]
        row.update(score=float(score[i[0]]), n_groups=len(i), top_group=code[i[0]],
                   drivers="; ".join(f"{n} {s:.2f}" for n, s in zip(name[i[:drivers]],
                                                                     score[i[:drivers]])))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["rank"] = ranks(out["score"])
    out = with_persons(out, persons)
    out = out.sort_values(["rank", "specialty_code"], kind="stable").reset_index(drop=True)
    cols = ["specialty_code"] + (["specialty_name"] if "specialty_name" in out.columns else [])
    return out[cols + ["score", "rank", "n_groups", "top_group", "drivers", "persons"]]


def with_persons(specialties: pd.DataFrame, persons: pd.Series | None) -> pd.DataFrame:
    """``specialties`` (:func:`rollup_specialties`) with its ``persons`` column from
    ``persons`` (distinct persons per ``specialty_code``; ``None``: left empty): the
    ranking page shows the roll-up first and its persons when they are counted.

    >>> s = pd.DataFrame({"specialty_code": ["GI", "CARD", "ENT"]})
    >>> with_persons(s, pd.Series({"GI": 150, "CARD": 90}))["persons"].tolist()
    [150, 90, <NA>]
    >>> with_persons(s, None)["persons"].isna().tolist()
    [True, True, True]
    """
    out = specialties.copy()
    out["persons"] = (out["specialty_code"].map(persons).astype("Int64") if persons is not None
                      else pd.Series(pd.NA, index=out.index, dtype="Int64"))
    return out
