"""The health map: incidence, outward referral and cost per case by area, shown fairly."""


import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from healthmap.textsafe import markdown_text
from healthmap import exports, i18n, mapview, queries
from healthmap.codes import AGE_GROUPS, INSURANCE_TYPES
from healthmap.config import tile_basemap
from healthmap.indicators import MEASURES, compute
from healthmap.reference import STANDARD_LABELS, cached_disease_groups, load_policy_targets

user = ui.guard("map")
public = user is None
engine = ui.engine()
url = str(engine.url)
lang = ui.lang()
zh = lang == "zh"
version = ui.version()

st.title(ui.t("map.title"))
years_all = ui.periods(version, url)
if not years_all:
    st.info(ui.t("map.no_data"))
    st.stop()

# ---------------------------------------------------------------- filters (sidebar)
groups = cached_disease_groups()
# the label carries the Chinese name and the ICD-10 ranges, so typing either finds a group
group_names = {g: f"{n}（{r}）" for g, n, r in zip(groups["group_code"], groups["name_zh"],
                                                 groups["icd_ranges"])}
with st.sidebar:
    measure = st.selectbox(ui.t("map.measure"), list(MEASURES), key="measure",
                           format_func=lambda m: ui.t(f"m.{m}"))
    years = st.multiselect(ui.t("map.years"), years_all, default=years_all[-1:], key="years",
                           placeholder=ui.t("common.choose"))
    months = st.slider(ui.t("map.months"), 1, 12, (1, 12), key="months")
    group_sel = st.multiselect(
        ui.t("map.groups"), groups["group_code"].tolist(), key="groups",
        placeholder=ui.t("common.all_search"),
        format_func=lambda g: group_names[g])
    icd_text = st.text_input(ui.t("map.icd"), key="icd")
    setting = st.radio(ui.t("map.setting"), ["inpatient", "outpatient", "all"], key="setting",
                       horizontal=True, format_func=lambda s: ui.t(f"setting.{s}") if s != "all"
                       else ui.t("common.all"))
    sex = st.radio(ui.t("map.sex"), ["all", "M", "F"], key="sex", horizontal=True,
                   format_func=lambda s: ui.t(f"sex.{s}") if s != "all" else ui.t("common.all"))
    ages = st.multiselect(ui.t("map.age"), list(AGE_GROUPS), key="ages",
                          placeholder=ui.t("common.all"))
    insurance = st.multiselect(ui.t("map.insurance"), list(INSURANCE_TYPES), key="insurance",
                               placeholder=ui.t("common.all"),
                               format_func=lambda s: ui.t(f"insurance.{s}"))
    standard = st.selectbox(ui.t("map.standard"), list(STANDARD_LABELS), key="standard",
                            format_func=lambda s: STANDARD_LABELS[s][0 if zh else 1],
                            disabled=measure != "incidence_asr")
    scheme = st.selectbox(ui.t("map.scheme"), mapview.SCHEMES, key="scheme",
                          format_func=lambda s: ui.t(f"scheme.{s}"))
    fixed = st.text_input(ui.t("map.fixed_bins"), "", key="fixed") if scheme == "fixed" else ""
    counts = st.toggle(ui.t("map.counts"), key="counts")
    basemap = tile_basemap()  # configured by the deployment; off = fully offline
    show_tiles = bool(basemap) and st.toggle(ui.t("map.tiles"), key="tiles")

if not years:
    st.info(ui.t("map.no_data"))
    st.stop()
icd3 = tuple(sorted({c.strip().upper()[:3] for c in icd_text.replace("，", ",").split(",")
                     if len(c.strip()) >= 3}))
aset_t = ui.area_set("township", version, url)
aset_v = ui.area_set("village", version, url)
level, drill = "township", None
if len(aset_v.areas):
    level = st.radio(ui.t("map.level"), ["township", "village"], horizontal=True, key="level",
                     format_func=lambda v: ui.t(f"level.{v}"))
    if level == "village":
        drill = st.selectbox(ui.t("map.drill"), [None] + aset_t.areas["code"].tolist(),
                             key="drill", format_func=lambda c: ui.t("common.all") if c is None
                             else aset_t.areas.set_index("code").at[c, "name"])
f = queries.Filters(years=tuple(sorted(years)), month_from=months[0], month_to=months[1],
                    groups=tuple(group_sel), icd3=icd3, sex=None if sex == "all" else sex,
                    age_groups=tuple(ages), insurance=tuple(insurance),
                    setting=None if setting == "all" else setting, level=level)
aset = aset_v if level == "village" else aset_t
if drill:
    keep = aset.areas["parent_code"] == drill
    aset = queries.AreaSet(aset.areas[keep].reset_index(drop=True), aset.up)

frame = ui.cells_frame(f.years, version, url)
res = compute(engine, f, measure, standard=standard, public=public, frame=frame, aset=aset,
              pop_all=ui.population_rows(version, url))
table = res.table
unit = MEASURES[measure]
label = ui.t(f"m.{measure}")
if counts:
    table = table.assign(value=table["numerator"], ci_low=np.nan, ci_high=np.nan)
    label = ui.t("col.numerator")

# ---------------------------------------------------------------- headline figures
county = res.county
c1, c2, c3, c4 = st.columns(4)


def num(v: float) -> str:
    """One decimal for small figures, none from 1,000 up (so a CI fits its box)."""
    return "—" if pd.isna(v) else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.1f}")


c1.metric(f"{ui.t('map.county_value')} · {label}", num(county["value"]))
if not pd.isna(county.get("ci_low", np.nan)):
    c2.metric(ui.t("col.ci"), f"{num(county['ci_low'])} – {num(county['ci_high'])}")
c3.metric(ui.t("col.numerator"), f"{county['numerator']:,.0f}")
c4.metric(ui.t("col.denominator"), f"{county['denominator']:,.0f}")
if measure in ("in_county_rate", "outward_referral"):
    target = load_policy_targets().set_index("code").at["in_county_rate", "value"]
    shown = county["value"] if measure == "in_county_rate" else 100 - county["value"]
    st.caption(f"{ui.t('map.target')}: {ui.t('m.in_county_rate')} ≥ {target:g}% · "
               f"{ui.t('map.county_value')} {shown:.1f}% {'✅' if shown >= target else '⚠️'}")
    if county["numerator"] > 0 and not pd.isna(county.get("formal", np.nan)):
        out_n = county["denominator"] - county["numerator"] if measure == "in_county_rate" \
            else county["numerator"]
        st.caption(ui.t("map.referral_split", n=f"{out_n:,.0f}",
                        formal=f"{county['formal']:,.0f}",
                        formal_pct=county["formal"] / out_n * 100,
                        self=f"{out_n - county['formal']:,.0f}"))
for note in res.notes:
    st.caption("ℹ️ " + ui.t(f"map.{note}"))
if icd3 and measure.startswith("incidence"):
    st.caption("ℹ️ " + ui.t("map.custom_icd_note"))

# ---------------------------------------------------------------- map
bins = [float(x) for x in fixed.replace("，", ",").split(",") if x.strip()] if fixed else None
fig = mapview.choropleth(table, aset.areas, label, scheme=scheme, fixed_bins=bins,
                         tiles=basemap if show_tiles else None)
st.plotly_chart(fig, width="stretch", key="map",
                config={"toImageButtonOptions": {"format": "png", "filename": "healthmap"},
                        "displaylogo": False})
if aset.areas["schematic"].any():
    st.caption(ui.t("map.schematic"))

# ---------------------------------------------------------------- table + funnel
kind = "proportion" if unit == "%" else "rate"
scale = 100 if unit == "%" else 1e5
funnel_ok = measure in ("incidence", "episode_rate", "outward_referral", "in_county_rate") \
    and not counts
left, right = st.columns([1.1, 1])
with left:
    st.subheader(ui.t("map.table"))
    view = table.copy()
    view["reliability"] = np.select(
        [view["suppression"] == "secondary", view["suppressed"], view["unstable"]],
        [ui.t("map.suppressed_secondary"), ui.t("map.suppressed"), ui.t("map.unstable")],
        ui.t("ok"))
    if funnel_ok:
        out = mapview.funnel_outliers(table, float(county["value"]), kind, scale)
        view["outlier"] = out.map(lambda o: ui.t(f"out.{o}"))
    cols = {"area_name": ui.t("col.area"), "value": label, "ci_low": ui.t("col.ci_low"),
            "ci_high": ui.t("col.ci_high"), "numerator": ui.t("col.numerator"),
            "denominator": ui.t("col.denominator"), "reliability": ui.t("col.reliability")}
    if "outlier" in view:
        cols["outlier"] = ui.t("map.outlier")
    if measure == "outward_referral":
        cols.update({"formal": ui.t("col.formal"), "self_directed": ui.t("col.self")})
    shown = view[list(cols)].rename(columns=cols)
    st.dataframe(shown.round(1), hide_index=True, width="stretch", key="area_table")
    if public:
        st.caption(ui.t("map.public_suppression"))
    st.caption(ui.t("map.export"))
    def stamp() -> exports.Stamp:  # made at click time, so it carries the export time
        return exports.Stamp(user["username"] if user else "", f"{ui.t('map.title')} · {label}",
                             filters=f.describe())

    e1, e2 = st.columns(2)
    audit = {"on_click": ui.record_export, "kwargs": {"target": f"map:{measure}",
                                                      "detail": f.describe()}}
    # the files are built only when clicked (callable data), not on every rerun
    e1.download_button(ui.t("common.download_csv"), lambda: exports.to_csv_bytes(shown, stamp()),
                       f"healthmap_{measure}.csv", "text/csv", key="dl_csv", **audit)
    e2.download_button(ui.t("common.download_xlsx"),
                       lambda: exports.to_xlsx_bytes(shown, stamp()),
                       f"healthmap_{measure}.xlsx", key="dl_xlsx", **audit)
with right:
    if funnel_ok:
        st.subheader(ui.t("map.funnel"))
        st.plotly_chart(mapview.funnel_figure(table, float(county["value"]), kind, label, scale,
                                              lang),
                        width="stretch", key="funnel")
        st.caption(ui.t("map.funnel_help"))
    else:
        st.subheader(ui.t("map.explain"))
    st.markdown(i18n.explain(measure, lang))

# ---------------------------------------------------------------- explain one area
with st.expander(ui.t("map.explain"), expanded=False):
    pick = st.selectbox(ui.t("map.explain_area"), table["area_code"], key="explain_area",
                        format_func=lambda c: table.set_index("area_code").at[c, "area_name"])
    row = table.set_index("area_code").loc[pick]
    period = f"{min(f.years)}–{max(f.years)}, {ui.t('map.months')} {months[0]}–{months[1]}"
    if row["suppressed"]:
        st.write(ui.t("map.suppressed"))
    else:
        st.markdown(
            f"**{markdown_text(row['area_name'])}** · {label}: **{row['value']:,.2f}**  \n"
            f"{ui.t('col.numerator')}: {row['numerator']:,.0f} · "
            f"{ui.t('col.denominator')}: {row['denominator']:,.0f} · "
            f"{ui.t('col.ci')}: {row['ci_low']:,.2f} – {row['ci_high']:,.2f}  \n"
            f"{period}  \n" + i18n.explain(measure, lang))

# ---------------------------------------------------------------- breakdown panels
st.subheader(ui.t("map.panels"))
pan = mapview.panels(engine, f, frame=frame, aset=aset, public=public,
                     area_codes=aset.areas["code"].tolist() if drill else None)
p1, p2 = st.columns(2)
top = pan["top"].assign(name=lambda d: d["name_zh"].fillna(d["group_code"]))
p1.plotly_chart(px.bar(top.iloc[::-1], x="episodes", y="name", orientation="h",
                       labels={"episodes": ui.t("col.episodes"), "name": ui.t("col.group")},
                       title=ui.t("map.top_groups"), height=420), width="stretch", key="top")
age = pan["age"][pan["age"]["age_group"].isin(AGE_GROUPS)].copy()
age["signed"] = np.where(age["sex"] == "M", -age["episodes"], age["episodes"])
age["sex"] = age["sex"].map(lambda s: ui.t(f"sex.{s}"))
p2.plotly_chart(px.bar(age, y="age_group", x="signed", color="sex", orientation="h",
                       category_orders={"age_group": list(AGE_GROUPS)[::-1]},
                       labels={"signed": ui.t("col.episodes"), "age_group": ui.t("map.age"),
                               "sex": ui.t("map.sex")},
                       title=ui.t("map.age_sex"), height=420), width="stretch", key="pyramid")
p3, p4 = st.columns(2)
ins = pan["insurance"].dropna(subset=["episodes"]).assign(name=lambda d: d["insurance_type"].map(
    lambda s: ui.t(f"insurance.{s}")))
p3.plotly_chart(px.pie(ins, names="name", values="episodes", title=ui.t("map.insurance_panel"),
                       height=360), width="stretch", key="insurance_pie")
trend = pan["trend"].assign(period=lambda d: pd.to_datetime(
    dict(year=d["year"], month=d["month"], day=1)))
trend_fig = px.line(trend.sort_values("period"), x="period", y="episodes", markers=True,
                    labels={"episodes": ui.t("col.episodes"), "period": ""},
                    title=ui.t("map.trend"), height=360)
trend_fig.update_xaxes(tickformat="%Y-%m")
p4.plotly_chart(trend_fig, width="stretch", key="trend")

# ---------------------------------------------------------------- patient flow
st.subheader(ui.t("map.flow"))
flow_area = st.selectbox(ui.t("map.flow_area"), [None] + table["area_code"].tolist(),
                         key="flow_area", format_func=lambda c: ui.t("map.county_value")
                         if c is None else table.set_index("area_code").at[c, "area_name"])
finer = None if flow_area is None else [c for c, u in aset.up.items() if u == flow_area]
flows = queries.institution_cells(engine, f, queries.selected_icd3(engine, f), finer,
                                  frame=ui.institution_frame(f.years, version, url))
if flows.empty:
    st.info(ui.t("map.no_data"))
else:
    name = ui.t("map.county_value") if flow_area is None else \
        table.set_index("area_code").at[flow_area, "area_name"]
    fl1, fl2 = st.columns([1.3, 1])
    fl1.plotly_chart(mapview.flow_figure(flows, name, public=public), width="stretch",
                     key="sankey")
    ft = mapview.flow_table(flows, public=public).rename(columns={
        "dest": ui.t("col.destination"), "episodes": ui.t("col.episodes"),
        "share_pct": ui.t("col.share"), "cost_per_case": ui.t("col.cost_per_case")})
    fl2.dataframe(ft.drop(columns=["cost_sum", "fund_sum", "suppressed", "suppression"],
                          errors="ignore").round(1), hide_index=True,
                  width="stretch", key="flow_table")
    sv = mapview.potential_saving(flows, public=public)
    if not np.isnan(sv["saving"]):
        fl2.caption(ui.t("map.flow_saving", n=sv["episodes_out"], out=sv["cost_out"],
                         inn=sv["cost_in"], s=sv["saving"], f=sv["fund_outflow"]))

# ---------------------------------------------------------------- clusters
st.subheader(ui.t("map.cluster"))
if len(aset.areas) < 30:
    st.caption(ui.t("map.cluster_few", n=len(aset.areas)))
else:
    clusters = mapview.local_moran(table, aset.areas)
    st.dataframe(clusters, hide_index=True, width="stretch", key="moran")
