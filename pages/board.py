"""The leaders' indicator board (issue 10): tiles with targets, outflow, townships, maps,
trends, aggregate indicators, subsidies, the 两病 report and the briefing."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from healthmap import board, board_maps, i18n, targets

user = ui.guard("board")
engine = ui.engine()
url = str(engine.url)
lang = ui.lang()
version = ui.version()


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def cells(data_version: int, url: str) -> pd.DataFrame:
    return board.board_cells(ui.engine(url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def screening(data_version: int, url: str) -> pd.DataFrame:
    return board.screening_cases(ui.engine(url))


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def outflow(year: int, months: int, data_version: int, url: str) -> pd.DataFrame:
    return board.outflow_by_group(board.group_cells(ui.engine(url), year, months))


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def townships(year: int, lang: str, data_version: int, url: str):
    return board_maps.funnel(ui.engine(url), year, lang)


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def maps(year: int, groups: tuple, lang: str, data_version: int, url: str):
    return board_maps.small_multiples(ui.engine(url), year, groups, lang)


st.title(ui.t("board.title"))
c = cells(version, url)
if c.empty:
    st.info(ui.t("board.no_data"))
    st.stop()
years = sorted(int(y) for y in c["year"].unique())
year = st.selectbox(ui.t("board.year"), years[::-1], key="board_year")
months = board.last_month(c, year)
st.caption(ui.t("board.period", year=year, months=months))

# ---------------------------------------------------------------- tiles
st.subheader(ui.t("board.tiles"))
tiles = board.tiles(c, year, screening(version, url))
cols = st.columns(4)
for i, t in enumerate(tiles):
    with cols[i % 4]:
        delta = None if t.change is None else board.fmt(t.change, t.unit)
        st.metric(ui.t(f"board.tile.{t.key}") + f"（{ui.t(t.unit)}）", board.fmt(t.value, t.unit),
                  delta=delta, delta_color="off", border=True,
                  chart_data=t.series.dropna().tolist() or None,
                  help=ui.t("board.vs_last"))
        if t.target:
            st.caption(f"{ui.t('board.target')} {t.target.text(lang)} · "
                       f"**{ui.t('board.status.' + t.status)}**")
        if t.note:
            st.caption(ui.t(t.note))
st.caption(f"{ui.t('board.rule')}: {targets.rule_text(lang)}")

st.subheader(ui.t("board.fund_table"))
fund = board.fund_by_insurance(c, year, months)
fund["insurance_type"] = fund["insurance_type"].map(lambda v: ui.label("insurance", v))
st.dataframe(fund.rename(columns=lambda k: ui.t(f"board.col.{k}")), hide_index=True,
             key="board_fund")

# ---------------------------------------------------------------- outflow
st.subheader(ui.t("board.outflow"))
names = dict(zip(*[board.group_names(lang)[k] for k in ("group_code", "name")]))
out = outflow(year, months, version, url).copy()
out["group_code"] = out["group_code"].map(lambda g: names.get(g, g))
out["setting"] = out["setting"].map(lambda v: ui.label("setting", v))
st.dataframe(out.rename(columns=lambda k: ui.t("board.col.group") if k == "group_code"
                        else ui.t(f"board.col.{k}")).round(0), hide_index=True,
             key="board_outflow")
for k in board.ASSUMPTIONS:
    st.caption("· " + ui.t(k))

# ---------------------------------------------------------------- townships
st.subheader(ui.t("board.townships"))
fig, table = townships(year, lang, version, url)
st.plotly_chart(fig, width="stretch", key="board_funnel")
st.caption(ui.t("board.townships_note"))
view = table[["area_name", "value", "denominator", "vs_county"]].copy()
view["vs_county"] = view["vs_county"].map(lambda v: ui.t(f"board.vs.{v}"))
st.dataframe(view.rename(columns={"area_name": ui.t("board.col.area"),
                                  "value": ui.t("board.col.value"),
                                  "denominator": ui.t("board.col.denominator"),
                                  "vs_county": ui.t("board.col.vs_county")}).round(1),
             hide_index=True, key="board_townships")

st.subheader(ui.t("board.maps"))
groups = tuple(board.screening_group_codes())
mcols = st.columns(2)
for i, (title, mfig) in enumerate(maps(year, groups, lang, version, url)):
    mcols[i % 2].plotly_chart(mfig, width="stretch", key=f"board_map_{i}")

# ---------------------------------------------------------------- trends
st.subheader(ui.t("board.trends"))
tcols = st.columns(2)
for i, t in enumerate(tile for tile in tiles if len(t.series.dropna()) > 1):
    f = go.Figure(go.Scatter(x=t.series.index, y=t.series.values, mode="lines+markers"))
    f.add_vline(x=board.POLICY_START, line=dict(color="#c0392b", dash="dash"))
    f.add_annotation(x=board.POLICY_START, y=1, yref="paper", showarrow=False,
                     text=ui.t("board.policy_start"), xanchor="left")
    if t.target:
        f.add_hline(y=t.target.value, line=dict(color="#555", dash="dot"))
    f.update_layout(title=ui.t(f"board.tile.{t.key}") + f"（{ui.t(t.unit)}）", height=260,
                    margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(dtick=1))
    tcols[i % 2].plotly_chart(f, width="stretch", key=f"board_trend_{t.key}")
