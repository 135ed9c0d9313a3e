"""Policy targets (``data/policy_targets.csv``) and the one rule that says whether a value
meets one.

The rule (stated on the board and in ``docs/definitions.md``'s spirit: one place):

* **met** — the value satisfies the comparison (``>=``, ``<=`` or ``=``) and is not at
  risk;
* **at risk** — the value satisfies the comparison but lies within ``margin`` of the
  target (a relative margin, default 5 % of the target: a value ≥ 90 % target is at risk
  between 90 and 94.5 %), or its 95 % interval crosses the target;
* **missed** — the value does not satisfy the comparison;
* **no data** — the value is missing.

For ``=`` targets (subsidy rates fixed by a policy text) the value meets the target when
it equals it to within ``1e-9`` relative; anything else is missed (no "at risk" band).

A target applies to the whole county and its own definition only (decisions §10): callers
evaluate it against the county value of the target's measure, never a filtered subgroup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from healthmap.reference import ReferenceDataError, load_policy_targets

COMPARISONS = (">=", "<=", "=")
STATUSES = ("met", "at_risk", "missed", "no_data")
DEFAULT_MARGIN = 0.05  # relative margin of the "at risk" band
SYMBOL = {">=": "≥", "<=": "≤", "=": "="}


# English for the units of data/policy_targets.csv (the file writes them in Chinese)
UNITS_EN = {"%/年": "%/year", "元/人": "yuan/person", "元/例": "yuan/case",
            "元/张": "yuan/prescription", "元/床日": "yuan/bed-day", "元/床": "yuan/bed",
            "年": "years", "元/年": "yuan/year"}


@dataclass(frozen=True)
class Target:
    """One policy target: ``value`` in ``unit``, met when ``actual comparison value``."""

    code: str
    name_zh: str
    name_en: str
    value: float
    unit: str
    comparison: str
    measure: str
    source: str
    explanation_zh: str
    explanation_en: str

    def text(self, lang: str = "zh") -> str:
        """The target as a short text, its unit in ``lang`` (units are written in Chinese
        in the data file; :data:`UNITS_EN` gives their English).

        >>> get("in_county_rate").text(), get("fund_growth").text(), get("fund_growth").text("en")
        ('≥ 90 %', '≤ 10 %/年', '≤ 10 %/year')
        """
        unit = UNITS_EN.get(self.unit, self.unit) if lang == "en" else self.unit
        return f"{SYMBOL[self.comparison]} {self.value:g} {unit}"

    def name(self, lang: str = "zh") -> str:
        return self.name_en if lang == "en" else self.name_zh


def load(path: Path | None = None) -> dict[str, Target]:
    """The targets, validated: codes unique, values finite numbers, comparisons known.

    Raises :class:`healthmap.reference.ReferenceDataError` naming every bad row.

    >>> t = load()
    >>> t["fund_growth"].comparison, t["fund_growth"].value
    ('<=', 10.0)
    """
    df = load_policy_targets(path)
    if "measure" not in df.columns:
        df["measure"] = ""
    problems = []
    dup = df["code"][df["code"].duplicated()].tolist()
    if dup:
        problems.append(f"duplicate code {sorted(set(dup))}")
    for i, r in df.iterrows():
        if not str(r["code"]).strip():
            problems.append(f"row {i + 2}: empty code")
        if not math.isfinite(float(r["value"])):
            problems.append(f"row {i + 2} ({r['code']}): value is not a finite number")
        if r["comparison"] not in COMPARISONS:
            problems.append(f"row {i + 2} ({r['code']}): comparison {r['comparison']!r}")
    if problems:
        raise ReferenceDataError("policy_targets.csv: " + "; ".join(problems))
    df = df.fillna({"measure": "", "source": "", "explanation_zh": "", "explanation_en": ""})
    return {r["code"]: Target(str(r["code"]), str(r["name_zh"]), str(r["name_en"]),
                              float(r["value"]), str(r["unit"]), str(r["comparison"]),
                              str(r["measure"]), str(r["source"]), str(r["explanation_zh"]),
                              str(r["explanation_en"]))
            for _, r in df.iterrows()}


def get(code: str) -> Target:
    """The target ``code`` (a clear error naming the choices otherwise)."""
    targets = load()
    try:
        return targets[code]
    except KeyError:
        raise ValueError(f"unknown target {code!r}; choose from "
                         f"{', '.join(sorted(targets))}") from None


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or bool(pd.isna(x))


def status(actual: float | None, target: float, comparison: str,
           margin: float = DEFAULT_MARGIN, ci: tuple[float, float] | None = None) -> str:
    """``met``, ``at_risk``, ``missed`` or ``no_data`` for ``actual`` against ``target``.

    Parameters
    ----------
    actual : float or None
        The county value, in the target's unit.
    target : float
        The target value.
    comparison : {">=", "<=", "="}
        How ``actual`` must relate to ``target`` to meet it.
    margin : float
        Relative width of the "at risk" band inside the met side (0.05 = 5 % of the
        target; with a target of 0 the band is ``margin`` in absolute units).
    ci : (low, high), optional
        The value's 95 % interval: a met value whose interval reaches the target (or
        beyond) is at risk.

    Examples
    --------
    >>> status(92, 90, ">="), status(94.5, 90, ">="), status(89.9, 90, ">=")
    ('at_risk', 'met', 'missed')
    >>> status(8, 10, "<="), status(9.6, 10, "<="), status(10.1, 10, "<=")
    ('met', 'at_risk', 'missed')
    >>> status(96, 90, ">=", ci=(89, 99)), status(None, 90, ">=")
    ('at_risk', 'no_data')
    >>> status(30, 30, "="), status(29, 30, "=")
    ('met', 'missed')
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"unknown comparison {comparison!r}; use one of {COMPARISONS}")
    if _missing(actual):
        return "no_data"
    actual = float(actual)
    band = abs(target) * margin if target else margin
    if comparison == "=":
        return "met" if math.isclose(actual, target, rel_tol=1e-9, abs_tol=1e-12) else "missed"
    if comparison == ">=":
        if actual < target:
            return "missed"
        near = actual < target + band
        crosses = ci is not None and not _missing(ci[0]) and float(ci[0]) <= target
    else:
        if actual > target:
            return "missed"
        near = actual > target - band
        crosses = ci is not None and not _missing(ci[1]) and float(ci[1]) >= target
    return "at_risk" if near or crosses else "met"


def rule_text(lang: str = "zh", margin: float = DEFAULT_MARGIN) -> str:
    """The status rule in words, shown beside every status.

    >>> rule_text("en")[:40]
    'met: the target is satisfied and the val'
    """
    pct = f"{margin * 100:g}"
    if lang == "en":
        return (f"met: the target is satisfied and the value is more than {pct} % of the "
                f"target away from it and its 95 % interval does not reach it; at risk: "
                f"satisfied but within {pct} % of the target, or the interval reaches it; "
                f"missed: not satisfied. Targets apply to the whole county and their own "
                f"definition only.")
    return (f"达标：满足目标，且与目标值相差超过目标值的 {pct}%、95% 置信区间不触及目标；"
            f"预警：满足目标但距目标值不足 {pct}%，或置信区间触及目标；未达标：不满足目标。"
            f"目标只适用于全市及其本身的口径。")


#: the selection each measure-linked target is defined on (decisions §10): the cube
#: setting; every other filter must be "all"
DEFINITION_SETTING = {"in_county_rate": "inpatient", "fund_growth": None}


def applies(code: str, f) -> bool:
    """Whether the selection ``f`` (:class:`healthmap.queries.Filters`) is target
    ``code``'s own definition: all diseases, sexes, ages and insurance types, whole years,
    the definition's setting. Only then may a status be shown against the target.

    >>> from healthmap.queries import Filters
    >>> applies("in_county_rate", Filters(years=(2024,)))
    True
    >>> applies("in_county_rate", Filters(years=(2024,), groups=("C_LUNG",)))
    False
    >>> applies("in_county_rate", Filters(years=(2024,), setting="outpatient"))
    False
    """
    whole_year = f.month_from is None or f.months == 12
    return (not (f.groups or f.icd3 or f.sex or f.age_groups or f.insurance) and whole_year
            and f.setting == DEFINITION_SETTING.get(code, f.setting))
