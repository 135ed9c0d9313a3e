"""The stability reruns scored all at once give the answers of the one-run-at-a-time code.

``tests/data/ranking_stability_before.json`` holds what the loop implementation of
:func:`healthmap.ranking_stability.rank_stability` (before the reruns were vectorised)
returned on fixed inputs: random matrices with ties, an all-zero column, zero and small
counts, a cost criterion, both methods, and the demo data's 2024 inpatient decision
matrices (3 and 4 criteria); the scores as exact hex floats, the per-run ranks as a
SHA-256 of the (runs × groups) int64 matrix. Written by the old code, never regenerated.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from healthmap.ranking import _benefit, _matrix, _weights, score, stacked_scores
from healthmap.ranking_stability import rank_stability, run_ranks

CASES = json.loads((Path(__file__).parent / "data" / "ranking_stability_before.json")
                   .read_text())


def _inputs(case):
    k = dict(case["inputs"])
    k["matrix"] = np.array(k["matrix"])
    k["counts"] = None if k["counts"] is None else np.array(k["counts"])
    return k


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rank_stability_equals_the_loop_implementation(case):
    k = _inputs(case)
    res = rank_stability(**k)
    assert [float(v).hex() for v in res["score"]] == case["score_hex"]
    for col in ("rank", "rank_low", "rank_median", "rank_high", "top_share", "top2_share",
                "tier"):
        assert res[col].tolist() == case[col], col
    x = _matrix(k["matrix"])
    runs = run_ranks(x, _weights(k["weights"], x.shape[1]), _benefit(k["benefit"], x.shape[1]),
                     k["counts"], k["method"], k["runs"], k["jitter"], k["seed"])
    assert runs.shape == (k["runs"], len(x))
    assert hashlib.sha256(runs.astype("<i8").tobytes()).hexdigest() == case["run_ranks_sha256"]


def test_two_groups_one_criterion_by_hand():
    # one criterion: the weight noise cannot change the order, only the Poisson draws do.
    # Group A (10 cases) is ranked first in a run iff its draw is at least B's (9 cases;
    # a tie shares rank 1); the draws replayed here in the order of the reruns: per run
    # the counts, then one weight factor
    x = [[10.0], [9.0]]
    res = rank_stability(x, [1.0], counts=x, method="weighted_sum", top_n=1, runs=6, seed=4)
    rng = np.random.default_rng(4)
    first_a, first_b = 0, 0
    for _ in range(6):
        a, b = rng.poisson([[10.0], [9.0]]).ravel()
        rng.uniform(0.8, 1.2, size=1)
        first_a += a >= b
        first_b += b >= a
    assert res["top_share"].tolist() == [first_a / 6, first_b / 6]
    assert res["rank"].tolist() == [1, 2]
    # without counts and jitter every rerun is the ranking itself
    fixed = rank_stability(x, [1.0], method="topsis", top_n=1, runs=3, jitter=0.0)
    assert fixed["top_share"].tolist() == [1.0, 0.0]
    assert fixed[["rank_low", "rank_high"]].values.tolist() == [[1, 1], [2, 2]]


@pytest.mark.parametrize("method", ["topsis", "weighted_sum"])
def test_stacked_scores_are_the_scores_of_each_matrix_bit_for_bit(method):
    rng = np.random.default_rng(9)
    xs = rng.uniform(0, 100, size=(40, 25, 4))
    xs[:, 3] = xs[:, 7]  # tied alternatives
    xs[5, :, 2] = 1.0  # a constant column in one matrix
    ws = rng.uniform(0.1, 1.0, size=(40, 4))
    b = [True, False, True, True]
    got = stacked_scores(xs, ws, b, method)
    want = np.stack([score(xs[i], ws[i], b, method) for i in range(len(xs))])
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="weight rows"):
        stacked_scores(xs, ws[:3], b, method)
    with pytest.raises(ValueError, match="three-dimensional"):
        stacked_scores(xs[0], ws, b, method)
