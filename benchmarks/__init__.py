"""Benchmarks that drive the running app from outside the domain package.

``healthmap`` never imports streamlit; the browser benchmark (:mod:`benchmarks.browser`)
reads Streamlit's own messages off the page's websocket, so it lives here, next to the
app, and ``python -m healthmap bench --browser`` imports it only when asked for.
"""
