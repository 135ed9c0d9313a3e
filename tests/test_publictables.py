"""Public tables survive differencing (issue 15 §2, decisions.md §10).

The attack tries every published table of a year with every relation between them: every
pair of complementary filter values (all = men + women, all = the age bands), every
township complement (county = Σ townships), by interval bounds and by linear algebra
over all relations at once. It must recover no hidden cell. The same attack on the
former design (each view suppressed on its own) recovers cells: the test can fail.
"""

import numpy as np
import pandas as pd
import pytest

from healthmap import privacy, publictables as pt


def _cubes(url, year=2024, n_groups=20):
    from healthmap import queries
    from healthmap.db import make_engine
    from healthmap.reference import cached_disease_groups, icd3_to_group

    e = make_engine(url)
    aset = queries.area_set(e)
    frame = queries.load_cells_frame(e, (year,))
    e.dispose()
    to_group = icd3_to_group(cached_disease_groups())
    frame = frame.assign(group=frame["icd3"].astype(str).map(to_group))
    # the groups with the most small cells first: where differencing has most to find
    small = frame[frame["new_cases"] > 0].groupby("group")["new_cases"].sum().sort_values()
    groups = small.index[: n_groups // 2].tolist() + small.index[-(n_groups // 2):].tolist()
    codes = aset.areas["code"].tolist()
    return {g: pt.cube(frame[frame["group"] == g], codes, aset.up) for g in groups}


def _former_design(cube):
    """Each public view suppressed on its own (primary and secondary over the townships,
    county total shown), as the map did before."""
    shown = cube.astype(float).copy()
    towns = [a for a in cube.index if a != pt.COUNTY]
    for m in cube.columns:
        t = pd.DataFrame({"n": cube.loc[towns, m].to_numpy()})
        s = privacy.suppress(t, "n")
        shown.loc[towns, m] = s["n"].to_numpy()
    return shown


def test_no_published_cell_can_be_recovered(demo_db):
    recovered_before, hidden = 0, 0
    for g, cube in _cubes(demo_db).items():
        mask = pt.suppress(cube)
        shown = cube.astype(float).where(~mask)
        hidden += int(mask.to_numpy().sum())
        assert pt.attack(shown) == {}, g
        # an attacker who takes hidden cells to be at least 1 gets nothing right either
        lucky = {c: v for c, v in pt.attack(shown, hidden_min=1).items() if v == cube.at[c]}
        assert lucky == {}, g
        # every 1-4 cell is hidden, nothing else is changed
        m, v = mask.to_numpy(), cube.to_numpy()
        assert m[(v >= 1) & (v <= 4)].all()
        assert np.array_equal(shown.to_numpy()[~m], v[~m].astype(float))
        recovered_before += len(pt.attack(_former_design(cube)))
    assert hidden > 0
    assert recovered_before > 0  # the former per-view suppression leaked


def test_complements_by_hand():
    # two townships; 3 men in A: hiding A's men alone would leave all − women = 3
    c = pd.DataFrame({"all": [10, 20, 30], "sex:M": [3, 12, 15], "sex:F": [7, 8, 15],
                      "sex:U": 0, "age:0-14": 0, "age:15-44": [10, 20, 30], "age:45-64": 0,
                      "age:65+": 0, "age:unknown": 0}, index=["A", "B", pt.COUNTY])
    mask = pt.suppress(c)
    assert mask.at["A", "sex:M"] and mask.at["A", "sex:F"]  # the complement in A
    assert mask.at["B", "sex:M"] and mask.at["B", "sex:F"]  # the complement across A, B
    assert pt.attack(c.astype(float).where(~mask)) == {}
    # the attack itself finds a lone hidden cell
    lone = c.astype(float)
    lone.at["A", "sex:M"] = np.nan
    assert pt.attack(lone) == {("A", "sex:M"): 3}


def test_public_result_blanks_hidden_rows():
    areas = pd.DataFrame({"code": ["A", "B"], "name": ["甲", "乙"], "parent_code": "C"})
    cells = pd.DataFrame({"area_code": ["A", "A", "B"], "sex": ["M", "F", "F"],
                          "age_group": ["60-64", "60-64", "70-74"], "new_cases": [3, 30, 40]})
    pop = pd.DataFrame({"area_code": ["A", "B"], "persons": [1000.0, 2000.0]})
    res = pt.public_result(cells, pop, areas, {"A": "A", "B": "B"}, "sex:M")
    t = res.table.set_index("area_code")
    assert bool(t.at["A", "suppressed"]) and np.isnan(t.at["A", "value"])
    assert np.isnan(t.at["A", "numerator"]) and np.isnan(t.at["A", "denominator"])
    assert res.county["numerator"] == 3 or bool(res.county["suppressed"])
