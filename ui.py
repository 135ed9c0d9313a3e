"""UI-side helpers shared by app.py and the pages: engine, language, login state, caches.

Caching lives here (not in ``healthmap``): ``st.cache_resource`` for the engine and
``st.cache_data`` with a ttl, keyed on the inputs and on the data version, so an import
invalidates what was cached. No module-level mutable state: per-user state is in
``st.session_state``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from healthmap import access, audit, auth, i18n, pagespec, queries, sessions
from healthmap.config import database_url
from healthmap.db import make_engine

# the browser tab's icon, served by the app (an icon name would make the browser fetch it
# from fonts.gstatic.com: the app promises to work offline)
FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")



def engine(url: str | None = None):
    """The process-wide engine for ``url`` (default: the configured database).

    A database file that cannot work (not a database, damaged, in a folder that cannot be
    made or written, see :mod:`healthmap.dbhealth`) stops the page with a message that
    names the file and what to do, instead of Streamlit's exception page.
    """
    from healthmap import dbhealth

    try:
        return _engine(url or database_url())
    except Exception as exc:
        problem = dbhealth.explain(exc, url or database_url())
        if problem is None:
            raise
        st.error(problem.message(lang()), icon=":material/database:")
        st.stop()


@st.cache_resource
def _engine(url: str):
    from healthmap import dbhealth

    # a missing file is made by the first start; a read-only one still serves the map
    problem = dbhealth.diagnose(url, must_exist=False, need_write=False)
    if problem is not None:
        raise problem
    return make_engine(url)


def lang() -> str:
    return st.session_state.get("lang", "zh")


def t(key: str, **params) -> str:
    return i18n.t(key, lang(), **params)


def label(prefix: str, value) -> str:
    """``value`` translated through the text ``<prefix>.<value>`` where one exists, else
    shown as it is (codes, names)."""
    key = f"{prefix}.{value}"
    return t(key) if key in i18n.TEXT else ("" if value is None else str(value))


def headers(df: pd.DataFrame) -> pd.DataFrame:
    """Column names in the user's language where a ``col.<name>`` text exists."""
    return df.rename(columns={c: t(f"col.{c}") for c in df.columns
                              if f"col.{c}" in i18n.TEXT})


def client_address() -> str | None:
    """The visitor's address for throttling: from the proxy header named by
    ``HEALTHMAP_PROXY_HEADER`` (only set it behind a proxy that writes that header), else
    the address Streamlit reports."""
    import os

    header = os.environ.get("HEALTHMAP_PROXY_HEADER", "").strip()
    try:
        value = st.context.headers.get(header) if header else st.context.ip_address
    except Exception:  # no request context (AppTest)
        return None
    return value.split(",")[0].strip() if isinstance(value, str) and value else None


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # no request context (AppTest)
        return None
    return value if isinstance(value, str) and value else None


def current_user() -> dict | None:
    """The logged-in user, or ``None``.

    The session cookie (see :mod:`healthmap.sessions`) is checked on every run, so a
    reload, a typed URL or a new tab stay logged in, and a logout, an idle or absolute
    timeout, a disabled account or a password reset end it on the next interaction.
    """
    token = _cookie_token()
    if token:
        user, reason = sessions.validate(engine(), token)
        if user:
            st.session_state["user"] = user
            return user
        if reason in ("idle", "expired"):
            st.session_state["timed_out"] = True
        st.session_state.pop("user", None)
        return None
    user = st.session_state.get("user")
    if not user:
        return None
    # logged in in this tab before the cookie was set (or by a test): idle timeout here
    last = st.session_state.get("last_seen")
    now = dt.datetime.now()
    if last and now - last > auth.SESSION_TIMEOUT:
        st.session_state.pop("user", None)
        st.session_state["timed_out"] = True
        return None
    st.session_state["last_seen"] = now
    return user


def log_in(user: dict) -> None:
    """After a successful login: remember the user in this tab and send the browser to
    ``/api/session`` with a one-time ticket, which sets the session cookie and opens the
    role's landing page."""
    st.session_state["user"] = user
    st.session_state["last_seen"] = dt.datetime.now()
    ticket = sessions.issue_ticket(engine(), user["username"])
    # the ticket is random URL-safe text made here, never user input
    st.html(f"<script>window.location.replace('/api/session?ticket={ticket}')</script>",
            unsafe_allow_javascript=True)
    st.caption(t("auth.redirecting"))


def log_out() -> None:
    """End the session everywhere (other tabs see the login page on their next
    interaction) and clear the cookie."""
    user = st.session_state.pop("user", None)
    token = _cookie_token()
    if token:
        sessions.end_session(engine(), token, "logout")
    if user:
        audit.record(engine(), user["username"], "logout", role=user["role"])
    st.html("<script>window.location.replace('/api/logout')</script>",
            unsafe_allow_javascript=True)


def role() -> str | None:
    user = current_user()
    return user["role"] if user else None


def guard(page: str) -> dict | None:
    """Stop the page with a login prompt (and no data) unless the role may open it.

    Every page is registered with the navigation, so a forbidden page opened by its URL
    runs up to here and no further. Refusals are audited.
    """
    user = current_user()
    if pagespec.can_open(user["role"] if user else None, page):
        return user
    if user:
        st.warning(t("auth.no_role", role=access.role_label(user["role"], lang())))
    else:
        st.warning(t("auth.need_login"))
    actor = user["username"] if user else "anonymous"
    logged = st.session_state.setdefault("denied_logged", set())
    if (actor, page) not in logged:  # once per visit, not on every rerun of the page
        audit.record(engine(), actor, "access_denied", page, role=user["role"] if user else None)
        logged.add((actor, page))
    st.page_link(pagespec.BY_KEY["login"].file, label=t("auth.go_login"), icon=":material/login:")
    st.stop()


def record_export(target: str, detail: str = "") -> None:
    """Download-button callback: write the export to the audit log (the public's too, as
    ``anonymous``)."""
    user = current_user()
    audit.record(engine(), user["username"] if user else "anonymous", "export", target, detail,
                 role=user["role"] if user else None)


def version() -> int:
    return queries.data_version(engine())


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def cells_frame(years: tuple[int, ...], data_version: int, url: str) -> pd.DataFrame:
    return queries.load_cells_frame(engine(url), years)


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def institution_frame(years: tuple[int, ...], data_version: int, url: str) -> pd.DataFrame:
    return queries.load_institution_frame(engine(url), years)


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def area_set(level: str, data_version: int, url: str) -> queries.AreaSet:
    return queries.area_set(engine(url), level)


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def population_rows(data_version: int, url: str) -> pd.DataFrame:
    return queries.population_rows(engine(url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def periods(data_version: int, url: str) -> list[int]:
    return queries.periods(engine(url))
