"""Login / logout (local accounts; optional OpenID Connect single sign-on)."""

import streamlit as st

import ui
from healthmap import access, audit, auth, db

engine = ui.engine()
user = ui.current_user()
st.title(ui.t("nav.account") if user else ui.t("auth.login"))
if st.session_state.pop("timed_out", False):
    st.warning(ui.t("auth.timed_out"))

if user:
    st.success(ui.t("auth.logged_in_as", user=user["username"],
                    role=access.role_label(user["role"], ui.lang())))
    if user.get("area_code"):
        st.caption(ui.t("auth.scope", area=user["area_code"]))
    if st.button(ui.t("auth.logout"), key="logout"):
        ui.log_out()
        st.stop()
    st.stop()

if (read_only := ui.read_only()) is not None:  # a login writes (session, audit, throttle)
    st.error(f"{ui.t('auth.read_only')}\n\n{read_only.message(ui.lang())}",
             icon=":material/lock:")
    st.stop()

with st.form("login"):
    name = st.text_input(ui.t("auth.username"), key="login_user")
    pw = st.text_input(ui.t("auth.password"), type="password", key="login_pw")
    submitted = st.form_submit_button(ui.t("auth.login"))
st.caption(ui.t("auth.throttle_note"))
if submitted:
    with st.spinner(ui.t("auth.checking")):
        found, reason = auth.authenticate(engine, name, pw, client=ui.client_address())
    if found:
        ui.log_in(found)
        st.stop()
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
            audit.record(engine, mapped["username"], "login_sso", role=mapped["role"])
            ui.log_in(mapped)
            st.stop()
        st.error(ui.t("auth.sso_unmapped"))
    elif st.button(ui.t("auth.sso")):
        st.login()

if db.is_demo(engine):
    st.caption(ui.t("auth.demo_accounts", pw=auth.DEMO_PASSWORD,
                    users="、".join(auth.DEMO_USERS.values())))
