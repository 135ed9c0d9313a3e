"""Administrator page: user accounts and the audit log."""

import pandas as pd
import streamlit as st
from sqlalchemy import select

import ui
from healthmap import auth
from healthmap.models import AuditLog

user = ui.guard("admin")
engine = ui.engine()
st.title(ui.t("admin.title"))
zh = ui.lang() == "zh"

st.subheader(ui.t("admin.users"))
users = pd.DataFrame(auth.list_users(engine))
st.dataframe(users, hide_index=True, width="stretch", key="users_table")

with st.form("add_user"):
    st.markdown(f"**{ui.t('admin.add')}**")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input(ui.t("auth.username"))
    pw = c2.text_input(ui.t("auth.password"), type="password")
    role = c3.selectbox(ui.t("admin.role"), auth.ROLES,
                        format_func=lambda r: auth.ROLE_LABELS[r][0 if zh else 1])
    if st.form_submit_button(ui.t("admin.save")):
        try:
            auth.create_user(engine, name.strip(), pw, role, actor=user["username"])
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
                    auth.reset_password(engine, target, new_pw, actor=user["username"])
                else:
                    auth.set_active(engine, target, action == "enable", actor=user["username"])
                st.success(ui.t("admin.done"))
            except auth.AuthError as exc:
                st.error(str(exc))

st.subheader(ui.t("admin.audit"))
query = st.text_input(ui.t("admin.search"), key="audit_q")
with engine.connect() as conn:
    stmt = select(AuditLog.__table__).order_by(AuditLog.id.desc()).limit(5000)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(AuditLog.actor.like(like) | AuditLog.action.like(like)
                          | AuditLog.target.like(like))
    audit = pd.DataFrame(conn.execute(stmt).mappings().all())
st.dataframe(audit, hide_index=True, width="stretch", key="audit_table")
if st.download_button(ui.t("admin.export"), audit.to_csv(index=False).encode("utf-8-sig"),
                      "audit_log.csv", "text/csv", key="audit_csv"):
    auth.record(engine, user["username"], "export", "audit_log", role=user["role"])
