"""Login / logout (local accounts; optional OpenID Connect single sign-on)."""

import datetime as dt

import streamlit as st

import ui
from healthmap import audit, auth, db

engine = ui.engine()
st.title(ui.t("auth.login"))
if st.session_state.pop("timed_out", False):
    st.warning(ui.t("auth.timed_out"))

user = ui.current_user()
if user:
    st.success(ui.t("auth.logged_in_as", user=user["username"], role=user["role"]))
    if st.button(ui.t("auth.logout"), key="logout"):
        audit.record(engine, user["username"], "logout", role=user["role"])
        st.session_state.pop("user", None)
        st.rerun()
    st.stop()

with st.form("login"):
    name = st.text_input(ui.t("auth.username"), key="login_user")
    pw = st.text_input(ui.t("auth.password"), type="password", key="login_pw")
    submitted = st.form_submit_button(ui.t("auth.login"))
if submitted:
    found, reason = auth.authenticate(engine, name.strip(), pw)
    if found:
        st.session_state["user"] = found
        st.session_state["last_seen"] = dt.datetime.now()
        st.rerun()
    st.error(ui.t(f"auth.{reason}"))

# Single sign-on is configuration: [auth] in .streamlit/secrets.toml (see README).
try:
    sso_configured = "auth" in st.secrets
except Exception:  # no secrets file
    sso_configured = False
if sso_configured:
    if getattr(st.user, "is_logged_in", False):
        subject = st.user.get("email") or st.user.get("sub")
        mapped = auth.user_for_sso(engine, str(subject))
        if mapped:
            st.session_state["user"] = mapped
            st.session_state["last_seen"] = dt.datetime.now()
            audit.record(engine, mapped["username"], "login_sso", role=mapped["role"])
            st.rerun()
        st.error(ui.t("auth.sso_unmapped"))
    elif st.button(ui.t("auth.sso")):
        st.login()

if db.get_meta(engine, "demo_data") == "1":
    st.caption(ui.t("auth.demo_accounts", pw=auth.DEMO_PASSWORD))
