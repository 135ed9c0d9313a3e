"""HealthMap (健康地图) — entry point: ``streamlit run app.py``.

On first start with an empty database it creates the schema and loads the demo data
(showing progress); then it builds the navigation for the visitor's role.
"""

from __future__ import annotations

import streamlit as st

import ui
from healthmap import access, auth, db, pagespec
from healthmap.config import database_url
from healthmap.i18n import t as tr

st.set_page_config(page_title="健康地图 HealthMap", page_icon=":material/map:", layout="wide")


@st.cache_resource(show_spinner=False)
def ensure_database(url: str) -> str:
    """Create and fill the database once per process (the lock makes concurrent first
    visitors wait instead of loading twice)."""
    from healthmap.demo import load_demo

    engine = ui.engine(url)
    if db.is_initialised(engine) and db.get_meta(engine, "demo_data") is not None:
        db.upgrade(engine)  # apply new migrations to an existing database
        return "ready"
    if db.is_initialised(engine):
        from healthmap.bootstrap import init_database

        init_database(engine)
        if db.get_meta(engine, "demo_data") is None and _has_episodes(engine):
            return "ready"
    lang = st.session_state.get("lang", "zh")
    with st.status(tr("app.first_start", lang), expanded=True) as status:
        bar = st.progress(0.0)
        load_demo(engine, lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
        auth.ensure_demo_accounts(engine)
        status.update(label=tr("app.first_start_done", lang), state="complete")
    return "loaded"


def _has_episodes(engine) -> bool:
    from healthmap.queries import overview

    return int(overview(engine)["counts"]["episodes"].iloc[0]) > 0


url = database_url()
ensure_database(url)
engine = ui.engine(url)

with st.sidebar:
    st.radio(tr("app.language"), ["zh", "en"], key="lang", horizontal=True,
             format_func=lambda v: "中文" if v == "zh" else "English")

user = ui.current_user()
role = user["role"] if user else None

# Every page is registered, so opening a forbidden page by its URL reaches the page's own
# guard (login prompt, no data) instead of silently redirecting. The sidebar lists only
# the pages this role may open, grouped by job.
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

if db.get_meta(engine, "demo_data") == "1":
    st.info(ui.t("app.demo_banner"))
with st.sidebar:
    if user:
        st.caption(ui.t("auth.logged_in_as", user=user["username"],
                        role=access.role_label(user["role"], ui.lang())))
    else:
        st.caption(ui.t("auth.public"))
nav.run()
