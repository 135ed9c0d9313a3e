"""UI-side helpers shared by app.py and the pages: engine, language, login state, caches.

Caching lives here (not in ``healthmap``): ``st.cache_resource`` for the engine and
``st.cache_data`` with a ttl, keyed on the inputs and on the data version, so an import
invalidates what was cached. No module-level mutable state: per-user state is in
``st.session_state``.
"""

from __future__ import annotations

import datetime as dt
import logging
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


def run_guarded(run) -> None:
    """``run()`` (the app's frame and page), with a problem of the database file met on
    the way (damaged, missing tables, read-only, locked; :mod:`healthmap.dbhealth`) shown
    as a message naming the file and what to do, instead of Streamlit's exception page; so is
    an episode store that does not hold the database's version."""
    from healthmap import dbhealth
    from healthmap.store import StoreMismatch

    try:
        run()
    except StoreMismatch as exc:  # the episode store is not this database's (lost, restored apart)
        st.error(exc.message(lang()), icon=":material/database:")
    except Exception as exc:
        problem = dbhealth.explain(exc, database_url())
        if problem is None:
            raise
        st.error(problem.message(lang()), icon=":material/database:")


@st.cache_resource
def _engine(url: str):
    from healthmap import dbhealth

    # a missing file is made by the first start; a read-only one still serves the map
    problem = dbhealth.diagnose(url, must_exist=False, need_write=False)
    if problem is not None:
        raise problem
    return make_engine(url)


def read_only():
    """Why the configured database cannot be written (:func:`healthmap.dbhealth.read_only`:
    opened read-only, a read-only file or folder), or ``None``. Pages that must write
    (login, the public look-up) say so by name instead of failing."""
    from healthmap import dbhealth

    return dbhealth.read_only(database_url())


def lang() -> str:
    return st.session_state.get("lang", "zh")


def t(key: str, **params) -> str:
    return i18n.t(key, lang(), **params)


def label(prefix: str, value) -> str:
    """``value`` translated through the text ``<prefix>.<value>`` where one exists, else
    shown as it is (codes, names)."""
    key = f"{prefix}.{value}"
    return t(key) if key in i18n.TEXT else ("" if value is None else str(value))


#: what a table shows in a cell without a value (Streamlit's own default is the word "None")
MISSING = "—"


def dataframe(data, where=None, **kwargs):
    """``st.dataframe`` (in container ``where``, default the page) with :data:`MISSING` in
    empty cells; every page's tables go through it."""
    kwargs.setdefault("placeholder", MISSING)
    return (where or st).dataframe(data, **kwargs)


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
    # X-Forwarded-For lists the hops; the last one was added by our own proxy, the
    # earlier ones come from the client and could be anything
    return value.split(",")[-1].strip() if isinstance(value, str) and value else None


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
    A read-only database keeps no sessions (they, and staff pages' audit entries, are
    written): everyone gets the public view.
    """
    if read_only() is not None:
        st.session_state.pop("user", None)
        return None
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


# The period frames are read-only: kept as objects (no copy per rerun), one per year, so
# adding a year to the selection reads only that year.
@st.cache_resource(ttl=900, max_entries=16, show_spinner=False)
def _year_frames(kind: str, year: int, data_version: int, url: str) -> pd.DataFrame:
    load = queries.load_cells_frame if kind == "cells" else queries.load_institution_frame
    return load(engine(url), (year,))


@st.cache_resource(ttl=900, max_entries=8, show_spinner=False)
def _period_frame(kind: str, years: tuple[int, ...], data_version: int, url: str):
    years = years or tuple(periods(data_version, url))
    return queries.concat_frames([_year_frames(kind, y, data_version, url) for y in years])


@st.cache_resource(ttl=900, max_entries=4, show_spinner=False)
def warm_years(data_version: int, url: str, latest: int = 4):
    """Load the ``latest`` years' cell frames in the background, once per data version
    (and cache period), so adding a year to the selection does not wait for the database
    (the first view of a year took 1-4 s); years already loaded are cache hits. The
    institution frames (patient flows, drawn on demand) are read when the flows open:
    warming them as well slowed the first changes after a visit in the benchmark."""
    import threading

    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    years = periods(data_version, url)[::-1][:latest]

    def load() -> None:
        for y in years:
            try:
                _year_frames("cells", y, data_version, url)
            except Exception as exc:  # noqa: BLE001 - a warm-up only: the page reads the
                # year itself when asked (and shows any error then); a database that went
                # away (server stopped, file replaced) must not raise in a stray thread
                logging.getLogger("healthmap").info("warming year %s stopped: %s", y, exc)
                return

    thread = threading.Thread(target=load, name="healthmap-warm-years", daemon=True)
    add_script_run_ctx(thread, get_script_run_ctx())  # the cache is used as in the page
    thread.start()
    return thread


def cells_frame(years: tuple[int, ...], data_version: int, url: str) -> pd.DataFrame:
    return _period_frame("cells", years, data_version, url)


def institution_frame(years: tuple[int, ...], data_version: int, url: str) -> pd.DataFrame:
    return _period_frame("institutions", years, data_version, url)


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def area_set(level: str, data_version: int, url: str) -> queries.AreaSet:
    return queries.area_set(engine(url), level)


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def population_rows(data_version: int, url: str) -> pd.DataFrame:
    return queries.population_rows(engine(url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def periods(data_version: int, url: str) -> list[int]:
    return queries.periods(engine(url))


# ---------------------------------------------------------------- board page (healthmap.board)
# What the leaders' board reads whatever its inputs, once per data version (here, not in
# the page, so the server's warm-up at start fills them: warmup.py).
@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def board_cells(data_version: int, url: str) -> pd.DataFrame:
    from healthmap import board

    return board.board_cells(engine(url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def board_screening(data_version: int, url: str) -> pd.DataFrame:
    from healthmap import board

    return board.screening_cases(engine(url))


@st.cache_data(ttl=900, max_entries=4, show_spinner=False)
def indicator_values(data_version: int, url: str) -> pd.DataFrame:
    from healthmap import aggregates

    return aggregates.values(engine(url))


# ---------------------------------------------------------------- map page (healthmap.mapmodel)
# Each piece is cached on exactly the inputs it depends on, so a widget change recomputes
# only what it affects (a scheme change redraws the map, not the panels or the flows).
# Figures are kept as objects (cache_resource: read-only, never mutated) because
# unpickling a plotly figure re-validates it, which costs more than drawing it.
from healthmap import mapmodel  # noqa: E402  (the map page's model)
from healthmap.legend import SCHEMES  # noqa: E402,F401  (re-exported for the page)


def select(name: str, label: str, options: list, fmt, radio: bool = False,
           disabled: bool = False):
    """A selectbox (or horizontal radio) whose choice survives a language switch.

    Streamlit's frontend matches the chosen option by its *formatted* label, so when the
    labels change language the widget shows no choice (radio) or the old label (select)
    while the old value still applies. The widget therefore gets one key per language,
    started from the value kept under ``name``.
    """
    key = f"{name}_{lang()}"
    current = st.session_state.get(name, options[0])
    if current not in options:
        current = options[0]
    for other in i18n.LANGS:
        if other != lang():
            st.session_state.pop(f"{name}_{other}", None)
    if key not in st.session_state:
        st.session_state[key] = current
    if radio:
        value = st.radio(label, options, key=key, format_func=fmt, horizontal=True,
                         disabled=disabled)
    else:
        value = st.selectbox(label, options, key=key, format_func=fmt, disabled=disabled)
    st.session_state[name] = value
    return value


def on_demand(name: str, label: str):
    """An expander whose content is computed and drawn only while it is open (a lazy
    expander: opening or closing it reruns the fragment it sits in); read ``.open``.

    Like :func:`select`, the widget has one key per language, started from the state kept
    under ``name``, so switching the language keeps an open section open.
    """
    key = f"{name}_{lang()}"
    for other in i18n.LANGS:
        if other != lang():
            st.session_state.pop(f"{name}_{other}", None)
    if key not in st.session_state:
        st.session_state[key] = bool(st.session_state.get(name, False))
    box = st.expander(label, key=key, on_change="rerun")
    st.session_state[name] = bool(box.open)
    return box


@st.cache_data(ttl=900, max_entries=64, show_spinner=False)
def _selection(f: queries.Filters, data_version: int, url: str) -> queries.Selection:
    return queries.resolve(engine(url), f)


def _context(inp: mapmodel.MapInputs, data_version: int, url: str):
    f = inp.filters
    aset = mapmodel.narrow(area_set(f.level, data_version, url), inp.drill)
    return (aset, cells_frame(f.years, data_version, url), population_rows(data_version, url),
            _selection(f, data_version, url))


def map_indicator(inp: mapmodel.MapInputs, data_version: int, url: str):
    """The indicator as shown; computed once per :func:`mapmodel.computed_part`."""
    return mapmodel.with_counts(_indicator(mapmodel.computed_part(inp), data_version, url),
                                inp)


@st.cache_data(ttl=900, max_entries=64, show_spinner=False)
def _indicator(core: mapmodel.MapInputs, data_version: int, url: str):
    aset, frame, pop, sel = _context(core, data_version, url)
    return mapmodel.indicator(engine(url), core, sel, aset, frame, pop)


@st.cache_resource(ttl=900, max_entries=32, show_spinner=False)
def map_figure(inp: mapmodel.MapInputs, data_version: int, url: str, tiles: dict | None):
    aset = _context(inp, data_version, url)[0]
    return mapmodel.map_figure(map_indicator(inp, data_version, url), aset, inp, tiles)


@st.cache_resource(ttl=900, max_entries=32, show_spinner=False)
def funnel_figure(inp: mapmodel.MapInputs, data_version: int, url: str):
    return mapmodel.funnel(map_indicator(inp, data_version, url), inp)


@st.cache_data(ttl=900, max_entries=32, show_spinner=False)
def area_view(inp: mapmodel.MapInputs, data_version: int, url: str) -> pd.DataFrame:
    return mapmodel.area_view(map_indicator(inp, data_version, url), inp)


@st.cache_data(ttl=900, max_entries=32, show_spinner=False)
def export_table(inp: mapmodel.MapInputs, data_version: int, url: str) -> pd.DataFrame:
    return mapmodel.export_table(map_indicator(inp, data_version, url), inp)


@st.cache_resource(ttl=900, max_entries=32, show_spinner=False)
def panel_figures(f: queries.Filters, public: bool, drill: str | None, lang_: str,
                  data_version: int, url: str) -> dict:
    inp = mapmodel.MapInputs(f, public=public, drill=drill, lang=lang_)
    aset, frame, _, sel = _context(inp, data_version, url)
    return mapmodel.panel_figures(engine(url), sel, frame, aset, public, drill, lang_)


@st.cache_resource(ttl=900, max_entries=32, show_spinner=False)
def flow_view(f: queries.Filters, drill: str | None, flow_area: str | None, name: str,
              public: bool, lang_: str, data_version: int, url: str):
    inp = mapmodel.MapInputs(f, drill=drill, lang=lang_)
    aset, _, _, sel = _context(inp, data_version, url)
    return mapmodel.flow_view(engine(url), sel, institution_frame(f.years, data_version, url),
                              aset, flow_area, name, public, lang_)


@st.cache_data(ttl=900, max_entries=8, show_spinner=False)
def local_moran(inp: mapmodel.MapInputs, data_version: int, url: str) -> pd.DataFrame:
    from healthmap.mapview import local_moran as moran

    aset = _context(inp, data_version, url)[0]
    return moran(map_indicator(inp, data_version, url).table, aset.areas)
