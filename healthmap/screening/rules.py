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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from healthmap import codes
from healthmap.screening.loader import (_declared_columns, load_all, load_file, load_ruleset,
                                        parse_ruleset, ruleset_files)
from healthmap.screening.explain import _reasons, describe, snapshot
from healthmap.screening.model import (CANNOT_ASSESS, DERIVED, NOT_TARGET, NUM_OPS, RULES_DIR,
                                       SPECIAL_TIERS, Cond, Factor, InputError, Rule, RuleSet,
                                       RuleSetError)

__all__ = ["CANNOT_ASSESS", "NOT_TARGET", "RULES_DIR", "SPECIAL_TIERS", "InputError",
           "RuleSet", "RuleSetError", "assess", "describe", "load_all", "load_file",
           "load_ruleset", "parse_ruleset", "prepare", "required_columns", "ruleset_files",
           "run_rules", "snapshot", "DERIVED"]


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
    table = {True: 1.0, False: 0.0, np.True_: 1.0, np.False_: 0.0}
    text = {k: (1.0 if v else 0.0) for k, v in codes._BOOL.items()}
    out = [table.get(x, np.nan) if isinstance(x, (bool, np.bool_))
           else text.get(str(x).strip().lower(), np.nan) if isinstance(x, str) else np.nan
           for x in s.tolist()]
    return pd.Series(out, index=s.index, dtype=float)


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
           lang: str = "en", detail: bool = False, also_lang: str | None = None
           ) -> pd.DataFrame:
    """Assess every resident with ``ruleset`` (ages on ``as_of``, default today).

    Returns one row per resident: ``resident_id``, ``score`` (the set's score rule total;
    empty for criteria-only sets and where the score is incomplete), ``tier`` (a tier id
    of the set, ``cannot_assess`` or ``not_target``), ``eligible`` (``True`` = meets the
    rule, ``False``, or ``None`` when it cannot be told), ``reasons`` (why, in ``lang``)
    and ``missing`` (input columns whose absence could change the answer). With
    ``detail`` also ``score_min``/``score_max`` and ``inputs`` (the raw values used, a
    dict per resident: the snapshot stored with an assessment); with ``also_lang`` the
    reasons in that language too (``reasons_<lang>``).
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
    if also_lang:
        out[f"reasons_{also_lang}"] = _reasons(results, ruleset, values, set_elig, miss_cols,
                                               also_lang, n)
    if detail:
        out["score_min"] = (score_rule.score_lo.astype(int) if score_rule else None)
        out["score_max"] = (score_rule.score_hi.astype(int) if score_rule else None)
        out["inputs"] = snapshot(residents, ruleset)
    return out
