"""The ranking page's two figures, built in one plotly call each, on hand-made groups."""

import pandas as pd

from healthmap.ranking_charts import TIER_COLOURS, compare_figure, stability_figure

GROUPS = pd.DataFrame({
    "name_zh": ["甲", "乙", "丙", "丁"], "name_en": ["A", "B", "C", "D"],
    "rank": [2, 1, 4, 3], "rank_other": [1, 2, 3, 4], "rank_low": [1, 1, 3, 2],
    "rank_high": [3, 2, 4, 4], "top_share": [0.6, 0.9, 0.0, 0.1],
    "tier": ["high", "high", "low", "middle"], "unstable": [False, False, True, False]})


def test_stability_figure_one_trace_per_tier_in_rank_order():
    fig = stability_figure(GROUPS, "zh")
    assert [tr.name for tr in fig.data] == ["高", "中", "低"]
    high, middle, low = fig.data
    assert list(high.y) == ["乙", "甲"] and list(high.x) == [1, 2]
    # intervals: B 1-2 (rank 1: 0 below, 1 above), A 1-3 (rank 2: 1 below, 1 above)
    assert list(high.error_x.arrayminus) == [0, 1] and list(high.error_x.array) == [1, 1]
    assert list(middle.y) == ["丁"] and list(low.y) == ["丙 ⚠"]
    assert high.marker.color == TIER_COLOURS["high"]
    assert list(fig.layout.yaxis.categoryarray) == ["乙", "甲", "丁", "丙 ⚠"]
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.height == 320
    assert [list(r) for r in high.customdata] == [[1, 2, 0.9], [1, 3, 0.6]]


def test_compare_figure_ranks_against_the_other_method():
    fig = compare_figure(GROUPS, "weighted_sum", "zh")
    (dots,) = fig.data
    assert list(dots.x) == [2, 1, 4, 3] and list(dots.y) == [1, 2, 3, 4]
    assert list(dots.text) == ["甲", "乙", "丙", "丁"]
    assert list(dots.marker.color) == [TIER_COLOURS[t] for t in GROUPS["tier"]]
    (line,) = fig.layout.shapes
    assert (line.x0, line.y0, line.x1, line.y1) == (1, 1, 4, 4)
    assert fig.layout.showlegend is False
