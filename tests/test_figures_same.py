"""Issue 14: the map page's per-change figures are built faster (plain dicts, no per-
property validation, boundaries parsed once) but must not change: what the browser gets
equals what the old construction sent (tests/data/figures_expected.json, stored by
``python tests/figure_cases.py`` before the change)."""

import json
from pathlib import Path

import pytest

from figure_cases import as_json, choropleth_cases, decoded, funnel_cases
from healthmap import mapview

EXPECTED = json.loads((Path(__file__).parent / "data" / "figures_expected.json").read_text())


@pytest.fixture(autouse=True)
def plotly_template(monkeypatch):
    """The expectations were stored under plotly's own default template; importing
    streamlit (other tests' pages) makes "streamlit" the default, old and new alike."""
    import plotly.io as pio

    monkeypatch.setattr(pio.templates, "default", "plotly")


@pytest.mark.parametrize("name,kw", choropleth_cases(), ids=[n for n, _ in choropleth_cases()])
def test_choropleth_sends_the_same_figure(name, kw):
    want = decoded(EXPECTED["choropleth"][name])
    assert decoded(as_json(mapview.choropleth(**kw))) == want
    # a second build (boundaries from the cache) is the same too
    assert decoded(as_json(mapview.choropleth(**kw))) == want


@pytest.mark.parametrize("name,kw", funnel_cases(), ids=[n for n, _ in funnel_cases()])
def test_funnel_sends_the_same_figure(name, kw):
    assert decoded(as_json(mapview.funnel_figure(**kw))) == decoded(EXPECTED["funnel"][name])


def test_the_expectations_are_not_trivial():
    """The stored figures hold what the tests are about: polygons, outlines, the note on
    the area without a boundary, funnel limits and points."""
    quant = EXPECTED["choropleth"]["quantiles_zh"]
    fills = [d for d in quant["data"] if d.get("fill") == "toself"]
    assert len(fills) == 4 and sum(d.get("line", {}).get("dash") == "dash"
                                   for d in quant["data"]) == 2  # A0, A3
    assert "无边界村" in quant["layout"]["annotations"][0]["text"]
    assert len(EXPECTED["funnel"]["proportion_zh"]["data"]) == 5
    assert EXPECTED["funnel"]["empty"]["data"] == []


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("empty", [False, True])
def test_panels_send_the_same_figures(lang, empty):
    from figure_cases import panel_tables
    from healthmap import mapmodel

    figs = mapmodel.panel_charts(panel_tables(empty), lang)
    for k, fig in figs.items():
        want = EXPECTED["panels"][f"{lang}{'_empty' if empty else ''}_{k}"]
        assert decoded(as_json(fig)) == decoded(want), k
