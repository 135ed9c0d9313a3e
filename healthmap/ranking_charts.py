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
    label = name + g["unstable"].map({True: " ⚠", False: ""})
    fig = go.Figure()
    for tier in ("high", "middle", "low"):
        sub = g[g["tier"] == tier]
        if sub.empty:
            continue
        lab = label[sub.index]
        fig.add_trace(go.Scatter(
            x=sub["rank"], y=lab, mode="markers", name=t(f"ranking.tier.{tier}"),
            marker=dict(color=TIER_COLOURS[tier], size=9),
            error_x=dict(type="data", symmetric=False, array=sub["rank_high"] - sub["rank"],
                         arrayminus=sub["rank"] - sub["rank_low"], thickness=3, width=0,
                         color=TIER_COLOURS[tier]),
            customdata=sub[["rank_low", "rank_high", "top_share"]].to_numpy(),
            hovertemplate=(f"%{{y}}<br>{t('ranking.col.rank')} %{{x}}<br>"
                           f"{t('ranking.col.rank_low')}–{t('ranking.col.rank_high')}: "
                           "%{customdata[0]}–%{customdata[1]}<br>"
                           f"{t('ranking.col.top_share')}: %{{customdata[2]:.0%}}"
                           "<extra></extra>")))
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(label),
                     title=None)
    fig.update_xaxes(title=t("ranking.col.rank"), rangemode="tozero")
    fig.update_layout(height=max(320, 22 * len(g) + 120), margin=dict(l=10, r=10, t=50, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0,
                                  title=t("ranking.col.tier")))
    return fig


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
    fig = go.Figure(go.Scatter(
        x=groups["rank"], y=groups["rank_other"], mode="markers", text=name,
        marker=dict(color=groups["tier"].map(TIER_COLOURS), size=8),
        hovertemplate="%{text}: %{x} / %{y}<extra></extra>"))
    top = max(int(groups["rank"].max()), int(groups["rank_other"].max()), 1)
    fig.add_shape(type="line", x0=1, y0=1, x1=top, y1=top, line=dict(color="#bbb", dash="dot"))
    fig.update_xaxes(title=t(f"ranking.col.rank_{method}"))
    fig.update_yaxes(title=t(f"ranking.col.rank_{other}"))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=20, b=40), showlegend=False)
    return fig
