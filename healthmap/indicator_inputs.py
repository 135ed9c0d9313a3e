"""What the indicator tables are computed from, by any grouping key: summary sums
(episodes, costs) through :mod:`healthmap.queries`, person counts on the episode store
through :mod:`healthmap.persons`, and the population at risk. Used by
:func:`healthmap.indicators.compute`."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from healthmap import persons, queries
from healthmap.queries import Filters


#: grouping keys derived from the ICD-10 category (not columns of the summary cube)
DERIVED_KEYS = ("group_code", "specialty_code")
#: keys whose population is known per value (other keys share the whole population)
POPULATION_KEYS = ("area_code", "year", "sex", "age_group")


def derive(c: pd.DataFrame, key: str) -> pd.DataFrame:
    """Add a derived key (disease group or specialty) from ``icd3``; categories in no
    group get ``—``."""
    from healthmap.reference import cached_disease_groups, icd3_to_group

    groups = cached_disease_groups()
    group = c["icd3"].map(icd3_to_group(groups))
    if key == "specialty_code":
        group = group.map(dict(zip(groups["group_code"], groups["specialty_code"])))
    return c.assign(**{key: group.fillna(persons.NO_GROUP)})


def cells_by(engine: Engine, sel: queries.Selection, key: str, extra: list[str],
             frame: pd.DataFrame | None, aset: queries.AreaSet | None) -> pd.DataFrame:
    """Summary sums by ``key`` (+ ``extra``), restricted to the areas of ``aset``."""
    base = "icd3" if key in DERIVED_KEYS else key
    by = list(dict.fromkeys(["area_code", base, *extra]))
    c = in_areas(queries.cells(engine, sel.filters, by, sel.icd3_list, frame), key, aset)
    if key in DERIVED_KEYS:
        c = derive(c, key)
    return c


def in_areas(c: pd.DataFrame, key: str, aset: queries.AreaSet | None) -> pd.DataFrame:
    """Rows of ``c`` with their area mapped up to the level of ``aset`` (rows of other
    keys: only those inside its areas)."""
    if aset is not None:
        c["area_code"] = c["area_code"].map(aset.up)
        c = c.dropna(subset=["area_code"])
        if key != "area_code":
            c = c[c["area_code"].isin(set(aset.areas["code"]))]
    return c


def person_cells(con, sel: queries.Selection, key: str | None, by_age: bool,
                 referral: bool, lookback: int, aset: queries.AreaSet | None
                 ) -> pd.DataFrame:
    """Person counts from the episode store (:mod:`healthmap.persons`) by area, ``key``
    (``None``: the whole selection) and, with ``by_age``, age group, in the layout of the
    summary sums: ``new_cases`` (rates) or ``in_county``/``episodes``/``referrals``
    (person-level referral, one "episode" per patient)."""
    by = ["area_code", *([key] if key else []), *(["age_group"] if by_age else [])]
    if referral:
        c = persons.referrals(con, sel, by)
    else:
        c = persons.cases(con, sel, by, lookback).rename(columns={"persons": "new_cases"})
    return in_areas(c, key or "", aset)


def population_by(engine: Engine, f: Filters, key: str, by_age: bool,
                  pop_all: pd.DataFrame | None, aset: queries.AreaSet | None,
                  refs=None) -> pd.DataFrame:
    """Person-years by ``key`` (when the population has it) and age group, restricted to
    the areas of ``aset``. With ``refs`` (a :class:`healthmap.refcache.Snapshot` whose
    own areas of ``f.level`` ``aset`` is, and whose population rows ``pop_all`` are) the
    result is kept with the snapshot's data version."""
    if refs is not None:
        name = ("population_by", tuple(f.years), by_age, f.sex, tuple(f.age_groups), key,
                f.level)
        return refs.frame(name, lambda: population_by(engine, f, key, by_age, pop_all, aset))
    own = [key] if key in POPULATION_KEYS and key != "area_code" else []
    pop = queries.population(engine, f.years, by_age=by_age, sex=f.sex,
                             age_groups=f.age_groups, rows=pop_all,
                             by=("area_code", *own))
    return in_areas(pop, key, aset)
