"""HealthMap (健康地图): the domain package.

Pure measures (:mod:`healthmap.metrics`), the data model (:mod:`healthmap.models`),
imports (:mod:`healthmap.ingest`), pre-aggregated summaries (:mod:`healthmap.summary`),
indicator tables (:mod:`healthmap.indicators`) and the command line (:mod:`healthmap.cli`).
This package never imports streamlit: it is usable from a notebook and from the CLI.
"""

__version__ = "0.1.0"
