"""The board's township views: townships compared against the county value (funnel
limits, or the 95 % interval where a measure has no funnel model) instead of by raw
rank, and a small-multiples map of the key indicators. Built on
:func:`healthmap.indicators.compute` and :mod:`healthmap.mapview`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import Engine

from healthmap import i18n, indicators, mapview, queries
from healthmap.measures import get as get_measure
from healthmap.queries import Filters

#: the key indicators of the small-multiples map: (measure, setting, disease groups)
KEY_MAPS: tuple[tuple[str, str | None, str], ...] = (
    ("in_county_rate", "inpatient", ""),
    ("cost_per_case", "inpatient", ""),
    ("fund_outflow", "inpatient", ""),
    ("incidence", None, "screening"),
)


def compare_to_county(table: pd.DataFrame, county_value: float, kind: str | None,
                      scale: float) -> pd.Series:
    """Per township: ``above`` / ``below`` the county value or ``within``.

    With a funnel model (``kind`` ``proportion`` or ``rate``) a township is above or
    below when it lies outside the 95 % funnel limits around the county value
    (:func:`healthmap.mapview.funnel_outliers`); otherwise when its own 95 % interval
    excludes the county value. ``no_data`` without a value.

    >>> t = pd.DataFrame({"value": [100.0, 300.0, np.nan], "ci_low": [90.0, 250.0, np.nan],
    ...                   "ci_high": [120.0, 350.0, np.nan], "denominator": [10, 10, 0]})
    >>> compare_to_county(t, 110.0, None, 1).tolist()
    ['within', 'above', 'no_data']
    """
    if kind is not None:
        out = mapview.funnel_outliers(table, county_value, kind, scale)
    else:
        out = pd.Series(np.select([table["ci_low"] > county_value,
                                   table["ci_high"] < county_value],
                                  ["above", "below"], "within"), index=table.index)
    return out.where(table["value"].notna(), "no_data")


def _filters(year: int, setting: str | None, groups: tuple[str, ...]) -> Filters:
    return Filters(years=(year,), setting=setting, groups=groups)


def township_table(engine: Engine, year: int, measure: str, setting: str | None,
                   groups: tuple[str, ...] = (), frame: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, float]:
    """One measure per township with its comparison against the county value."""
    m = get_measure(measure)
    res = indicators.compute(engine, _filters(year, setting, groups), measure, frame=frame)
    county = float(res.county["value"])
    kind = m.funnel_kind if m.funnel else None
    t = res.table.copy()
    t["vs_county"] = compare_to_county(t, county, kind, m.scale)
    return t, county


def funnel(engine: Engine, year: int, lang: str = "zh",
           frame: pd.DataFrame | None = None) -> tuple[go.Figure, pd.DataFrame]:
    """Funnel plot of the townships' in-county treatment rate (inpatient) around the
    county value, and the table behind it."""
    t, county = township_table(engine, year, "in_county_rate", "inpatient", frame=frame)
    fig = mapview.funnel_figure(t, county, "proportion",
                                i18n.t("m.in_county_rate", lang), 100, lang=lang)
    return fig, t


def small_multiples(engine: Engine, year: int, screening_groups: tuple[str, ...],
                    lang: str = "zh", frame: pd.DataFrame | None = None
                    ) -> list[tuple[str, go.Figure]]:
    """(title, choropleth) for each of :data:`KEY_MAPS` (shared layout, small height)."""
    areas = queries.area_set(engine, "township").areas
    out = []
    for measure, setting, groups in KEY_MAPS:
        g = screening_groups if groups == "screening" else ()
        if groups == "screening" and not g:
            continue
        t, _ = township_table(engine, year, measure, setting, g, frame)
        title = i18n.t(f"board.map.{measure}", lang)
        fig = mapview.choropleth(t, areas, title, lang=lang)
        fig.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0),
                          title=dict(text=title, font=dict(size=13)), showlegend=False)
        out.append((title, fig))
    return out


def trend_figure(series: pd.Series, title: str, target: float | None, policy_start: int,
                 policy_label: str) -> go.Figure:
    """A tile's yearly series as a line chart, with the policy start (dashed, labelled)
    and the tile's target (dotted) when it has one.

    Examples
    --------
    >>> f = trend_figure(pd.Series([80.0, 88.6], index=[2023, 2024]), "In-county", 90.0,
    ...                  2024, "Policy start 2024")
    >>> f.data[0].y.tolist(), [s.y0 for s in f.layout.shapes]
    ([80.0, 88.6], [0, 90.0])
    """
    f = go.Figure(go.Scatter(x=series.index, y=series.values, mode="lines+markers"))
    f.add_vline(x=policy_start, line=dict(color="#c0392b", dash="dash"))
    f.add_annotation(x=policy_start, y=1, yref="paper", showarrow=False, text=policy_label,
                     xanchor="left")
    if target is not None:
        f.add_hline(y=target, line=dict(color="#555", dash="dot"))
    f.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=40, b=10),
                    xaxis=dict(dtick=1), yaxis=dict(tickformat=","))  # 100,000, not 100k
    return f
