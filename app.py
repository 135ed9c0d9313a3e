"""HealthMap (健康地图) — entry point: ``streamlit run app.py``.

Loaded by the server (``streamlit run`` finds the ``st.App`` below), this file builds the
ASGI app: Streamlit plus the session-cookie routes, security headers and upload guard of
``web.py``. Run by Streamlit for each visitor, it draws the app (``shell.py``).
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

if get_script_run_ctx(suppress_warning=True) is None:  # imported by the server: build the web app
    from streamlit.runtime.pages_manager import PagesManager

    import web

    # Streamlit 1.67 treats a pages/ folder as a "v1" multipage app until the first run
    # calls st.navigation: a first visit to /admin or /login would run that file alone,
    # without this frame (no sidebar, no language switch). st.navigation sets exactly
    # this flag; set it before any visitor arrives. (tests/test_e2e_sessions.py opens
    # /admin as the server's very first request.)
    PagesManager.uses_pages_directory = False
    app = st.App(__file__, routes=web.routes(), middleware=web.middleware(),
                 lifespan=web.lifespan)
else:  # a visitor's script run
    import shell

    shell.ui.run_guarded(shell.run)  # a broken database file: a named message
