"""HealthMap (健康地图) — entry point: ``streamlit run app.py``.

Loaded by the server (``streamlit run`` finds the ``st.App`` below), this file builds the
ASGI app: Streamlit plus the session-cookie routes, security headers and upload guard of
``web.py``. Run by Streamlit for each visitor, it draws the app (``shell.py``).
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

if get_script_run_ctx() is None:  # imported by the server: build the web app
    import web

    app = st.App(__file__, routes=web.routes(), middleware=web.middleware())
else:  # a visitor's script run
    import shell

    shell.run()
