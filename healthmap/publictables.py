"""The tables the public may see, suppressed together so no difference reveals a cell.

decisions.md §10 (issue 15 §2): the public chooses one of a fixed set of published tables
— new cases of one disease group in one year by township, with the county total and the
sex and age-band margins — and nothing else (no months, settings, insurance types,
several years or free combinations). Every cell of a year × group table is published in
one cube; the cube's linear relations are

* per township and for the county: all = men + women (+ sex unknown), and
  all = Σ age bands (+ age unknown);
* per margin: county = Σ townships.

Suppression is computed over the whole cube at once: primary (1-4 cases), then, until
stable, in every relation where exactly one cell is hidden, or where the hidden cells add
up to no more than their number (so each would be 1), the smallest other non-zero cell is
hidden too; then, while :func:`attack` (interval bounds and linear algebra over all
relations) still recovers a cell, one more cell beside it is hidden (a zero only when
nothing else is left, so a hidden cell may be a zero). ``tests/test_publictables.py`` attacks every published table with every
relation (every pair and complement of public filter values) and recovers nothing. Staff
views stay exact: this module is used only for the public. The map's public view and
``python -m healthmap report --public`` serve the same tables (:func:`published`,
:func:`report`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthmap.codes import AGE_GROUPS
from healthmap.privacy import SUPPRESS_MAX, SUPPRESS_MIN

COUNTY = "__county__"
#: age bands of the published age margin (five-year groups summed)
AGE_BANDS: dict[str, tuple[str, ...]] = {
    "0-14": AGE_GROUPS[0:3], "15-44": AGE_GROUPS[3:9], "45-64": AGE_GROUPS[9:13],
    "65+": AGE_GROUPS[13:],
}
SEXES = ("M", "F", "U")
#: the margins a visitor may choose (``all`` = both sexes, all ages)
MARGINS = ("all", *(f"sex:{s}" for s in ("M", "F")), *(f"age:{b}" for b in AGE_BANDS))
_SEX_CELLS = tuple(f"sex:{s}" for s in SEXES)
_AGE_CELLS = tuple(f"age:{b}" for b in AGE_BANDS) + ("age:unknown",)


def cube(cells: pd.DataFrame, areas: list[str], up: dict[str, str]) -> pd.DataFrame:
    """The published cube of one year and disease group: ``cases`` per area (``areas``
    plus :data:`COUNTY`) and margin cell.

    ``cells`` are summary cells already restricted to the year and the group (columns
    ``area_code``, ``sex``, ``age_group``, ``new_cases``; any setting); ``up`` maps finer
    area codes to ``areas``. Returns a frame indexed by area with one column per margin
    cell (``all``, ``sex:M`` …, ``age:0-14`` …, ``age:unknown``).
    """
    c = cells.assign(area=cells["area_code"].astype(str).map(up)).dropna(subset=["area"])
    band = {g: b for b, gs in AGE_BANDS.items() for g in gs}
    c = c.assign(age=c["age_group"].astype(str).map(band).fillna("unknown"),
                 sex=c["sex"].astype(str).where(c["sex"].astype(str).isin(SEXES), "U"))
    out = pd.DataFrame(index=pd.Index(list(areas), name="area"))
    out["all"] = c.groupby("area")["new_cases"].sum()
    for s in SEXES:
        out[f"sex:{s}"] = c[c["sex"] == s].groupby("area")["new_cases"].sum()
    for b in [*AGE_BANDS, "unknown"]:
        out[f"age:{b}"] = c[c["age"] == b].groupby("area")["new_cases"].sum()
    out = out.fillna(0).astype(int)
    out.loc[COUNTY] = out.sum()
    return out


def relations(cube_: pd.DataFrame) -> list[tuple[tuple, list[tuple]]]:
    """The cube's linear relations as ``(total cell, [part cells])``, cells as
    ``(area, margin)``."""
    rel = []
    for area in cube_.index:
        rel.append(((area, "all"), [(area, m) for m in _SEX_CELLS]))
        rel.append(((area, "all"), [(area, m) for m in _AGE_CELLS]))
    townships = [a for a in cube_.index if a != COUNTY]
    for m in cube_.columns:
        rel.append(((COUNTY, m), [(a, m) for a in townships]))
    return rel


def suppress(cube_: pd.DataFrame) -> pd.DataFrame:
    """Joint primary and secondary suppression of a cube: ``True`` where hidden.

    >>> c = pd.DataFrame({"all": [10, 9, 19], "sex:M": [3, 5, 8], "sex:F": [7, 4, 11],
    ...                   "sex:U": 0, "age:0-14": [10, 9, 19], "age:15-44": 0,
    ...                   "age:45-64": 0, "age:65+": 0, "age:unknown": 0},
    ...                  index=["A", "B", COUNTY])
    >>> h = suppress(c)
    >>> h.loc["A", ["sex:M", "sex:F"]].tolist(), h.loc["B", ["sex:M", "sex:F"]].tolist()
    ([True, True], [True, True])
    >>> bool(h.loc[COUNTY, "sex:M"]), bool(h.loc["A", "all"])
    (False, False)
    """
    values = cube_.to_numpy()
    hidden = pd.DataFrame((values >= SUPPRESS_MIN) & (values <= SUPPRESS_MAX),
                          index=cube_.index, columns=cube_.columns)
    rel = relations(cube_)
    while True:
        _close_relations(cube_, hidden, rel)
        # a pattern of hidden cells may still solve as a system (across relations):
        # hide one more cell beside the first recoverable one and look again
        shown = cube_.astype(float).where(~hidden)
        found = list(attack(shown))
        # an attacker who takes every hidden cell to be at least 1 is right wherever no
        # zero is hidden among the cells used: what they get right counts as recovered
        found += [c for c, v in attack(shown, hidden_min=1).items() if v == cube_.at[c]]
        if not found:
            return hidden
        cell = found[0]
        near = [c for total, parts in rel if cell in (total, *parts) for c in (*parts, total)
                if not hidden.at[c]]
        if not near:  # every related cell hidden already: nothing left to add
            return hidden
        # the smallest non-zero neighbour; a zero only when nothing else is left (zeros
        # may be hidden, so an attacker cannot take a hidden cell to be at least 1)
        hidden.at[min(near, key=lambda c: (cube_.at[c] == 0, cube_.at[c]))] = True


def _close_relations(cube_: pd.DataFrame, hidden: pd.DataFrame, rel) -> None:
    """Hide cells until no relation has exactly one hidden cell, or hidden cells that
    could only be 1 each."""
    changed = True
    while changed:
        changed = False
        for total, parts in rel:
            cells = [total, *parts]
            h = [c for c in cells if hidden.at[c]]
            if not h:
                continue
            if len(h) > 1 and sum(cube_.at[c] for c in h) > len(h):
                continue
            # one hidden cell, or hidden cells that could only be 1 each: hide one more
            free = [c for c in parts if not hidden.at[c] and cube_.at[c] > 0]
            if not free and not hidden.at[total] and cube_.at[total] > 0:
                free = [total]
            if not free:
                continue
            pick = min(free, key=lambda c: cube_.at[c])
            hidden.at[pick] = True
            changed = True


def _cells(table: pd.DataFrame) -> list[tuple[tuple, float]]:
    return [((a, m), float(table.at[a, m])) for a in table.index for m in table.columns]


def attack(table: pd.DataFrame, hidden_min: float = 0.0) -> dict[tuple, int]:
    """Everything an attacker can work out from a published cube (``NaN`` = hidden),
    knowing every relation: interval propagation over all relations to a fixed point
    (a hidden cell is at least ``hidden_min``: 0, since complements may be zeros), then
    linear algebra over the hidden cells. A hidden cell whose interval closes to one
    value, or whose value the relations determine, is recovered. Returns
    ``{(area, margin): value}`` (``-1`` when solvable but not computed).
    """
    items = _cells(table)
    lo = {c: (v if not np.isnan(v) else hidden_min) for c, v in items}
    hi = {c: (v if not np.isnan(v) else np.inf) for c, v in items}
    rel = relations(table)
    changed = True
    while changed:
        changed = False
        for total, parts in rel:
            # total = Σ parts: bound each part by the total and the others, and back
            for p in parts:
                others_lo = sum(lo[q] for q in parts if q != p)
                others_hi = sum(hi[q] for q in parts if q != p)
                new_hi = min(hi[p], hi[total] - others_lo)
                new_lo = max(lo[p], lo[total] - others_hi)
                if new_hi < hi[p] or new_lo > lo[p]:
                    hi[p], lo[p], changed = new_hi, new_lo, True
            t_lo, t_hi = sum(lo[p] for p in parts), sum(hi[p] for p in parts)
            if t_lo > lo[total] or t_hi < hi[total]:
                lo[total], hi[total] = max(lo[total], t_lo), min(hi[total], t_hi)
                changed = True
    found = {c: int(lo[c]) for c, v in items if np.isnan(v) and lo[c] == hi[c]}
    # linear algebra: a hidden cell is determined when its unit vector lies in the row
    # space of the relations restricted to the hidden cells
    unknown = [c for c, v in items if np.isnan(v)]
    if unknown:
        col = {c: i for i, c in enumerate(unknown)}
        rows = []
        for total, parts in rel:
            row = np.zeros(len(unknown))
            if total in col:
                row[col[total]] = 1
            for p in parts:
                if p in col:
                    row[col[p]] -= 1
            if row.any():
                rows.append(row)
        if rows:
            a = np.array(rows)
            rank = np.linalg.matrix_rank(a)
            for c in unknown:
                if c in found:
                    continue
                e = np.zeros(len(unknown))
                e[col[c]] = 1
                if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
                    found[c] = -1  # value solvable (not computed here)
    return found


def margin_filter(margin: str) -> dict:
    """The population selection of a margin: ``sex`` and ``age_groups`` keywords.

    >>> margin_filter("sex:F"), margin_filter("age:0-14")
    ({'sex': 'F', 'age_groups': ()}, {'sex': None, 'age_groups': ('0-4', '5-9', '10-14')})
    """
    if margin.startswith("sex:"):
        return {"sex": margin[4:], "age_groups": ()}
    if margin.startswith("age:"):
        return {"sex": None, "age_groups": AGE_BANDS[margin[4:]]}
    return {"sex": None, "age_groups": ()}


def public_result(cells: pd.DataFrame, pop: pd.DataFrame, areas: pd.DataFrame,
                  up: dict[str, str], margin: str, months: float = 12):
    """The published table of one margin as an indicator result (crude incidence per
    100,000 with its interval; hidden cells blank and flagged).

    ``cells``: summary cells of one year and disease group; ``pop``: person-years by
    ``area_code`` of that margin's sex and ages (the public population).
    """
    from healthmap.indicators import IndicatorResult, flag, rate_table
    from healthmap.persons import DIAGNOSED

    codes = areas["code"].tolist()
    cube_ = cube(cells, codes, up)
    hidden = suppress(cube_)
    num = pd.DataFrame({"area_code": codes, "new_cases": cube_.loc[codes, margin].to_numpy()})
    p = pop.assign(area_code=pop["area_code"].map(up)).dropna(subset=["area_code"])
    t = rate_table(num, p, areas, months)
    total = rate_table(pd.DataFrame({"area_code": [COUNTY],
                                     "new_cases": [cube_.at[COUNTY, margin]]}),
                       p.assign(area_code=COUNTY), pd.DataFrame({"code": [COUNTY],
                                                                 "name": ["county"]}), months)
    for tab, rows in ((t, codes), (total, [COUNTY])):
        tab["value"], tab["ci_low"], tab["ci_high"] = (tab["crude"], tab["crude_low"],
                                                       tab["crude_high"])
        flag(tab)
        hid = hidden.loc[rows, margin].to_numpy()
        tab["suppressed"] = hid
        tab["suppression"] = np.where(hid & ~((cube_.loc[rows, margin] >= SUPPRESS_MIN)
                                              & (cube_.loc[rows, margin] <= SUPPRESS_MAX)
                                              ).to_numpy(), "secondary",
                                      np.where(hid, "primary", ""))
        numeric = [c for c in tab.columns if c not in ("unstable", "suppressed")
                   and pd.api.types.is_numeric_dtype(tab[c])]
        for c in numeric:
            tab[c] = tab[c].astype(float).where(~tab["suppressed"])
    # a whole year of one group in every setting: the summary cells' first-episode flags
    # sum to the distinct persons treated for it that year, i.e. diagnosed cases (就诊患者,
    # healthmap.persons with no look-back), placed by their first episode of the year
    return IndicatorResult("incidence", t, total.iloc[0], [], basis=DIAGNOSED)


def filters(year: int, group: str):
    """What a published table counts: one whole year of one disease group, every setting
    and insurance type, by township (the public chooses nothing else).

    >>> f = filters(2024, "C_LUNG")
    >>> f.years, f.groups, f.setting, f.months
    ((2024,), ('C_LUNG',), None, 12)
    """
    from healthmap.queries import Filters

    return Filters(years=(year,), month_from=1, month_to=12, groups=(group,), setting=None)


def published(engine, f, icd3: list[str] | None, margin: str, aset,
              frame: pd.DataFrame | None = None, pop_rows: pd.DataFrame | None = None):
    """The published table of ``f`` (see :func:`filters`) and ``margin`` as an indicator
    result, suppressed jointly with every other margin of its year and group.

    ``icd3`` is ``f`` resolved (:func:`healthmap.queries.resolve`); ``aset`` the township
    area set; ``frame`` and ``pop_rows`` the loaded summary cells and population rows
    when the caller has them (the map page), else they are read.
    """
    from healthmap import queries

    if margin not in MARGINS:
        raise ValueError(f"unknown margin {margin!r}; published: {', '.join(MARGINS)}")
    cells = queries.cells(engine, f, ["area_code", "sex", "age_group"], icd3, frame)
    pop = queries.population(engine, f.years, by_age=False, rows=pop_rows,
                             **margin_filter(margin))
    return public_result(cells, pop, aset.areas, aset.up, margin)


def report(engine, year: int, group: str, margin: str = "all") -> pd.DataFrame:
    """``report --public``: exactly one published table, as the public map shows it, in
    the report layout (one row per township, then the county ``__total__``; hidden
    figures empty, ``flag`` and ``suppressed`` say so)."""
    from healthmap import indicators, queries
    from healthmap.reference import cached_disease_groups

    if group not in set(cached_disease_groups()["group_code"]):
        raise ValueError(f"unknown disease group {group!r}")
    f = filters(year, group)
    res = published(engine, f, queries.resolve(engine, f).icd3_list, margin,
                    queries.area_set(engine, "township"))
    return indicators.report_frame(res, suppressed_column=True)
