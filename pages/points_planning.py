"""积分统计 — planners: participation and points by township, activity and month (aggregates
only; 1-4 residents suppressed)."""

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from healthmap import access, mapview, queries
from healthmap.points import views
from healthmap.points.rules import load_rules

user = ui.guard("points_planning")
engine = ui.engine()
access.require(access.Actor.from_user(user), "points.report")
lang = ui.lang()
rules = load_rules()
st.title(ui.t("points.plan.title"))
st.caption(ui.t("points.plan.caption"))


@st.cache_data(ttl=600, show_spinner=False)
def entries(data_version: int, url: str) -> pd.DataFrame:
    return views.participation(ui.engine(url))


@st.cache_data(ttl=600, show_spinner=False)
def registered(data_version: int, url: str) -> pd.Series:
    return views.registered_by_area(ui.engine(url))


url = ui.database_url()
all_entries = entries(ui.version(), url)
years = sorted(pd.to_datetime(all_entries["date"]).dt.year.unique().tolist(), reverse=True)
if not years:
    st.info(ui.t("points.plan.no_data"))
    st.stop()
year = st.selectbox(ui.t("points.plan.year"), years, key="pp_year")
e = all_entries[pd.to_datetime(all_entries["date"]).dt.year == year]

areas = queries.area_set(engine, "township").areas
names = dict(zip(areas["code"], areas["name"]))
c1, c2 = st.columns(2)
total = views.summarise(e.assign(all="all"), ["all"])
c1.metric(ui.t("points.plan.participants"), f"{total['residents'].iloc[0]:,.0f}"
          if not total["suppressed"].iloc[0] else "—")
c2.metric(ui.t("points.plan.points"), f"{total['points'].iloc[0]:,.0f}"
          if not total["suppressed"].iloc[0] else "—")

table = views.township_map_table(e, areas, registered(ui.version(), url))
st.plotly_chart(mapview.choropleth(table, areas, ui.t("points.plan.rate"), lang=lang),
                width="stretch",
                key="pp_map")

st.subheader(ui.t("points.plan.by_activity"))
by = views.summarise(e, ["area_code", "activity"])
by["area_name"] = by["area_code"].map(names)
by["activity"] = by["activity"].map(lambda c: rules.activity(c).name[lang])
by["shown"] = ["—" if hidden else f"{v:,.0f}" for v, hidden in zip(by["residents"],
                                                                   by["suppressed"])]
wide = by.set_index(["area_name", "activity"])["shown"].unstack(fill_value="0")
ui.dataframe(wide.rename_axis(index=ui.t("points.col.area_name"), columns=None),
             width="stretch")

st.subheader(ui.t("points.plan.by_month"))
monthly = views.summarise(e, ["month"])
fig = px.bar(monthly, x="month", y="residents",
             labels={"month": ui.t("points.col.month"), "residents": ui.t("points.col.residents")})
fig.update_layout(height=300, margin=dict(l=0, r=0, t=10, b=0))
fig.update_xaxes(tickformat="%Y-%m")  # numeric months: no English month names
st.plotly_chart(fig, width="stretch", key="pp_month")
