"""The structures of a screening rule set (parsed from ``data/screening/*.yaml`` by
:mod:`healthmap.screening.loader`, applied by :mod:`healthmap.screening.rules`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthmap.config import DATA_DIR

RULES_DIR = DATA_DIR / "screening"
CANNOT_ASSESS = "cannot_assess"
NOT_TARGET = "not_target"
SPECIAL_TIERS = {
    CANNOT_ASSESS: {"zh": "无法评估", "en": "cannot assess"},
    NOT_TARGET: {"zh": "非目标人群", "en": "not in target group"},
}
NUM_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}

# Inputs computed from the residents' columns: name → (type, raw columns it needs)
DERIVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "age": ("number", ("birth_date",)),
    "bmi": ("number", ("height_cm", "weight_kg")),
    "ever_smoker": ("bool", ("smoking_pack_years",)),
    "current_smoker": ("bool", ("smoking_pack_years", "quit_years")),
}
DERIVED_EXPLAIN = {
    "age": "completed years on the assessment date (as_of), from birth_date",
    "bmi": "weight_kg / (height_cm / 100)², rounded half up to 0.1 kg/m² (BMI tables are in "
           "0.1 steps)",
    "ever_smoker": "smoking_pack_years > 0 (current or past smoker); 0 = never smoked",
    "current_smoker": "smoking_pack_years > 0 and quit_years = 0; a never-smoker "
                      "(pack-years 0) or someone who quit (quit_years > 0) is not",
}


class RuleSetError(ValueError):
    """A rule-set file that cannot be used, with every problem named."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path, self.problems = str(path), problems
        super().__init__(f"{Path(path).name}: " + "; ".join(problems))


class InputError(ValueError):
    """Residents data that cannot be assessed (a required column is absent)."""


# ------------------------------------------------------------------ structures
@dataclass(frozen=True)
class Cond:
    """A condition: a leaf (``input`` with comparison ``ops`` or an ``is`` value) or a
    combination (``all``, ``any``, ``at_least`` k of ``items``)."""

    kind: str  # leaf / all / any / at_least
    input: str = ""
    ops: tuple[tuple[str, float], ...] = ()
    is_value: Any = None
    items: tuple["Cond", ...] = ()
    k: int = 0

    def inputs(self) -> list[str]:
        if self.kind == "leaf":
            return [self.input]
        return [i for c in self.items for i in c.inputs()]


@dataclass(frozen=True)
class Criterion:
    id: str
    label: dict[str, str]
    explain: dict[str, str]
    source: str
    when: Cond
    note: str = ""
    items: tuple["Criterion", ...] = ()  # for "at least k of" lists: the named items


@dataclass(frozen=True)
class Band:
    ops: tuple[tuple[str, float], ...]
    points: int
    label: str

    def lower(self) -> tuple[float, bool]:
        """(bound, inclusive); -inf when open below."""
        for op, v in self.ops:
            if op in ("ge", "gt"):
                return float(v), op == "ge"
        return -math.inf, False

    def upper(self) -> tuple[float, bool]:
        for op, v in self.ops:
            if op in ("le", "lt"):
                return float(v), op == "le"
        return math.inf, False


@dataclass(frozen=True)
class Factor:
    id: str
    input: str
    label: dict[str, str]
    explain: dict[str, str]
    source: str
    note: str = ""
    bands: tuple[Band, ...] = ()
    values: tuple[tuple[Any, int], ...] = ()
    by: str = ""  # e.g. "sex": bands differ by the value of this input
    by_bands: tuple[tuple[str, tuple[Band, ...]], ...] = ()

    def all_bands(self) -> list[Band]:
        if self.by:
            return [b for _, bands in self.by_bands for b in bands]
        return list(self.bands)

    def point_range(self, group: str | None = None) -> tuple[int, int]:
        if self.values:
            pts = [p for _, p in self.values]
        elif self.by and group is not None:
            pts = [b.points for b in dict(self.by_bands)[group]]
        else:
            pts = [b.points for b in self.all_bands()]
        return min(pts), max(pts)

    def inputs(self) -> list[str]:
        return [self.input] + ([self.by] if self.by else [])


@dataclass(frozen=True)
class ScoreTier:
    tier: str
    min: int
    max: int


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # score / criteria
    name: dict[str, str]
    short: dict[str, str]
    source: str
    population: tuple[Criterion, ...] = ()
    any_of: tuple[Criterion, ...] = ()
    met_tier: str = ""
    unmet_tier: str = ""
    factors: tuple[Factor, ...] = ()
    score_tiers: tuple[ScoreTier, ...] = ()
    note: str = ""
    only_with: tuple[str, ...] = ()  # applies only where one of these inputs is present

    def inputs(self) -> list[str]:
        out = [i for c in self.population for i in c.when.inputs()] + list(self.only_with)
        out += [i for c in self.any_of for i in c.when.inputs()]
        out += [i for f in self.factors for i in f.inputs()]
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Tier:
    id: str
    label: dict[str, str]
    eligible: bool = False


@dataclass(frozen=True)
class AreaFlag:
    id: str
    label: dict[str, str]
    source: str
    values: tuple[tuple[str, bool], ...]

    def lookup(self, area_codes: pd.Series) -> pd.Series:
        """1.0 / 0.0 by the longest listed code that prefixes the area code (a village
        code starts with its township's); NaN for an area not listed."""
        table = dict(self.values)
        out = np.full(len(area_codes), np.nan)
        codes_ = area_codes.fillna("").astype(str).str.strip().to_numpy()
        for key in sorted(table, key=len):  # longer (finer) codes win
            hit = np.char.startswith(codes_.astype(str), key)
            out[hit] = 1.0 if table[key] else 0.0
        return pd.Series(out, index=area_codes.index)


@dataclass(frozen=True)
class RuleSet:
    id: str
    version: str
    target: str
    name: dict[str, str]
    description: dict[str, str]
    tiers: tuple[Tier, ...]
    rules: tuple[Rule, ...]
    area_flags: tuple[AreaFlag, ...] = ()
    path: str = ""
    fingerprint: str = ""

    @property
    def tier_ids(self) -> list[str]:
        return [t.id for t in self.tiers]

    @property
    def score_rule(self) -> Rule | None:
        return next((r for r in self.rules if r.kind == "score"), None)

    def tier_label(self, tier: str, lang: str = "zh") -> str:
        for t in self.tiers:
            if t.id == tier:
                return t.label[lang]
        return SPECIAL_TIERS.get(tier, {}).get(lang, tier)

    def inputs(self) -> list[str]:
        """Every input the rules read (direct columns, derived inputs, area flags)."""
        return list(dict.fromkeys(i for r in self.rules for i in r.inputs()))

    def raw_columns(self) -> list[str]:
        """The residents' columns the rule set reads (derived inputs resolved), in a
        stable order: what an assessment snapshots."""
        flags = {f.id for f in self.area_flags}
        out: list[str] = []
        for i in self.inputs():
            if i in DERIVED:
                out += DERIVED[i][1]
            elif i in flags:
                out.append("area_code")
            else:
                out.append(i)
        return list(dict.fromkeys(out))

    def only(self, rule_id: str) -> "RuleSet":
        """This rule set restricted to one of its rules (``colorectal.apcs``)."""
        rule = next((r for r in self.rules if r.id == rule_id), None)
        if rule is None:
            raise KeyError(f"rule set {self.id!r} has no rule {rule_id!r}; it has "
                           f"{[r.id for r in self.rules]}")
        return replace(self, id=f"{self.id}.{rule_id}", rules=(rule,))

