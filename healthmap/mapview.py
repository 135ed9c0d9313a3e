"""Figures for the health-map page (plotly; no streamlit here).

Maps use ``choropleth_map`` with the ``white-bg`` style: MapLibre with no tile server, so
they render offline. A tile basemap can be switched on by configuration.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import Engine

from healthmap import geo, i18n, metrics, privacy, queries, textsafe
from healthmap.legend import classify
from healthmap.queries import Filters

NO_DATA, SUPPRESSED = "map.legend_no_data", "map.legend_suppressed"  # text keys
PALETTE = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"]


def choropleth(table: pd.DataFrame, areas: pd.DataFrame, value_label: str,
               scheme: str = "quantiles", k: int = 5, fixed_bins=None,
               tiles: dict[str, str] | None = None, lang: str = "zh") -> go.Figure:
    """Choropleth of ``table['value']`` by area, with hover showing value, CI, n and N.

    Without ``tiles`` the areas are drawn as filled SVG polygons (one legend entry per
    class): no network, no WebGL, and the browser redraws it in milliseconds when a
    filter changes. With ``tiles`` (``{"url": XYZ template, "attribution": text}``, see
    :func:`healthmap.config.tile_basemap`) a MapLibre map with the raster basemap below
    the areas is drawn instead.
    """
    t, names, palette = _classes(table, scheme, k, fixed_bins, lang)
    if tiles:
        return _tile_map(t, areas, value_label, names, palette, tiles)
    colour = dict(zip(names, palette))
    geoms = {c: g for c, g in zip(areas["code"], areas["geometry"]) if geo.has_geometry(g)}
    data: list[dict] = []
    shown_in_legend: set[str] = set()
    # one trace per area (hover on a filled polygon shows its trace's text), grouped in
    # the legend by class, classes in legend order
    position = {n: i for i, n in enumerate(names)}
    rows = list(zip(t["area_code"], t["klass"], t["area_name"], t["shown"], t["ci"], t["n"],
                    t["N"]))
    ranked = sorted(range(len(rows)), key=lambda i: (position[rows[i][1]], rows[i][0]))
    t = t.iloc[ranked]  # the outlines below follow the same order
    for code, klass, name, shown, ci, n, big_n in (rows[i] for i in ranked):
        if code not in geoms:
            continue
        xs, ys = _rings(geoms[code])
        data.append(dict(
            type="scatter", x=list(xs), y=list(ys), mode="lines", fill="toself",
            fillcolor=colour[klass], line=dict(color="#555", width=1),
            name=klass, legendgroup=klass, showlegend=klass not in shown_in_legend,
            hoveron="fills", hoverinfo="text",
            text=(f"<b>{textsafe.plotly_text(name)}</b><br>{value_label}: {shown}"
                  f"<br>95% CI: {ci}"
                  f"<br>n = {n}<br>N = {big_n}")))
        shown_in_legend.add(klass)
    data += _unstable_outlines(t, geoms, lang)
    lab = areas[areas["code"].isin(geoms) & areas["label_lon"].notna()] if len(t) <= 40 \
        else areas.iloc[0:0]
    data.append(dict(type="scatter", x=lab["label_lon"].to_numpy(),
                     y=lab["label_lat"].to_numpy(), mode="text",
                     text=lab["name"].map(lambda n: textsafe.plotly_text(
                         n, textsafe.LABEL_MAX)).to_numpy(),
                     textfont={"size": 12, "color": "#222"}, hoverinfo="skip",
                     showlegend=False))
    lon0, lat0, lon1, lat1 = geo.bounds(areas)
    layout = dict(
        xaxis=dict(visible=False, range=[lon0 - 0.01, lon1 + 0.01]),
        # equal ground distances: one degree of longitude is cos(latitude) of one of latitude
        yaxis=dict(visible=False, scaleanchor="x",
                   scaleratio=1 / np.cos(np.radians((lat0 + lat1) / 2))),
        plot_bgcolor="white", margin=dict(l=0, r=0, t=0, b=0), height=520,
        legend=dict(title=dict(text=value_label), itemclick=False, itemdoubleclick=False),
        hoverlabel=dict(align="left"))
    notes = [n for n in (_no_boundary_annotation(areas), _no_value_annotation(t, lang)) if n]
    if notes:
        layout["annotations"] = notes
    return built(data, layout)


def _no_value_annotation(t: pd.DataFrame, lang: str) -> dict | None:
    """A map on which no area has a value (every area grey) says so in its middle, rather
    than look like a map of equal values.

    >>> _no_value_annotation(pd.DataFrame({"value": [float("nan")]}), "en")["text"]
    'No township has a value for this selection'
    >>> _no_value_annotation(pd.DataFrame({"value": [1.0, float("nan")]}), "en") is None
    True
    """
    if t["value"].notna().any():
        return None
    return dict(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                bgcolor="rgba(255,255,255,0.85)", font=dict(size=14, color="#333"),
                text=i18n.t("map.no_values", lang))


def built(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, without plotly's per-property validation
    (most of the time of building a figure: about 1 ms per trace). The dicts must hold
    what validation would have made of them (lists, numpy arrays, numbers, strings):
    tests/test_figures_same.py compares what the browser gets with the validated
    construction's output."""
    return go.Figure(data=data, layout=layout, _validate=False)


def _unstable_outlines(t: pd.DataFrame, geoms: dict, lang: str) -> list[dict]:
    """A dashed dark outline around areas whose shown value rests on fewer than 20 cases
    (issue 9): the colour alone would present an unstable rate like any other."""
    if "unstable" not in t.columns:
        return []
    shown = t["unstable"].astype(bool) & ~t["suppressed"].astype(bool) & t["value"].notna()
    label = i18n.t("map.unstable_outline", lang)
    out = []
    for i, code in enumerate(c for c in t.loc[shown, "area_code"] if c in geoms):
        xs, ys = _rings(geoms[code])
        out.append(dict(type="scatter", x=list(xs), y=list(ys), mode="lines",
                        hoverinfo="skip", line=dict(color="#111", width=2.5, dash="dash"),
                        name=label, legendgroup="unstable", showlegend=i == 0))
    return out


@functools.lru_cache(maxsize=4096)
def _rings(geometry: str) -> tuple[tuple, tuple]:
    """Exterior rings of a GeoJSON (Multi)Polygon as x/y sequences separated by ``None``
    (parsed once per boundary: the area set's geometry strings are the cache keys)."""
    import json

    from shapely.geometry import shape

    g = shape(json.loads(geometry))
    xs: list = []
    ys: list = []
    for poly in getattr(g, "geoms", [g]):
        x, y = poly.exterior.xy
        xs += list(x) + [None]
        ys += list(y) + [None]
    return tuple(xs), tuple(ys)


def _classes(table: pd.DataFrame, scheme: str, k: int, fixed_bins, lang: str):
    """Per area its legend class (``klass``) and hover texts; the class names in legend
    order (value classes, then suppressed, then no data) and their colours."""
    labels, order = classify(table["value"].where(~table["suppressed"]), scheme, k, fixed_bins)
    no_data, suppressed = i18n.t(NO_DATA, lang), i18n.t(SUPPRESSED, lang)
    value = table["value"].astype(float).to_numpy()
    hidden = table["suppressed"].to_numpy(bool)
    klass = np.where(hidden, suppressed, np.where(np.isnan(value), no_data,
                                                  labels.to_numpy(object))).astype(object)
    extra = pd.DataFrame({
        "class": klass,
        "ci": [("—" if np.isnan(lo) else f"{lo:,.1f} – {hi:,.1f}")
               for lo, hi in zip(table["ci_low"].astype(float), table["ci_high"].astype(float))],
        "shown": [("—" if s else ("—" if np.isnan(v) else f"{v:,.1f}"))
                  for v, s in zip(value, table["suppressed"])],
        "n": ["{:,.0f}".format(v) for v in table["numerator"]],
        "N": ["{:,.0f}".format(v) for v in table["denominator"]],
        "klass": klass}, index=table.index)
    t = pd.concat([table.drop(columns=[c for c in extra if c in table]), extra], axis=1)
    names = order + [suppressed, no_data]
    palette = [PALETTE[min(i + (1 if len(order) < 6 else 0), len(PALETTE) - 1)]
               for i in range(len(order))] + ["#9e9ac8", "#d9d9d9"]
    return t, names, palette


def _tile_map(t: pd.DataFrame, areas: pd.DataFrame, value_label: str, names: list[str],
              palette: list[str], tiles: dict[str, str]) -> go.Figure:
    """The areas on a MapLibre map over a raster tile basemap."""
    code_of = {n: i for i, n in enumerate(names)}
    z = t["class"].map(code_of).astype(float)
    k = len(names)
    # a stepped colour scale: one flat band per class (a single trace keeps the page light)
    scale = []
    for i, c in enumerate(palette):
        scale += [[i / k, c], [(i + 1) / k, c]]
    lon0, lat0, lon1, lat1 = geo.bounds(areas)
    fig = go.Figure(go.Choroplethmap(
        geojson=geo.feature_collection(areas), locations=t["area_code"], z=z,
        zmin=0, zmax=k, colorscale=scale, marker_opacity=0.7,
        customdata=np.column_stack([t["area_name"].map(textsafe.plotly_text), t["shown"],
                                    t["ci"],
                                    t["n"], t["N"], t["class"]]),
        hovertemplate=("<b>%{customdata[0]}</b><br>" + value_label + ": %{customdata[1]}"
                       "<br>95% CI: %{customdata[2]}<br>n = %{customdata[3]}"
                       "<br>N = %{customdata[4]}<extra></extra>"),
        colorbar=dict(title=dict(text=value_label), tickvals=[i + 0.5 for i in range(k)],
                      ticktext=names, len=0.9, thickness=14)))
    layers = [dict(below="traces", sourcetype="raster", source=[tiles["url"]],
                   sourceattribution=tiles.get("attribution") or None)]
    fig.update_layout(map=dict(style="white-bg", layers=layers,
                               center={"lon": (lon0 + lon1) / 2, "lat": (lat0 + lat1) / 2},
                               zoom=_zoom(lon1 - lon0, lat1 - lat0)))
    fig.update_traces(marker_line_width=1, marker_line_color="#555")
    labelled = t if len(t) <= 40 else t.iloc[0:0]
    lab = areas.set_index("code").loc[labelled["area_code"], ["label_lon", "label_lat", "name"]]
    # map text layers: CJK names only (other glyphs are fetched from a font server)
    lab = lab.assign(name=lab["name"].map(textsafe.map_label)).dropna()
    note = _no_boundary_annotation(areas)
    if note:
        fig.add_annotation(**note)
    fig.add_trace(go.Scattermap(lon=lab["label_lon"], lat=lab["label_lat"], mode="text",
                                text=lab["name"], textfont={"size": 12, "color": "#222"},
                                hoverinfo="skip", showlegend=False))
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=520)
    return fig


def _no_boundary_annotation(areas: pd.DataFrame) -> dict | None:
    """Areas imported without a boundary: named in a corner note, not drawn."""
    bare = areas.loc[~areas["geometry"].map(geo.has_geometry), "name"]
    if not len(bare):
        return None
    return dict(x=0.01, y=0.01, xref="paper", yref="paper", showarrow=False,
                xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.8)",
                text=i18n.t("map.no_boundary", "zh") + " / " + i18n.t(
                    "map.no_boundary", "en") + ": " + "、".join(
                    textsafe.plotly_text(n, textsafe.LABEL_MAX) for n in bare[:10])
                + (" …" if len(bare) > 10 else ""))


def _zoom(dlon: float, dlat: float) -> float:
    span = max(dlon, dlat * 1.3, 1e-3)
    return float(np.clip(np.log2(360 / span) - 0.9, 3, 16))


def funnel_figure(table: pd.DataFrame, target: float, kind: str, value_label: str,
                  scale: float, lang: str = "zh") -> go.Figure:
    """Value against its denominator with 95 % and 99.8 % control limits (Spiegelhalter).

    ``kind`` is ``proportion`` (values in % → ``scale`` 100) or ``rate`` (per 100,000 →
    ``scale`` 1e5); ``target`` is in the same units as the plotted values.
    """
    t = table[(table["denominator"] > 0) & ~table["suppressed"]].dropna(subset=["value"])
    t = t.assign(area_name=t["area_name"].map(lambda s: textsafe.plotly_text(s, 40)))
    if len(t) == 0:
        return built([], {})
    lo = max(t["denominator"].min() * 0.5, 1)
    hi = t["denominator"].max() * 1.5
    grid = np.geomspace(lo, hi, 200)
    lim = funnel_lines(target / scale, grid, kind)
    data = []
    for level, dash in (("95", "dash"), ("99.8", "dot")):
        for side in ("lower", "upper"):
            data.append(dict(type="scatter", x=grid,
                             y=(lim[f"{side}_{level}"] * scale).to_numpy(), mode="lines",
                             line=dict(color="#888", dash=dash, width=1),
                             name=i18n.t("funnel.limits", lang, level=level),
                             legendgroup=level, showlegend=side == "upper", hoverinfo="skip"))
    pts = metrics.funnel_limits(target / scale, t["denominator"], kind=kind)
    out95 = ((t["value"].to_numpy() > pts["upper_95"].to_numpy() * scale)
             | (t["value"].to_numpy() < pts["lower_95"].to_numpy() * scale))
    out998 = ((t["value"].to_numpy() > pts["upper_99.8"].to_numpy() * scale)
              | (t["value"].to_numpy() < pts["lower_99.8"].to_numpy() * scale))
    color = np.where(out998, "#a50f15", np.where(out95, "#fb6a4a", "#3182bd"))
    # names only on the areas outside the 95 % limits (the ones to look at), so labels of
    # the crowd in the middle cannot overlap; every point has its name on hover
    names = np.where(out95, t["area_name"].astype(str), "")
    data.append(dict(type="scatter", x=t["denominator"].to_numpy(), y=t["value"].to_numpy(),
                     mode="markers+text", text=names.tolist(), textposition="middle right",
                     customdata=t["area_name"].tolist(), textfont=dict(size=12),
                     marker=dict(size=11, color=color.tolist(),
                                 line=dict(width=1, color="#fff")),
                     name=value_label,
                     hovertemplate="%{customdata}<br>%{y:,.1f}<br>N=%{x:,.0f}<extra></extra>"))
    ticks = log_ticks(lo, hi)
    layout = dict(
        # the county's value across the plot (what ``add_hline`` draws)
        shapes=[dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=target,
                     y1=target, line=dict(color="#444", width=1))],
        annotations=[dict(x=np.log10(hi), y=target, text=i18n.t("funnel.county", lang),
                          showarrow=False, xanchor="right", yanchor="bottom",
                          font=dict(size=11, color="#444"))],
        xaxis=dict(type="log", title=dict(text=i18n.t("funnel.x", lang)),
                   tickvals=ticks, ticktext=[f"{v:,.0f}" for v in ticks]),
        yaxis=dict(title=dict(text=value_label)),
        height=440, margin=dict(l=10, r=10, t=10, b=10),
        # below the plot: a legend on top would cover the highest points
        legend=dict(orientation="h", y=-0.22, yanchor="top", x=0))
    return built(data, layout)


def funnel_lines(target: float, grid: np.ndarray, kind: str) -> pd.DataFrame:
    """Control limits to draw: the exact limits made monotone in the denominator.

    Exact binomial and Poisson quantiles step at small denominators, so the interpolated
    limits wobble (a zig-zag line); drawn, the upper limit is the largest exact limit at
    this or any larger denominator and the lower limit the smallest, so the lines narrow
    steadily and never pass inside a limit used to flag an area.

    >>> g = np.geomspace(5, 200, 25)
    >>> lines = funnel_lines(0.1, g, "proportion")
    >>> bool((np.diff(lines["upper_95"]) <= 0).all() and (np.diff(lines["lower_95"]) >= 0).all())
    True
    """
    lim = metrics.funnel_limits(target, grid, kind=kind)
    for c in lim.columns:
        if c.startswith("upper_"):
            lim[c] = np.maximum.accumulate(lim[c].to_numpy()[::-1])[::-1]
        elif c.startswith("lower_"):
            lim[c] = np.minimum.accumulate(lim[c].to_numpy()[::-1])[::-1]
    return lim


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks 1, 2, 5 × 10^k between ``lo`` and ``hi`` (plain numbers on a log axis).

    >>> log_ticks(3000, 150000)
    [5000.0, 10000.0, 20000.0, 50000.0, 100000.0]
    """
    out = []
    for e in range(int(np.floor(np.log10(max(lo, 1e-9)))), int(np.ceil(np.log10(hi))) + 1):
        out += [m * 10.0 ** e for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    return out


def funnel_outliers(table: pd.DataFrame, target: float, kind: str, scale: float) -> pd.Series:
    """Per area: ``above`` / ``below`` the 95 % limit or ``within``; ``no_data`` without a
    denominator, and everywhere when there is no county value to compare with (a
    selection without any case, e.g. men's outpatient referrals for a rare cancer).

    >>> t = pd.DataFrame({"value": [np.nan, np.nan], "denominator": [0.0, 0.0]})
    >>> funnel_outliers(t, np.nan, "proportion", 100).tolist()
    ['no_data', 'no_data']
    """
    t = table
    if not np.isfinite(target):
        return pd.Series("no_data", index=t.index)
    pts = metrics.funnel_limits(target / scale, t["denominator"].clip(lower=1e-9), kind=kind)
    v = t["value"].to_numpy()
    res = np.where(v > pts["upper_95"].to_numpy() * scale, "above",
                   np.where(v < pts["lower_95"].to_numpy() * scale, "below", "within"))
    return pd.Series(np.where(t["denominator"] > 0, res, "no_data"), index=t.index)


def _dest(flows: pd.DataFrame) -> pd.Series:
    return pd.Series(np.where(flows["in_county"].astype(bool), "玉环（县域内）",
                              flows["region"].fillna("其他")), index=flows.index)


def flow_figure(flows: pd.DataFrame, source_label: str, public: bool = False) -> go.Figure:
    """Sankey: residents of the selection → in county / region → institution (top 4 each).

    The public version stops at the region level and leaves out suppressed flows.
    """
    if flows.empty:
        return go.Figure()
    f = flows.assign(dest=_dest(flows))
    if public:
        by_dest = flow_table(flows, public=True).dropna(subset=["episodes"])
        by_dest = by_dest.set_index("dest")["episodes"]
        by_inst = pd.DataFrame(columns=["dest", "institution", "episodes"])
    else:
        by_dest = f.groupby("dest")["episodes"].sum().sort_values(ascending=False)
        by_inst = f.groupby(["dest", "institution"])["episodes"].sum().reset_index()
        by_inst = by_inst.sort_values("episodes", ascending=False).groupby("dest").head(4)
    nodes = [source_label] + by_dest.index.tolist() + by_inst["institution"].tolist()
    idx = {n: i for i, n in enumerate(dict.fromkeys(nodes))}
    src, dst, val = [], [], []
    for d, n in by_dest.items():
        src.append(0), dst.append(idx[d]), val.append(n)
    for r in by_inst.itertuples():
        src.append(idx[r.dest]), dst.append(idx[r.institution]), val.append(r.episodes)
    labels = [textsafe.plotly_text(n, textsafe.LABEL_MAX) for n in idx]
    fig = go.Figure(go.Sankey(node=dict(label=labels, pad=12, thickness=14),
                              link=dict(source=src, target=dst, value=val)))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def flow_table(flows: pd.DataFrame, public: bool = False) -> pd.DataFrame:
    """Episodes, share and cost per case by destination (in county, Taizhou, Hangzhou…)."""
    f = flows.assign(dest=_dest(flows))
    g = f.groupby("dest")[["episodes", "cost_sum", "fund_sum"]].sum()
    g["share_pct"] = g["episodes"] / g["episodes"].sum() * 100
    g["cost_per_case"] = g["cost_sum"] / g["episodes"]
    g = g.sort_values("episodes", ascending=False).reset_index()
    if public:
        g = privacy.suppress(g, "episodes", ["cost_sum", "fund_sum", "share_pct",
                                             "cost_per_case"])
    return g


def potential_saving(flows: pd.DataFrame, public: bool = False) -> dict[str, float]:
    """Out-of-county episodes × (mean out-of-county cost − mean in-county cost).

    With ``public``, nothing is stated when either side has 1-4 episodes (a mean of so few
    costs would disclose individual bills).
    """
    inside = flows[flows["in_county"].astype(bool)]
    outside = flows[~flows["in_county"].astype(bool)]
    n_in, n_out = inside["episodes"].sum(), outside["episodes"].sum()
    small = public and bool(privacy.primary_mask([n_in, n_out]).any())
    if n_in == 0 or n_out == 0 or small:
        return {"episodes_out": float(n_out), "cost_in": np.nan, "cost_out": np.nan,
                "saving": np.nan, "fund_outflow": float(outside["fund_sum"].sum())}
    c_in, c_out = inside["cost_sum"].sum() / n_in, outside["cost_sum"].sum() / n_out
    return {"episodes_out": float(n_out), "cost_in": c_in, "cost_out": c_out,
            "saving": n_out * (c_out - c_in), "fund_outflow": float(outside["fund_sum"].sum())}


def panels(engine: Engine, f: Filters, area_codes: list[str] | None = None,
           frame: pd.DataFrame | None = None, aset: queries.AreaSet | None = None,
           public: bool = False, sel: queries.Selection | None = None
           ) -> dict[str, pd.DataFrame]:
    """Side panels: top disease groups, age × sex, insurance, monthly trend.

    ``area_codes`` (of ``f.level``) narrows the panels to those areas. With ``public``
    every panel gets primary and secondary suppression (:mod:`healthmap.privacy`): the
    age panel within each sex, the others over the whole panel. ``sel`` is ``f``
    already resolved (:func:`healthmap.queries.resolve`).
    """
    from healthmap.reference import cached_disease_groups, icd3_to_group

    icd3 = (sel or queries.resolve(engine, f)).icd3_list
    if area_codes:
        aset = aset or queries.area_set(engine, f.level)
        finer = [c for c, up in aset.up.items() if up in set(area_codes)]
    else:
        finer = None

    def get(by: list[str]) -> pd.DataFrame:
        extra = ["area_code"] if finer is not None else []
        d = queries.cells(engine, f, extra + by, icd3, frame)
        if finer is not None:
            d = d[d["area_code"].isin(finer)].groupby(by, as_index=False)[queries.MEASURES].sum()
        return d

    groups = cached_disease_groups()
    by_icd = get(["icd3"])
    g = by_icd.assign(group_code=by_icd["icd3"].map(icd3_to_group(groups)).fillna("—"))
    top = (g.groupby("group_code")[["episodes", "new_cases", "cost_sum"]].sum()
           .sort_values("episodes", ascending=False).head(15).reset_index()
           .merge(groups[["group_code", "name_zh", "name_en"]], on="group_code", how="left"))
    age = get(["age_group", "sex"])[["age_group", "sex", "episodes"]]
    ins = get(["insurance_type"])[["insurance_type", "episodes", "cost_sum", "fund_sum"]]
    trend = get(["year", "month"])[["year", "month", "episodes", "new_cases", "cost_sum"]]
    if public:
        top = privacy.suppress(top, "episodes", ["new_cases", "cost_sum"])
        age = privacy.suppress(age, "episodes", group_col="sex")
        ins = privacy.suppress(ins, "episodes", ["cost_sum", "fund_sum"])
        trend = privacy.suppress(trend, "episodes", ["new_cases", "cost_sum"])
    return {"top": top, "age": age, "insurance": ins, "trend": trend}


def local_moran(table: pd.DataFrame, areas: pd.DataFrame, permutations: int = 999,
                seed: int = 20240930, alpha: float = 0.05) -> pd.DataFrame:
    """Local Moran's I (esda) with queen contiguity and permutation p-values.

    Returns per area the statistic, pseudo p-value and the cluster type (HH, LL, HL, LH)
    where p < ``alpha``; areas without data take the mean so they do not break contiguity.
    """
    import json
    import warnings

    import esda
    import geopandas as gpd
    import libpysal
    from shapely.geometry import shape

    areas = areas[areas["geometry"].map(geo.has_geometry)]  # no boundary: no neighbours
    g = gpd.GeoDataFrame(areas[["code", "name"]].copy(),
                         geometry=[shape(json.loads(x)) for x in areas["geometry"]], crs=4326)
    w = libpysal.weights.Queen.from_dataframe(g, use_index=False, silence_warnings=True)
    w.transform = "r"
    y = table.set_index("area_code")["value"].reindex(g["code"]).astype(float)
    y = y.fillna(y.mean()).to_numpy()
    with warnings.catch_warnings():
        # esda announces a future change of its default alternative hypothesis; the
        # folded (directed) pseudo p-value of the current release is what we report
        warnings.simplefilter("ignore", DeprecationWarning)
        lm = esda.Moran_Local(y, w, permutations=permutations, seed=seed)
    quad = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)[lm.q]
    return pd.DataFrame({"area_code": g["code"], "area_name": g["name"], "value": y,
                         "local_i": lm.Is, "p_value": lm.p_sim,
                         "cluster": np.where(lm.p_sim < alpha, quad, "—")})
