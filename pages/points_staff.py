"""积分登记 — points staff and family doctors: find a resident, record activities,
redemptions and reversals, see the history; bulk import of activity records."""

import datetime as dt
import uuid

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

import ui
from healthmap import access, audit, exports
from healthmap.ingest.readers import FileReadError, read_table
from healthmap.ledger import LedgerConflict
from healthmap.points import ledger as pts
from healthmap.points import views
from healthmap.points.imports import OPTIONAL, REQUIRED, import_records
from healthmap.points.rules import load_rules

user = ui.guard("points")
engine = ui.engine()
actor = access.Actor.from_user(user)
lang = ui.lang()
rules = load_rules()
st.title(ui.t("points.staff.title"))


def headers(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: ui.t(f"points.col.{c}") for c in df.columns})


def refusal(code: str, params: dict) -> str:
    """A refusal in the user's language, activities and items by their names."""
    named = dict(params)
    for key, find in (("activity", rules.activity), ("item", rules.item)):
        try:
            named[key] = find(named[key]).name[lang]
        except KeyError:
            pass
    return ui.t(f"points.refused.{code}", **named)


def write(fn, *args, **kw) -> None:
    """One ledger write in its own transaction; the outcome is shown after the rerun."""
    try:
        with Session(engine) as s, s.begin():
            out = fn(s, actor, *args, **kw)
    except (pts.PointsRefused, LedgerConflict, access.PermissionDenied) as exc:
        code = getattr(exc, "code", "conflict" if isinstance(exc, LedgerConflict) else "denied")
        reason = refusal(code, getattr(exc, "params", {}))
        st.session_state["pts_msg"] = ("error", ui.t("points.staff.refused", reason=reason))
        return
    key = "points.staff.recorded" if out.recorded else "points.staff.repeat"
    st.session_state["pts_msg"] = ("success", ui.t(key, points=out.points, balance=out.balance))
    st.session_state.pop("pts_nonce", None)


def nonce() -> str:
    return st.session_state.setdefault("pts_nonce", uuid.uuid4().hex[:10])


tab_res, tab_imp = st.tabs([ui.t("points.staff.tab_resident"), ui.t("points.staff.tab_import")])

with tab_res:
    query = st.text_input(ui.t("points.staff.search"), key="pts_query",
                          help=ui.t("points.staff.search_hint"))
    found = views.search_residents(engine, actor, query) if query.strip() else None
    if found is not None and found.empty:
        st.info(ui.t("points.staff.none_found"))
    if found is not None and not found.empty:
        ui.dataframe(headers(found.drop(columns=["area_code"])), hide_index=True,
                     width="stretch")
        labels = dict(zip(found["resident_id"], found["resident_id"] + " · " + found["id_masked"]))
        rid = st.selectbox(ui.t("points.staff.choose"), list(labels), key="pts_resident",
                           format_func=labels.get)
        seen = st.session_state.setdefault("pts_viewed", set())
        if rid not in seen:  # opening a personal record is audited once per visit
            audit.record(engine, actor.username, "view_personal", f"resident:{rid}",
                         "points history", role=actor.role)
            seen.add(rid)
        if msg := st.session_state.pop("pts_msg", None):
            getattr(st, msg[0])(msg[1])
        with Session(engine) as s:
            me = views.resident_points(s, rid, rules, lang)
        c1, c2, c3 = st.columns(3)
        c1.metric(ui.t("points.staff.balance"), f"{me.balance:,}")
        c2.metric(ui.t("points.staff.level"), me.level.name[lang])
        c3.metric(ui.t("points.staff.earned"), f"{me.earned_this_year:,}")

        mine = [a for a in rules.activities if actor.role in a.recorded_by]
        with st.form("pts_award"):
            st.markdown(f"**{ui.t('points.staff.record')}**")
            act = st.selectbox(ui.t("points.staff.activity"), [a.code for a in mine],
                               format_func=lambda c: f"{rules.activity(c).name[lang]} "
                                                     f"(+{rules.activity(c).points})")
            day = st.date_input(ui.t("points.staff.date"), value=dt.date.today(),
                                max_value=dt.date.today())
            source = st.text_input(ui.t("points.staff.source_id"),
                                   value=f"web:{rid}:{nonce()}")
            note = st.text_input(ui.t("points.staff.reason"), max_chars=200)
            if st.form_submit_button(ui.t("points.staff.submit_award")):
                write(pts.award, rid, act, source.strip(), day, reason=note)
                st.rerun()

        if access.can(actor, "points.redeem"):
            with st.form("pts_redeem"):
                st.markdown(f"**{ui.t('points.staff.redeem')}**")
                item = st.selectbox(ui.t("points.staff.item"), [i.code for i in rules.items],
                                    format_func=lambda c: f"{rules.item(c).name[lang]} "
                                                          f"(-{rules.item(c).points})")
                source = st.text_input(ui.t("points.staff.source_id"),
                                       value=f"web:{rid}:{nonce()}:r")
                if st.form_submit_button(ui.t("points.staff.submit_redeem")):
                    write(pts.redeem, rid, item, source.strip())
                    st.rerun()

        h = me.history
        if access.can(actor, "points.reverse"):
            done = set(h["reverses"]) - {""}
            open_ = h[h["kind"].isin(["award", "redeem"]) & ~h["source_id"].isin(done)]
            with st.form("pts_reverse"):
                st.markdown(f"**{ui.t('points.staff.reverse')}**")
                if open_.empty:
                    st.caption(ui.t("points.staff.nothing_to_reverse"))
                entry = st.selectbox(ui.t("points.staff.entry"), list(open_["source_id"]),
                                     format_func=lambda v: " · ".join(
                                         str(x) for x in open_.set_index("source_id").loc[
                                             v, ["date", "what", "points"]]))
                why = st.text_input(ui.t("points.staff.reverse_reason"), max_chars=200)
                if st.form_submit_button(ui.t("points.staff.submit_reverse")) and entry:
                    write(pts.reverse, entry, why)
                    st.rerun()

        st.subheader(ui.t("points.staff.history"))
        shown = h.assign(kind=h["kind"].map(lambda k: ui.t(f"points.kind.{k}")))
        ui.dataframe(headers(shown.drop(columns=["code"])), hide_index=True, width="stretch")

with tab_imp:
    if not access.can(actor, "points.import"):
        st.info(ui.t("auth.no_role", role=access.role_label(actor.role, lang)))
    else:
        st.caption(ui.t("points.staff.import_help"))
        template = pd.DataFrame(columns=list(REQUIRED + OPTIONAL))
        st.download_button(ui.t("points.staff.template"), exports.to_csv_bytes(template),
                           "points_template.csv", "text/csv", key="pts_template")
        upload = st.file_uploader(ui.t("points.staff.upload"), type=["csv", "xlsx"],
                                  key="pts_upload")
        if upload is not None:
            try:
                frame = read_table(upload.getvalue(), upload.name)
            except FileReadError as exc:
                st.error(ui.t("points.staff.unreadable", reason=str(exc)))
                frame = None
            if frame is not None:
                result = import_records(engine, frame, actor)
                audit.record(engine, actor.username, "points.import", upload.name,
                             f"{result.recorded} recorded, {result.unchanged} unchanged, "
                             f"{len(result.problems)} problem(s)", role=actor.role)
                if result.ok:
                    st.success(ui.t("points.staff.import_ok", rows=result.rows,
                                    recorded=result.recorded, unchanged=result.unchanged))
                else:
                    st.error(ui.t("points.staff.import_refused", n=len(result.problems)))
                    shown = result.problems.assign(reason=[
                        refusal(c, p) for c, p in zip(result.problems["code"],
                                                      result.problems["params"])])
                    shown["column"] = shown["column"].map(
                        lambda c: ui.t(f"points.col.{c}") if c in REQUIRED + OPTIONAL else c)
                    ui.dataframe(headers(shown[["row", "column", "value", "reason"]]),
                                 hide_index=True, width="stretch")
