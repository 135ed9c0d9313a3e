"""Figures of the ranking page: rank intervals with priority tiers, and the two methods'
ranks against each other (plotly; no streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from healthmap import i18n
from healthmap.reference import disease_label

TIER_COLOURS = {"high": "#c0392b", "middle": "#e69f00", "low": "#7f8c8d"}


def stability_figure(groups: pd.DataFrame, lang: str = "zh", show: int = 30) -> go.Figure:
    """Rank interval (bar) and rank (dot) of the best ``show`` groups, coloured by tier.

    ``groups`` is :func:`healthmap.ranking_data.rank_groups`'s ``groups`` table.

    >>> g = pd.DataFrame({"name_zh": ["甲", "乙"], "name_en": ["A", "B"], "rank": [1, 2],
    ...                   "rank_low": [1, 1], "rank_high": [2, 3], "top_share": [0.9, 0.4],
    ...                   "tier": ["high", "middle"], "unstable": [False, True]})
    >>> len(stability_figure(g).data)
    2
    """
    t = lambda k, **kw: i18n.t(k, lang, **kw)  # noqa: E731
    g = groups.sort_values("rank", kind="stable").head(show)
    name = disease_label(g, lang).astype(str)
    label = (name + g["unstable"].map({True: " ⚠", False: ""})).to_numpy()
    rank, low, high = (g[c].to_numpy() for c in ("rank", "rank_low", "rank_high"))
    tier, custom = g["tier"].to_numpy(), g[["rank_low", "rank_high", "top_share"]].to_numpy()
    hover = (f"%{{y}}<br>{t('ranking.col.rank')} %{{x}}<br>"
             f"{t('ranking.col.rank_low')}–{t('ranking.col.rank_high')}: "
             "%{customdata[0]}–%{customdata[1]}<br>"
             f"{t('ranking.col.top_share')}: %{{customdata[2]:.0%}}<extra></extra>")
    data = []  # one trace per tier; the figure is built in one call (plotly validates
    for tier_ in ("high", "middle", "low"):  # each later update again: 2-3× slower)
        m = tier == tier_
        if not m.any():
            continue
        data.append(go.Scatter(
            x=rank[m], y=label[m], mode="markers", name=t(f"ranking.tier.{tier_}"),
            marker=dict(color=TIER_COLOURS[tier_], size=9),
            error_x=dict(type="data", symmetric=False, array=high[m] - rank[m],
                         arrayminus=rank[m] - low[m], thickness=3, width=0,
                         color=TIER_COLOURS[tier_]),
            customdata=custom[m], hovertemplate=hover))
    return go.Figure(data=data, layout=dict(
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=list(label)),
        xaxis=dict(title=t("ranking.col.rank"), rangemode="tozero"),
        height=max(320, 22 * len(g) + 120), margin=dict(l=10, r=10, t=50, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0,
                    title=t("ranking.col.tier"))))


def compare_figure(groups: pd.DataFrame, method: str, lang: str = "zh") -> go.Figure:
    """Each group's rank by the chosen method against its rank by the other method.

    >>> g = pd.DataFrame({"name_zh": ["甲", "乙"], "name_en": ["A", "B"], "rank": [1, 2],
    ...                   "rank_other": [2, 1], "tier": ["high", "low"]})
    >>> compare_figure(g, "topsis").layout.xaxis.title.text
    'TOPSIS 排名'
    """
    t = lambda k, **kw: i18n.t(k, lang, **kw)  # noqa: E731
    other = "weighted_sum" if method == "topsis" else "topsis"
    name = disease_label(groups, lang).astype(str)
    top = max(int(groups["rank"].max()), int(groups["rank_other"].max()), 1)
    return go.Figure(go.Scatter(
        x=groups["rank"].to_numpy(), y=groups["rank_other"].to_numpy(), mode="markers",
        text=name.to_numpy(), marker=dict(color=groups["tier"].map(TIER_COLOURS).to_numpy(),
                                          size=8),
        hovertemplate="%{text}: %{x} / %{y}<extra></extra>"), layout=dict(
        shapes=[dict(type="line", x0=1, y0=1, x1=top, y1=top,
                     line=dict(color="#bbb", dash="dot"))],
        xaxis=dict(title=t(f"ranking.col.rank_{method}")),
        yaxis=dict(title=t(f"ranking.col.rank_{other}")),
        height=360, margin=dict(l=10, r=10, t=20, b=40), showlegend=False))
