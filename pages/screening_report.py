"""Screening overview (aggregates only, no personal data): risk tiers by township on a map
and a table, the screening funnel with uptake compared fairly (funnel plot) against the
acceptable / achievable levels, and the fee reductions finance owes each institution."""

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

import ui
from healthmap import access, ledger, mapview
from healthmap.metrics import proportion_ci
from healthmap.screening import rules, views
from healthmap.screening.settings import load_settings

user = ui.guard("screening_report")
actor = access.Actor.from_user(user)
engine = ui.engine()
lang = ui.lang()
st.title(ui.t("screening.report_title"))


def headers(df: pd.DataFrame) -> pd.DataFrame:
    """Column names in the user's language (names already translated stay as they are)."""
    return df.rename(columns={c: ui.t(f"screening.col.{c}") for c in df.columns
                              if f"screening.col.{c}" in ui.i18n.TEXT})


sets = rules.load_all()
rid = ui.select("scr_rep_set", ui.t("screening.ruleset"), list(sets),
                lambda k: f"{sets[k].name[lang]} · v{sets[k].version}")
rs = sets[rid]
areas = ui.area_set("township", ui.version(), ui.database_url()).areas
with Session(engine) as s:
    tiers = views.tier_counts(s, actor, rid)
    fun = views.funnel(s, actor, rid)
    fees = views.fee_totals(s, actor, rid)

st.subheader(ui.t("screening.map_title"))
if tiers["assessed"].sum() == 0:
    st.info(ui.t("screening.no_run"))
else:
    lo, hi = proportion_ci(tiers["high_risk"].to_numpy(), tiers["assessed"].clip(lower=1)
                           .to_numpy())
    share = pd.DataFrame({
        "area_code": tiers["area_code"], "area_name": tiers["area_name"],
        "value": tiers["high_risk_pct"].astype(float),
        "ci_low": np.where(tiers["assessed"] > 0, lo * 100, np.nan),
        "ci_high": np.where(tiers["assessed"] > 0, hi * 100, np.nan),
        "numerator": tiers["high_risk"].astype(float),
        "denominator": tiers["assessed"].astype(float), "suppressed": False})
    st.plotly_chart(mapview.choropleth(share, areas, ui.t("screening.col.high_risk_pct"),
                                       lang=lang), key="scr_map", width="stretch")
    if areas["schematic"].any():
        st.caption(ui.t("screening.schematic"))
    st.subheader(ui.t("screening.tiers_title"))
    # "high_risk" (meets the rule) is the eligible tier's column again: shown once
    cols = [c for c in tiers.columns if c not in ("area_code", "high_risk")]
    shown = tiers[cols].rename(columns={t: ui.t(f"screening.tier.{t}") for t in
                                        rs.tier_ids + ["cannot_assess", "not_target"]
                                        if f"screening.tier.{t}" in ui.i18n.TEXT})
    ui.dataframe(headers(shown.round({"high_risk_pct": 1})), hide_index=True, width="stretch",
                 key="scr_tiers")

st.subheader(ui.t("screening.funnel_title"))
settings = load_settings()
acceptable, achievable = settings.uptake(rs.target)
shown = fun.drop(columns=["area_code"]).assign(
    uptake_pct=fun["uptake_pct"].round(1),
    uptake_level=fun["uptake_level"].map(lambda v: ui.t(f"screening.level.{v}")))
ui.dataframe(headers(shown), hide_index=True, width="stretch", key="scr_funnel")
st.caption(ui.t("screening.uptake_levels", a=f"{acceptable:g}", b=f"{achievable:g}",
                basis=settings.basis["uptake"][ui.lang()]))
up = views.uptake_table(fun)
county = fun[fun["area_code"] == "county"].iloc[0]
if county["invited"] > 0:
    st.subheader(ui.t("screening.uptake_funnel"))
    fig = mapview.funnel_figure(up, float(county["uptake_pct"]), "proportion",
                                ui.t("screening.col.uptake_pct"), 100, lang=lang)
    for level, name in ((acceptable, "acceptable"), (achievable, "achievable")):
        fig.add_hline(y=level, line=dict(color="#2ca25f" if name == "achievable" else "#fdae6b",
                                         dash="dashdot", width=1),
                      annotation_text=ui.t(f"screening.{name}"),
                      annotation_position="bottom left")
    st.plotly_chart(fig, key="scr_funnel_plot", width="stretch")
    st.subheader(ui.t("screening.uptake_title"))
    st.plotly_chart(mapview.choropleth(up, areas, ui.t("screening.col.uptake_pct"), lang=lang),
                    key="scr_uptake_map", width="stretch")
else:
    st.info(ui.t("screening.no_data"))

st.subheader(ui.t("screening.fees_title"))
if fees.empty:
    st.info(ui.t("screening.no_data"))
else:
    total = int(fees["reduction_fen"].sum())
    st.metric(ui.t("screening.fees_title"), f"{ledger.fen_to_yuan(total):,} ¥")
    st.caption(ui.t("screening.fees_total", n=int(fees["reductions"].sum()),
                    yuan=f"{ledger.fen_to_yuan(total):,}"))
    table = fees.drop(columns=["fee_fen", "reduction_fen"]).assign(
        fee_yuan=fees["fee_yuan"].astype(str), reduction_yuan=fees["reduction_yuan"].astype(str))
    ui.dataframe(headers(table), hide_index=True, width="stretch", key="scr_fees")
