"""§3 Imported text is shown as text (plotly HTML subset, markdown, map text layers) and
§8 an area without a boundary does not break the map."""

import json

import numpy as np
import pandas as pd
import plotly.io as pio

from healthmap import geo, mapview, queries, textsafe
from healthmap.ingest import import_file

LINK = '<a href="https://evil.example/login">点此登录</a>'
BIG = '<span style="font-size:90px"><b>大</b></span>'
LONG = "长" * 3000


def _table(areas):
    n = len(areas)
    return pd.DataFrame({"area_code": areas["code"].tolist(), "area_name": areas["name"].tolist(),
                         "value": np.linspace(1, 9, n), "suppressed": [False] * n,
                         "ci_low": np.linspace(0.5, 8, n), "ci_high": np.linspace(2, 10, n),
                         "numerator": [30] * n, "denominator": np.linspace(1e4, 9e4, n)})


def _poisoned_areas(engine):
    aset = queries.area_set(engine, "township")
    areas = aset.areas.copy()
    areas.loc[areas.index[0], "name"] = LINK
    areas.loc[areas.index[1], "name"] = BIG
    areas.loc[areas.index[2], "name"] = LONG
    areas.loc[areas.index[3], "name"] = "New Town 1"
    return areas


def _no_raw_markup(fig):
    text = json.dumps(fig.to_plotly_json(), cls=pio.json.PlotlyJSONEncoder if hasattr(
        pio.json, "PlotlyJSONEncoder") else None, default=str)
    for bad in ("<a ", "<span", "<b>大", "</a>"):  # the app's own <b> in templates is fine
        assert bad not in text, bad
    return text


def test_choropleth_hover_and_labels_are_text(engine):
    areas = _poisoned_areas(engine)
    fig = mapview.choropleth(_table(areas), areas, "v")
    text = _no_raw_markup(fig)
    assert "&lt;a href" in text  # still readable, as text
    assert LONG not in text
    # the MapLibre map (drawn when a tile basemap is on) has text layers: CJK only
    tiled = mapview.choropleth(_table(areas), areas, "v",
                               tiles={"url": "https://tiles.example.gov.cn/{z}/{x}/{y}.png"})
    _no_raw_markup(tiled)
    labels = [t for tr in tiled.data if tr.type == "scattermap" for t in tr.text]
    assert labels and all(textsafe.map_label(t) == t for t in labels)  # CJK only: no glyphs


def test_funnel_and_sankey_labels_are_text_and_short(engine):
    areas = _poisoned_areas(engine)
    t = _table(areas)
    fig = mapview.funnel_figure(t, 5.0, "rate", "v", 1e5)
    _no_raw_markup(fig)
    flows = pd.DataFrame({"in_county": [False, False], "region": [LINK, "杭州"],
                          "institution": [BIG, LONG], "episodes": [40, 30],
                          "cost_sum": [4e5, 3e5], "fund_sum": [2e5, 1e5]})
    sankey = mapview.flow_figure(flows, LINK)
    _no_raw_markup(sankey)
    assert max(len(x) for x in sankey.data[0].node.label) < 200


def test_markdown_escaping_defuses_images_links_colours_and_katex():
    for raw in ("![x](https://evil.example/a.png)", "[登录](https://evil.example)",
                ":red-background[警告]", "$\\frac{1}{2}$", "<img src=x>", "**粗**"):
        md = textsafe.markdown_text(raw)
        for ch in "![]():$<*":
            assert ch not in md.replace("\\" + ch, ""), (raw, md)


def test_area_without_boundary_keeps_the_map_working(engine):
    csv = b"code,name,level,parent_code\n331083999,\xe6\x96\xb0\xe5\x8c\xba,township,331083\n"
    res = import_file(engine, "areas", csv, "areas.csv", username="t")
    if not res.ok:  # the import may refuse it (issue 16's choice); then nothing to draw
        assert len(res.problems)
        return
    areas = queries.area_set(engine, "township").areas
    bare = areas[areas["code"] == "331083999"]
    assert len(bare) == 1 and not geo.has_geometry(bare["geometry"].iloc[0])
    fig = mapview.choropleth(_table(areas), areas, "v")  # raised TypeError before
    assert not any("新区" in (tr.text or "") for tr in fig.data if tr.fill == "toself")
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "新区" in notes and "no boundary" in notes
    assert np.isfinite(geo.bounds(areas)).all()
    lm = mapview.local_moran(_table(areas), areas, permutations=99)
    assert "331083999" not in set(lm["area_code"])
