"""Administrator page: user accounts and the audit log."""

import pandas as pd
import streamlit as st

import ui
from healthmap import access, audit, auth, exports

user = ui.guard("admin")
me = access.Actor.from_user(user)
engine = ui.engine()
st.title(ui.t("admin.title"))

st.subheader(ui.t("admin.users"))
users = pd.DataFrame(auth.list_users(engine))
shown_users = users.assign(role=users["role"].map(lambda r: access.role_label(r, ui.lang())))
ui.dataframe(ui.headers(shown_users), hide_index=True, width="stretch", key="users_table")

with st.form("add_user"):
    st.markdown(f"**{ui.t('admin.add')}**")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input(ui.t("auth.username"))
    pw = c2.text_input(ui.t("auth.password"), type="password")
    # least privileged first (access.ROLES order): a new account never starts as admin
    role = c3.selectbox(ui.t("admin.role"), access.ROLES,
                        format_func=lambda r: access.role_label(r, ui.lang()))
    c4, c5 = st.columns(2)
    towns = ui.area_set("township", ui.version(), ui.database_url()).areas
    area = c4.selectbox(ui.t("admin.scope_area"), [None] + towns["code"].tolist(),
                        format_func=lambda c: ui.t("common.all") if c is None else
                        towns.set_index("code").at[c, "name"])
    team = c5.text_input(ui.t("admin.scope_team"))
    if st.form_submit_button(ui.t("admin.save")):
        try:
            auth.create_user(engine, name.strip(), pw, role, actor=me,
                             area_code=area, team=team.strip() or None)
            st.success(ui.t("admin.done"))
            st.rerun()
        except auth.AuthError as exc:
            st.error(str(exc))

if len(users):
    with st.form("change_user"):
        c1, c2, c3 = st.columns(3)
        target = c1.selectbox(ui.t("auth.username"), users["username"])
        action = c2.selectbox("", ["disable", "enable", "reset"],
                              format_func=lambda a: ui.t(f"admin.{a}"))
        new_pw = c3.text_input(ui.t("auth.password"), type="password")
        if st.form_submit_button(ui.t("admin.save")):
            try:
                if action == "reset":
                    auth.reset_password(engine, target, new_pw, actor=me)
                else:
                    auth.set_active(engine, target, action == "enable", actor=me)
                st.success(ui.t("admin.done"))
            except auth.AuthError as exc:
                st.error(str(exc))

st.subheader(ui.t("admin.failures"))
ui.dataframe(ui.headers(pd.DataFrame(auth.failures_by_account(engine),
                                     columns=["username", "failures", "last_failure",
                                              "wait_until"])),
             hide_index=True, width="stretch", key="failures_table")

st.subheader(ui.t("admin.audit"))
a1, a2, a3, a4 = st.columns([2, 1.2, 1, 1])
query = a1.text_input(ui.t("admin.search"), key="audit_q")
action = a2.selectbox(ui.t("admin.action"), [""] + audit.actions(engine), key="audit_action",
                      format_func=lambda a: ui.t("common.all") if not a else ui.label("audit", a))
since = a3.date_input(ui.t("admin.since"), value=None, key="audit_since")
until = a4.date_input(ui.t("admin.until"), value=None, key="audit_until")
audit_rows = audit.search_audit(engine, query or None, action or None, since, until)
ui.dataframe(ui.headers(audit_rows.assign(
    role=audit_rows["role"].map(lambda r: access.role_label(r, ui.lang()) if r else ""),
    action=audit_rows["action"].map(lambda a: ui.label("audit", a)))),
    hide_index=True, width="stretch", key="audit_table")
filters = f"q={query!r} action={action!r} since={since} until={until}"
st.download_button(ui.t("admin.export"), lambda: exports.to_csv_bytes(audit_rows, exports.Stamp(
    user["username"], ui.t("admin.audit"), personal=True, filters=filters)),
                   "audit_log.csv", "text/csv", key="audit_csv", on_click=ui.record_export,
                   kwargs={"target": "audit_log", "detail": f"rows={len(audit_rows)}"})
