"""Map building: legend classes, the offline choropleth, funnel flags, patient-flow sums."""

import json

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box, mapping

from healthmap import config, legend, mapview


def _areas(n=3):
    return pd.DataFrame({
        "code": [f"A{i}" for i in range(n)], "name": [f"区域{i}" for i in range(n)],
        "level": "township", "parent_code": "C",
        "geometry": [json.dumps(mapping(box(121 + i * 0.1, 28, 121.1 + i * 0.1, 28.1)))
                     for i in range(n)],
        "label_lon": [121.05 + i * 0.1 for i in range(n)], "label_lat": 28.05,
        "schematic": True})


def _table(values, suppressed=None, n=None, d=None):
    k = len(values)
    return pd.DataFrame({
        "area_code": [f"A{i}" for i in range(k)], "area_name": [f"区域{i}" for i in range(k)],
        "value": values, "ci_low": [v - 1 if v == v else np.nan for v in values],
        "ci_high": [v + 1 if v == v else np.nan for v in values],
        "numerator": n or [10.0] * k, "denominator": d or [1000.0] * k,
        "suppressed": suppressed or [False] * k})


def test_quantile_classes_by_hand():
    # 1.5..10.5 in 5 quantile classes: upper edges at the 20th, 40th … percentiles
    # (3.3, 5.1, 6.9, 8.7, 10.5), two values in each class
    labels, order = legend.classify(pd.Series(np.arange(1.5, 11.5)), "quantiles", 5)
    assert order == ["1.5 – 3.3", "3.3 – 5.1", "5.1 – 6.9", "6.9 – 8.7", "8.7 – 10.5"]
    assert labels.value_counts().tolist() == [2] * 5
    # whole numbers (counts): classes (a, b] hold ⌊a⌋+1 … ⌊b⌋ and say so
    labels, order = legend.classify(pd.Series(np.arange(1.0, 11.0)), "quantiles", 5)
    assert order == ["1 – 2", "3 – 4", "5 – 6", "7 – 8", "9 – 10"]
    assert labels.tolist() == [o for o in order for _ in range(2)]


def test_legend_classes_do_not_degenerate_with_small_counts():
    """Issue 15 §3.6: many equal small counts gave "0 – 0" and "0 – 41"."""
    labels, order = legend.classify(pd.Series([0.0] * 6 + [3.0, 41.0]), "quantiles", 5)
    assert order == ["0", "1 – 41"]
    assert labels.tolist() == ["0"] * 6 + ["1 – 41"] * 2
    _, order = legend.classify(pd.Series([0.0, 0.0, 0.0, 2.0, 2.0]), "natural_breaks", 5)
    assert order == ["0", "1 – 2"] and len(set(order)) == len(order)
    # fractions close together get enough decimals to read distinct
    _, order = legend.classify(pd.Series([0.11, 0.12, 0.13, 0.14]), "equal_interval", 3)
    assert len({o for o in order}) == 3 and all("–" in o for o in order)


def test_natural_breaks_are_the_jenks_optimum_every_time():
    """Natural breaks minimise the squared deviations within classes (Jenks); worked by
    hand for 1.0, 1.1 | 5.0, 5.2 | 9.0 (any other split of five values into three classes
    has a larger within-class sum). mapclassify's NaturalBreaks starts from a random
    point and once in a few runs gave other classes for the same values."""
    x = pd.Series([5.0, 1.0, 9.0, 1.1, 5.2])
    runs = {tuple(legend.classify(x, "natural_breaks", 3)[1]) for _ in range(20)}
    assert runs == {("1.0 – 1.1", "1.1 – 5.2", "5.2 – 9.0")}


def test_fixed_legend_and_missing_values():
    labels, order = legend.classify(pd.Series([1.0, 4.0, 9.0, np.nan]), "fixed",
                                     fixed_bins=[3, 6])
    assert order == ["1 – 3", "4 – 6", "7 – 9"]
    assert labels.tolist()[:3] == order and labels.iloc[3] is None
    labels, order = legend.classify(pd.Series([1.5, 4.0, 9.0]), "fixed", fixed_bins=[3, 6])
    assert order == ["1.5 – 3.0", "3.0 – 6.0", "6.0 – 9.0"]


def test_choropleth_is_offline_and_marks_no_data_and_suppressed():
    t = _table([5.0, np.nan, np.nan], suppressed=[False, False, True])
    t.loc[2, ["numerator", "denominator"]] = np.nan
    fig = mapview.choropleth(t, _areas(), "率")
    spec = fig.to_plotly_json()
    # SVG polygons: no MapLibre, no WebGL, no tile or style server to reach
    assert "map" not in spec["layout"] and "mapbox" not in spec["layout"]
    assert "http" not in fig.to_json()
    areas = [tr for tr in fig.data if tr.fill == "toself"]
    by_area = {tr.text.split("</b>")[0].removeprefix("<b>"): tr for tr in areas}
    assert by_area["区域1"].name == "无数据" and by_area["区域2"].name == "已抑制"
    assert "率: —" in by_area["区域2"].text  # a hidden value is not in the hover either
    assert "95% CI" in by_area["区域0"].text and "n = 10" in by_area["区域0"].text
    # one legend entry per class, suppressed and no data last
    legend = [tr.name for tr in fig.data if tr.showlegend]
    assert legend[-2:] == ["已抑制", "无数据"] and len(legend) == len(set(legend))
    # equal ground distances (longitude scaled by the cosine of the latitude)
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.yaxis.scaleratio == pytest.approx(1 / np.cos(np.radians(28.05)), 1e-3)
    # and in English mode the legend is English (issue 15 §3.9)
    en = mapview.choropleth(t, _areas(), "rate", lang="en")
    assert [tr.name for tr in en.data if tr.showlegend][-2:] == ["Suppressed", "No data"]


def test_optional_tile_basemap(monkeypatch):
    monkeypatch.setenv("HEALTHMAP_TILE_URL", "https://tiles.example.gov.cn/{z}/{x}/{y}.png")
    tiles = config.tile_basemap()
    fig = mapview.choropleth(_table([1.0, 2.0, 3.0]), _areas(), "率", tiles=tiles)
    layer = fig.to_plotly_json()["layout"]["map"]["layers"][0]
    assert layer["sourcetype"] == "raster" and layer["below"] == "traces"
    assert layer["source"] == ["https://tiles.example.gov.cn/{z}/{x}/{y}.png"]
    monkeypatch.setenv("HEALTHMAP_TILE_URL", "https://tiles.example.gov.cn/tile.png")
    with pytest.raises(ValueError, match=r"\{z\}"):
        config.tile_basemap()


def test_funnel_flags_by_hand():
    # county 10 %; 30/100 is far above (Wilson-type limits at N=100 are about 4-16 %),
    # 10/100 is on target, 1/1000 (0.1 %) is far below
    t = _table([30.0, 10.0, 0.1], n=[30, 10, 1], d=[100, 100, 1000])
    out = mapview.funnel_outliers(t, 10.0, "proportion", 100)
    assert out.tolist() == ["above", "within", "below"]
    fig = mapview.funnel_figure(t, 10.0, "proportion", "外转率", 100)
    legend = [tr.name for tr in fig.data if tr.showlegend is not False]
    assert legend == ["95% 控制限", "99.8% 控制限", "外转率"]


def test_funnel_legend_below_labels_on_outliers_and_plain_ticks():
    """Issue 15 §3.3: the legend covered the outliers, labels overlapped, the log axis
    read "5, 10k, 2, 5, 100k"."""
    t = _table([30.0, 10.0, 11.0, 0.1], n=[30, 10, 11, 1], d=[100, 100, 100, 1000])
    fig = mapview.funnel_figure(t, 10.0, "proportion", "外转率", 100)
    lay = fig.layout
    assert lay.legend.y < 0 and lay.legend.yanchor == "top"  # below the plotting area
    points = fig.data[-1]
    assert list(points.text) == ["区域0", "", "", "区域3"]  # names on the outliers only
    assert list(points.customdata) == ["区域0", "区域1", "区域2", "区域3"]  # all on hover
    assert list(lay.xaxis.ticktext) == [f"{v:,.0f}" for v in lay.xaxis.tickvals]
    assert "k" not in "".join(lay.xaxis.ticktext)
    # control limits narrow steadily, no zig-zag at small denominators, and never lie
    # inside the exact limits used to flag an area
    from healthmap import metrics

    for tr in fig.data[:4]:
        y = np.asarray(tr.y)
        steps = np.diff(y)
        assert (steps <= 1e-9).all() or (steps >= -1e-9).all(), tr.name
    exact = metrics.funnel_limits(0.1, np.asarray(fig.data[0].x), kind="proportion")
    assert (np.asarray(fig.data[1].y) >= exact["upper_95"].to_numpy() * 100 - 1e-9).all()


def test_flow_table_and_saving_by_hand():
    flows = pd.DataFrame({
        "area_code": "A0", "institution_code": ["H1", "T1", "S1"],
        "episodes": [10, 4, 1], "cost_sum": [10_000.0, 12_000.0, 3_000.0],
        "fund_sum": [6_000.0, 6_000.0, 1_500.0], "institution": ["县医院", "台州医院", "上海医院"],
        "level": "tertiary", "in_county": [True, False, False],
        "region": ["玉环", "台州", "上海"]})
    ft = mapview.flow_table(flows).set_index("dest")
    assert ft.loc["玉环（县域内）", "share_pct"] == pytest.approx(10 / 15 * 100)
    assert ft.loc["台州", "cost_per_case"] == 3000.0
    sv = mapview.potential_saving(flows)
    # 5 episodes out of county at 3,000 each vs 1,000 in county
    assert (sv["episodes_out"], sv["cost_out"], sv["cost_in"]) == (5, 3000.0, 1000.0)
    assert sv["saving"] == 10_000.0 and sv["fund_outflow"] == 7_500.0
    # public: 4 and 1 episodes are small cells; 4 + 1 = 5 out-of-county is not hidden by
    # itself, but the 1-4 rows are, and Taizhou (4) and Shanghai (1) protect each other
    pub = mapview.flow_table(flows, public=True).set_index("dest")
    assert pub.loc[["台州", "上海"], "episodes"].isna().all()
    assert pub.loc["玉环（县域内）", "episodes"] == 10


def _result(table):
    from healthmap.indicators import IndicatorResult

    t = table.assign(unstable=table["numerator"] < 20, suppression="")
    t.loc[t["suppressed"], "suppression"] = "primary"
    return IndicatorResult("incidence", t, t.iloc[0], [])


def test_area_table_shows_no_none_and_says_why_a_figure_is_missing():
    """Issue 15 §3.4: suppressed and 0/0 cells showed "None"; 0/0 said 不稳定."""
    from healthmap import mapmodel
    from healthmap.queries import Filters

    t = _table([9.5, np.nan, np.nan], suppressed=[False, True, False],
               n=[30.0, np.nan, 0.0], d=[1000.0, np.nan, 0.0])
    inp = mapmodel.MapInputs(Filters(years=(2024,)), "incidence", public=True)
    view = mapmodel.area_view(_result(t), inp)
    cells = view.astype(str).to_numpy().ravel().tolist()
    assert "None" not in cells and "nan" not in cells
    value = view.columns[1]
    assert view[value].tolist() == ["9.5", "已抑制", ""]
    assert view["可靠性"].tolist() == ["可靠", "已抑制（1-4例）", "无数据"]


def test_area_table_of_a_selection_without_cases():
    """A selection with no case anywhere (0/0 in every area and the county) has no county
    value to compare with: the table says "no data" instead of the page failing."""
    from healthmap import mapmodel
    from healthmap.queries import Filters

    t = _table([np.nan, np.nan], n=[0.0, 0.0], d=[0.0, 0.0]).assign(formal=0.0,
                                                                      self_directed=0.0)
    res = _result(t)  # the county row: 0/0 as well
    inp = mapmodel.MapInputs(Filters(years=(2024,), sex="M", setting="outpatient"),
                             "outward_referral")
    view = mapmodel.area_view(res, inp)
    assert view["与全市比较"].tolist() == ["无数据", "无数据"]
    assert view["可靠性"].tolist() == ["无数据", "无数据"]


def test_export_is_rounded_with_whole_counts_and_words_not_codes():
    """Issue 15 §3.8: exports carried 48275.734444444446, "9.0" and internal codes."""
    from healthmap import mapmodel
    from healthmap.queries import Filters

    t = _table([48275.734444444446, 12.0], n=[9.0, 30.0], d=[9.0, 40.0])
    t[["ci_low", "ci_high"]] = [[1234.5678, 98765.4321], [1.0, 2.0]]
    f = Filters(years=(2023, 2024), groups=("C_COLORECTAL",), sex="M")
    inp = mapmodel.MapInputs(f, "cost_per_case")
    out = mapmodel.export_table(_result(t), inp)
    assert out.iloc[0, 1] == 48275.73 and out.iloc[0, 2] == 1234.6
    assert str(out["分子"].dtype) == "Int64" and out["分母"].tolist() == [9, 40]
    text = mapmodel.describe(f, "zh")
    assert "C_COLORECTAL" not in text and "sex=M" not in text
    assert "结直肠癌" in text and "男" in text and "2023, 2024" in text
    xlsx = __import__("healthmap.exports", fromlist=["x"]).to_xlsx_bytes(
        out, sheet="各区域指标")
    import io

    assert "各区域指标" in pd.ExcelFile(io.BytesIO(xlsx)).sheet_names


def test_legend_counts_and_language_do_not_recompute_the_numbers():
    """Issue 15 §1: a legend, counts or language change reuses the computed indicator."""
    from dataclasses import replace

    from healthmap import mapmodel
    from healthmap.queries import Filters

    inp = mapmodel.MapInputs(Filters(years=(2024,)), "incidence")
    for change in ({"scheme": "natural_breaks"}, {"fixed_bins": (5.0,)}, {"counts": True},
                   {"lang": "en"}):
        assert mapmodel.computed_part(replace(inp, **change)) == mapmodel.computed_part(inp)
    for change in ({"measure": "episode_rate"}, {"public": True}, {"margin": "sex:F"},
                   {"filters": Filters(years=(2023,))}):
        assert mapmodel.computed_part(replace(inp, **change)) != mapmodel.computed_part(inp)
    res = _result(_table([9.5, 3.0], n=[30.0, 7.0]))
    shown = mapmodel.with_counts(res, replace(inp, counts=True))
    assert shown.table["value"].tolist() == [30.0, 7.0] and shown.table["ci_low"].isna().all()
    assert res.table["value"].tolist() == [9.5, 3.0]  # the computed result is unchanged
