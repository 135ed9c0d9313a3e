"""Load and validate rule-set files: every problem of a file is collected and named
(file, place in the file, what is wrong), so a local expert who edits a rule set is told
exactly what to fix."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from healthmap import codes
from healthmap.screening.model import (DERIVED, OP_TEXT, RULES_DIR, SPECIAL_TIERS, AreaFlag, Band,
                                       Cond, Criterion, Factor, Rule, RuleSet, RuleSetError,
                                       ScoreTier, Tier)


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

