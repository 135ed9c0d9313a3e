"""Age-fair township comparison and sex-specific denominators (issue 9 items 2 and 8).

Tables in, tables out; the formulas are in :mod:`healthmap.metrics` and
``docs/definitions.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthmap import standardization
from healthmap.codes import AGE_GROUPS


def sir_table(num: pd.DataFrame, pop: pd.DataFrame, areas: pd.DataFrame,
              count_col: str = "new_cases", scale: float = 1.0) -> pd.DataFrame:
    """Indirectly standardised ratio (SIR = observed / expected) per area.

    The reference is the selection's own total (the county): its age-specific rates from
    all areas' cases of known age and population. Each area's observed count is its cases
    of known age, so the SIRs average to 1 over the county (Σ O = Σ E).

    Parameters
    ----------
    num : DataFrame
        ``area_code``, ``age_group``, ``count_col`` (cases; unknown ages are left out).
    pop : DataFrame
        ``area_code``, ``age_group``, ``persons``.
    areas : DataFrame
        ``code``, ``name``: the rows of the result, in order.
    scale : float
        Person-time factor (months / 12) applied to the population; it cancels in O/E.

    Returns
    -------
    DataFrame
        ``area_code``, ``area_name``, ``observed``, ``expected``, ``sir``, ``ci_low``,
        ``ci_high``, ``funnel`` (see :func:`healthmap.standardization.indirect_standardization`).
        Empty (with these columns) when the selection has no population by age.

    Examples
    --------
    Two townships with the county's age-specific rates but different ages: SIR 1 for both.

    >>> num = pd.DataFrame({"area_code": ["a", "a", "b", "b"], "age_group": ["0-4", "85+"] * 2,
    ...                     "new_cases": [1, 10, 1, 1]})
    >>> pop = pd.DataFrame({"area_code": ["a", "a", "b", "b"], "age_group": ["0-4", "85+"] * 2,
    ...                     "persons": [1000, 1000, 1000, 100]})
    >>> areas = pd.DataFrame({"code": ["a", "b"], "name": ["A", "B"]})
    >>> sir_table(num, pop, areas)[["observed", "expected", "sir"]].round(3).values.tolist()
    [[11.0, 11.0, 1.0], [2.0, 2.0, 1.0]]
    """
    columns = ["area_code", "area_name", "observed", "expected", "sir", "ci_low", "ci_high",
               "funnel"]
    if pop.empty or "age_group" not in pop.columns:
        return pd.DataFrame(columns=columns)
    codes = areas["code"].tolist()
    known = num[num["age_group"].isin(AGE_GROUPS)]
    d = _matrix(known, count_col, codes)
    n = _matrix(pop, "persons", codes) * scale
    ref_d, ref_n = d.sum(axis=0), n.sum(axis=0)
    if ref_n.sum() <= 0:
        return pd.DataFrame(columns=columns)
    t = standardization.indirect_standardization(d.sum(axis=1), n, ref_d, ref_n)
    t.insert(0, "area_name", areas["name"].tolist())
    t.insert(0, "area_code", codes)
    return t[columns]


def _matrix(df: pd.DataFrame, col: str, codes: list[str]) -> np.ndarray:
    m = (df.groupby(["area_code", "age_group"], observed=True)[col].sum().unstack()
         .reindex(index=codes, columns=list(AGE_GROUPS)).fillna(0).astype(float))
    return m.to_numpy()


def selection_sex(groups: tuple[str, ...] | list[str], disease_groups: pd.DataFrame,
                  ) -> str | None:
    """The sex whose population is the denominator for a selection of disease groups.

    ``M`` or ``F`` when every selected group is specific to that sex (column
    ``denominator_sex`` of ``data/disease_groups.csv``); ``None`` otherwise (no group, or
    groups of both sexes or of either sex: the all-sex rate, where for example male
    breast cancer counts in the numerator). The rate for a sex-specific selection counts
    that sex in both numerator and denominator.

    Examples
    --------
    >>> g = pd.DataFrame({"group_code": ["C_PROSTATE", "C_BREAST", "C_LUNG"],
    ...                   "denominator_sex": ["M", "F", None]})
    >>> selection_sex(["C_PROSTATE"], g), selection_sex(["C_BREAST", "C_LUNG"], g)
    ('M', None)
    """
    if not groups:
        return None
    sexes = set(disease_groups.set_index("group_code")["denominator_sex"]
                .reindex(list(groups)).tolist())
    return sexes.pop() if len(sexes) == 1 and next(iter(sexes)) in ("M", "F") else None


def flow_saving(cells: pd.DataFrame) -> float:
    """Potential saving of a patient flow, per disease group and setting (decision §6).

    ``cells`` are institution cells with ``icd3``, ``setting``, ``in_county``,
    ``episodes`` and ``cost_sum`` (:func:`healthmap.queries.institution_cells` with
    ``extra=("icd3", "setting")``); categories outside every group form their own group.

    Examples
    --------
    C16 (gastric cancer) costs 10,000 more outside, 2 stays; I10 costs less outside:

    >>> c = pd.DataFrame({"icd3": ["C16", "C16", "I10", "I10"], "setting": "inpatient",
    ...                   "in_county": [True, False, True, False], "episodes": [5, 2, 10, 10],
    ...                   "cost_sum": [100000, 60000, 50000, 40000]})
    >>> flow_saving(c)
    20000.0
    """
    from healthmap.reference import cached_disease_groups, icd3_to_group

    group = cells["icd3"].map(icd3_to_group(cached_disease_groups()))
    c = cells.assign(group_code=group.fillna(cells["icd3"]))
    return float(potential_saving(c, keys=("group_code", "setting"))["saving"].sum())


def potential_saving(cells: pd.DataFrame, keys=("group_code", "setting")) -> pd.DataFrame:
    """Potential saving had out-of-county episodes cost the in-county mean, per group.

    For each disease group and setting (``keys``): out-of-county episodes × (mean
    out-of-county cost − mean in-county cost), a negative difference counted as zero
    (decision §6); sum the ``saving`` column for the total. Pooling groups first would
    credit the cost gap between expensive and cheap conditions as a saving. Assumptions:
    the same case mix inside and outside the county within a group; a group without
    in-county episodes has no in-county mean and adds nothing (``mean_in`` is ``nan``).

    Parameters
    ----------
    cells : DataFrame
        ``keys``, ``in_county`` (bool), ``episodes`` and ``cost_sum`` (any number of rows
        per key; summed).

    Returns
    -------
    DataFrame
        One row per key with ``episodes_out``, ``mean_out``, ``mean_in``, ``difference``
        and ``saving`` (cost units of ``cost_sum``).

    Examples
    --------
    Group A: 10 stays outside at 3,000 vs 1,000 inside → 10 × 2,000 = 20,000; group B costs
    less outside → 0. Pooled, the same episodes would claim 340,000.

    >>> c = pd.DataFrame({"group_code": ["A", "A", "B", "B"], "setting": "inpatient",
    ...                   "in_county": [True, False, True, False],
    ...                   "episodes": [100, 10, 50, 50],
    ...                   "cost_sum": [100000, 30000, 1000000, 750000]})
    >>> potential_saving(c)[["group_code", "difference", "saving"]]
      group_code  difference  saving
    0          A      2000.0 20000.0
    1          B     -5000.0     0.0
    """
    keys = list(keys)
    c = cells.assign(in_county=cells["in_county"].astype(bool))
    g = c.groupby([*keys, "in_county"])[["episodes", "cost_sum"]].sum().unstack(
        "in_county", fill_value=0)
    ep_in = g["episodes"].get(True, 0) * 1.0
    ep_out = g["episodes"].get(False, 0) * 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in = np.where(ep_in > 0, g["cost_sum"].get(True, 0) / ep_in, np.nan)
        mean_out = np.where(ep_out > 0, g["cost_sum"].get(False, 0) / ep_out, np.nan)
    out = pd.DataFrame({"episodes_out": ep_out, "mean_out": mean_out, "mean_in": mean_in},
                       index=g.index).reset_index()
    out["difference"] = out["mean_out"] - out["mean_in"]
    out["saving"] = np.where(out["difference"] > 0, out["episodes_out"] * out["difference"],
                             0.0)
    return out
