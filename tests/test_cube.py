"""The cube's dimensions and filters are described once (healthmap.cube): the SQL filter
and the in-memory filter are generated from the same description and agree."""

import random

import pandas as pd
import pytest

from healthmap import cube, queries
from healthmap.codes import AGE_GROUPS, INSURANCE_TYPES


def test_dimensions_and_measures_are_the_roll_ups_columns(demo_db):
    from healthmap.db import make_engine
    from healthmap.store.layout import rollup_columns

    e = make_engine(demo_db)
    for name, (dims, measures) in cube.ROLLUPS.items():
        stored = [c for c, _t in rollup_columns(name)]
        assert stored == dims + [cube.MONEY.get(m, (m, 1))[0] for m in measures]
        # what the pages read: the dimensions and the measures by their names, in yuan
        assert list(queries.rollup(e, name).columns) == dims + measures
    from healthmap import summary

    assert summary.CELL_KEYS is cube.CELL_DIMS and queries.MEASURES is cube.MEASURES
    e.dispose()


def _random_filters(rng: random.Random, years, groups) -> queries.Filters:
    m0 = rng.randint(1, 12)
    pick = lambda xs, k: tuple(rng.sample(list(xs), rng.randint(0, k)))  # noqa: E731
    return queries.Filters(
        years=pick(years, len(years)) or tuple(years[-1:]),
        month_from=m0, month_to=rng.randint(m0, 12),
        groups=pick(groups, 3), icd3=pick(["C16", "C18", "I10", "J18", "E11"], 2),
        sex=rng.choice([None, "M", "F"]), age_groups=pick(AGE_GROUPS, 4),
        insurance=pick(INSURANCE_TYPES, 2),
        setting=rng.choice([None, "inpatient", "outpatient"]))


def test_sql_and_memory_filters_agree_on_random_filters(demo_db):
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    years = tuple(queries.periods(e))
    frame = queries.load_cells_frame(e, years)
    inst = queries.load_institution_frame(e, years)
    groups = queries.disease_groups(e)["group_code"].tolist()
    rng = random.Random(8)
    for _ in range(25):
        f = _random_filters(rng, years, groups)
        sel = queries.resolve(e, f)
        by = rng.choice([["area_code"], ["area_code", "age_group"], ["icd3"], ["year", "month"],
                         ["insurance_type", "in_county"]])
        sql = queries.cells(e, f, by, sel.icd3_list).sort_values(by).reset_index(drop=True)
        mem = queries.cells(e, f, by, sel.icd3_list, frame).sort_values(by).reset_index(drop=True)
        sql = sql[sql["episodes"] > 0].reset_index(drop=True)
        mem = mem[mem["episodes"] > 0].reset_index(drop=True)
        pd.testing.assert_frame_equal(sql[by].astype(str), mem[by].astype(str), obj=str(f))
        for c in cube.MEASURES:
            assert sql[c].to_numpy() == pytest.approx(mem[c].to_numpy(), rel=1e-9), (f, c)
        a = queries.institution_cells(e, f, sel.icd3_list)
        b = queries.institution_cells(e, f, sel.icd3_list, frame=inst)
        key = ["area_code", "institution_code"]
        a, b = (d.sort_values(key).reset_index(drop=True) for d in (a, b))
        assert a["episodes"].tolist() == b["episodes"].tolist(), f
    e.dispose()


def test_a_filter_is_resolved_once_per_change(demo_db, monkeypatch):
    """The map page model looks the disease groups up once, not per table; the panels and
    flows opened below the page reuse the change's selection."""
    from healthmap import mapmodel
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    calls = []
    real = queries.group_icd3
    monkeypatch.setattr(queries, "group_icd3", lambda *a: calls.append(a) or real(*a))
    f = queries.Filters(years=(2024,), groups=("C_STOMACH",))
    page = mapmodel.map_page(e, mapmodel.MapInputs(f, "outward_referral"))
    assert len(calls) == 1
    assert page.funnel is not None and len(page.table) == 11 and len(page.export) == 11
    assert page.selection.filters == f and len(page.areas.areas) == 11
    figs = mapmodel.panel_figures(e, page.selection, None, page.areas, False, None, "en")
    flows = mapmodel.flow_view(e, page.selection, None, page.areas, None, "county", False,
                               "en")
    assert len(calls) == 1
    assert set(figs) == {"top", "pyramid", "insurance_pie", "trend"}
    assert flows.figure is not None and len(flows.table) > 0
    e.dispose()
