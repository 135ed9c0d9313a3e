"""Data management: templates, upload, validation table, import with progress, import log."""

import streamlit as st

import ui
from healthmap.textsafe import markdown_text
from healthmap import access, audit, auth, dbhealth, exports, queries, summary
from healthmap.ingest import KINDS, import_file
from healthmap.ingest.contract import columns_doc, template_frame
from healthmap.queries import overview
from healthmap.store import StoreMismatch

user = ui.guard("data")
engine = ui.engine()
st.title(ui.t("data.title"))
st.caption(ui.t("data.intro"))

kind = st.selectbox(ui.t("data.kind"), KINDS, format_func=lambda k: ui.t(f"kind.{k}"),
                    key="data_kind")
with st.expander(ui.t("data.columns"), expanded=False):
    ui.dataframe(columns_doc(kind), hide_index=True, width="stretch")
    tpl = template_frame(kind)
    c1, c2 = st.columns(2)
    c1.download_button(f"{ui.t('data.template')} CSV", exports.to_csv_bytes(tpl),
                       f"template_{kind}.csv", "text/csv", key="tpl_csv")
    c2.download_button(f"{ui.t('data.template')} Excel", exports.to_xlsx_bytes(tpl),
                       f"template_{kind}.xlsx", key="tpl_xlsx")

types = ["csv", "xlsx", "xls"] + (["geojson", "json", "zip", "gpkg"] if kind == "areas" else [])
upload = st.file_uploader(ui.t("data.file"), type=types, key=f"upload_{kind}")
with st.expander(ui.t("data.codes"), expanded=False):
    st.caption(ui.t("data.codes_help"))
    codes = queries.reference_codes(engine)
    k1, k2 = st.columns(2)
    ui.dataframe(where=k1, data=ui.headers(codes["areas"].assign(level=codes["areas"]["level"].map(
        lambda v: ui.label("level", v)))), hide_index=True, width="stretch", key="area_codes")
    ui.dataframe(where=k2, data=ui.headers(codes["institutions"].assign(
        level=codes["institutions"]["level"].map(lambda v: ui.label("level", v)))),
        hide_index=True, width="stretch", key="institution_codes")
area_opts = {}
if kind == "areas" and upload is not None and not upload.name.lower().endswith((".csv", ".xlsx",
                                                                                 ".xls")):
    with st.expander(ui.t("data.options"), expanded=True):
        c1, c2, c3 = st.columns(3)
        area_opts["code_field"] = c1.text_input(ui.t("data.code_field"), "code")
        area_opts["name_field"] = c2.text_input(ui.t("data.name_field"), "name")
        area_opts["level"] = c3.selectbox(ui.t("data.level"), ["township", "village"])
        parent = c1.text_input(ui.t("data.parent_field"), "")
        crs = c2.text_input(ui.t("data.crs"), "")
        if parent:
            area_opts["parent_field"] = parent
        if crs:
            area_opts["crs"] = crs


def _problem_table(frame):
    """Problems or warnings with translated headers (the reason code left out)."""
    return frame.drop(columns="code").rename(columns={
        "row": ui.t("col.row"), "column": ui.t("col.column"), "value": ui.t("col.value"),
        "reason": ui.t("col.reason")})


ignore_unknown = st.checkbox(ui.t("data.ignore_unknown"), key="ignore_unknown")
# second step: a file refused only for changes to reference data can be confirmed
this_file = (kind, upload.name, upload.size) if upload is not None else None
pending = st.session_state.get("import_pending")
confirm = False
if this_file is not None and pending is not None and pending[0] == this_file:
    st.warning(ui.t("data.confirm_intro"))
    ui.dataframe(pending[1], hide_index=True, width="stretch", key="pending_changes")
    confirm = st.button(ui.t("data.confirm"), key="do_confirm")
if upload is not None and (st.button(ui.t("data.import"), type="primary", key="do_import")
                           or confirm):
    bar = st.progress(0.0, text=ui.t("data.progress"))
    result = import_file(engine, kind, upload.getvalue(), upload.name,
                         progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
                         actor=access.Actor.from_user(user), lang=ui.lang(),
                         ignore_unknown_columns=ignore_unknown, confirm_changes=confirm,
                         **area_opts)
    audit.record(engine, user["username"], "import", f"{kind}:{upload.name}",
                 f"ok={result.ok} rows={result.n_rows} errors={len(result.problems)} "
                 f"warnings={len(result.warnings)} changes={len(result.changes)}",
                 role=user["role"])
    st.session_state["import_pending"] = None
    st.session_state["import_refused"] = None
    if result.ok:
        bar.progress(1.0, text="✓")
        st.success(ui.t("data.imported", inserted=f"{result.inserted:,}",
                        updated=f"{result.updated:,}", unchanged=f"{result.unchanged:,}"))
        if len(result.warnings):
            st.warning(ui.t("data.warnings", n=len(result.warnings)))
            ui.dataframe(_problem_table(result.warnings), hide_index=True, width="stretch",
                         key="warnings")
        st.cache_data.clear()
    elif result.needs_confirmation:
        bar.empty()
        st.session_state["import_pending"] = (this_file, _problem_table(result.problems))
        st.rerun()
    else:
        bar.empty()
        # kept for this file, so downloading the list (a rerun) does not make it disappear
        st.session_state["import_refused"] = (this_file, _problem_table(result.problems))
refused = st.session_state.get("import_refused")
if this_file is not None and refused is not None and refused[0] == this_file:
    problems = refused[1]
    st.error(ui.t("data.invalid", n=len(problems)))
    ui.dataframe(problems, hide_index=True, width="stretch", key="problems")
    st.download_button(ui.t("common.download_csv"), exports.to_csv_bytes(
        problems, exports.Stamp(user["username"], f"{ui.t('data.invalid', n=len(problems))}"
                                f" · {kind}:{upload.name}", personal=True)),
                       f"problems_{kind}.csv", "text/csv", key="problems_csv",
                       on_click=ui.record_export,
                       kwargs={"target": f"problems:{kind}", "detail": f"rows={len(problems)}"})

st.subheader(ui.t("data.loaded"))
info = overview(engine)
ui.dataframe(ui.headers(info["counts"]), hide_index=True, width="stretch")
c1, c2 = st.columns(2)
ui.dataframe(where=c1, data=ui.headers(info["episode_years"]), hide_index=True, width="stretch")
ui.dataframe(where=c2, data=ui.headers(info["population_years"]), hide_index=True, width="stretch")
st.markdown(f"**{ui.t('data.no_data_areas')}**: "
            + ("、".join(info["no_data"]["name"].map(markdown_text)) if len(info["no_data"])
               else ui.t("data.none")))
if st.button(ui.t("data.refresh"), key="refresh"):
    try:  # one writer of episodes and summaries at a time
        years = summary.rebuild(engine, access.Actor.from_user(user))
    except (dbhealth.ImportRunning, StoreMismatch) as exc:
        st.error(exc.message(ui.lang()))
    else:
        audit.record(engine, user["username"], "refresh_summaries", role=user["role"])
        st.cache_data.clear()
        st.success(ui.t("data.refreshed", years=", ".join(map(str, years))))

st.subheader(ui.t("data.log"))
log = info["log"]
ui.dataframe(ui.headers(log), hide_index=True, width="stretch", key="import_log")
