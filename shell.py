"""The app's frame, run for every visitor by ``app.py``: first start, language, who is
logged in, the navigation for that role, the demo banner.

On first start with no database it creates one and loads the demo data (showing
progress). A database set up with ``init`` (real data) never receives demo data or demo
accounts, whatever it holds.
"""

from __future__ import annotations

import threading

import streamlit as st

import ui
from healthmap import access, db, pagespec
from healthmap.config import database_url


@st.cache_resource(show_spinner=False)
def _first_start_lock(url: str) -> threading.Lock:
    """One lock per database and process: concurrent first visitors wait for one load."""
    return threading.Lock()


@st.cache_resource(show_spinner=False)
def _prepared(url: str, kind: str) -> str:
    """Apply new migrations (and check the key's fingerprint) once per process. Draws
    nothing: elements drawn inside a cached function are replayed on every cache hit."""
    from healthmap.bootstrap import check_read_only, init_database

    if ui.read_only() is not None:  # served for viewing: nothing migrated or written
        check_read_only(ui.engine(url))
    else:
        init_database(ui.engine(url), kind=kind)
    return kind


def ensure_database(url: str) -> str:
    """Make the database ready: ``real`` or ``demo``. With no database yet, load the demo
    data once, with progress shown only to the visitors who wait for it."""
    engine = ui.engine(url)
    kind = db.ready_kind(engine)
    if kind is None and engine.dialect.name != "sqlite" and not db.is_initialised(engine):
        from healthmap import dbhealth  # a server database is set up on purpose: init/demo

        raise dbhealth.DatabaseProblem("not_initialised", url.split("@")[-1])
    if kind is None:
        with _first_start_lock(url):
            kind = db.ready_kind(engine)  # another visitor may have loaded it meanwhile
            if kind is None:
                _load_demo(engine)
                kind = "demo"
    return _prepared(url, kind)


def _load_demo(engine) -> None:
    from healthmap import auth
    from healthmap.demo import load_demo

    box = st.empty()
    with box.status(ui.t("app.first_start"), expanded=True) as status:
        bar = st.progress(0.0)
        load_demo(engine, lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
                  lang=ui.lang())
        auth.ensure_demo_accounts(engine)
        status.update(label=ui.t("app.first_start_done"), state="complete")
    box.empty()


def run() -> None:
    st.set_page_config(page_title="健康地图 HealthMap", page_icon=ui.FAVICON,
                       layout="wide")
    url = database_url()
    ensure_database(url)
    engine = ui.engine(url)

    with st.sidebar:
        st.radio(ui.t("app.language"), ["zh", "en"], key="lang", horizontal=True,
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
