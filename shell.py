"""The app's frame, run for every visitor by ``app.py``: first start, language, who is
logged in, the navigation for that role, the demo banner.

On first start with no database it creates one and loads the demo data (showing
progress). A database set up with ``init`` (real data) never receives demo data or demo
accounts, whatever it holds.
"""

from __future__ import annotations

import streamlit as st

import ui
from healthmap import access, db, pagespec
from healthmap.config import database_url
from healthmap.i18n import t as tr


@st.cache_resource(show_spinner=False)
def ensure_database(url: str) -> str:
    """Create and fill the database once per process (the lock makes concurrent first
    visitors wait instead of loading twice). Returns ``demo`` or ``real``."""
    from healthmap.bootstrap import init_database

    engine = ui.engine(url)
    kind = db.database_kind(engine)
    if kind == "real":
        init_database(engine)  # apply new migrations; checks the key's fingerprint
        return "real"
    if kind == "demo" and db.get_meta(engine, "demo_data") is not None:
        init_database(engine, kind="demo")
        return "demo"
    from healthmap import auth
    from healthmap.demo import load_demo

    lang = st.session_state.get("lang", "zh")
    box = st.empty()
    with box.status(tr("app.first_start", lang), expanded=True) as status:
        bar = st.progress(0.0)
        load_demo(engine, lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
        auth.ensure_demo_accounts(engine)
        status.update(label=tr("app.first_start_done", lang), state="complete")
    box.empty()  # not replayed at the top of later pages
    return "demo"


def run() -> None:
    st.set_page_config(page_title="健康地图 HealthMap", page_icon=ui.FAVICON,
                       layout="wide")
    url = database_url()
    ensure_database(url)
    engine = ui.engine(url)

    with st.sidebar:
        st.radio(tr("app.language"), ["zh", "en"], key="lang", horizontal=True,
                 format_func=lambda v: "中文" if v == "zh" else "English")

    user = ui.current_user()
    role = user["role"] if user else None

    # Every page is registered, so opening a forbidden page by its URL reaches the page's
    # own guard (login prompt, no data) instead of silently redirecting. The sidebar lists
    # only the pages this role may open, grouped by job.
    pages = {spec.key: st.Page(spec.file, title=ui.t(spec.title_key), url_path=spec.path,
                               icon=spec.icon, default=spec.key == pagespec.DEFAULT)
             for spec in pagespec.PAGES}
    if user:
        pages["login"] = st.Page(pagespec.BY_KEY["login"].file, title=ui.t("nav.account"),
                                 url_path="login", icon=pagespec.BY_KEY["login"].icon)
    nav = st.navigation(list(pages.values()), position="hidden")
    with st.sidebar:
        shown_group = None
        for spec in pagespec.pages_for(role):
            if spec.group != shown_group:
                st.markdown(f"**{ui.t(pagespec.GROUPS[spec.group])}**")
                shown_group = spec.group
            st.page_link(pages[spec.key])

    if db.is_demo(engine):
        st.info(ui.t("app.demo_banner"))
    with st.sidebar:
        if user:
            st.caption(ui.t("auth.logged_in_as", user=user["username"],
                            role=access.role_label(user["role"], ui.lang())))
        else:
            st.caption(ui.t("auth.public"))
    nav.run()
