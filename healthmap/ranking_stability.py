"""How stable a ranking is: rerun it under random changes to the weights and the data.

A rank is an estimate. Two groups a few places apart usually cannot be told apart, so the
page shows, per disease group, the interval its rank falls in over many reruns, how often
it stays in the top N, and a priority *tier* (high / middle / low) instead of a bare
rank (domain.md §5).

Each run (fixed seed, so a rerun of the page shows the same answer):

* every weight is multiplied by an independent uniform factor in [1 − j, 1 + j]
  (j = 0.2 by default, "±20 %"), then the weights are rescaled to sum to 1;
* every value that rests on a count n > 0 is multiplied by Poisson(n) / n (the relative
  sampling noise of a count: about 1/√n). For a rate the count is its numerator (new cases,
  outward episodes); for a cost per case it is the episodes, which treats the costs'
  coefficient of variation as 1, an assumption stated on the page;
* the ranking is recomputed with the same method.

Examples
--------
>>> X = [[100, 40.0], [90, 38.0], [10, 5.0]]
>>> res = rank_stability(X, [0.5, 0.5], [True, True], counts=[[100, 40], [90, 38], [10, 5]],
...                      method="weighted_sum", top_n=1, runs=200, seed=1)
>>> res["rank"].tolist(), res["tier"].tolist()
([1, 2, 3], ['high', 'middle', 'low'])
>>> float(res["top_share"].iloc[2])
0.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthmap.ranking import _benefit, _matrix, _weights, ranks, score, stacked_scores

TIERS = ("high", "middle", "low")
DEFAULT_SEED = 20240611


def perturbed_weights(weights, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """The weights each multiplied by a uniform factor in [1 − jitter, 1 + jitter], summing
    to 1.

    >>> w = perturbed_weights([0.5, 0.5], 0.2, np.random.default_rng(0))
    >>> round(float(w.sum()), 12), bool(0.4 <= w[0] <= 0.6)
    (1.0, True)
    """
    w = np.asarray(weights, dtype="float64")
    _check_jitter(jitter)
    return _rescaled(w, rng.uniform(1 - jitter, 1 + jitter, size=w.shape))


def _check_jitter(jitter: float) -> None:
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be in [0, 1)")


def _rescaled(w: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``w`` times the uniform ``factors`` (one row per run), each row summing to 1."""
    out = w * factors
    return out / out.sum(axis=-1, keepdims=True)


def _check_counts(x: np.ndarray, n: np.ndarray) -> None:
    if n.shape != x.shape:
        raise ValueError("counts must have the shape of the matrix")
    if (n < 0).any():
        raise ValueError("counts must not be negative")


def _noisy(x: np.ndarray, n: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``x`` scaled by the Poisson ``draws`` / their counts ``n`` (n = 0: unchanged); with
    a stack of draws (runs first), a stack of matrices."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return x * np.where(n > 0, draws / n, 1.0)


def poisson_noise(matrix, counts, rng: np.random.Generator) -> np.ndarray:
    """``matrix`` with each value scaled by Poisson(n) / n, n its count (n = 0: unchanged).

    >>> poisson_noise([[5.0]], [[0]], np.random.default_rng(0)).tolist()
    [[5.0]]
    """
    x = np.asarray(matrix, dtype="float64")
    n = np.asarray(counts, dtype="float64")
    _check_counts(x, n)
    return _noisy(x, n, rng.poisson(n))


def tiers(top_share, top2_share, high: float = 0.5) -> np.ndarray:
    """Priority tier per alternative: ``high`` when it is in the top N in at least
    ``high`` of the runs, ``middle`` when in the top 2N that often, else ``low``.

    >>> tiers([0.9, 0.3, 0.0], [1.0, 0.7, 0.1]).tolist()
    ['high', 'middle', 'low']
    """
    a = np.asarray(top_share, dtype="float64")
    b = np.asarray(top2_share, dtype="float64")
    return np.where(a >= high, "high", np.where(b >= high, "middle", "low"))


def rank_stability(matrix, weights, benefit=None, counts=None, method: str = "topsis",
                   top_n: int = 10, runs: int = 500, jitter: float = 0.2,
                   interval: float = 0.9, seed: int = DEFAULT_SEED,
                   high: float = 0.5) -> pd.DataFrame:
    """Rerun the ranking ``runs`` times under weight and count noise.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
        The decision matrix (rows = disease groups).
    weights : array_like, shape (n,)
    benefit : array_like of bool, optional
        ``True`` where larger is better (default: all).
    counts : array_like, shape (m, n), optional
        The count each value rests on (see the module text); ``None``: weights only.
    method : {"topsis", "weighted_sum"}
    top_n : int
        N of "stays in the top N" (clipped to the number of alternatives).
    runs, jitter, seed
        Number of reruns, relative weight perturbation (0.2 = ±20 %), random seed.
    interval : float
        Central share of runs the rank interval covers (0.9: 5th to 95th percentile).
    high : float
        Share of runs in the top N (top 2N) that makes a group ``high`` (``middle``).

    Returns
    -------
    DataFrame
        One row per alternative, in input order: ``score`` and ``rank`` (unperturbed),
        ``rank_low``, ``rank_median``, ``rank_high`` (best, median, worst rank of the
        interval), ``top_share`` (share of runs in the top N), ``top2_share``, ``tier``.
    """
    x = _matrix(matrix)
    m, n = x.shape
    w = _weights(weights, n)
    b = _benefit(benefit, n)
    c = None if counts is None else np.asarray(counts, dtype="float64")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    top_n = max(1, min(int(top_n), m))
    base = score(x, w, b, method)
    all_ranks = run_ranks(x, w, b, c, method, runs, jitter, seed)
    tail = (1 - interval) / 2 * 100
    lo, med, hi = np.percentile(all_ranks, [tail, 50, 100 - tail], axis=0,
                                method="inverted_cdf")
    top = (all_ranks <= top_n).mean(axis=0)
    top2 = (all_ranks <= min(2 * top_n, m)).mean(axis=0)
    return pd.DataFrame({"score": base, "rank": ranks(base), "rank_low": lo.astype(int),
                         "rank_median": med.astype(int), "rank_high": hi.astype(int),
                         "top_share": top, "top2_share": top2,
                         "tier": tiers(top, top2, high)})


def run_ranks(x: np.ndarray, w: np.ndarray, b: np.ndarray, counts: np.ndarray | None,
              method: str, runs: int, jitter: float, seed: int) -> np.ndarray:
    """The ranks of every rerun of :func:`rank_stability`, shape (runs, m), for a checked
    matrix ``x``, weights ``w`` summing to 1 and benefit flags ``b``.

    The random draws come in the order one rerun after another would take them (per run:
    the Poisson counts of :func:`poisson_noise`, then the weight factors of
    :func:`perturbed_weights`), so a seed gives the same reruns as scoring them one at a
    time; the scoring and ranking of all reruns then run at once
    (:func:`healthmap.ranking.stacked_scores`, the same arithmetic).

    >>> run_ranks(np.array([[2.0], [1.0]]), np.array([1.0]), np.array([True]), None,
    ...           "topsis", 3, 0.2, 0).tolist()
    [[1, 2], [1, 2], [1, 2]]
    """
    _check_jitter(jitter)
    m, n = x.shape
    if counts is not None:
        _check_counts(x, counts)
    rng = np.random.default_rng(seed)
    draws = np.empty((runs, m, n), dtype="int64") if counts is not None else None
    factors = np.empty((runs, n))
    for r in range(runs):
        if draws is not None:
            draws[r] = rng.poisson(counts)
        factors[r] = rng.uniform(1 - jitter, 1 + jitter, size=n)
    xs = np.broadcast_to(x, (runs, m, n)) if draws is None else _noisy(x, counts, draws)
    return ranks(stacked_scores(xs, _rescaled(w, factors), b, method))


def compare_methods(matrix, weights, benefit=None) -> pd.DataFrame:
    """Both methods' scores and ranks side by side, with the rank difference.

    The two methods can order the same groups differently (rows 0 and 3 swap):

    >>> x = [[100, 10.0, 9000], [80, 30.0, 12000], [20, 5.0, 4000], [60, 50.0, 5000]]
    >>> c = compare_methods(x, [1 / 3] * 3)
    >>> c["rank_weighted_sum"].tolist(), c["rank_topsis"].tolist()
    ([2, 1, 4, 3], [3, 1, 4, 2])
    """
    ws = score(matrix, weights, benefit, "weighted_sum")
    tp = score(matrix, weights, benefit, "topsis")
    out = pd.DataFrame({"weighted_sum": ws, "rank_weighted_sum": ranks(ws),
                        "topsis": tp, "rank_topsis": ranks(tp)})
    out["rank_difference"] = out["rank_topsis"] - out["rank_weighted_sum"]
    return out


def spearman(rank_a, rank_b) -> float:
    """Spearman's rank correlation of two rankings (Pearson correlation of the ranks).

    >>> spearman([1, 2, 3], [1, 2, 3]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    a = np.asarray(rank_a, dtype="float64")
    b = np.asarray(rank_b, dtype="float64")
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.round(np.corrcoef(a, b)[0, 1], 12))
