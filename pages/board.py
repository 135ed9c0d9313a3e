"""The leaders' indicator board (issue 10): tiles with targets, outflow, townships, maps,
trends, aggregate indicators, subsidies, the 两病 report and the briefing."""

import pandas as pd
import streamlit as st

import ui
from healthmap import (access, aggregates, board, board_maps, briefing, exports, queries,
                       subsidies, targets, twodisease, twodisease_import)

user = ui.guard("board")
actor = access.Actor.from_user(user)
engine = ui.engine()
url = ui.database_url()
lang = ui.lang()
version = ui.version()


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def outflow(year: int, months: int, data_version: int, url: str):
    # the year's period frame (shared with the map page, warmed below): a year change
    # answers from memory (issue 14: 20-50 ms instead of 0.2-0.5 s at 10 M episodes)
    g = board.group_cells(ui.engine(url), year, months,
                          ui.cells_frame((year,), data_version, url))
    return board.outflow_by_group(g), board.outflow_totals(g)


@st.cache_resource(ttl=900, max_entries=8, show_spinner=False)  # read-only (see maps)
def townships(year: int, lang: str, data_version: int, url: str):
    return board_maps.funnel(ui.engine(url), year, lang, ui.cells_frame((year,), data_version, url))


# figures kept as objects (cache_resource: read-only, never mutated): unpickling a plotly
# figure re-validates it, which costs more than drawing it (as on the map page)
@st.cache_resource(ttl=900, max_entries=8, show_spinner=False)
def maps(year: int, groups: tuple, lang: str, data_version: int, url: str):
    return board_maps.small_multiples(ui.engine(url), year, groups, lang,
                                      ui.cells_frame((year,), data_version, url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def managed(years: tuple, months: int, data_version: int, url: str):
    return twodisease.managed_by_year(ui.engine(url), list(years), months)


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def subsidy_table(year: int, lang: str, role: str, data_version: int, url: str):
    e = ui.engine(url)
    fees = None
    if access.can(access.Actor("board", role), "screening.report"):
        from sqlalchemy.orm import Session

        from healthmap.screening.views import fee_totals
        with Session(e) as s:
            fees = fee_totals(s, access.Actor("board", role))
    return subsidies.subsidy_lines(year, ui.indicator_values(data_version, url), fees,
                                   twodisease.new_managed(e, year), lang)


def enter(df: pd.DataFrame, source: str) -> None:
    """Validate and save entries (all or nothing); show every bad row otherwise."""
    clean, problems = aggregates.validate(df)
    if clean is None:
        st.error(ui.t("board.agg.refused"))
        problems["problem"] = problems["problem"].map(lambda k: ui.t(f"board.err.{k}"))
        ui.dataframe(problems.rename(columns=lambda k: ui.t(f"board.col.{k}")
                                     if k != "value" else ui.t("board.agg.value")),
                     hide_index=True)
        return
    from sqlalchemy.orm import Session

    with Session(engine) as s, s.begin():
        n = aggregates.save(s, actor, clean, source)
    st.success(ui.t("board.agg.saved", n=n))
    ui.indicator_values.clear()
    subsidy_table.clear()


def named(name: str, unit: str) -> str:
    return f"{name} ({unit})" if lang == "en" else f"{name}（{unit}）"


@st.cache_resource(ttl=900, max_entries=8, show_spinner=False)
def trends(year: int, lang: str, data_version: int, url: str, _tiles: list) -> list:
    """(tile key, figure) for each headline tile with two or more years (``_tiles``, this
    run's tiles, are not hashed: they follow from the year and the data version, the
    cache's key)."""
    out = []
    for t in _tiles:
        if len(t.series.dropna()) > 1:
            out.append((t.key, board_maps.trend_figure(
                t.series, named(ui.t(f"board.tile.{t.key}"), ui.t(t.unit)),
                t.target.value if t.target else None, board.POLICY_START,
                ui.t("board.policy_start", year=board.POLICY_START))))
    return out


st.title(ui.t("board.title"))
c = ui.board_cells(version, url)
if c.empty:
    st.info(ui.t("board.no_data"))
    st.stop()
years = sorted(int(y) for y in c["year"].unique())
year = st.columns([1, 3])[0].selectbox(ui.t("board.year"), years[::-1], key="board_year")
months = board.last_month(c, year)
st.caption(ui.t("board.period", year=year, months=months))

# ---------------------------------------------------------------- tiles
st.subheader(ui.t("board.tiles"))
tiles = board.tiles(c, year, ui.board_screening(version, url),
                    managed(tuple(years), months, version, url))
COLOUR = {"met": "green", "at_risk": "orange", "missed": "red", "no_data": "gray"}


def tile_grid(items: list, name, target_text) -> None:
    """Tiles three to a row (names stay readable in both languages), each one box: name,
    value with its unit, change from the same months last year, sparkline, then status
    and target; the help (?) gives the full name and what the tile counts."""
    for start in range(0, len(items), 3):
        # a full row: bordered columns, so its three boxes share one height; a shorter
        # last row: a box per tile only (no empty boxes)
        row = items[start:start + 3]
        for col, t in zip(st.columns(3, border=len(row) == 3), row):
            with col if len(row) == 3 else col.container(border=True):
                kind = board.unit_kind(t.unit)
                delta = None if t.change is None else board.fmt(t.change, kind, lang)
                st.metric(name(t), board.value_text(t.value, t, lang), delta=delta,
                          delta_color="off",
                          chart_data=t.series.dropna().tolist() or None,
                          help=f"**{name(t)}**\n\n{board.definition(t, lang)}")
                if t.status:
                    st.badge(ui.t("board.status." + t.status), color=COLOUR[t.status])
                    st.caption(f"{ui.t('board.target')} {target_text(t)}")
                if t.note:
                    st.caption(ui.t(t.note))


tile_grid(tiles, lambda t: ui.t(f"board.tile.{t.key}"),
          lambda t: t.target.text(lang) if t.target else "")
st.caption(f"{ui.t('board.rule')}: {targets.rule_text(lang)}")

st.subheader(ui.t("board.fund_table"))
fund = board.fund_by_insurance(c, year, months)
fund["insurance_type"] = fund["insurance_type"].map(lambda v: ui.label("insurance", v))
# no growth without last year's spending: "—", not the grid's "None"
fund["growth_pct"] = [("—" if pd.isna(v) else f"{v:.1f}") for v in fund["growth_pct"]]
fund[["previous", "current"]] = fund[["previous", "current"]].round(0)
ui.dataframe(fund.rename(columns=lambda k: ui.t(f"board.col.{k}")), hide_index=True,
             key="board_fund",
             column_config={ui.t(f"board.col.{k}"): st.column_config.NumberColumn(
                 format="localized")  # 143,217,426: thousands separated
                            for k in ("previous", "current")})

# ---------------------------------------------------------------- outflow
st.subheader(ui.t("board.outflow"))
names = dict(zip(*[board.group_names(lang)[k] for k in ("group_code", "name")]))
out, totals = outflow(year, months, version, url)
out = out.copy()
out["group_code"] = out["group_code"].map(lambda g: names.get(g, g))
out["setting"] = out["setting"].map(lambda v: ui.label("setting", v))
ui.dataframe(out.rename(columns=lambda k: ui.t("board.col.group") if k == "group_code"
                        else ui.t(f"board.col.{k}")).round(0), hide_index=True,
             key="board_outflow", column_config={
                 ui.t(f"board.col.{k}"): st.column_config.NumberColumn(format="localized")
                 for k in ("episodes_out", "fund_outflow", "mean_out", "mean_in",
                           "difference", "saving")})
st.caption(ui.t("board.outflow_total", outflow=f"{totals['fund_outflow']:,.0f}",
                saving=f"{totals['saving']:,.0f}"))
for k in board.ASSUMPTIONS:
    st.caption("· " + ui.t(k))
ui.warm_years(version, url)  # the other years' frames, in the background (first visit only)

# ---------------------------------------------------------------- townships
st.subheader(ui.t("board.townships"))
fig, table = townships(year, lang, version, url)
st.plotly_chart(fig, width="stretch", key="board_funnel")
st.caption(ui.t("board.townships_note"))
view = table[["area_name", "value", "denominator", "vs_county"]].copy()
view["vs_county"] = view["vs_county"].map(lambda v: ui.t(f"board.vs.{v}"))
ui.dataframe(view.rename(columns={"area_name": ui.t("board.col.area"),
                                  "value": ui.t("board.col.value"),
                                  "denominator": ui.t("board.col.denominator"),
                                  "vs_county": ui.t("board.col.vs_county")}).round(1),
             hide_index=True, key="board_townships", column_config={  # 68.0, not 68
                 ui.t("board.col.value"): st.column_config.NumberColumn(format="%.1f"),
                 ui.t("board.col.denominator"): st.column_config.NumberColumn(
                     format="localized")})  # 12,345: thousands separated

# ---------------------------------------------------------------- on demand
# The maps and the trends (the tiles' sparklines enlarged) are drawn only while their
# expander is open (lazy expanders, each in its own fragment: opening one reruns only
# it), so a year change redraws the tiles and tables, not a dozen charts below them.
@st.fragment
def charts_on_demand(name: str, label: str, figures, prefix: str) -> None:
    """An on-demand section of ``figures()`` ((key, figure) pairs) two to a row."""
    box = ui.on_demand(name, label)
    if not box.open:
        return
    with box:
        cols = st.columns(2)
        for i, (key, fig) in enumerate(figures()):
            cols[i % 2].plotly_chart(fig, width="stretch", key=f"{prefix}_{key}")


st.caption(ui.t("board.on_demand"))
charts_on_demand("board_open_maps", ui.t("board.maps.open"), lambda: list(enumerate(
    f for _, f in maps(year, tuple(board.screening_group_codes()), lang, version, url))),
    "board_map")
charts_on_demand("board_open_trends", ui.t("board.trends.open"),
                 lambda: trends(year, lang, version, url, tiles), "board_trend")

# ---------------------------------------------------------------- aggregate indicators
st.subheader(ui.t("board.agg"))
vals = ui.indicator_values(version, url)
agg_tiles = aggregates.tiles(vals, year, lang=lang)
if vals.empty:
    st.caption(ui.t("board.agg.none"))
tile_grid(agg_tiles, lambda t: t.params["name"], lambda t: t.params.get("target_text", ""))

# ---------------------------------------------------------------- subsidies
st.subheader(ui.t("board.subsidies"))
sub = subsidy_table(year, lang, user["role"], version, url)
shown = sub.drop(columns=["code", "amount_fen"]).astype({"count": object, "amount_yuan": object})
# lines that cannot be computed: "—" (the reason is in the note), not the grid's "None"
shown["count"] = [("—" if pd.isna(v) else f"{int(v):,}") for v in sub["count"]]
shown["amount_yuan"] = [("—" if pd.isna(v) else f"{v:,.2f}") for v in sub["amount_yuan"]]
ui.dataframe(shown.rename(columns=lambda k: ui.t(f"board.sub.{k}")), hide_index=True,
             key="board_subsidies")
st.caption(ui.t("board.sub.total", total=f"{sub['amount_yuan'].fillna(0).sum():,.2f}"))

# ---------------------------------------------------------------- entry (data managers)
if access.can(actor, "board.enter"):
    with st.expander(ui.t("board.agg.entry")):
        defs = aggregates.load_definitions()
        name = "name_en" if lang == "en" else "name_zh"
        with st.form("board_agg_form"):
            code = st.selectbox(ui.t("board.agg.indicator"), defs["code"].tolist(),
                                format_func=dict(zip(defs["code"], defs[name])).get)
            period = st.number_input(ui.t("board.agg.period"), 2000, 2100, year, step=1)
            value = st.number_input(ui.t("board.agg.value"), value=0.0)
            if st.form_submit_button(ui.t("board.agg.save")):
                enter(pd.DataFrame({"indicator": [code], "period": [str(int(period))],
                                    "value": [str(value)]}), "form")
        st.download_button(ui.t("board.agg.template"), exports.to_csv_bytes(
            aggregates.template_frame()), "board_indicators_template.csv", "text/csv",
            on_click=ui.record_export, kwargs={"target": "board:template"})
        up = st.file_uploader(ui.t("board.agg.upload"), type=["csv", "xlsx"],
                              key="board_agg_upload")
        if up is not None and st.button(ui.t("board.agg.save"), key="board_agg_upload_save"):
            from healthmap.ingest.readers import read_table

            enter(read_table(up.getvalue(), up.name), up.name)
        definition = "definition_en" if lang == "en" else "definition_zh"
        ui.dataframe(defs[["code", name, "unit", definition, "source"]].rename(columns={
            "code": ui.t("col.code"), name: ui.t("board.col.indicator"),
            "unit": ui.t("board.col.unit"), definition: ui.t("board.col.definition"),
            "source": ui.t("board.col.source")}), hide_index=True, key="board_defs")

# ---------------------------------------------------------------- 两病 report
st.subheader(ui.t("board.report"))


@st.fragment
def two_disease_report() -> None:
    """The report's year and month rerun this section only, not the whole board."""
    county = queries.area_set(engine, "county").areas["name"]
    county = str(county.iloc[0]) if len(county) else ""
    r1, r2, _ = st.columns([1, 1, 2])
    r_year = r1.selectbox(ui.t("board.year"), list(range(max(years) + 1, 2019, -1)),
                          index=1, key="board_report_year")
    r_month = r2.selectbox(ui.t("board.month"), list(range(1, 13)), key="board_report_month")

    def report_file() -> bytes:  # made at click time: the stamp carries the export time
        return twodisease.report_xlsx(engine, r_year, r_month, county, exports.Stamp(
            user["username"], f"两病门诊用药保障情况表 {r_year}-{r_month:02d}"))

    st.download_button(ui.t("board.report.download"), report_file,
                       f"两病报表_{r_year}{r_month:02d}.xlsx", on_click=ui.record_export,
                       kwargs={"target": f"board:two_disease:{r_year}-{r_month}"},
                       key="board_report_dl")
    st.caption(ui.t("board.report.note"))


if access.can(actor, "board.report"):
    two_disease_report()
if access.can(actor, "import"):
    with st.expander(ui.t("board.import")):
        kind = st.radio(ui.t("board.import.kind"), twodisease_import.KINDS,
                        format_func=lambda k: ui.t(f"board.kind.{k}"), horizontal=True,
                        key="board_import_kind")
        ui.dataframe(pd.DataFrame([{
            ui.t("board.col.column"): col.name, ui.t("board.col.column_zh"): col.zh,
            ui.t("board.col.type"): col.type, ui.t("board.col.note"): col.note}
            for col in twodisease_import.SPECS[kind]]), hide_index=True,
            key="board_import_contract")
        st.download_button(ui.t("board.agg.template"), exports.to_csv_bytes(
            twodisease_import.template_frame(kind)), f"{kind}_template.csv", "text/csv",
            on_click=ui.record_export, kwargs={"target": f"board:template:{kind}"},
            key="board_import_template")
        f = st.file_uploader(ui.t("board.import.file"), type=["csv", "xlsx"],
                             key="board_import_file")
        if f is not None and st.button(ui.t("board.import.go"), key="board_import_go"):
            from healthmap.ingest.readers import read_table

            clean, problems = twodisease_import.validate(
                engine, kind, read_table(f.getvalue(), f.name))
            if clean is None:
                st.error(ui.t("board.agg.refused"))
                ui.dataframe(problems[["row", "column", "value", "reason"]], hide_index=True)
            else:
                n = twodisease_import.write(engine, actor, kind, clean, f.name)
                st.success(ui.t("board.agg.saved", n=n))

# ---------------------------------------------------------------- briefing
st.subheader(ui.t("board.briefing"))
st.caption(ui.t("board.briefing.note"))
if access.can(actor, "board.report"):
    if st.button(ui.t("board.briefing.make"), key="board_briefing_make"):
        with st.spinner(ui.t("board.briefing.make")):
            parts = briefing.assemble(engine, year, lang, actor)
            stamp = exports.Stamp(user["username"], parts["title"])
            book = briefing.book(parts, lang, stamp)
            try:
                doc = briefing.document(parts)
            except briefing.FontMissing as e:
                doc = None
                st.error(str(e))
            st.session_state["board_briefing"] = (year, lang, book, doc)
    made = st.session_state.get("board_briefing")
    if made and made[:2] == (year, lang):
        b1, b2, _ = st.columns([1, 1, 2])
        b1.download_button(ui.t("board.briefing.xlsx"), made[2], f"briefing_{year}.xlsx",
                           on_click=ui.record_export,
                           kwargs={"target": f"board:briefing:{year}:xlsx"},
                           key="board_briefing_xlsx")
        if made[3] is not None:
            b2.download_button(ui.t("board.briefing.pdf"), made[3], f"briefing_{year}.pdf",
                               "application/pdf", on_click=ui.record_export,
                               kwargs={"target": f"board:briefing:{year}:pdf"},
                               key="board_briefing_pdf")
