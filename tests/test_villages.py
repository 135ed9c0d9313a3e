"""Village level: imported village boundaries, roll-up to townships, drill-down, Moran's I.

The villages here are made by cutting each demo township into four quadrants, so the test
knows exactly which village holds which episodes.
"""

import json

import pandas as pd
import pytest
from shapely.geometry import box, mapping, shape
from streamlit.testing.v1 import AppTest

from healthmap import indicators, mapview, queries
from healthmap.db import make_engine
from healthmap.ingest import import_file
from healthmap.queries import Filters

APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "app.py")
TODAY = __import__("datetime").date(2025, 6, 30)


def _villages(engine) -> pd.DataFrame:
    towns = queries.area_set(engine, "township").areas
    rows = []
    for t in towns.itertuples():
        geom = shape(json.loads(t.geometry))
        x0, y0, x1, y1 = geom.bounds
        cx, cy = geom.centroid.x, geom.centroid.y
        quads = [box(x0, cy, cx, y1), box(cx, cy, x1, y1), box(x0, y0, cx, cy),
                 box(cx, y0, x1, cy)]
        for i, q in enumerate(quads, start=1):
            piece = geom.intersection(q)
            if piece.is_empty or piece.area == 0:
                continue
            rows.append({"code": f"{t.code}{i:03d}", "name": f"{t.name}{i}村",
                         "parent": t.code, "lon": piece.representative_point().x,
                         "geometry": piece})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def village_db(demo_clone, tmp_path_factory):
    url = demo_clone(tmp_path_factory.mktemp("villages"))
    engine = make_engine(url)
    v = _villages(engine)
    gj = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": [
        {"type": "Feature", "geometry": mapping(r.geometry),
         "properties": {"VCODE": r.code, "VNAME": r.name, "TOWN": r.parent}}
        for r in v.itertuples()]}
    res = import_file(engine, "areas", json.dumps(gj).encode(), "villages.geojson",
                      code_field="VCODE", name_field="VNAME", level="village",
                      parent_field="TOWN", today=TODAY)
    assert res.ok, res.problems
    # 1,000 residents per village; cases rise from west to east (a spatial gradient)
    pop = pd.DataFrame({"area_code": v["code"], "year": 2024, "population": 1000})
    # synthetic rows added to the demo database, so they are imported as demo data
    assert import_file(engine, "population", pop.to_csv(index=False).encode(), "vpop.csv",
                       today=TODAY, demo=True).ok
    rank = v["lon"].rank(method="first").astype(int).to_numpy()
    counts = 5 + rank  # 6 … 5 + n villages
    rows = []
    for code, n in zip(v["code"], counts):
        for k in range(n):
            rows.append((f"V{code}-{k}", f"VP{code}-{k}", code, "C16.9", "2024-04-01",
                         "inpatient", "YH001", "20000"))
    ep = pd.DataFrame(rows, columns=["record_id", "person_id", "area_code", "icd10", "date",
                                     "setting", "institution_code", "total_cost"])
    res = import_file(engine, "episodes", ep.to_csv(index=False).encode(), "vep.csv",
                      today=TODAY, demo=True)
    assert res.ok, res.problems
    engine.dispose()
    return url, v.assign(cases=counts)


def test_village_rates_and_roll_up_to_townships(village_db):
    url, v = village_db
    engine = make_engine(url)
    f = Filters(years=(2024,), groups=("C_STOMACH",), setting="inpatient", level="village")
    res = indicators.compute(engine, f, "incidence")
    t = res.table.set_index("area_code")
    assert len(t) == len(v) >= 30
    assert t.loc[v["code"], "numerator"].tolist() == v["cases"].astype(float).tolist()
    # hand check: 1,000 people, n cases → n × 100 per 100,000
    assert t.loc[v["code"], "value"].tolist() == pytest.approx((v["cases"] * 100.0).tolist())
    # township level = the township's own (demo) persons + its villages' persons
    # (diagnosed cases: persons placed by their first qualifying episode, issue 9)
    town = indicators.compute(engine, Filters(years=(2024,), groups=("C_STOMACH",),
                                              setting="inpatient"), "incidence",
                              lookback=0).table
    by_town = v.groupby("parent")["cases"].sum()
    from healthmap import store

    own = store.query(
        engine, "with q as (select area_code, row_number() over (partition by person_id "
        "order by date, record_id) as k from episodes where year = 2024 and "
        "icd3 = 'C16' and setting = 'inpatient') "
        "select area_code, count(*) n from q where k = 1 and length(area_code) = 9 "
        "group by area_code").set_index("area_code")["n"]
    expected = own.reindex(town["area_code"]).fillna(0).to_numpy() + \
        by_town.reindex(town["area_code"]).fillna(0).to_numpy()
    assert town["numerator"].tolist() == expected.tolist()
    engine.dispose()


def test_local_moran_finds_the_gradient(village_db):
    url, v = village_db
    engine = make_engine(url)
    f = Filters(years=(2024,), groups=("C_STOMACH",), setting="inpatient", level="village")
    aset = queries.area_set(engine, "village")
    res = indicators.compute(engine, f, "incidence", aset=aset)
    lm = mapview.local_moran(res.table, aset.areas)
    assert len(lm) == len(v)
    assert lm["p_value"].between(0.001, 1).all()
    east = lm.merge(v[["code", "lon"]], left_on="area_code", right_on="code")
    hh = east[east["cluster"] == "HH"]
    ll = east[east["cluster"] == "LL"]
    assert len(hh) and len(ll)
    assert hh["lon"].mean() > ll["lon"].mean()  # high cluster in the east, low in the west
    engine.dispose()


def _table_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_map_page_village_level_and_drill_down(village_db, monkeypatch):
    url, v = village_db
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["user"] = {"username": "demo_planner", "role": "planner", "demo": True}
    at.run()
    at.session_state["open_cluster_zh"] = True  # the clusters are drawn on demand (issue 15)
    at.sidebar.multiselect(key="groups").set_value(["C_STOMACH"]).run()
    at.radio(key="level_zh").set_value("village").run()  # one widget per language
    assert not at.exception
    table = _table_with(at, "区域")
    assert len(table) == len(v)
    assert _table_with(at, "cluster")["cluster"].isin(["HH", "LL", "HL", "LH", "—"]).all()
    town = v["parent"].iloc[0]
    at.selectbox(key="drill").set_value(town).run()
    assert not at.exception
    table = _table_with(at, "区域")
    assert len(table) == int((v["parent"] == town).sum())
    assert any("局部 Moran" in c.value for c in at.caption)  # < 30 areas
    at.selectbox(key="drill").set_value(None).run()  # and back up
    assert len(_table_with(at, "区域")) == len(v)
    assert len(at.metric) >= 3 and not at.exception
