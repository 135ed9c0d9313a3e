"""High-risk screening rules as data: load, validate and apply versioned rule sets.

A rule set (one YAML file in ``data/screening/``, one per screening target) holds one or
more *rules*, each either

* a **score** (points per band of each factor, summed, then tiers by total), or
* **criteria** (a target population, e.g. an age band, plus a list of risk factors of
  which one is enough).

Every criterion, factor and band carries a plain-language explanation in Chinese and
English and the published source it comes from, and the file carries a ``version`` that is
stored with every assessment. Local experts change a rule set by editing its file; the
loader refuses a file that is inconsistent and names every problem.

Missing data are handled explicitly (decisions §8):

* in an any-of list one positive factor makes the person high risk; the list is
  "cannot assess" only when *every* factor is missing; otherwise the known factors decide
  and the unknown ones are listed in ``missing``;
* a score with missing factors is computed as a range (the missing factors at their lowest
  and highest points); if the whole range falls in one tier that tier stands, otherwise the
  person is "cannot assess: missing X";
* a rule set with several rules is high risk when any rule says so, and "cannot assess"
  when no rule says so and at least one rule cannot tell.

Nobody is ever silently low risk: the ``missing`` column names what would have to be
collected to change the answer.

Examples
--------
>>> rs = load_ruleset("diabetes")
>>> rs.id, rs.version
('diabetes', '2024.1')
>>> people = pd.DataFrame([{"resident_id": "R1", "sex": "M", "birth_date": "1965-05-01",
...     "height_cm": 170, "weight_kg": 75, "waist_cm": 92, "sbp": 135,
...     "family_history_diabetes": "false"}])
>>> r = assess(people, rs, dt.date(2025, 6, 30)).iloc[0]
>>> int(r.score), r.tier, r.eligible
(35, 'high', True)
>>> r.reasons
'CDRS 35 (high risk): age +16, BMI +3, waist +8, systolic BP +6, male +2'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import yaml

from healthmap import codes
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


# ------------------------------------------------------------------ loading
def _declared_columns() -> dict[str, str]:
    """Residents' columns a rule may read, with their types (contract + local ones)."""
    from healthmap.ingest import contract

    cols = contract.SPECS["residents"]
    local = getattr(contract, "local_columns", None)
    if local is not None:
        try:
            cols = cols + tuple(local("residents"))
        except Exception:  # a broken local file is reported by the import, not here
            pass
    return {c.name: c.type for c in cols}


class _Parser:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []
        self.columns = _declared_columns()
        self.flag_ids: set[str] = set()

    def err(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    def text(self, d: dict, key: str, where: str, required: bool = True) -> dict[str, str]:
        v = d.get(key)
        if isinstance(v, dict) and all(isinstance(v.get(k), str) and v.get(k).strip()
                                       for k in ("zh", "en")):
            return {"zh": v["zh"].strip(), "en": v["en"].strip()}
        if required:
            self.err(where, f"'{key}' needs non-empty zh and en texts")
        return {"zh": "", "en": ""}

    def string(self, d: dict, key: str, where: str, required: bool = True) -> str:
        v = d.get(key)
        if isinstance(v, (str, int, float)) and str(v).strip():
            return str(v).strip()
        if required:
            self.err(where, f"'{key}' is required")
        return ""

    def keys(self, d: Any, allowed: set[str], where: str) -> bool:
        if not isinstance(d, dict):
            self.err(where, "expected a mapping")
            return False
        extra = sorted(set(d) - allowed)
        if extra:
            self.err(where, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")
        return True

    def input_type(self, name: str, where: str) -> str | None:
        if name in DERIVED:
            return DERIVED[name][0]
        if name in self.flag_ids:
            return "bool"
        if name in self.columns:
            return self.columns[name]
        self.err(where, f"input {name!r} is not a declared residents column, a derived input "
                        f"({', '.join(DERIVED)}) or an area flag of this file")
        return None

    def ops(self, d: dict, where: str) -> tuple[tuple[str, float], ...]:
        out = []
        for op in ("ge", "gt", "le", "lt"):
            if op in d:
                v = d[op]
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.err(where, f"'{op}' needs a number, got {v!r}")
                    continue
                out.append((op, float(v)))
        if sum(op in d for op in ("ge", "gt")) > 1 or sum(op in d for op in ("le", "lt")) > 1:
            self.err(where, "at most one lower (ge/gt) and one upper (le/lt) bound")
        lo = [v for op, v in out if op in ("ge", "gt")]
        hi = [v for op, v in out if op in ("le", "lt")]
        if lo and hi and lo[0] > hi[0]:
            self.err(where, f"empty range: lower bound {lo[0]:g} above upper bound {hi[0]:g}")
        return tuple(out)

    def cond(self, d: Any, where: str) -> Cond:
        if not isinstance(d, dict):
            self.err(where, "a condition must be a mapping")
            return Cond("leaf")
        for kind in ("all", "any"):
            if kind in d:
                self.keys(d, {kind}, where)
                items = d[kind]
                if not isinstance(items, list) or len(items) < 2:
                    self.err(where, f"'{kind}' needs a list of at least two conditions")
                    return Cond(kind)
                return Cond(kind, items=tuple(self.cond(c, f"{where}.{kind}[{i}]")
                                              for i, c in enumerate(items)))
        if "input" not in d:
            self.err(where, "a condition needs 'input' (or 'all' / 'any')")
            return Cond("leaf")
        self.keys(d, {"input", "is", "ge", "gt", "le", "lt"}, where)
        name = str(d["input"])
        typ = self.input_type(name, where)
        ops = self.ops(d, where)
        if "is" in d and ops:
            self.err(where, "use either 'is' or comparisons, not both")
        if ops:
            if typ is not None and typ not in ("number", "int"):
                self.err(where, f"comparisons need a numeric input; {name} is {typ}")
            return Cond("leaf", input=name, ops=ops)
        value = d.get("is", True)
        if typ == "bool" and not isinstance(value, bool):
            self.err(where, f"{name} is true/false; got is: {value!r}")
        if typ == "sex" and value not in codes.SEXES:
            self.err(where, f"sex is M or F; got is: {value!r}")
        return Cond("leaf", input=name, is_value=value)

    def criterion(self, d: Any, where: str, with_items: bool = True) -> Criterion | None:
        allowed = {"id", "label", "explain", "source", "when", "note", "at_least", "items"}
        if not self.keys(d, allowed, where):
            return None
        cid = self.string(d, "id", where)
        where = f"{where} ({cid})" if cid else where
        label = self.text(d, "label", where)
        explain = self.text(d, "explain", where)
        source = self.string(d, "source", where)
        note = self.string(d, "note", where, required=False)
        if "at_least" in d:
            if not with_items:
                self.err(where, "an 'at least' list cannot be nested")
                return None
            k = d["at_least"]
            items = d.get("items")
            if not isinstance(items, list) or not items:
                self.err(where, "'at_least' needs 'items'")
                return None
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= len(items):
                self.err(where, f"'at_least' must be a whole number from 1 to {len(items)}")
                k = 1
            crits = [self.criterion(c, f"{where}.items[{i}]", with_items=False)
                     for i, c in enumerate(items)]
            crits = tuple(c for c in crits if c is not None)
            self.unique([c.id for c in crits], f"{where}.items")
            return Criterion(cid, label, explain, source,
                             Cond("at_least", items=tuple(c.when for c in crits), k=k),
                             note, crits)
        if "when" not in d:
            self.err(where, "'when' (the condition) is required")
            return None
        return Criterion(cid, label, explain, source, self.cond(d["when"], f"{where}.when"),
                         note)

    def unique(self, ids: Iterable[str], where: str) -> None:
        seen = set()
        for i in ids:
            if i in seen:
                self.err(where, f"id {i!r} used twice")
            seen.add(i)

    def band(self, d: Any, where: str) -> Band | None:
        if not self.keys(d, {"ge", "gt", "le", "lt", "points", "label"}, where):
            return None
        pts = d.get("points")
        if isinstance(pts, bool) or not isinstance(pts, int):
            self.err(where, f"'points' must be a whole number, got {pts!r}")
            pts = 0
        ops = self.ops(d, where)
        label = self.string(d, "label", where, required=False) or _band_text(ops)
        return Band(ops, pts, label)

    def bands(self, items: Any, where: str) -> tuple[Band, ...]:
        if not isinstance(items, list) or not items:
            self.err(where, "'bands' needs a list of bands")
            return ()
        bands = [b for b in (self.band(x, f"{where}[{i}]") for i, x in enumerate(items)) if b]
        order = sorted(bands, key=lambda b: b.lower())
        if [id(b) for b in order] != [id(b) for b in bands]:
            self.err(where, "bands must be listed from low to high")
        for a, b in zip(order, order[1:]):
            (hi, hi_inc), (lo, lo_inc) = a.upper(), b.lower()
            if hi != lo or hi_inc == lo_inc:
                what = "overlap" if (hi > lo or (hi == lo and hi_inc and lo_inc)) else "gap"
                self.err(where, f"bands {a.label!r} and {b.label!r} leave a {what} "
                                "(each band must start exactly where the one below ends: "
                                "lt X then ge X, or le X then gt X)")
        return tuple(bands)

    def factor(self, d: Any, where: str) -> Factor | None:
        allowed = {"id", "input", "label", "explain", "source", "note", "bands", "values",
                   "by"}
        if not self.keys(d, allowed, where):
            return None
        fid = self.string(d, "id", where)
        where = f"{where} ({fid})" if fid else where
        name = self.string(d, "input", where)
        typ = self.input_type(name, where) if name else None
        common = dict(id=fid, input=name, label=self.text(d, "label", where),
                      explain=self.text(d, "explain", where),
                      source=self.string(d, "source", where),
                      note=self.string(d, "note", where, required=False))
        if "values" in d:
            vals = d["values"]
            if not isinstance(vals, dict) or not vals:
                self.err(where, "'values' needs a mapping value → points")
                return None
            out = []
            for k, p in vals.items():
                if isinstance(p, bool) or not isinstance(p, int):
                    self.err(where, f"points for {k!r} must be a whole number")
                    continue
                out.append((k, p))
            if typ == "bool" and set(vals) != {True, False}:
                self.err(where, f"{name} is true/false: give points for both true and false")
            if typ == "sex" and set(vals) != set(codes.SEXES):
                self.err(where, "sex: give points for both M and F")
            return Factor(**common, values=tuple(out))
        if typ is not None and typ not in ("number", "int"):
            self.err(where, f"bands need a numeric input; {name} is {typ} (use 'values')")
        if "by" in d:
            by = str(d["by"])
            if by != "sex":
                self.err(where, "'by' may only be sex")
            bb = d.get("bands")
            if not isinstance(bb, dict) or set(bb) != set(codes.SEXES):
                self.err(where, "bands by sex need a list for M and one for F")
                return None
            by_bands = tuple((s, self.bands(bb[s], f"{where}.bands.{s}")) for s in codes.SEXES)
            return Factor(**common, by=by, by_bands=by_bands)
        return Factor(**common, bands=self.bands(d.get("bands"), f"{where}.bands"))

    def rule(self, d: Any, where: str, tiers: list[Tier]) -> Rule | None:
        allowed = {"id", "kind", "name", "short", "source", "note", "population", "any_of",
                   "met_tier", "unmet_tier", "factors", "tiers", "only_with"}
        if not self.keys(d, allowed, where):
            return None
        rid = self.string(d, "id", where)
        where = f"{where} ({rid})" if rid else where
        kind = d.get("kind")
        if kind not in ("score", "criteria"):
            self.err(where, "'kind' must be score or criteria")
            return None
        tier_ids = [t.id for t in tiers]
        pop_items = d.get("population") or []
        if not isinstance(pop_items, list):
            self.err(where, "'population' must be a list of criteria")
            pop_items = []
        population = tuple(c for c in (self.criterion(x, f"{where}.population[{i}]",
                                                      with_items=False)
                                       for i, x in enumerate(pop_items)) if c)
        only_with = d.get("only_with") or []
        if not isinstance(only_with, list):
            self.err(where, "'only_with' must be a list of inputs")
            only_with = []
        for name in only_with:
            self.input_type(str(name), f"{where}.only_with")
        common = dict(id=rid, kind=kind, name=self.text(d, "name", where),
                      only_with=tuple(str(x) for x in only_with),
                      short=self.text(d, "short", where), source=self.string(d, "source", where),
                      note=self.string(d, "note", where, required=False),
                      population=population)
        if kind == "criteria":
            items = d.get("any_of")
            if not isinstance(items, list) or not items:
                self.err(where, "'any_of' needs a list of risk factors")
                return None
            crits = tuple(c for c in (self.criterion(x, f"{where}.any_of[{i}]")
                                      for i, x in enumerate(items)) if c)
            self.unique([c.id for c in crits], f"{where}.any_of")
            met, unmet = d.get("met_tier"), d.get("unmet_tier")
            for key, val in (("met_tier", met), ("unmet_tier", unmet)):
                if val not in tier_ids:
                    self.err(where, f"'{key}' must be one of the file's tiers {tier_ids}")
            elig = {t.id for t in tiers if t.eligible}
            if met in tier_ids and met not in elig:
                self.err(where, "'met_tier' must be an eligible tier")
            if unmet in tier_ids and unmet in elig:
                self.err(where, "'unmet_tier' must not be an eligible tier")
            return Rule(**common, any_of=crits, met_tier=met or "", unmet_tier=unmet or "")
        items = d.get("factors")
        if not isinstance(items, list) or not items:
            self.err(where, "'factors' needs a list")
            return None
        factors = tuple(f for f in (self.factor(x, f"{where}.factors[{i}]")
                                    for i, x in enumerate(items)) if f)
        self.unique([f.id for f in factors], f"{where}.factors")
        st = []
        for i, x in enumerate(d.get("tiers") or []):
            w = f"{where}.tiers[{i}]"
            if not self.keys(x, {"tier", "min", "max"}, w):
                continue
            if x.get("tier") not in tier_ids:
                self.err(w, f"tier must be one of {tier_ids}")
                continue
            if not all(isinstance(x.get(k), int) and not isinstance(x.get(k), bool)
                       for k in ("min", "max")) or x["min"] > x["max"]:
                self.err(w, "min and max must be whole numbers with min ≤ max")
                continue
            st.append(ScoreTier(x["tier"], x["min"], x["max"]))
        if not st:
            self.err(where, "'tiers' (score ranges) are required")
            return None
        lo = sum(f.point_range()[0] for f in factors)
        hi = sum(f.point_range()[1] for f in factors)
        if st[0].min != lo or st[-1].max != hi:
            self.err(where, f"score tiers must run from the lowest possible total {lo} to the "
                            f"highest {hi}; they run {st[0].min}–{st[-1].max}")
        for a, b in zip(st, st[1:]):
            if b.min != a.max + 1:
                self.err(where, f"score tiers {a.tier} ({a.min}–{a.max}) and {b.tier} "
                                f"({b.min}–{b.max}) must meet without gap or overlap")
            if tier_ids.index(b.tier) <= tier_ids.index(a.tier):
                self.err(where, "score tiers must follow the file's tier order, low to high")
        return Rule(**common, factors=factors, score_tiers=tuple(st))

    def area_flag(self, fid: str, d: Any, where: str) -> AreaFlag | None:
        if not self.keys(d, {"label", "source", "basis", "areas"}, where):
            return None
        areas = d.get("areas")
        if not isinstance(areas, dict) or not areas:
            self.err(where, "'areas' needs a mapping area code → true/false")
            return None
        vals = []
        for code, v in areas.items():
            if not isinstance(v, bool):
                self.err(where, f"area {code}: true or false, got {v!r}")
                continue
            vals.append((str(code), v))
        self.string(d, "basis", where)
        return AreaFlag(fid, self.text(d, "label", where), self.string(d, "source", where),
                        tuple(vals))


def _band_text(ops: tuple[tuple[str, float], ...]) -> str:
    return " ".join(f"{OP_TEXT[op]} {v:g}" for op, v in ops) or "any"


def parse_ruleset(data: Any, path: Path | str = "<data>", text: bytes = b"") -> RuleSet:
    """Build and validate a :class:`RuleSet` from parsed YAML; every problem is collected
    and raised together as :class:`RuleSetError`."""
    p = _Parser(Path(path))
    allowed = {"id", "version", "target", "name", "description", "tiers", "rules",
               "area_flags"}
    if not p.keys(data, allowed, "file"):
        raise RuleSetError(path, p.problems)
    rid = p.string(data, "id", "file")
    version = p.string(data, "version", "file")
    if rid and Path(path).suffix and Path(path).stem != rid:
        p.err("file", f"id {rid!r} must match the file name ({Path(path).stem})")
    flags = []
    for fid, fd in (data.get("area_flags") or {}).items():
        p.flag_ids.add(str(fid))
        f = p.area_flag(str(fid), fd, f"area_flags.{fid}")
        if f:
            flags.append(f)
    tiers = []
    for i, t in enumerate(data.get("tiers") or []):
        w = f"tiers[{i}]"
        if p.keys(t, {"id", "label", "eligible"}, w):
            tid = p.string(t, "id", w)
            if tid in SPECIAL_TIERS:
                p.err(w, f"{tid!r} is reserved")
            tiers.append(Tier(tid, p.text(t, "label", w), bool(t.get("eligible", False))))
    if len(tiers) < 2:
        p.err("file", "'tiers' needs at least two tiers, lowest risk first")
    elig = [t.eligible for t in tiers]
    if tiers and (not any(elig) or elig != sorted(elig)):
        p.err("file", "eligible tiers must be the highest ones (at least one)")
    p.unique([t.id for t in tiers], "tiers")
    rules_in = data.get("rules")
    if not isinstance(rules_in, list) or not rules_in:
        p.err("file", "'rules' needs at least one rule")
        rules_in = []
    rules = tuple(r for r in (p.rule(x, f"rules[{i}]", tiers) for i, x in enumerate(rules_in))
                  if r)
    p.unique([r.id for r in rules], "rules")
    if sum(r.kind == "score" for r in rules) > 1:
        p.err("file", "at most one score rule per rule set (its score is the set's score)")
    name = p.text(data, "name", "file")
    desc = p.text(data, "description", "file", required=False)
    target = p.string(data, "target", "file")
    if p.problems:
        raise RuleSetError(path, p.problems)
    fingerprint = hashlib.sha256(text).hexdigest()[:12] if text else ""
    return RuleSet(rid, version, target, name, desc, tuple(tiers), rules, tuple(flags),
                   str(path), fingerprint)


def load_file(path: Path | str) -> RuleSet:
    """Load and validate one rule-set file (cached while the file is unchanged)."""
    path = Path(path).resolve()
    st = path.stat()
    return _load_cached(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _load_cached(path_str: str, _mtime: int, _size: int) -> RuleSet:
    path = Path(path_str)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RuleSetError(path, [f"not readable as UTF-8 YAML: {str(exc).splitlines()[0]}"])
    return parse_ruleset(data, path, raw)


def ruleset_files(directory: Path | None = None) -> list[Path]:
    d = Path(directory or RULES_DIR)
    return sorted(p for p in d.glob("*.yaml") if not p.name.startswith("_")
                  and p.stem != "settings")


def load_all(directory: Path | None = None) -> dict[str, RuleSet]:
    """Every rule set in ``data/screening/`` by id (all problems of all files together)."""
    out, problems = {}, []
    for path in ruleset_files(directory):
        try:
            rs = load_file(path)
            out[rs.id] = rs
        except RuleSetError as exc:
            problems.append(str(exc))
    if problems:
        raise RuleSetError(Path(directory or RULES_DIR), problems)
    return out


def load_ruleset(name: str, directory: Path | None = None) -> RuleSet:
    """A rule set by id (``lung``) or one rule of it (``colorectal.apcs``)."""
    base, _, rule = name.partition(".")
    path = Path(directory or RULES_DIR) / f"{base}.yaml"
    if not path.exists() or path.stem == "settings":
        known = [p.stem for p in ruleset_files(directory)]
        raise KeyError(f"unknown rule set {name!r}; known: {', '.join(known)}")
    rs = load_file(path)
    return rs.only(rule) if rule else rs


# ------------------------------------------------------------------ inputs
def age_on(birth: pd.Series, as_of: dt.date) -> pd.Series:
    """Completed years on ``as_of`` (NaN for a missing or future birth date).

    >>> age_on(pd.to_datetime(pd.Series(["1975-06-30", "1975-07-01", None])),
    ...        dt.date(2025, 6, 30)).tolist()
    [50.0, 49.0, nan]
    """
    b = pd.to_datetime(birth, errors="coerce")
    years = as_of.year - b.dt.year
    before = (b.dt.month > as_of.month) | ((b.dt.month == as_of.month) & (b.dt.day > as_of.day))
    age = (years - before.astype(float)).astype(float)
    return age.where(age >= 0)


def _round_half_up(x: pd.Series, digits: int) -> pd.Series:
    f = 10 ** digits
    return np.floor(x * f + 0.5 + 1e-9) / f


def _as_number(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", np.nan), errors="coerce").astype(float)


def _as_bool(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s.astype(float)
    v = s.map(lambda x: x if isinstance(x, (bool, np.bool_)) else None)
    text = codes.normalize_bool(s.astype(object).where(v.isna(), ""))
    v = v.where(v.notna(), text)
    return v.map(lambda x: np.nan if x is None or (isinstance(x, float) and np.isnan(x))
                 else float(bool(x))).astype(float)


def _as_sex(s: pd.Series) -> pd.Series:
    return codes.normalize_sex(s.astype(object)).astype(object)


def _as_date(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    from healthmap.ingest.validate import parse_dates

    return parse_dates(s.fillna("").astype(str).str.strip())


def required_columns(ruleset: RuleSet) -> list[str]:
    """Columns an input file must have: the id and the columns every rule's target
    population or score cannot do without (sex and birth date where used)."""
    cols = ["resident_id"]
    raw = ruleset.raw_columns()
    cols += [c for c in ("birth_date", "sex") if c in raw]
    return cols


def prepare(residents: pd.DataFrame, ruleset: RuleSet, as_of: dt.date
            ) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """Typed input values and, per input, the raw columns missing on each row.

    Residents' columns may be text (a CSV file) or typed values (the database); an absent
    optional column counts as missing for everybody.
    """
    types = _declared_columns()
    n = len(residents)
    idx = residents.index
    empty = pd.Series([None] * n, index=idx, dtype=object)
    raw: dict[str, pd.Series] = {}
    for col in ruleset.raw_columns():
        s = residents[col] if col in residents.columns else empty
        typ = types.get(col, "text")
        if typ in ("number", "int"):
            raw[col] = _as_number(s)
        elif typ == "bool":
            raw[col] = _as_bool(s)
        elif typ == "sex":
            raw[col] = _as_sex(s)
        elif typ == "date":
            raw[col] = _as_date(s)
        else:
            raw[col] = s.astype(object).where(s.notna() & (s.astype(str) != ""), None)
    values: dict[str, pd.Series] = {}
    for name in ruleset.inputs():
        if name == "age":
            values[name] = age_on(raw["birth_date"], as_of)
        elif name == "bmi":
            h, w = raw["height_cm"], raw["weight_kg"]
            values[name] = _round_half_up(w / (h / 100) ** 2, 1).where(h > 0)
        elif name == "ever_smoker":
            values[name] = (raw["smoking_pack_years"] > 0).astype(float).where(
                raw["smoking_pack_years"].notna())
        elif name == "current_smoker":
            py, qy = raw["smoking_pack_years"], raw["quit_years"]
            cur = pd.Series(np.nan, index=idx)
            cur[py == 0] = 0.0
            cur[qy > 0] = 0.0
            cur[(py > 0) & (qy == 0)] = 1.0
            values[name] = cur
        elif any(f.id == name for f in ruleset.area_flags):
            flag = next(f for f in ruleset.area_flags if f.id == name)
            values[name] = flag.lookup(raw["area_code"].astype(object).fillna(""))
        else:
            values[name] = raw[name]
    missing: dict[str, pd.Series] = {}
    for name, v in values.items():
        isna = v.isna()
        sources = (DERIVED[name][1] if name in DERIVED
                   else ("area_code",) if any(f.id == name for f in ruleset.area_flags)
                   else (name,))
        labels = pd.Series("", index=idx, dtype=object)
        for src in sources:
            gone = raw[src].isna()
            labels = labels.where(~gone, labels + np.where(labels == "", "", ", ") + src)
        missing[name] = labels.where(isna, "").where(~isna | (labels != ""), name)
    return values, missing


# ------------------------------------------------------------------ evaluation
def _leaf(c: Cond, values: dict[str, pd.Series]) -> np.ndarray:
    v = values[c.input]
    if c.ops:
        x = v.to_numpy(dtype=float)
        ok = np.ones(len(x), dtype=bool)
        for op, bound in c.ops:
            with np.errstate(invalid="ignore"):
                ok &= NUM_OPS[op](x, bound)
        return np.where(np.isnan(x), np.nan, ok.astype(float))
    if isinstance(c.is_value, bool):
        x = v.to_numpy(dtype=float)
        return np.where(np.isnan(x), np.nan, (x == float(c.is_value)).astype(float))
    known = v.notna().to_numpy()
    return np.where(known, (v.astype(object) == c.is_value).to_numpy().astype(float), np.nan)


def evaluate(c: Cond, values: dict[str, pd.Series], cache: dict[int, np.ndarray]
             ) -> np.ndarray:
    """1.0 / 0.0 / NaN per row. ``all`` is three-valued (Kleene); ``any`` and ``at_least``
    follow decisions §8: known positives decide, unknown only when every item is missing."""
    if c.kind == "leaf":
        out = _leaf(c, values)
    else:
        parts = np.vstack([evaluate(i, values, cache) for i in c.items])
        nan = np.isnan(parts)
        ones = np.nansum(parts == 1.0, axis=0)
        all_missing = nan.all(axis=0)
        if c.kind == "all":
            out = np.where((parts == 0.0).any(axis=0), 0.0,
                           np.where(nan.any(axis=0), np.nan, 1.0))
        else:
            k = 1 if c.kind == "any" else c.k
            out = np.where(ones >= k, 1.0, np.where(all_missing, np.nan, 0.0))
    cache[id(c)] = out
    return out


def _missing_of(c: Cond, mask: np.ndarray, cache: dict[int, np.ndarray],
                out: dict[str, np.ndarray]) -> None:
    """Inputs whose absence leaves ``c`` unknown (or, for any/at_least, could add a
    positive), on the rows of ``mask``."""
    if not mask.any():
        return
    if c.kind == "leaf":
        m = mask & np.isnan(cache[id(c)])
        if m.any():
            out[c.input] = out.get(c.input, np.zeros(len(mask), bool)) | m
        return
    for item in c.items:
        _missing_of(item, mask & np.isnan(cache[id(item)]), cache, out)


@dataclass
class RuleResult:
    rule: Rule
    population: np.ndarray  # 1 in target group, 0 not, NaN unknown
    eligible: np.ndarray  # 1 / 0 / NaN
    tier_lo: np.ndarray  # tier index (NaN for not in target group)
    tier_hi: np.ndarray
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))  # exact total or NaN
    score_lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score_hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    points: dict[str, np.ndarray] = field(default_factory=dict)
    crit: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, np.ndarray] = field(default_factory=dict)  # input → rows
    applies: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _applies(rule: Rule, values, n) -> np.ndarray:
    if not rule.only_with:
        return np.ones(n, bool)
    return np.vstack([values[i].notna().to_numpy() for i in rule.only_with]).any(axis=0)


def _gate(rule: Rule, values, n, cache) -> np.ndarray:
    pop = np.where(_applies(rule, values, n), 1.0, 0.0)
    for c in rule.population:
        v = evaluate(c.when, values, cache)
        pop = np.where((pop == 0) | (v == 0), 0.0,
                       np.where(np.isnan(pop) | np.isnan(v), np.nan, 1.0))
    return pop


def _run_criteria(rule: Rule, rs: RuleSet, values, n) -> RuleResult:
    cache: dict[int, np.ndarray] = {}
    pop = _gate(rule, values, n, cache)
    applies = _applies(rule, values, n)
    crit = {c.id: evaluate(c.when, values, cache) for c in rule.any_of}
    stack = np.vstack(list(crit.values()))
    core = np.where((stack == 1).any(axis=0), 1.0,
                    np.where(np.isnan(stack).all(axis=0), np.nan, 0.0))
    elig = np.where((pop == 0) | (core == 0), 0.0,
                    np.where(np.isnan(pop) | np.isnan(core), np.nan, 1.0))
    ids = rs.tier_ids
    met, unmet = ids.index(rule.met_tier), ids.index(rule.unmet_tier)
    tier = np.where(core == 1, met, np.where(core == 0, unmet, np.nan)).astype(float)
    tier_lo = np.where(np.isnan(core), unmet, tier)
    tier_hi = np.where(np.isnan(core), met, tier)
    missing: dict[str, np.ndarray] = {}
    not_met = elig != 1
    for c in rule.population:
        _missing_of(c.when, np.isnan(cache[id(c.when)]) & (core != 0) & applies, cache,
                    missing)
    for c in rule.any_of:
        _missing_of(c.when, not_met & (pop != 0) & np.isnan(crit[c.id]), cache, missing)
    return RuleResult(rule, pop, elig, tier_lo, tier_hi, crit=crit, missing=missing,
                      points={f"_crit_{k}": v for k, v in cache.items()},
                      applies=applies)


def _factor_points(f: Factor, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (NaN where unknown) and the lowest / highest points still possible."""
    v = values[f.input]
    n = len(v)
    lo_all, hi_all = f.point_range()
    if f.values:
        pts = np.full(n, np.nan)
        for key, p in f.values:
            if isinstance(key, bool):
                x = v.to_numpy(dtype=float)
                pts[x == float(key)] = p
            else:
                pts[(v.astype(object) == key).to_numpy()] = p
        return pts, np.full(n, float(lo_all)), np.full(n, float(hi_all))
    x = v.to_numpy(dtype=float)
    pts = np.full(n, np.nan)
    lo, hi = np.full(n, float(lo_all)), np.full(n, float(hi_all))
    groups = dict(f.by_bands) if f.by else {None: f.bands}
    by = values[f.by].astype(object).to_numpy() if f.by else None
    for group, bands in groups.items():
        in_group = np.ones(n, bool) if group is None else (by == group)
        if group is not None:
            glo, ghi = f.point_range(group)
            lo[in_group], hi[in_group] = glo, ghi
        for b in bands:
            ok = in_group.copy()
            for op, bound in b.ops:
                with np.errstate(invalid="ignore"):
                    ok &= NUM_OPS[op](x, bound)
            pts[ok] = b.points
    return pts, lo, hi


def _run_score(rule: Rule, rs: RuleSet, values, n) -> RuleResult:
    cache: dict[int, np.ndarray] = {}
    pop = _gate(rule, values, n, cache)
    applies = _applies(rule, values, n)
    known = np.zeros(n)
    lo = np.zeros(n)
    hi = np.zeros(n)
    complete = np.ones(n, bool)
    points: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for f in rule.factors:
        pts, plo, phi = _factor_points(f, values)
        points[f.id] = pts
        unknown = np.isnan(pts)
        known += np.nan_to_num(pts)
        lo += np.where(unknown, plo, pts)
        hi += np.where(unknown, phi, pts)
        complete &= ~unknown
        m = unknown & (pop != 0)
        if m.any():
            missing[f.input] = missing.get(f.input, np.zeros(n, bool)) | m
            if f.by:
                by_missing = m & values[f.by].isna().to_numpy()
                if by_missing.any():
                    missing[f.by] = missing.get(f.by, np.zeros(n, bool)) | by_missing
    ids = rs.tier_ids
    edges = [(ids.index(t.tier), t.min, t.max) for t in rule.score_tiers]

    def tier_of(total):
        out = np.full(n, np.nan)
        for idx, a, b in edges:
            out[(total >= a) & (total <= b)] = idx
        return out

    tier_lo, tier_hi = tier_of(lo), tier_of(hi)
    elig_min = min(t.min for t in rule.score_tiers if rs.tiers[ids.index(t.tier)].eligible)
    core = np.where(lo >= elig_min, 1.0, np.where(hi < elig_min, 0.0, np.nan))
    elig = np.where((pop == 0) | (core == 0), 0.0,
                    np.where(np.isnan(pop) | np.isnan(core), np.nan, 1.0))
    for c in rule.population:
        _missing_of(c.when, np.isnan(cache[id(c.when)]) & (core != 0) & applies, cache,
                    missing)
    score = np.where(complete & (pop != 0), known, np.nan)
    return RuleResult(rule, pop, elig, tier_lo, tier_hi, score=score, score_lo=lo,
                      score_hi=hi, points=points, missing=missing,
                      applies=applies)


def run_rules(residents: pd.DataFrame, ruleset: RuleSet, as_of: dt.date
              ) -> tuple[list[RuleResult], dict[str, pd.Series], dict[str, pd.Series]]:
    values, missing_names = prepare(residents, ruleset, as_of)
    n = len(residents)
    results = [(_run_score if r.kind == "score" else _run_criteria)(r, ruleset, values, n)
               for r in ruleset.rules]
    return results, values, missing_names


def assess(residents: pd.DataFrame, ruleset: RuleSet, as_of: dt.date | None = None,
           lang: str = "en", detail: bool = False) -> pd.DataFrame:
    """Assess every resident with ``ruleset`` (ages on ``as_of``, default today).

    Returns one row per resident: ``resident_id``, ``score`` (the set's score rule total;
    empty for criteria-only sets and where the score is incomplete), ``tier`` (a tier id
    of the set, ``cannot_assess`` or ``not_target``), ``eligible`` (``True`` = meets the
    rule, ``False``, or ``None`` when it cannot be told), ``reasons`` (why, in ``lang``)
    and ``missing`` (input columns whose absence could change the answer). With
    ``detail`` also ``score_min``/``score_max`` and ``inputs`` (the raw values used, a
    dict per resident: the snapshot stored with an assessment).
    """
    as_of = as_of or dt.date.today()
    if "resident_id" not in residents.columns:
        raise InputError("the residents need a resident_id column")
    n = len(residents)
    results, values, missing_names = run_rules(residents, ruleset, as_of)
    ids = ruleset.tier_ids
    eligs = np.vstack([r.eligible for r in results]) if results else np.zeros((0, n))
    set_elig = np.where((eligs == 1).any(axis=0), 1.0,
                        np.where(np.isnan(eligs).any(axis=0), np.nan, 0.0))
    in_target = [(r.population != 0) & r.applies for r in results]
    lo = np.full(n, -1.0)
    hi = np.full(n, -1.0)
    for r, t in zip(results, in_target):
        lo = np.where(t, np.fmax(lo, r.tier_lo), lo)
        hi = np.where(t, np.fmax(hi, r.tier_hi), hi)
    any_target = np.vstack(in_target).any(axis=0) if results else np.zeros(n, bool)
    tier = np.empty(n, dtype=object)
    for i in range(n):
        if set_elig[i] == 1:
            tier[i] = ids[int(lo[i])] if lo[i] >= 0 else ids[-1]
        elif np.isnan(set_elig[i]):
            tier[i] = CANNOT_ASSESS
        elif not any_target[i]:
            tier[i] = NOT_TARGET
        elif lo[i] == hi[i] and lo[i] >= 0:
            tier[i] = ids[int(lo[i])]
        else:
            tier[i] = CANNOT_ASSESS
    score_rule = next((r for r in results if r.rule.kind == "score"), None)
    score = (pd.array([None if np.isnan(v) else int(v) for v in score_rule.score],
                      dtype="Int64") if score_rule else pd.array([None] * n, dtype="Int64"))
    # what would have to be collected to change the answer
    miss_cols: list[list[str]] = [[] for _ in range(n)]
    for r in results:
        for inp, mask in r.missing.items():
            names = missing_names[inp].to_numpy()
            for i in np.flatnonzero(mask & (set_elig != 1)):
                for nm in str(names[i]).split(", "):
                    if nm and nm not in miss_cols[i]:
                        miss_cols[i].append(nm)
    reasons = _reasons(results, ruleset, values, set_elig, miss_cols, lang, n)
    out = pd.DataFrame({
        "resident_id": residents["resident_id"].astype(str).to_numpy(),
        "score": score,
        "tier": tier,
        "eligible": pd.Series([None if np.isnan(v) else bool(v) for v in set_elig],
                              dtype=object),
        "reasons": reasons,
        "missing": [", ".join(m) for m in miss_cols],
    })
    if detail:
        out["score_min"] = (score_rule.score_lo.astype(int) if score_rule else None)
        out["score_max"] = (score_rule.score_hi.astype(int) if score_rule else None)
        out["inputs"] = snapshot(residents, ruleset)
    return out


def snapshot(residents: pd.DataFrame, ruleset: RuleSet) -> list[dict[str, Any]]:
    """The raw values each resident's assessment read (JSON-ready; missing = ``None``)."""
    cols = ruleset.raw_columns()
    frame = pd.DataFrame({c: (residents[c] if c in residents.columns else None) for c in cols},
                         index=residents.index)
    out = []
    for row in frame.astype(object).to_dict("records"):
        clean = {}
        for k, v in row.items():
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v == "":
                clean[k] = None
            elif isinstance(v, (dt.date, pd.Timestamp)):
                clean[k] = v.isoformat()[:10]
            elif isinstance(v, (np.bool_, bool)):
                clean[k] = bool(v)
            elif isinstance(v, (np.integer, np.floating)):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


# ------------------------------------------------------------------ reasons
def _fmt(v: float) -> str:
    return f"{v:g}" if not np.isnan(v) else "?"


def _reasons(results: list[RuleResult], rs: RuleSet, values, set_elig, miss_cols,
             lang: str, n: int) -> list[str]:
    per_row: list[list[str]] = [[] for _ in range(n)]
    age = values.get("age")
    for r in results:
        rule = r.rule
        short = rule.short[lang]
        if rule.kind == "criteria":
            gate_txt = [c.label[lang] for c in rule.population]
            for i in range(n):
                if not r.applies[i]:
                    continue
                if r.population[i] == 0:
                    per_row[i].append(_outside(short, gate_txt, age, i, lang))
                    continue
                if r.eligible[i] == 1 or (np.isnan(r.eligible[i]) and
                                          any(r.crit[c.id][i] == 1 for c in rule.any_of)):
                    met = []
                    for c in rule.any_of:
                        if r.crit[c.id][i] != 1:
                            continue
                        txt = c.label[lang]
                        if c.items:
                            present = [it.label[lang] for it in c.items
                                       if r.points[f"_crit_{id(it.when)}"][i] == 1]
                            txt += ": " + ", ".join(present)
                        met.append(txt)
                    gate = _gate_text(gate_txt, age, i, lang)
                    per_row[i].append(f"{short}: " + "; ".join(([gate] if gate else []) + met))
                elif r.eligible[i] == 0:
                    per_row[i].append(f"{short}: " + ("未见所列危险因素" if lang == "zh"
                                                      else "none of the listed risk factors"))
        else:
            for i in range(n):
                if not r.applies[i]:
                    continue
                if r.population[i] == 0:
                    gate_txt = [c.label[lang] for c in rule.population]
                    per_row[i].append(_outside(short, gate_txt, age, i, lang))
                    continue
                parts = []
                for f in rule.factors:
                    p = r.points[f.id][i]
                    if not np.isnan(p) and p != 0:
                        parts.append(f"{f.label[lang]} +{int(p)}")
                if np.isnan(r.score[i]):
                    total = (f"{int(r.score_lo[i])}–{int(r.score_hi[i])}")
                    lead = (f"{short} {total}（资料不全）" if lang == "zh"
                            else f"{short} {total} (incomplete)")
                else:
                    tier_i = r.tier_lo[i]
                    label = rs.tier_label(rs.tier_ids[int(tier_i)], lang)
                    lead = f"{short} {int(r.score[i])} ({label})"
                per_row[i].append(lead + (": " + ", ".join(parts) if parts else ""))
    out = []
    for i in range(n):
        texts = per_row[i]
        if miss_cols[i]:
            cols = ", ".join(miss_cols[i])
            if np.isnan(set_elig[i]):
                texts = texts + [f"无法评估：缺少 {cols}" if lang == "zh"
                                 else f"cannot assess: missing {cols}"]
            else:
                texts = texts + [f"未知：{cols}" if lang == "zh" else f"unknown: {cols}"]
        out.append("; ".join(texts))
    return out


def _gate_text(gate_txt: list[str], age, i: int, lang: str = "en") -> str:
    if not gate_txt:
        return ""
    if age is None or np.isnan(age.iloc[i]):
        return ", ".join(gate_txt)
    a = int(age.iloc[i])
    return ", ".join(gate_txt) + (f"（{a}岁）" if lang == "zh" else f" (age {a})")


def _outside(short: str, gate_txt: list[str], age, i: int, lang: str) -> str:
    gate = _gate_text(gate_txt, age, i, lang)
    return (f"{short}: 不在目标人群：{gate}" if lang == "zh"
            else f"{short}: outside the target group: {gate}")


# ------------------------------------------------------------------ documentation
def describe(ruleset: RuleSet, lang: str = "en") -> pd.DataFrame:
    """Every criterion, factor and band of a rule set with its explanation and source:
    the table the pages show and the tests read."""
    rows = []
    for r in ruleset.rules:
        for c in r.population:
            rows.append(dict(rule=r.id, kind="population", item=c.id, label=c.label[lang],
                             detail=c.explain[lang], source=c.source, note=c.note))
        for c in r.any_of:
            rows.append(dict(rule=r.id, kind="risk factor", item=c.id, label=c.label[lang],
                             detail=c.explain[lang], source=c.source, note=c.note))
        for f in r.factors:
            if f.values:
                bands = ", ".join(f"{k}: {p}" for k, p in f.values)
            elif f.by:
                bands = " | ".join(f"{g}: " + ", ".join(f"{b.label} → {b.points}" for b in bs)
                                   for g, bs in f.by_bands)
            else:
                bands = ", ".join(f"{b.label} → {b.points}" for b in f.bands)
            rows.append(dict(rule=r.id, kind="score factor", item=f.id, label=f.label[lang],
                             detail=f"{f.explain[lang]} [{bands}]", source=f.source,
                             note=f.note))
        for t in r.score_tiers:
            rows.append(dict(rule=r.id, kind="score tier", item=t.tier,
                             label=ruleset.tier_label(t.tier, lang),
                             detail=f"{t.min}–{t.max}", source=r.source, note=""))
    return pd.DataFrame(rows, columns=["rule", "kind", "item", "label", "detail", "source",
                                       "note"])
