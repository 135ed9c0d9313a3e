"""Hand-made inputs of the map page's figures (choropleth, funnel, panels), shared by
tests/test_figures_same.py and the one-off run that stored their expected JSON
(tests/data/figures_expected.json, made by ``python tests/figure_cases.py`` with the
figure construction before issue 14's speed-up: the figures must not change)."""

import json

import numpy as np
import pandas as pd
from shapely.geometry import MultiPolygon, box, mapping


def areas() -> pd.DataFrame:
    geoms = [json.dumps(mapping(box(121 + i * 0.1, 28, 121.1 + i * 0.1, 28.1)))
             for i in range(4)]
    geoms[1] = json.dumps(mapping(MultiPolygon([box(121.1, 28, 121.15, 28.05),
                                                box(121.16, 28.06, 121.2, 28.1)])))
    geoms.append(None)  # an area without a boundary: named in a note, not drawn
    return pd.DataFrame({
        "code": [f"A{i}" for i in range(5)], "name": ["城关镇", "<b>x</b>乡", "东山街道", "西区",
                                                      "无边界村"],
        "level": "township", "parent_code": "C", "geometry": geoms,
        "label_lon": [121.05 + i * 0.1 for i in range(5)], "label_lat": 28.05,
        "schematic": [True, True, False, False, False]})


def table(values, suppressed=None, unstable=None, numerator=None, denominator=None):
    k = len(values)
    t = pd.DataFrame({
        "area_code": [f"A{i}" for i in range(k)], "area_name": areas()["name"][:k].tolist(),
        "value": values, "ci_low": [v - 1.25 if v == v else np.nan for v in values],
        "ci_high": [v + 1.5 if v == v else np.nan for v in values],
        "numerator": numerator or [12.0, 40.0, 3.0, 150.0, 7.0][:k],
        "denominator": denominator or [1000.0, 2500.0, 180.0, 9000.0, 400.0][:k],
        "suppressed": suppressed or [False] * k})
    if unstable is not None:
        t["unstable"] = unstable
    return t


def choropleth_cases():
    """(name, kwargs of mapview.choropleth)."""
    tiles = {"url": "https://tiles.example/{z}/{x}/{y}.png", "attribution": "© example"}
    base = table([1.2, 4.0, 1.66, 3.5, np.nan], suppressed=[False, False, True, False, False],
                 unstable=[True, False, False, True, False])
    return [
        ("quantiles_zh", dict(table=base, areas=areas(), value_label="率")),
        ("equal_en", dict(table=base, areas=areas(), value_label="rate",
                          scheme="equal_interval", lang="en")),
        ("natural_k3", dict(table=table([5.0, 1.0, 9.0, 1.1, 5.2]), areas=areas(),
                            value_label="外转率", scheme="natural_breaks", k=3)),
        ("fixed_counts", dict(table=table([0.0, 0.0, 3.0, 41.0, 2.0]), areas=areas(),
                              value_label="例数", scheme="fixed", fixed_bins=[1, 10])),
        ("tiles", dict(table=base, areas=areas(), value_label="率", tiles=tiles)),
        ("outlines_in_legend_order", dict(  # unstable areas in another order than the table
            table=table([5.0, 1.0, 9.0, 2.0, 7.0], unstable=[True, True, False, True, False]),
            areas=areas(), value_label="率")),
        ("no_values", dict(table=table([np.nan] * 5), areas=areas(), value_label="率")),
    ]


def funnel_cases():
    """(name, kwargs of mapview.funnel_figure)."""
    return [
        ("proportion_zh", dict(table=table([1.2, 4.0, 16.6, 3.5, 0.5]), target=3.0,
                               kind="proportion", value_label="外转率", scale=100)),
        ("rate_en", dict(table=table([120.0, 400.0, 1660.0, 350.0, np.nan],
                                     suppressed=[False, False, False, True, False]),
                         target=300.0, kind="rate", value_label="per 100,000", scale=1e5,
                         lang="en")),
        ("empty", dict(table=table([np.nan] * 5), target=1.0, kind="rate", value_label="x",
                       scale=1e5)),
    ]


def panel_tables(empty: bool = False) -> dict[str, pd.DataFrame]:
    """Tables as :func:`healthmap.mapview.panels` returns them."""
    n = 0 if empty else None
    return {
        "top": pd.DataFrame({"group_code": ["C_STOMACH", "X_NEW", "C_LUNG"][:n],
                             "name_zh": ["胃癌", None, "肺癌"][:n],
                             "name_en": ["Stomach cancer", None, "Lung cancer"][:n],
                             "episodes": [120.0, 45.0, 30.0][:n]}),
        "age": pd.DataFrame({"age_group": ["60-64", "60-64", "65-69", "65-69", "unknown"][:n],
                             "sex": ["M", "F", "M", "F", "M"][:n],
                             "episodes": [40.0, 35.0, 52.0, 12.0, 3.0][:n]}),
        "insurance": pd.DataFrame({"insurance_type": ["employee", "resident", "self_pay"][:n],
                                   "episodes": [80.0, 110.0, np.nan][:n]}),
        "trend": pd.DataFrame({"year": [2024, 2024, 2023][:n], "month": [2, 1, 12][:n],
                               "episodes": [17.0, 21.0, 9.0][:n]})}


def as_json(fig) -> dict:
    """A figure as the browser gets it: what ``st.plotly_chart`` sends (streamlit turns a
    figure into ``fig.to_dict()`` and that into ``plotly.io.to_json(..., validate=False)``)."""
    import plotly.io

    return json.loads(plotly.io.to_json(fig.to_dict(), validate=False))


def decoded(value):
    """``value`` (an :func:`as_json` figure or part of one) with plotly's typed arrays
    (``{"dtype", "bdata"}``, base64) decoded and every number as a float array, so that
    figures compare by value: the funnel limits' last bits differ between numpy/scipy
    releases (2.4 against the 2.3 the expectations were stored with)."""
    import base64

    import numpy as np

    if isinstance(value, dict) and set(value) >= {"dtype", "bdata"}:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return _Floats(arr.reshape(value["shape"]) if "shape" in value else arr)
    if isinstance(value, dict):
        return {k: decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decoded(v) for v in value]
    return value


class _Floats:
    """A typed array that equals another holding the same numbers to 9 significant
    digits (and the same missing values)."""

    def __init__(self, arr) -> None:
        import numpy as np

        self.arr = np.asarray(arr, dtype=float)

    def __eq__(self, other) -> bool:
        import numpy as np

        return (isinstance(other, _Floats) and self.arr.shape == other.arr.shape
                and bool(np.allclose(self.arr, other.arr, rtol=1e-9, atol=0,
                                     equal_nan=True)))

    def __repr__(self) -> str:
        return f"_Floats({self.arr!r})"


if __name__ == "__main__":  # store the expectations (run once, with the old construction)
    from pathlib import Path

    from healthmap import mapmodel, mapview

    out = {"choropleth": {n: as_json(mapview.choropleth(**kw)) for n, kw in choropleth_cases()},
           "funnel": {n: as_json(mapview.funnel_figure(**kw)) for n, kw in funnel_cases()},
           "panels": {f"{lang}{'_empty' if empty else ''}_{k}": as_json(fig)
                      for lang in ("zh", "en") for empty in (False, True)
                      for k, fig in mapmodel.panel_charts(panel_tables(empty), lang).items()}}
    path = Path(__file__).parent / "data" / "figures_expected.json"
    path.write_text(json.dumps(out, ensure_ascii=False, sort_keys=True, indent=0))
    print(path, path.stat().st_size)
