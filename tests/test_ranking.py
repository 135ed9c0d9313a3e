"""Ranking methods against published worked examples and hand-computed small cases."""

import math

import numpy as np
import pandas as pd
import pytest

from healthmap import ranking
from healthmap.ranking import (entropy_weights, minmax_normalize, ranks, rollup_specialties,
                               topsis, vector_normalize, weighted_sum)
from healthmap.ranking_stability import (compare_methods, perturbed_weights, poisson_noise,
                                         rank_stability, spearman, tiers)

# Hwang, C.-L. & Yoon, K. (1981). Multiple Attribute Decision Making: Methods and
# Applications. Lecture Notes in Economics and Mathematical Systems 186, Springer, p. 133:
# the fighter-aircraft example. Attributes: maximum speed, ferry range, maximum payload,
# acquisition cost (the only cost attribute), reliability, manoeuvrability.
AIRCRAFT = [[2.0, 1500, 20000, 5.5, 5, 9],
            [2.5, 2700, 18000, 6.5, 3, 5],
            [1.8, 2000, 21000, 4.5, 7, 7],
            [2.2, 1800, 20000, 5.0, 5, 5]]
AIRCRAFT_W = [0.2, 0.1, 0.1, 0.1, 0.2, 0.3]
AIRCRAFT_BENEFIT = [True, True, True, False, True, True]


def test_topsis_reproduces_hwang_yoon_fighter_aircraft():
    c, d = topsis(AIRCRAFT, AIRCRAFT_W, AIRCRAFT_BENEFIT, details=True)
    # The book's printed values, computed from intermediate results rounded to 4 digits
    # (its C3 = 0.0920 / (0.0580 + 0.0920) = 0.613; unrounded it is 0.6135).
    book_c = [0.643, 0.268, 0.613, 0.312]
    assert np.allclose(c, book_c, atol=6e-4)
    assert ranks(c).tolist() == [1, 4, 2, 3]
    assert np.allclose(d["ideal"], [0.1168, 0.0659, 0.0531, 0.0415, 0.1347, 0.2012], atol=1e-4)
    assert np.allclose(d["anti_ideal"], [0.0841, 0.0366, 0.0455, 0.0599, 0.0577, 0.1118],
                       atol=1e-4)
    assert np.allclose(d["s_plus"], [0.0545, 0.1197, 0.0580, 0.1009], atol=1.1e-4)
    assert np.allclose(d["s_minus"], [0.0983, 0.0439, 0.0920, 0.0458], atol=1.1e-4)
    assert ((c >= 0) & (c <= 1)).all()


def test_entropy_weights_reproduce_xu_2004():
    # Xu, X. (2004). A note on the subjective and objective integrated approach to
    # determine attribute weights. European Journal of Operational Research 156(2),
    # 530-532: entropy weights 0.4630, 0.3992, 0.1378, 0.0000.
    x = [[30, 30, 38, 29], [19, 54, 86, 29], [19, 15, 85, 28.9], [68, 70, 60, 29]]
    w = entropy_weights(x)
    assert np.round(w, 4).tolist() == [0.4630, 0.3992, 0.1378, 0.0000]
    assert math.isclose(w.sum(), 1.0)


def test_entropy_weights_by_hand_with_a_zero_cell():
    # column 1: p = (1, 0) -> e = -(1 ln 1 + 0 ln 0)/ln 2 = 0, d = 1
    # column 2: p = (0.5, 0.5) -> e = 1, d = 0
    assert entropy_weights([[4, 7], [0, 7]]).tolist() == [1.0, 0.0]
    # three alternatives, p = (0.5, 0.25, 0.25): e = 1.5 ln 2 / ln 3
    e = 1.5 * math.log(2) / math.log(3)
    w = entropy_weights([[2, 1], [1, 1], [1, 1]])
    assert w.tolist() == pytest.approx([1.0, 0.0])
    w = entropy_weights([[2, 2], [1, 1], [1, 2]])
    e2 = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2)) / math.log(3)
    d = np.array([1 - e, 1 - e2])
    assert w == pytest.approx(d / d.sum())


def test_entropy_weights_edge_cases():
    assert entropy_weights([[1, 1], [1, 1]]).tolist() == [0.5, 0.5]  # nothing varies
    assert entropy_weights([[0, 3], [0, 1]]).tolist() == [0.0, 1.0]  # an all-zero column
    with pytest.raises(ValueError, match="non-negative"):
        entropy_weights([[1, -1], [2, 3]])
    with pytest.raises(ValueError, match="two alternatives"):
        entropy_weights([[1, 2]])
    with pytest.raises(ValueError, match="missing"):
        entropy_weights([[1, np.nan], [2, 3]])


def test_normalisations_by_hand():
    r = minmax_normalize([[10, 5], [20, 5], [15, 5]], [True, False])
    assert r.tolist() == [[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]
    r = minmax_normalize([[10], [20], [15]], [False])
    assert r.ravel().tolist() == [1.0, 0.0, 0.5]
    v = vector_normalize([[1, 0], [2, 0], [2, 0]])
    assert v[:, 0].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert (v[:, 1] == 0).all()


def test_weighted_sum_by_hand():
    # min-max: col 1 -> (0, 1, 0.5); col 2 (cost) -> (1, 0, 0.5)
    s = weighted_sum([[1, 10], [3, 30], [2, 20]], [3, 1], [True, False])
    assert s.tolist() == pytest.approx([0.25, 0.75, 0.5])  # weights rescaled to 0.75 / 0.25
    with pytest.raises(ValueError, match="weights"):
        weighted_sum([[1, 2]], [1], [True, True])


def test_weighted_sum_by_hand_on_the_fighter_aircraft_matrix():
    # Min-max normalised by hand (decisions §7), column by column (best 1, worst 0):
    # speed (2.0, 2.5, 1.8, 2.2): (2/7, 1, 0, 4/7); range (1500, 2700, 2000, 1800):
    # (0, 1, 5/12, 1/4); payload (20000, 18000, 21000, 20000): (2/3, 0, 1, 2/3); cost
    # (5.5, 6.5, 4.5, 5.0), lower is better: (1/2, 0, 1, 3/4); reliability (5, 3, 7, 5):
    # (1/2, 0, 1, 1/2); manoeuvrability (9, 5, 7, 5): (1, 0, 1/2, 0). With Hwang & Yoon's
    # weights (0.2, 0.1, 0.1, 0.1, 0.2, 0.3):
    a1 = 0.2 * 2 / 7 + 0.1 * 2 / 3 + 0.1 / 2 + 0.2 / 2 + 0.3  # 13/105 + 0.45
    a2 = 0.2 + 0.1
    a3 = 0.1 * 5 / 12 + 0.1 + 0.1 + 0.2 + 0.3 / 2  # 1/24 + 0.55
    a4 = 0.2 * 4 / 7 + 0.1 / 4 + 0.1 * 2 / 3 + 0.1 * 3 / 4 + 0.2 / 2  # 4/35 + 1/15 + 0.2
    s = weighted_sum(AIRCRAFT, AIRCRAFT_W, AIRCRAFT_BENEFIT)
    assert s.tolist() == pytest.approx([a1, a2, a3, a4])
    assert np.round(s, 4).tolist() == [0.5738, 0.3, 0.5917, 0.381]
    # the weighted sum puts aircraft 3 first where TOPSIS (the book) puts aircraft 1 first:
    # the page shows both rankings side by side for this reason
    assert ranks(s).tolist() == [2, 4, 1, 3]


def test_topsis_by_hand_two_alternatives():
    # Vector-normalised: (3/5, 4/5) and (4/5, 3/5); weights 0.5: ideal (0.4, 0.4),
    # anti-ideal (0.3, 0.3); both alternatives are 0.1 from each -> C = 0.5 and 0.5.
    assert topsis([[3, 4], [4, 3]], [1, 1]).tolist() == pytest.approx([0.5, 0.5])
    # dominance: the better alternative on every criterion is the ideal (C = 1)
    c = topsis([[1, 1], [2, 3]], [0.5, 0.5])
    assert c.tolist() == pytest.approx([0.0, 1.0])
    assert topsis([[1, 1], [1, 1]], [1, 1]).tolist() == [0.5, 0.5]  # no difference


def test_methods_agree_on_dominance_and_can_disagree_otherwise():
    x = np.array([[100, 10.0, 9000], [80, 30.0, 12000], [20, 5.0, 4000], [60, 50.0, 5000]])
    cmp = compare_methods(x, [1 / 3] * 3)
    assert cmp["rank_weighted_sum"].iloc[2] == cmp["rank_topsis"].iloc[2] == 4
    assert (cmp["rank_difference"] == cmp["rank_topsis"] - cmp["rank_weighted_sum"]).all()
    assert spearman(cmp["rank_weighted_sum"], cmp["rank_topsis"]) <= 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


def test_ranks_ties_share_the_best_rank():
    assert ranks([0.5, 0.7, 0.5, 0.1]).tolist() == [2, 1, 2, 4]


def test_stability_is_deterministic_with_a_seed_and_honest():
    rng = np.random.default_rng(5)
    counts = rng.integers(5, 400, size=(12, 3)).astype(float)
    x = counts * [1.0, 0.1, 50.0]
    a = rank_stability(x, [0.4, 0.3, 0.3], counts=counts, top_n=3, runs=300, seed=7)
    b = rank_stability(x, [0.4, 0.3, 0.3], counts=counts, top_n=3, runs=300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = rank_stability(x, [0.4, 0.3, 0.3], counts=counts, top_n=3, runs=300, seed=8)
    assert not a["top_share"].equals(c["top_share"])
    assert ((a["rank_low"] <= a["rank_median"]) & (a["rank_median"] <= a["rank_high"])).all()
    assert a["top_share"].between(0, 1).all() and (a["top_share"] <= a["top2_share"]).all()
    # the shares of a top 3 over 12 groups add up to 3 per run (ties aside)
    assert a["top_share"].sum() == pytest.approx(3.0, abs=0.05)
    assert a["rank"].tolist() == ranks(a["score"]).tolist()


def test_stability_separates_a_clear_leader_from_noise():
    # one group far ahead on everything; two near-identical groups behind; big counts
    x = np.array([[1000, 80.0], [500, 40.0], [498, 40.2], [10, 1.0]])
    res = rank_stability(x, [0.5, 0.5], counts=x, method="weighted_sum", top_n=1, runs=400,
                         seed=3)
    assert res["top_share"].iloc[0] == 1.0 and res["tier"].iloc[0] == "high"
    assert res["tier"].iloc[3] == "low" and res["rank_low"].iloc[3] == 4
    # the two near-identical groups swap places in some runs: their intervals overlap
    assert res["rank_low"].iloc[1] <= res["rank_high"].iloc[2]
    assert res["rank_low"].iloc[2] <= res["rank_high"].iloc[1]
    # without noise (no counts, no jitter) every interval is the rank itself
    fixed = rank_stability(x, [0.5, 0.5], method="weighted_sum", top_n=1, runs=20, jitter=0.0)
    assert (fixed["rank_low"] == fixed["rank"]).all() and (fixed["rank_high"] == fixed["rank"]).all()


def test_perturbation_helpers():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = perturbed_weights([0.5, 0.3, 0.2], 0.2, rng)
        assert w.sum() == pytest.approx(1.0)
        ratio = w / np.array([0.5, 0.3, 0.2])
        assert ratio.max() / ratio.min() <= 1.2 / 0.8 + 1e-12
    noisy = poisson_noise(np.full((1, 2000), 3.0), np.full((1, 2000), 100.0), rng)
    assert noisy.mean() == pytest.approx(3.0, rel=0.02)
    assert noisy.std() == pytest.approx(0.3, rel=0.1)  # 3 × 1/√100
    assert tiers([0.5, 0.49], [0.5, 0.5]).tolist() == ["high", "middle"]
    with pytest.raises(ValueError):
        perturbed_weights([1, 1], 1.5, rng)


def test_rollup_counts_persons_once_and_names_drivers():
    g = pd.DataFrame({"group_code": ["CRC", "GC", "LIVER", "HT", "STROKE"],
                      "name": ["结直肠癌", "胃癌", "肝癌", "高血压", "脑卒中"],
                      "specialty_code": ["GI", "GI", "GI", "CARD", "NEURO"],
                      "specialty_name": ["胃肠外科"] * 3 + ["心内科", "神经内科"],
                      "score": [0.5, 0.9, 0.2, 0.7, 0.7],
                      "new_cases": [100, 60, 30, 200, 50]})
    persons = pd.Series({"GI": 170, "CARD": 200, "NEURO": 50})  # 20 persons in two GI groups
    out = rollup_specialties(g, persons=persons, drivers=2)
    assert out["specialty_code"].tolist() == ["GI", "CARD", "NEURO"]
    assert out["rank"].tolist() == [1, 2, 2]
    gi = out.iloc[0]
    assert gi["top_group"] == "GC" and gi["drivers"] == "胃癌 0.90; 结直肠癌 0.50"
    assert gi["persons"] == 170 and gi["persons"] < g.loc[g.specialty_code == "GI", "new_cases"].sum()
    assert gi["n_groups"] == 3 and gi["specialty_name"] == "胃肠外科"
    assert rollup_specialties(g)["persons"].isna().all()  # never a sum that overcounts


def test_score_refuses_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        ranking.score([[1], [2]], [1], method="vikor")


# the specialties' new cases on hand-made episodes (healthmap.ranking_data.
# specialty_new_cases), answered from the episodes and from the per-person roll-up
SPECIALTY_OF = {"C_STOMACH": "GI", "C_COLORECTAL": "GI", "HYPERTENSION": "CARD"}
SPECIALTY_EPISODES = [
    ("a", "P1", "A", "C16", "2024-02-01", "inpatient"),  # P1: two GI groups in 2024
    ("b", "P1", "A", "C18", "2024-03-01", "inpatient"),
    ("c", "P2", "A", "C18", "2023-09-01", "inpatient"),  # P2: GI within a year before
    ("d", "P2", "A", "C18", "2024-05-01", "inpatient"),
    ("e", "P3", "A", "C16", "2024-06-01", "outpatient"),  # P3: outpatient only
    ("f", "P4", "A", "I10", "2024-01-05", "outpatient"),
    ("g", "P5", "A", "C20", "2022-03-01", "inpatient"),  # P5: more than a year before
    ("h", "P5", "A", "C19", "2024-04-01", "inpatient"),
    ("i", "P6", "A", "C16", "2023-08-01", "inpatient"),  # P6: stomach, then colorectal
    ("j", "P6", "A", "C18", "2024-02-01", "inpatient"),
]


@pytest.mark.parametrize("rollup", [False, True], ids=["live", "rollup"])
def test_specialty_new_cases_count_a_person_once_per_specialty(rollup, monkeypatch):
    import test_persons

    from healthmap import ranking_data

    monkeypatch.setitem(test_persons.PATH, "rollup", rollup)
    con = test_persons.con_with(SPECIALTY_EPISODES)
    count = ranking_data.specialty_new_cases
    # 2024, look-back 1 year: P1 once (not twice for two groups), P3, P5 (2022 is more
    # than a year before 2024-04-01); not P2 (2023-09-01 lies in the year before
    # 2024-05-01) nor P6 (a GI stay on 2023-08-01, though new for the colorectal group)
    assert count(con, SPECIALTY_OF, (2024,), 1).to_dict() == {"CARD": 1, "GI": 3}
    # the sum of the GI groups' new cases would be 5: stomach P1, P3; colorectal P1, P5, P6
    groups = test_persons.count(con, ("C16", "C18", "C19", "C20"), lookback=1,
                                by=("group_code",), setting=None)
    assert groups == {("C_COLORECTAL",): 3, ("C_STOMACH",): 2}
    # diagnosed persons (no look-back): P1, P2, P3, P5, P6
    assert count(con, SPECIALTY_OF, (2024,), 0).to_dict() == {"CARD": 1, "GI": 5}
    # two years: each person once over the period, from their first GI stay in it
    # (P2 on 2023-09-01 and P6 on 2023-08-01 have nothing in the year before)
    assert count(con, SPECIALTY_OF, (2023, 2024), 1).to_dict() == {"CARD": 1, "GI": 5}
    assert count(con, SPECIALTY_OF, (2019,), 1).empty
    assert count(con, SPECIALTY_OF, (), 1).empty
