"""People and band tables for the screening rule tests (tests/test_screening_rules*.py):
birth dates by completed age on ``AS_OF``, a person record, a factor's points."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from healthmap.screening import rules
from healthmap.screening.rules import load_ruleset

AS_OF = dt.date(2025, 6, 30)


def born(age: int, days_short: int = 0) -> str:
    """A birth date giving ``age`` completed years on AS_OF (``days_short`` > 0: the
    birthday is that many days away, so the person is still ``age - 1``)."""
    d = AS_OF.replace(year=AS_OF.year - age) + dt.timedelta(days=days_short)
    return d.isoformat()


def person(**kw) -> dict:
    base = {"resident_id": "R1", "sex": "M", "birth_date": born(60)}
    base.update(kw)
    return base


def factor_points(ruleset: str, rule_id: str, factor: str, people: list[dict]) -> list:
    rs = load_ruleset(ruleset)
    results, _, _ = rules.run_rules(pd.DataFrame(people), rs, AS_OF)
    r = next(x for x in results if x.rule.id == rule_id)
    return [None if np.isnan(v) else int(v) for v in r.points[factor]]


def boundary_cases(table: list[tuple[float | None, float | None, int]], step: float):
    """(value, expected points) just below, at and above every cut-off of a published
    band table given as (from, below, points) rows (None = open)."""
    cases = []
    for lo, hi, pts in table:
        if lo is not None:
            cases += [(lo, pts), (round(lo + step, 6), pts)]
        if hi is not None:
            cases.append((round(hi - step, 6), pts))
    return cases


def lung_person(**kw) -> dict:
    """A person with every lung-cancer factor given as none (override with ``kw``)."""
    base = dict(smoking_pack_years=0, quit_years=0, passive_smoking_years=0, copd="false",
                occupational_exposure="false", family_history_lung="false")
    base.update(kw)
    return person(**base)
