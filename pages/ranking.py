"""Key-specialty priority ranking and the catalogue drafts (issue 11, domain.md §5)."""

import numpy as np
import pandas as pd
import streamlit as st

import ui
from healthmap import (access, catalogue, catalogue_export, indicators, mapview, ranking,
                       ranking_charts, ranking_data)
from healthmap import persons as persons_mod
from healthmap.queries import Filters
from healthmap.reference import disease_label

user = ui.guard("ranking")
actor = access.Actor.from_user(user)
engine = ui.engine()
url = ui.database_url()
lang = ui.lang()
zh = lang == "zh"
version = ui.version()
SPEC = "specialty_zh" if zh else "specialty_en"


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def case_table(years: tuple, data_version: int, url: str) -> pd.DataFrame:
    """The person counts of the indicator table: the same for every setting."""
    return ranking_data.group_cases(ui.engine(url), years,
                                    pop_rows=ui.population_rows(data_version, url),
                                    all_years=ui.periods(data_version, url))


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def indicator_table(years: tuple, setting, data_version: int, url: str) -> pd.DataFrame:
    return ranking_data.group_indicators(ui.engine(url), years, setting,
                                         frame=ui.cells_frame(years, data_version, url),
                                         cases=case_table(years, data_version, url))


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def persons(years: tuple, data_version: int, url: str) -> pd.Series:
    return ranking_data.specialty_persons(ui.engine(url), years)


@st.cache_data(ttl=900, max_entries=16, show_spinner=False)
def ranked(years: tuple, setting, criteria: tuple, weights: tuple | None, method: str,
           top_n: int, data_version: int, url: str) -> dict:
    table = indicator_table(years, setting, data_version, url)
    w = None if weights is None else dict(zip(criteria, weights))
    # the specialties' persons are counted last (below): the rest of the page first
    return ranking_data.rank_groups(table, criteria, w, method, top_n=top_n)


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def referral_map(years: tuple, setting, groups: tuple, data_version: int, url: str, lang: str):
    e = ui.engine(url)
    f = Filters(years=years, groups=groups, setting=setting)
    res = indicators.compute(e, f, "outward_referral",
                             frame=ui.cells_frame(years, data_version, url))
    areas = ui.area_set("township", data_version, url).areas
    return mapview.choropleth(res.table, areas, ui.t("ranking.c.outward_referral"), lang=lang)


def tier_label(v):
    return ui.t(f"ranking.tier.{v}") if isinstance(v, str) else v


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: ui.t(f"ranking.col.{c}") for c in df.columns})


st.title(ui.t("ranking.title"))
st.caption(ui.t("ranking.intro"))
years_all = ui.periods(version, url)
if not years_all:
    st.info(ui.t("ranking.no_data"))
    st.stop()

# ---------------------------------------------------------------- choices
c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
years = tuple(sorted(c1.multiselect(ui.t("ranking.years"), years_all, default=years_all[-1:],
                                    key="rk_years")))
# radios through ui.select: a plain radio shows no choice after a language switch
with c2:
    setting_opt = ui.select("rk_setting", ui.t("ranking.setting"),
                            ["inpatient", "outpatient", "all"],
                            lambda s: ui.t(f"setting.{s}") if s != "all"
                            else ui.t("common.all"), radio=True)
with c3:
    method = ui.select("rk_method", ui.t("ranking.method"), ["topsis", "weighted_sum"],
                       lambda m: ui.t(f"ranking.method.{m}"), radio=True)
top_n = int(c4.number_input(ui.t("ranking.top_n"), 3, 30, 10, key="rk_top_n"))
with_fund = st.toggle(ui.t("ranking.fund"), key="rk_fund")
st.caption(ui.t("ranking.setting_note", n=persons_mod.DEFAULT_LOOKBACK))
if not years:
    st.info(ui.t("ranking.no_data"))
    st.stop()
setting = None if setting_opt == "all" else setting_opt
criteria = ranking_data.DEFAULT_CRITERIA + (("fund_outflow",) if with_fund else ())
table = indicator_table(years, setting, version, url)

# ---------------------------------------------------------------- weights
st.subheader(ui.t("ranking.weights"))
_, x, _, _ = ranking_data.decision_matrix(table, criteria)
if len(x) < 2:
    st.info(ui.t("ranking.no_data"))
    st.stop()
entropy = ranking.entropy_weights(x)
wl, wr = st.columns([3, 2])
with wr:
    source = ui.select("rk_source", ui.t("ranking.weight_source"), ["entropy", "planner"],
                       lambda s: ui.t(f"ranking.weight_source.{s}"), radio=True)
sliders = [wr.slider(ui.t(f"ranking.c.{c}"), 0, 100, int(round(e * 100)), key=f"rk_w_{c}")
           for c, e in zip(criteria, entropy)]
planner = np.array(sliders, dtype=float)
if source == "planner" and planner.sum() == 0:
    planner = np.ones(len(criteria))
used = entropy if source == "entropy" else planner / planner.sum()
ui.dataframe(where=wl, data=pd.DataFrame({
    ui.t("ranking.criterion"): [ui.t(f"ranking.c.{c}") for c in criteria],
    ui.t("ranking.direction"): [ui.t("ranking.higher")] * len(criteria),
    ui.t("ranking.w_entropy"): [f"{w:.1%}" for w in entropy],
    ui.t("ranking.w_planner"): [f"{w:.1%}" for w in planner / planner.sum()],
    ui.t("ranking.w_used"): [f"{w:.1%}" for w in used]}), hide_index=True, width="stretch")
wl.caption(ui.t("ranking.weights_caption"))
if table["incidence"].isna().all():  # no population for the period: no rates, no weight
    wl.warning(ui.t("ranking.no_population"))

result = ranked(years, setting, criteria,
                None if source == "entropy" else tuple(round(float(w), 6) for w in used),
                method, top_n, version, url)
groups = result["groups"]

# ---------------------------------------------------------------- indicator table
st.subheader(ui.t("ranking.table"))
show = table.assign(group=np.where(table["unstable"], disease_label(table, lang) + " ⚠",
                                   disease_label(table, lang)),
                    specialty=table[SPEC])
cols = ["group", "specialty", "new_cases", "incidence", "asr", "episodes", "out_episodes",
        "outward_referral", "cost_per_case", "cost_in_county", "cost_out_county",
        "fund_outflow", "trend", "trend_cases"]
ui.dataframe(labelled(show[show["new_cases"].gt(0) | show["episodes"].gt(0)][cols]
                      .sort_values("new_cases", ascending=False)),
             hide_index=True, width="stretch", key="rk_table", column_config={
                 ui.t("ranking.col.trend_cases"): st.column_config.LineChartColumn(
                     ui.t("ranking.col.trend_cases")),
                 **{ui.t(f"ranking.col.{c}"): st.column_config.NumberColumn(format="%.1f")
                    for c in ("incidence", "asr", "outward_referral", "trend")},
                 **{ui.t(f"ranking.col.{c}"): st.column_config.NumberColumn(format="%.0f")
                    for c in ("cost_per_case", "cost_in_county", "cost_out_county",
                              "fund_outflow")}})
st.caption(ui.t("ranking.unstable_note"))
if table["case_basis"].eq("diagnosed").any():  # a period the data cannot look back from
    st.caption("ℹ️ " + ui.t("ranking.cases_diagnosed"))

# ---------------------------------------------------------------- ranking and stability
st.subheader(ui.t("ranking.result"))
view = groups.assign(group=np.where(groups["unstable"], disease_label(groups, lang) + " ⚠",
                                     disease_label(groups, lang)),
                     specialty=groups[SPEC], tier=groups["tier"].map(tier_label))
ui.dataframe(labelled(view[["rank", "tier", "group", "specialty", "score", "rank_low",
                            "rank_high", "top_share", "rank_other"]]),
             hide_index=True, width="stretch", key="rk_ranking", column_config={
                 ui.t("ranking.col.score"): st.column_config.NumberColumn(format="%.3f"),
                 ui.t("ranking.col.top_share"): st.column_config.ProgressColumn(
                     min_value=0.0, max_value=1.0, format="percent")})
st.subheader(ui.t("ranking.stability"))
st.plotly_chart(ranking_charts.stability_figure(groups, lang), key="rk_stability")
st.caption(ui.t("ranking.stability_note", j=20, runs=500, n=top_n, n2=2 * top_n))
left, right = st.columns([1, 1])
with left:
    st.subheader(ui.t("ranking.compare"))
    st.plotly_chart(ranking_charts.compare_figure(groups, method, lang), key="rk_compare")
    st.caption(ui.t("ranking.spearman", r=f"{result['spearman']:.2f}"))
with right:
    moved = groups.assign(diff=(groups["rank_other"] - groups["rank"]).abs()).sort_values(
        "diff", ascending=False).head(8)
    ui.dataframe(labelled(moved.assign(group=disease_label(moved, lang))[["group", "rank", "rank_other"]]),
                 hide_index=True, width="stretch", key="rk_moved")

# ---------------------------------------------------------------- specialties
st.subheader(ui.t("ranking.rollup"))
spec_slot = st.empty()  # filled once the specialties' persons are counted (end of the map)
spec_slot.caption(ui.t("ranking.rollup_counting"))

# ---------------------------------------------------------------- map
st.subheader(ui.t("ranking.map"))
names = dict(zip(groups["group_code"], disease_label(groups, lang)))
map_groups = st.multiselect(ui.t("ranking.map_groups"), list(groups["group_code"]),
                            default=list(groups["group_code"][:3]), key="rk_map_groups",
                            format_func=lambda g: names.get(g, g))
if map_groups:
    st.plotly_chart(referral_map(years, setting, tuple(map_groups), version, url, lang),
                    key="rk_map")
st.page_link("pages/health_map.py", label=ui.t("ranking.map_link"), icon=":material/map:")

specialties = ranking.with_persons(result["specialties"], persons(years, version, url))
spec = specialties.assign(specialty=lambda d: d[SPEC], tier=lambda d: d["tier"].map(tier_label))
with spec_slot.container():
    ui.dataframe(labelled(spec[["rank", "tier", "specialty", "score", "n_groups", "persons",
                                "drivers"]]), hide_index=True, width="stretch", key="rk_spec",
                 column_config={ui.t("ranking.col.score"):
                                st.column_config.NumberColumn(format="%.3f")})
    st.caption(ui.t("ranking.rollup_note"))

# ---------------------------------------------------------------- drafts and catalogues
st.divider()
st.subheader(ui.t("ranking.drafts"))
cur = catalogue.current(engine)
if cur is None:
    st.info(ui.t("ranking.no_current"))
elif cur["overdue"]:
    st.warning(ui.t("ranking.overdue", due=cur["review_due"]))
else:
    st.success(ui.t("ranking.current", name=cur["name"], adopted=cur["adopted_at"].date(),
                    due=cur["review_due"]))

if access.can(actor, "catalogue.draft"):
    with st.form("rk_save"):
        name = st.text_input(ui.t("ranking.draft_name"), key="rk_draft_name")
        note = st.text_input(ui.t("ranking.draft_note"), key="rk_draft_note")
        if st.form_submit_button(ui.t("ranking.save")):
            try:
                catalogue.save_draft(
                    engine, actor, name, years=years, setting=setting, method=method,
                    criteria=criteria, weights=result["weights"], weight_source=source,
                    entropy_weights=result["entropy"], groups=groups,
                    specialties=specialties, top_n=top_n, runs=500,
                    seed=ranking_data.ranking_stability.DEFAULT_SEED, jitter=0.2,
                    note=note or None)
                st.success(ui.t("ranking.saved", name=name.strip()))
            except catalogue.CatalogueError as exc:
                st.error(str(exc))

all_drafts = catalogue.drafts(engine)
if all_drafts.empty:
    st.stop()
ui.dataframe(labelled(all_drafts.assign(status=all_drafts["status"].map(
    lambda s: ui.t(f"ranking.status.{s}")))[["name", "status", "years", "method",
                                            "created_by", "created_at", "valid_until",
                                            "included"]]),
    hide_index=True, width="stretch", key="rk_drafts")
labels = dict(zip(all_drafts["id"], all_drafts["name"]))
pick = st.selectbox(ui.t("ranking.pick_draft"), list(all_drafts["id"]), key="rk_pick",
                    format_func=lambda i: labels[i])
info = catalogue.draft(engine, pick)
ent = catalogue.entries(engine, pick)
ent_view = ent.assign(specialty=ent[SPEC], tier=ent["tier"].map(tier_label),
                      decision=ent["decision"].map(
                          lambda d: ui.t(f"ranking.decision.{d}") if isinstance(d, str) else ""))
ui.dataframe(labelled(ent_view[["rank", "tier", "specialty", "score", "persons", "drivers",
                                "decision", "reason", "decided_by"]]),
             hide_index=True, width="stretch", key="rk_entries")
adopted = info["status"] == "adopted"
if adopted:
    st.info(ui.t("ranking.frozen") + " " + ui.t("ranking.adopted", due=info["valid_until"]))
elif access.can(actor, "catalogue.decide"):
    spec_names = dict(zip(ent["specialty_code"], ent[SPEC]))
    with st.form("rk_decide"):
        d1, d2 = st.columns([1, 1])
        code = d1.selectbox(ui.t("ranking.specialty"), list(ent["specialty_code"]),
                            key="rk_dec_spec", format_func=lambda c: spec_names[c])
        decision = d2.radio(ui.t("ranking.decision"), list(catalogue.DECISIONS),
                            key="rk_dec", horizontal=True,
                            format_func=lambda d: ui.t(f"ranking.decision.{d}"))
        reason = st.text_input(ui.t("ranking.reason"), key="rk_dec_reason")
        if st.form_submit_button(ui.t("ranking.record")):
            try:
                catalogue.decide(engine, actor, pick, code, decision, reason)
                st.success(ui.t("ranking.recorded"))
                st.rerun()
            except catalogue.CatalogueError as exc:
                st.error(str(exc))
if not adopted and access.can(actor, "catalogue.adopt"):
    if st.button(ui.t("ranking.adopt"), key="rk_adopt"):
        try:
            due = catalogue.adopt(engine, actor, pick)
            st.success(ui.t("ranking.adopted", due=due))
            st.rerun()
        except catalogue.CatalogueError as exc:
            st.error(str(exc))
with st.expander(ui.t("ranking.history")):
    hist = catalogue.decision_history(engine, pick)
    ui.dataframe(labelled(hist.assign(decision=hist["decision"].map(
        lambda d: ui.t(f"ranking.decision.{d}")))), hide_index=True, width="stretch")
others = [i for i in all_drafts["id"] if i != pick]
if others:
    with st.expander(ui.t("ranking.compare_with")):
        other = st.selectbox(ui.t("ranking.compare_with"), others, key="rk_other",
                             format_func=lambda i: labels[i])
        cmp = catalogue.compare(engine, other, pick)
        ui.dataframe(labelled(cmp.assign(specialty=cmp[SPEC])[[
            "specialty", "rank_a", "decision_a", "rank_b", "decision_b", "changed"]]),
            hide_index=True, width="stretch")
st.download_button(ui.t("ranking.export"),
                   lambda: catalogue_export.workbook(engine, pick, actor.username, lang),
                   f"key_specialty_catalogue_{pick}.xlsx", key="rk_export",
                   on_click=ui.record_export,
                   kwargs={"target": f"catalogue:{pick}", "detail": info["name"]})
