"""What the health-map page computes, as plain functions: filters → tables → figures.

``pages/health_map.py`` only reads widgets, calls these functions (each cached on its
own inputs in ``ui.py``, so a change recomputes only what depends on it) and draws what
they return. :func:`map_page` runs the pieces a filter change computes, in the order the
page draws them; the panels and flows, drawn only when their section is opened, are
:func:`panel_figures` and :func:`flow_view`. ``python -m healthmap bench`` times each, so the
benchmark measures the real page.

A filter is resolved once per change (:func:`healthmap.queries.resolve`: the ICD-10
categories of the chosen disease groups) and the resolved selection is handed to the
indicator table, the panels and the flows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import Engine

from healthmap import comparisons, i18n, mapview, persons, queries
from healthmap import publictables
from healthmap.codes import AGE_GROUPS
from healthmap.indicators import IndicatorResult, compute
from healthmap.measures import Measure
from healthmap.measures import get as get_measure
from healthmap.reference import disease_label


@dataclass(frozen=True)
class MapInputs:
    """Everything the page's widgets decide (hashable: a cache key)."""

    filters: queries.Filters
    measure: str = "incidence"
    standard: str = "china_2000"
    public: bool = False
    counts: bool = False  # show case counts instead of the measure
    scheme: str = "quantiles"
    fixed_bins: tuple[float, ...] = ()
    drill: str | None = None  # township whose villages are shown
    lang: str = "zh"
    margin: str = "all"  # public: the published table's margin (healthmap.publictables)
    lookback: int = persons.DEFAULT_LOOKBACK  # years; 0 = diagnosed cases (issue 9)


def t(key: str, lang: str, **kw) -> str:
    return i18n.t(key, lang, **kw)


def narrow(aset: queries.AreaSet, drill: str | None) -> queries.AreaSet:
    """The area set, narrowed to the villages of township ``drill`` when one is chosen."""
    if not drill:
        return aset
    keep = aset.areas["parent_code"] == drill
    return queries.AreaSet(aset.areas[keep].reset_index(drop=True), aset.up)


def indicator(engine: Engine, inp: MapInputs, sel: queries.Selection,
              aset: queries.AreaSet, frame: pd.DataFrame | None,
              pop_all: pd.DataFrame | None) -> IndicatorResult:
    """The measure per area of the (narrowed) area set, plus the county total; with
    ``counts`` the value shown is the numerator. The public gets the published table of
    the chosen year, disease group and margin, suppressed jointly over every published
    margin (:mod:`healthmap.publictables`, decisions.md §10)."""
    if inp.public:
        return with_counts(publictables.published(engine, inp.filters, sel.icd3_list,
                                                  inp.margin, aset, frame, pop_all), inp)
    res = compute(engine, inp.filters, inp.measure, standard=inp.standard, public=inp.public,
                  frame=frame, aset=aset, pop_all=pop_all, sel=sel, lookback=inp.lookback)
    return with_counts(res, inp)


def computed_part(inp: MapInputs) -> MapInputs:
    """The inputs that change the numbers (legend, counts and language do not): the
    cache key of :func:`indicator`, so a legend change recomputes nothing."""
    return replace(inp, counts=False, scheme="quantiles", fixed_bins=(), lang="zh")


def with_counts(res: IndicatorResult, inp: MapInputs) -> IndicatorResult:
    """``res`` as shown: with ``counts`` the value is the numerator (no interval)."""
    if not inp.counts:
        return res
    return replace(res, table=res.table.assign(value=res.table["numerator"], ci_low=np.nan,
                                               ci_high=np.nan))


def value_label(inp: MapInputs, res: IndicatorResult | None = None) -> str:
    """The name of the figure shown; a person count says whether it is new cases (新发)
    or diagnosed cases (就诊患者)."""
    name = t("col.numerator", inp.lang) if inp.counts else t(f"m.{inp.measure}", inp.lang)
    if res is not None and res.basis in (persons.NEW, persons.DIAGNOSED):
        name += " · " + t(f"basis.{res.basis}", inp.lang, n=res.lookback)
    return name


def basis_text(res: IndicatorResult, lang: str) -> str:
    """What the numerator counts, in a sentence (shown under the headline figures).

    >>> r = IndicatorResult("incidence", pd.DataFrame(), pd.Series(), [], basis="diagnosed",
    ...                     lookback=1, short_years=(2019,))
    >>> basis_text(r, "en").split(":")[0]
    'The numerator counts diagnosed cases (not incidence)'
    """
    if res.basis == persons.DIAGNOSED:
        if res.short_years:
            return t("basis.diagnosed_short", lang, n=res.lookback,
                     years=", ".join(map(str, res.short_years)))
        return t("basis.diagnosed_none", lang)
    return t(f"basis.{res.basis}_long", lang, n=res.lookback)


def number(v: float, digits: int = 1) -> str:
    """A figure for display: blank when missing, no decimals from 1,000 up.

    >>> number(48275.734444), number(12.345), number(float("nan"))
    ('48,276', '12.3', '')
    """
    if v is None or pd.isna(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.{digits}f}"


def funnel_applies(m: Measure, inp: MapInputs) -> bool:
    return m.funnel and not inp.counts


def reliability(table: pd.DataFrame, lang: str) -> pd.Series:
    """Per row: hidden (secondary or primary), no data (denominator 0), unstable, reliable."""
    return pd.Series(np.select(
        [table["suppression"] == "secondary", table["suppressed"].astype(bool),
         ~(table["denominator"] > 0), table["unstable"].astype(bool)],
        [t("map.suppressed_secondary", lang), t("map.suppressed", lang),
         t("out.no_data", lang), t("map.unstable", lang)], t("ok", lang)), index=table.index)


def area_view(res: IndicatorResult, inp: MapInputs) -> pd.DataFrame:
    """The area table as shown: translated headers, figures as text (blank when there is
    no figure, the reason in the reliability column), CI in one column so it fits."""
    m, lang, tab = get_measure(inp.measure), inp.lang, res.table
    hidden = tab["suppressed"].astype(bool)
    mark = t("map.hidden_cell", lang)
    cols = {t("col.area", lang): tab["area_name"],
            value_label(inp, res): [mark if h else number(v)
                                    for v, h in zip(tab["value"], hidden)],
            t("col.ci", lang): ["" if pd.isna(lo) else f"{number(lo)} – {number(hi)}"
                                for lo, hi in zip(tab["ci_low"], tab["ci_high"])],
            t("col.numerator", lang): [number(v, 0) for v in tab["numerator"]],
            t("col.denominator", lang): [number(v, 0) for v in tab["denominator"]],
            t("col.reliability", lang): reliability(tab, lang)}
    if funnel_applies(m, inp):
        out = mapview.funnel_outliers(tab, float(res.county["value"]), m.funnel_kind, m.scale)
        cols[t("map.outlier", lang)] = out.map(lambda o: t(f"out.{o}", lang)).where(~hidden, "")
    for c in m.extra:
        cols[t(f"col.{c}", lang)] = [number(v, 0) for v in tab[c]]
    return pd.DataFrame(cols)


def export_table(res: IndicatorResult, inp: MapInputs) -> pd.DataFrame:
    """The area table for download: numbers stay numbers, rounded (1 decimal for
    values, whole counts as integers), headers translated."""
    m, lang, tab = get_measure(inp.measure), inp.lang, res.table
    out = pd.DataFrame({t("col.area", lang): tab["area_name"],
                        value_label(inp, res): tab["value"].round(2 if m.scale == 1 else 1),
                        t("col.ci_low", lang): tab["ci_low"].round(1),
                        t("col.ci_high", lang): tab["ci_high"].round(1),
                        t("col.numerator", lang): tab["numerator"].round().astype("Int64"),
                        t("col.denominator", lang): tab["denominator"].round().astype("Int64"),
                        t("col.reliability", lang): reliability(tab, lang)})
    if m.family == "rate":  # person-years can be fractional (month ranges)
        out[t("col.denominator", lang)] = tab["denominator"].round(1)
    for c in m.extra:
        out[t(f"col.{c}", lang)] = tab[c].round().astype("Int64")
    return out


def describe(f: queries.Filters, lang: str) -> str:
    """The selection in words, for export stamps: names, not codes.

    >>> describe(queries.Filters(years=(2024,), groups=("C_COLORECTAL",), sex="M"), "en")
    'Years: 2024; Setting: Inpatient; Disease groups: 结直肠癌 (Colorectal cancer); Sex: Male'
    """
    from healthmap.reference import cached_disease_groups

    groups = cached_disease_groups()
    names = dict(zip(groups["group_code"], disease_label(groups, lang)))
    parts = [(t("map.years", lang), ", ".join(map(str, f.years)) or t("common.all", lang))]
    if f.month_from and f.month_to and f.months < 12:
        parts.append((t("map.months", lang), f"{f.month_from}–{f.month_to}"))
    parts.append((t("map.setting", lang), t(f"setting.{f.setting}", lang) if f.setting
                  else t("common.all", lang)))
    if f.groups:
        parts.append((t("map.groups", lang).split("（")[0].split(" (")[0],
                      ", ".join(str(names.get(g, g)) for g in f.groups)))
    if f.icd3:
        parts.append(("ICD-10", ", ".join(f.icd3)))
    if f.sex:
        parts.append((t("map.sex", lang), t(f"sex.{f.sex}", lang)))
    if f.age_groups:
        parts.append((t("map.age", lang), ", ".join(f.age_groups)))
    if f.insurance:
        parts.append((t("map.insurance", lang),
                      ", ".join(t(f"insurance.{i}", lang) for i in f.insurance)))
    if f.level != "township":
        parts.append((t("map.level", lang), t(f"level.{f.level}", lang)))
    return "; ".join(f"{k}: {v}" for k, v in parts)


def map_figure(res: IndicatorResult, aset: queries.AreaSet, inp: MapInputs,
               tiles: dict | None = None) -> go.Figure:
    return mapview.choropleth(res.table, aset.areas, value_label(inp, res), scheme=inp.scheme,
                              fixed_bins=list(inp.fixed_bins) or None, tiles=tiles,
                              lang=inp.lang)


def funnel(res: IndicatorResult, inp: MapInputs) -> go.Figure | None:
    """The funnel plot when the measure has one (``None`` otherwise). Incidence is
    compared on its indirectly standardised ratio (O/E against E), so townships are not
    flagged for their age structure alone (issue 9, docs/definitions.md)."""
    m = get_measure(inp.measure)
    if not funnel_applies(m, inp):
        return None
    if m.cases == "new_cases" and "sir" in res.table.columns and res.table["expected"].gt(0).any():
        sir = get_measure("incidence_sir")
        tab = res.table.assign(numerator=res.table["observed"],
                               denominator=res.table["expected"], value=res.table["sir"])
        return mapview.funnel_figure(tab, 1.0, sir.funnel_kind, t("m.incidence_sir", inp.lang),
                                     sir.scale, inp.lang)
    return mapview.funnel_figure(res.table, float(res.county["value"]), m.funnel_kind,
                                 value_label(inp, res), m.scale, inp.lang)


def panel_figures(engine: Engine, sel: queries.Selection, frame: pd.DataFrame | None,
                  aset: queries.AreaSet, public: bool, drill: str | None, lang: str
                  ) -> dict[str, go.Figure]:
    """The four breakdown charts (leading groups, age × sex, insurance, monthly trend)."""
    pan = mapview.panels(engine, sel.filters, frame=frame, aset=aset, public=public, sel=sel,
                         area_codes=aset.areas["code"].tolist() if drill else None)
    return panel_charts(pan, lang)


def panel_charts(pan: dict[str, pd.DataFrame], lang: str) -> dict[str, go.Figure]:
    """The four breakdown charts of :func:`healthmap.mapview.panels`' tables."""
    episodes = t("col.episodes", lang)
    # plain trace and layout dicts, one unvalidated figure each (mapview.built): plotly
    # express, or graph objects built property by property, take several times longer
    top = pan["top"].assign(name=lambda d: disease_label(d, lang).fillna(d["group_code"])).iloc[::-1]
    top_fig = mapview.built(
        [dict(type="bar", x=top["episodes"].to_numpy(), y=top["name"].tolist(),
              orientation="h", marker=dict(color="#636efa"), name=episodes)],
        _layout(t("map.top_groups", lang), 420, episodes, t("col.group", lang)))
    age = pan["age"][pan["age"]["age_group"].isin(AGE_GROUPS)]
    bars = []
    for sex, colour in (("M", "#636efa"), ("F", "#ef553b")):
        a = age[age["sex"] == sex]
        bars.append(dict(type="bar", x=(-a["episodes"] if sex == "M" else a["episodes"]
                                        ).to_numpy(),
                         y=a["age_group"].tolist(), orientation="h",
                         marker=dict(color=colour), name=t(f"sex.{sex}", lang),
                         customdata=a["episodes"].to_numpy(),
                         hovertemplate="%{y}: %{customdata:,.0f}<extra></extra>"))
    age_layout = _layout(t("map.age_sex", lang), 420, episodes, t("map.age", lang))
    age_layout["yaxis"].update(categoryorder="array", categoryarray=list(AGE_GROUPS))
    age_fig = mapview.built(bars, dict(age_layout, barmode="relative",
                                       legend=dict(title=dict(text=t("map.sex", lang)))))
    ins = pan["insurance"].dropna(subset=["episodes"])
    ins_fig = mapview.built(
        [dict(type="pie", labels=[t(f"insurance.{s}", lang) for s in ins["insurance_type"]],
              values=ins["episodes"].to_numpy())],
        _layout(t("map.insurance_panel", lang), 360))
    trend = pan["trend"].assign(period=lambda d: pd.to_datetime(
        dict(year=d["year"], month=d["month"], day=1))).sort_values("period")
    trend_layout = _layout(t("map.trend", lang), 360, "", episodes)
    trend_layout["xaxis"]["tickformat"] = "%Y-%m"
    trend_fig = mapview.built(
        [dict(type="scatter", x=trend["period"].to_numpy(), y=trend["episodes"].to_numpy(),
              mode="lines+markers", name=episodes)], trend_layout)
    return {"top": top_fig, "pyramid": age_fig, "insurance_pie": ins_fig, "trend": trend_fig}


def _layout(title: str, height: int, x: str | None = None, y: str | None = None) -> dict:
    out = dict(title=dict(text=title), height=height, margin=dict(l=10, r=10, t=50, b=10))
    if x is not None:
        out.update(xaxis=dict(title=dict(text=x)), yaxis=dict(title=dict(text=y)))
    return out


@dataclass
class FlowView:
    figure: go.Figure | None
    table: pd.DataFrame
    saving: dict[str, float] = field(default_factory=dict)


def flow_view(engine: Engine, sel: queries.Selection, inst_frame: pd.DataFrame | None,
              aset: queries.AreaSet, flow_area: str | None, source_name: str,
              public: bool, lang: str) -> FlowView:
    """Patient flow of the county or of one area: Sankey, table by destination, saving."""
    finer = None if flow_area is None else [c for c, u in aset.up.items() if u == flow_area]
    flows = queries.institution_cells(engine, sel.filters, sel.icd3_list, finer,
                                      frame=inst_frame)
    if flows.empty:
        return FlowView(None, pd.DataFrame())
    ft = mapview.flow_table(flows, public=public)
    shown = pd.DataFrame({t("col.destination", lang): ft["dest"],
                          t("col.episodes", lang): [number(v, 0) for v in ft["episodes"]],
                          t("col.share", lang): [number(v) for v in ft["share_pct"]],
                          t("col.cost_per_case", lang): [number(v) for v in ft["cost_per_case"]]})
    saving = mapview.potential_saving(flows, public=public)
    if not np.isnan(saving["saving"]):  # per disease group and setting (issue 9, decision §6)
        saving["saving"] = comparisons.flow_saving(queries.institution_cells(
            engine, sel.filters, sel.icd3_list, finer, frame=inst_frame,
            extra=("icd3", "setting"), by_area=False))
    return FlowView(mapview.flow_figure(flows, source_name, public=public), shown, saving)


@dataclass
class MapPage:
    """What one filter change on the map page computes (pages/health_map.py through
    ``ui.py``): the indicator, the area table as shown and as exported, the map and the
    funnel. The breakdown panels and the patient flows are not part of it: the page draws
    them only while their on-demand section is open (:func:`panel_figures`,
    :func:`flow_view`)."""

    result: IndicatorResult
    table: pd.DataFrame
    export: pd.DataFrame
    map: go.Figure
    funnel: go.Figure | None
    selection: queries.Selection
    areas: queries.AreaSet


def map_page(engine: Engine, inp: MapInputs, frame: pd.DataFrame | None = None,
             aset: queries.AreaSet | None = None, pop_all: pd.DataFrame | None = None,
             tiles: dict | None = None) -> MapPage:
    """One filter change of the page for one set of inputs (the benchmark's unit of work).

    The page caches the period frame (``frame``), the area set and the population rows, so
    a filter change costs this call with them given. The selection and the (narrowed)
    area set are returned for opening the panels and the flows (:func:`panel_figures`,
    :func:`flow_view`, what the page's on-demand sections draw).
    """
    f = inp.filters
    frame = frame if frame is not None else queries.load_cells_frame(engine, f.years)
    aset = narrow(aset or queries.area_set(engine, f.level), inp.drill)
    sel = queries.resolve(engine, f)
    res = indicator(engine, inp, sel, aset, frame, pop_all)
    return MapPage(res, area_view(res, inp), export_table(res, inp),
                   map_figure(res, aset, inp, tiles), funnel(res, inp), sel, aset)
