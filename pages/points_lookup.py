"""健康积分查询 — public self-lookup (no login): ID number + name or phone tail.

Tables are static (``st.table``): no download toolbar on a public page."""

import secrets

import streamlit as st
from sqlalchemy.orm import Session

import ui
from healthmap.points import lookup as pl
from healthmap.points import views

user = ui.guard("points_lookup")
engine = ui.engine()
lang = ui.lang()
st.title(ui.t("points.pub.title"))

if "points_self" not in st.session_state:
    st.caption(ui.t("points.pub.intro"))
    with st.form("points_lookup_form", clear_on_submit=True):
        typed_id = st.text_input(ui.t("points.pub.id"), max_chars=18, key="pl_id")
        way = st.radio(ui.t("points.pub.second"), ["name", "phone"], horizontal=True,
                       key="pl_way", format_func=lambda v: ui.t(f"points.pub.by_{v}"))
        second = st.text_input(ui.t("points.pub.by_name") + " / " + ui.t("points.pub.by_phone"),
                               max_chars=40, key="pl_second")
        submitted = st.form_submit_button(ui.t("points.pub.submit"), type="primary")
    st.caption(ui.t("points.pub.throttle_note"))
    if submitted and (read_only := ui.read_only()) is not None:  # throttled and audited
        st.error(f"{ui.t('points.pub.read_only')}\n\n{read_only.message(lang)}",
                 icon=":material/lock:")
    elif submitted:
        # the client is the address Streamlit reports (a configured proxy's header, see
        # ui.client_address), so a reload or a new tab keeps its failures; the browser
        # session only where no address is known
        token = st.session_state.setdefault("points_client", secrets.token_hex(16))
        answer = pl.lookup(engine, typed_id, name=second if way == "name" else None,
                           phone_tail=second if way == "phone" else None,
                           client=pl.client_key(ui.client_address(), token))
        if answer.status == "ok":
            st.session_state["points_self"] = answer.resident_id
            st.rerun()
        elif answer.status == "throttled":
            st.error(ui.t("points.pub.throttled", seconds=int(answer.wait_seconds + 0.999)))
        else:
            st.error(ui.t(f"points.pub.{answer.status}"))
    st.stop()

with Session(engine) as s:
    me = views.resident_points(s, st.session_state["points_self"], lang=lang)
    invitations = views.open_invitations(s, st.session_state["points_self"], lang)
st.caption(ui.t("points.pub.you", masked=me.id_masked))
c1, c2 = st.columns(2)
c1.metric(ui.t("points.pub.balance"), f"{me.balance:,}")
c2.metric(ui.t("points.pub.level"), me.level.name[lang])

for inv in invitations.itertuples():
    st.info(ui.t("points.pub.invitation", target=inv.target, date=inv.invited_on,
                 percent=inv.fee_percent))

st.subheader(ui.t("points.pub.history"))
if me.history.empty:
    st.info(ui.t("points.pub.no_history"))
else:
    h = me.history[["date", "what", "points", "kind"]].copy()
    h["kind"] = h["kind"].map(lambda k: ui.t(f"points.kind.{k}"))
    st.table(h.rename(columns={c: ui.t(f"points.col.{c}") for c in h.columns})
             .set_index(ui.t("points.col.date")))

st.subheader(ui.t("points.pub.redeem"))
st.caption(ui.t("points.pub.redeem_note"))
r = me.redeem.copy()
r["status"] = [ui.t("points.pub.available") if ok else
               (ui.t("points.pub.out_of_stock") if stock <= 0 else
                ui.t("points.pub.short", n=short))
               for ok, stock, short in zip(r["can_redeem"], r["stock"], r["short"])]
r = r[["what", "points", "status"]]
st.table(r.rename(columns={"what": ui.t("points.col.what"),
                           "points": ui.t("points.col.points"), "status": ""})
         .set_index(ui.t("points.col.what")))

st.subheader(ui.t("points.pub.earn"))
for row in me.earn[me.earn["eligible"] & (me.earn["left_this_year"] > 0)].itertuples():
    st.text(ui.t("points.pub.earn_line", what=row.what, points=row.points,
                 left=row.left_this_year))
    st.caption(row.explanation)

if st.button(ui.t("points.pub.done"), key="pl_done"):
    st.session_state.pop("points_self", None)
    st.rerun()
