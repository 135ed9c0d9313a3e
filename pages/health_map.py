"""The health map: widgets in, healthmap.mapmodel's tables and figures out (drawn here)."""

import numpy as np
import pandas as pd
import streamlit as st

import ui
from healthmap.textsafe import markdown_text
from healthmap import exports, i18n, mapmodel, persons, publictables, queries, targets
from healthmap.codes import AGE_GROUPS, INSURANCE_TYPES
from healthmap.config import tile_basemap
from healthmap.measures import REGISTRY
from healthmap.reference import STANDARD_LABELS, cached_disease_groups

user = ui.guard("map")
public = user is None
url = ui.database_url()
lang = ui.lang()
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
    if public:
        # the public chooses one of the published tables and nothing else (decisions.md
        # §10): year × township × disease group, with the sex and age-band margins
        st.caption(ui.t("map.public_tables"))
        measure, months, icd_text, setting, sex, ages, insurance = ("incidence", (1, 12), "",
                                                                    "all", "all", (), ())
        standard, counts, lookback = "china_2000", False, persons.DEFAULT_LOOKBACK
        years = [st.selectbox(ui.t("map.year"), years_all[::-1], key="pub_year")]
        codes = groups["group_code"].tolist()
        group_sel = [st.selectbox(ui.t("map.group"), codes, key="pub_group",
                                  index=codes.index("C_COLORECTAL") if "C_COLORECTAL" in codes
                                  else 0, format_func=lambda g: group_names[g])]
        margin = ui.select("pub_margin", ui.t("map.margin"), list(publictables.MARGINS),
                           lambda m: ui.t(f"margin.{m}"))
    else:
        margin = "all"
        measure = ui.select("measure", ui.t("map.measure"), list(REGISTRY),
                            lambda m: ui.t(f"m.{m}"))
        years = st.multiselect(ui.t("map.years"), years_all, default=years_all[-1:], key="years",
                               placeholder=ui.t("common.choose"))
        months = st.slider(ui.t("map.months"), 1, 12, (1, 12), key="months")
        group_sel = st.multiselect(ui.t("map.groups"), groups["group_code"].tolist(), key="groups",
                                   placeholder=ui.t("common.all_search"),
                                   format_func=lambda g: group_names[g])
        icd_text = st.text_input(ui.t("map.icd"), key="icd")
        # a mean cost over stays and visits together means nothing: no "all" for it (issue 9)
        setting = ui.select("setting", ui.t("map.setting"), ["inpatient", "outpatient"] + (
                            [] if REGISTRY[measure].kind == "mean" else ["all"]),
                            lambda s: ui.t(f"setting.{s}") if s != "all" else ui.t("common.all"),
                            radio=True)
        sex = ui.select("sex", ui.t("map.sex"), ["all", "M", "F"],
                        lambda s: ui.t(f"sex.{s}") if s != "all" else ui.t("common.all"), radio=True)
        ages = st.multiselect(ui.t("map.age"), list(AGE_GROUPS), key="ages",
                              placeholder=ui.t("common.all"))
        insurance = st.multiselect(ui.t("map.insurance"), list(INSURANCE_TYPES), key="insurance",
                                   placeholder=ui.t("common.all"),
                                   format_func=lambda s: ui.t(f"insurance.{s}"))
        standard = ui.select("standard", ui.t("map.standard"), list(STANDARD_LABELS),
                             lambda s: STANDARD_LABELS[s][0 if lang == "zh" else 1],
                             disabled=not REGISTRY[measure].by_age)
        # new cases (新发) need a look-back; none gives diagnosed cases (就诊患者), issue 9
        st.session_state.setdefault("lookback", persons.DEFAULT_LOOKBACK)
        person_rate = REGISTRY[measure].counts_persons and REGISTRY[measure].family == "rate"
        lookback = ui.select("lookback", ui.t("map.lookback"), list(persons.LOOKBACK_CHOICES),
                             lambda n: ui.t("lookback.0") if n == 0 else ui.t("lookback.n", n=n),
                             disabled=not person_rate)
    scheme = ui.select("scheme", ui.t("map.scheme"), list(ui.SCHEMES),
                       lambda s: ui.t(f"scheme.{s}"))
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
level, drill = "township", None
if len(ui.area_set("village", version, url).areas) and not public:
    level = ui.select("level", ui.t("map.level"), ["township", "village"],
                      lambda v: ui.t(f"level.{v}"), radio=True)
    if level == "village":
        names = aset_t.areas.set_index("code")["name"]
        drill = st.selectbox(ui.t("map.drill"), [None] + aset_t.areas["code"].tolist(),
                             key="drill", format_func=lambda c: ui.t("common.all") if c is None
                             else names[c])
f = publictables.filters(years[0], group_sel[0]) if public else queries.Filters(
    years=tuple(sorted(years)), month_from=months[0], month_to=months[1],
    groups=tuple(group_sel), icd3=icd3, sex=None if sex == "all" else sex,
    age_groups=tuple(ages), insurance=tuple(insurance),
    setting=None if setting == "all" else setting, level=level)
bins = tuple(float(x) for x in fixed.replace("，", ",").split(",") if x.strip())
inp = mapmodel.MapInputs(f, measure, standard, public, counts, scheme, bins, drill, lang,
                         margin, lookback=lookback)
m = REGISTRY[measure]
res = ui.map_indicator(inp, version, url)
label = mapmodel.value_label(inp, res)

# ---------------------------------------------------------------- headline figures
county = res.county
# tiles as wide as their figures, wrapping to a second line when the row is too narrow
# (in four equal columns a cost interval such as "46,185 – 52,259" was cut off, §3.7)
with st.container(horizontal=True, gap="large", key="headline"):
    st.metric(f"{ui.t('map.county_value')} · {label}", mapmodel.number(county["value"]) or "—",
              width="content")
    if not pd.isna(county.get("ci_low", np.nan)):
        st.metric(ui.t("col.ci"), f"{mapmodel.number(county['ci_low'])} – "
                                  f"{mapmodel.number(county['ci_high'])}", width="content")
    st.metric(ui.t("col.numerator"), f"{county['numerator']:,.0f}", width="content")
    st.metric(ui.t("col.denominator"), f"{county['denominator']:,.0f}", width="content")
if m.family == "referral":
    tgt, shown = targets.get("in_county_rate"), county["inside_pct"]
    verdict = (ui.t("board.status." + targets.status(shown, tgt.value, tgt.comparison, ci=(
        county["inside_low"], county["inside_high"]))) if targets.applies(tgt.code, f)
        else ui.t("board.target_subgroup"))
    st.caption(f"{ui.t('map.target')}: {ui.t('m.in_county_rate')} {tgt.text(ui.lang())} · "
               f"{ui.t('map.county_value')} {shown:.1f}% · {verdict}")
    out_n = county["denominator"] - county["inside"]
    if out_n > 0 and not pd.isna(county["formal"]):
        st.caption(ui.t("map.referral_split", n=f"{out_n:,.0f}", formal=f"{county['formal']:,.0f}",
                        formal_pct=county["formal"] / out_n * 100,
                        self=f"{out_n - county['formal']:,.0f}"))
if not public and (m.counts_persons or m.family == "referral"):  # what is counted
    st.caption("ℹ️ " + mapmodel.basis_text(res, lang))
for note in res.notes:
    st.caption("ℹ️ " + ui.t(f"map.{note}"))

# ---------------------------------------------------------------- map
st.plotly_chart(ui.map_figure(inp, version, url, basemap if show_tiles else None),
                width="stretch", key="map",
                config={"toImageButtonOptions": {"format": "png", "filename": "healthmap"},
                        "displaylogo": False})
if ui.area_set(level, version, url).areas["schematic"].any():
    st.caption(ui.t("map.schematic"))

# ---------------------------------------------------------------- table + funnel
funnel = ui.funnel_figure(inp, version, url)
st.subheader(ui.t("map.table"))
view = ui.area_view(inp, version, url)
# every township row visible without an inner scroll bar (villages scroll past 20 rows)
ui.dataframe(view, hide_index=True, width="stretch", key="area_table",
             height=35 * (min(len(view), 20) + 1) + 3)
if public:
    st.caption(ui.t("map.public_suppression"))


def stamp() -> exports.Stamp:  # made at click time, so it carries the export time
    return exports.Stamp(user["username"] if user else "", f"{ui.t('map.title')} · {label}",
                         filters=mapmodel.describe(f, lang))


download = ui.export_table(inp, version, url)
sheet = ui.t("map.table")
e1, e2, _ = st.columns([1, 1, 3])
audit = {"on_click": ui.record_export, "kwargs": {"target": f"map:{measure}",
                                                  "detail": f.describe()}}
# the files are built only when clicked (callable data), not on every rerun
e1.download_button(ui.t("common.download_csv"), lambda: exports.to_csv_bytes(download, stamp()),
                   f"healthmap_{measure}.csv", "text/csv", key="dl_csv", **audit)
e2.download_button(ui.t("common.download_xlsx"),
                   lambda: exports.to_xlsx_bytes(download, stamp(), sheet=sheet),
                   f"healthmap_{measure}.xlsx", key="dl_xlsx", **audit)
left, right = st.columns([1.1, 1]) if funnel is not None else (st.container(), None)
if funnel is not None:
    with left:
        st.subheader(ui.t("map.funnel"))
        st.plotly_chart(funnel, width="stretch", key="funnel")
        st.caption(ui.t("map.funnel_help"))
    with right:
        st.subheader(ui.t("map.explain"))
        st.markdown(i18n.explain(measure, lang))
else:
    st.subheader(ui.t("map.explain"))
    st.markdown(i18n.explain(measure, lang))


# ---------------------------------------------------------------- explain one area
@st.fragment
def explain_one_area() -> None:
    table = res.table.set_index("area_code")
    with st.expander(ui.t("map.explain_one"), expanded=False):
        pick = st.selectbox(ui.t("map.explain_area"), table.index, key="explain_area",
                            format_func=lambda c: table.at[c, "area_name"])
        row = table.loc[pick]
        period = f"{f.period}, {ui.t('map.months')} {months[0]}–{months[1]}"
        if row["suppressed"]:
            st.write(ui.t("map.suppressed"))
        else:
            n = mapmodel.number
            st.markdown(f"**{markdown_text(row['area_name'])}** · {label}: **{n(row['value'], 2) or '—'}**  \n"
                        f"{ui.t('col.numerator')}: {n(row['numerator'], 0)} · "
                        f"{ui.t('col.denominator')}: {n(row['denominator'], 0)} · "
                        f"{ui.t('col.ci')}: {n(row['ci_low'], 2)} – {n(row['ci_high'], 2)}  \n"
                        f"{period}")


explain_one_area()
ui.warm_years(version, url)  # the other years, in the background (first visit only)

if public:  # breakdowns and flows are staff views: the public sees the published tables
    st.caption(ui.t("map.public_only_tables"))
    st.stop()

# ---------------------------------------------------------------- on demand: below the fold
# The breakdowns, the patient flows and the clusters are computed and drawn only while
# their expander is open (lazy expanders, each in its own fragment: opening one reruns
# only it), so a filter change redraws the figures in view, not five charts below them.
@st.fragment
def breakdowns() -> None:
    box = ui.on_demand("open_panels", ui.t("map.panels"))
    if not box.open:
        return
    figs = ui.panel_figures(f, public, drill, lang, version, url)
    with box:
        p1, p2 = st.columns(2)
        p1.plotly_chart(figs["top"], width="stretch", key="top")
        p2.plotly_chart(figs["pyramid"], width="stretch", key="pyramid")
        p3, p4 = st.columns(2)
        p3.plotly_chart(figs["insurance_pie"], width="stretch", key="insurance_pie")
        p4.plotly_chart(figs["trend"], width="stretch", key="trend")


@st.fragment
def patient_flow() -> None:
    box = ui.on_demand("open_flow", ui.t("map.flow"))
    if not box.open:
        return
    with box:
        names = res.table.set_index("area_code")["area_name"]
        flow_area = st.selectbox(ui.t("map.flow_area"), [None] + names.index.tolist(),
                                 key="flow_area", format_func=lambda c: ui.t("map.county_value")
                                 if c is None else names[c])
        name = ui.t("map.county_value") if flow_area is None else names[flow_area]
        fv = ui.flow_view(f, drill, flow_area, name, public, lang, version, url)
        if fv.figure is None:
            st.info(ui.t("map.no_data"))
            return
        fl1, fl2 = st.columns([1.3, 1])
        fl1.plotly_chart(fv.figure, width="stretch", key="sankey")
        ui.dataframe(where=fl2, data=fv.table, hide_index=True, width="stretch", key="flow_table")
        sv = fv.saving
        if not np.isnan(sv["saving"]):
            fl2.caption(ui.t("map.flow_saving", n=sv["episodes_out"], out=sv["cost_out"],
                             inn=sv["cost_in"], s=sv["saving"], f=sv["fund_outflow"]))


@st.fragment
def clusters() -> None:
    box = ui.on_demand("open_cluster", ui.t("map.cluster"))
    if not box.open:
        return
    with box:
        n_areas = len(res.table)
        if n_areas < 30:
            st.caption(ui.t("map.cluster_few", n=n_areas))
        else:
            ui.dataframe(ui.local_moran(inp, version, url), hide_index=True, width="stretch",
                         key="moran")


st.caption(ui.t("map.on_demand"))
breakdowns()
patient_flow()
clusters()
