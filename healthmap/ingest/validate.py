"""Validate a whole import file and collect every problem (row, column, value, reason).

Validation is vectorised per column (a million episodes check in seconds) and never stops
at the first problem. The result is a clean, typed frame ready to write, or the full list
of problems; callers write nothing when there is any problem.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from healthmap import codes, ids
from healthmap.areas import AreaResolver
from healthmap.i18n import t
from healthmap.ingest.contract import SPECS, Column

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S",
                 "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@dataclass
class ValidationContext:
    """What validation needs to know about the database (no connection is kept)."""

    resolver: AreaResolver
    institution_codes: set[str] = field(default_factory=set)
    today: dt.date = field(default_factory=dt.date.today)
    secret_key: bytes | None = None


class Problems:
    """Collects problems; values of ID-number columns are masked before they are kept."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._items: list[tuple[str, str, dict, np.ndarray]] = []

    def add_mask(self, df: pd.DataFrame, mask, column: str, code: str,
                 values: pd.Series | None = None, **params) -> None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        src = values if values is not None else (df[column] if column in df else None)
        vals = (np.asarray(src.astype(str))[idx] if src is not None
                else np.array([""] * len(idx), dtype=object))
        if column == "id_number":
            vals = np.array([ids.mask_id(v) for v in vals], dtype=object)
        self._items.append((column, code, params, np.column_stack([idx, vals])))

    def add(self, row_index: int, column: str, value: str, code: str, **params) -> None:
        self._items.append((column, code, params, np.array([[row_index, value]], dtype=object)))

    def __len__(self) -> int:
        return sum(len(a) for *_, a in self._items)

    def frame(self, lang: str = "zh") -> pd.DataFrame:
        """Problems as a table: ``row`` (file line; 1 = header), ``column``, ``value``,
        ``reason``, sorted by row."""
        parts = []
        for column, code, params, arr in self._items:
            idx = arr[:, 0].astype(int)
            row_params = {k: v for k, v in params.items() if not isinstance(v, np.ndarray)}
            per_row = {k: v for k, v in params.items() if isinstance(v, np.ndarray)}
            if per_row:
                reasons = [t(f"err.{code}", lang, **row_params,
                             **{k: per_row[k][i] for k in per_row}) for i in range(len(idx))]
            else:
                reasons = [t(f"err.{code}", lang, **row_params)] * len(idx)
            parts.append(pd.DataFrame({"row": np.where(idx < 0, 1, idx + 2), "column": column,
                                       "value": arr[:, 1], "reason": reasons}))
        if not parts:
            return pd.DataFrame(columns=["row", "column", "value", "reason"])
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


@dataclass
class ValidationResult:
    kind: str
    clean: pd.DataFrame | None
    problems: Problems
    n_rows: int

    @property
    def ok(self) -> bool:
        return len(self.problems) == 0


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates in the usual Chinese and ISO spellings; unparseable → NaT."""
    s = values.astype(str)
    out = pd.to_datetime(s, format=_DATE_FORMATS[0], errors="coerce")
    for fmt in _DATE_FORMATS[1:]:
        todo = out.isna() & (s != "")
        if not todo.any():
            break
        out = out.where(~todo, pd.to_datetime(s.where(todo, ""), format=fmt, errors="coerce"))
    return out


def _empty(s: pd.Series) -> np.ndarray:
    return (s.astype(str) == "").to_numpy()


def _parse_column(df: pd.DataFrame, col: Column, ctx: ValidationContext,
                  problems: Problems) -> pd.Series:
    """Typed values of one column; problems are recorded, bad cells become missing."""
    raw = df[col.name] if col.name in df else pd.Series([""] * len(df), index=df.index)
    empty = _empty(raw)
    if col.required:
        problems.add_mask(df, empty, col.name, "required", raw)
    typ = col.type
    if typ == "text":
        return raw.astype(object).where(~empty, None)
    if typ in ("int", "number"):
        num = pd.to_numeric(raw.where(~empty, None), errors="coerce").astype(float)
        bad = ~empty & num.isna().to_numpy()
        problems.add_mask(df, bad, col.name, "number" if typ == "number" else "integer", raw)
        if typ == "int":
            frac = ~bad & ~empty & (num.fillna(0) % 1 != 0).to_numpy()
            problems.add_mask(df, frac, col.name, "integer", raw)
            num = num.where(~frac)
        if col.lo is not None and col.lo == 0:
            neg = (num < 0).to_numpy()
            problems.add_mask(df, neg, col.name, "negative", raw)
            num = num.where(~neg)
        lo = col.lo if col.lo is not None else -np.inf
        hi = col.hi if col.hi is not None else np.inf
        out_of = ((num < lo) | (num > hi)).to_numpy()
        problems.add_mask(df, out_of, col.name, "range", raw, lo=f"{lo:g}", hi=f"{hi:g}")
        return num.where(~out_of)
    if typ == "date":
        d = parse_dates(raw)
        bad = ~empty & d.isna().to_numpy()
        problems.add_mask(df, bad, col.name, "date", raw)
        future = (d > pd.Timestamp(ctx.today)).to_numpy(dtype=bool)
        problems.add_mask(df, future, col.name, "future_date", raw)
        old = (d < pd.Timestamp(1900, 1, 1)).to_numpy(dtype=bool)
        problems.add_mask(df, old, col.name, "old_date", raw)
        return d.where(~(future | old))
    normalizers = {"bool": (codes.normalize_bool, "bool"), "sex": (codes.normalize_sex, "sex"),
                   "setting": (codes.normalize_setting, "setting"),
                   "insurance": (codes.normalize_insurance, "insurance"),
                   "level": (codes.normalize_level, "level")}
    if typ in normalizers:
        fn, code = normalizers[typ]
        val = fn(raw)
        if typ == "sex":  # "U"/未知 is an accepted spelling of "unknown"
            unknown = raw.astype(str).str.strip().str.upper().isin(["U", "未知"]).to_numpy()
            empty = empty | unknown
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, code, raw)
        return val
    if typ == "area_level":
        val = raw.astype(str).str.strip().str.lower().map(
            {"county": "county", "township": "township", "village": "village", "县": "county",
             "乡镇": "township", "街道": "township", "村": "village", "社区": "village"})
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "area_level", raw)
        return val.astype(object).where(val.notna(), None)
    if typ == "age_group":
        val = raw.map(lambda v: codes.normalize_age_group(v) if v else None)
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "age_group", raw)
        return val
    if typ == "area":
        val = ctx.resolver.resolve(raw)
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "unknown_area", raw)
        return val
    if typ == "institution":
        known = raw.isin(ctx.institution_codes).to_numpy()
        problems.add_mask(df, ~empty & ~known, col.name, "unknown_institution", raw)
        return raw.astype(object).where(known, None)
    if typ == "icd10":
        val = codes.normalize_icd10_series(raw)
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "icd10", raw)
        return val
    if typ == "id_number":
        why = raw.map(lambda v: ids.id_problem(v, ctx.today) if v else None)
        for code in ("length", "chars", "birth_date", "check_digit"):
            problems.add_mask(df, (why == code).to_numpy(), col.name, f"id_{code}", raw)
        return raw.map(ids.normalize_id).where(why.isna() & ~empty, None)
    if typ == "phone":
        ok = raw.astype(str).str.fullmatch(r"1\d{10}").to_numpy(dtype=bool)
        problems.add_mask(df, ~empty & ~ok, col.name, "phone", raw)
        return raw.astype(object).where(ok, None)
    raise ValueError(f"unknown column type {typ}")  # pragma: no cover - contract bug


def _duplicates(df: pd.DataFrame, keys: list[str], column: str, problems: Problems,
                code: str = "duplicate") -> None:
    """Flag every repeat of a key after its first occurrence, naming the first row."""
    key = df[keys].astype(str).agg("\x1f".join, axis=1) if len(keys) > 1 else df[keys[0]]
    key = key.astype(str)
    valid = key.str.len() > 0
    dup = key.duplicated(keep="first") & valid
    if not dup.any():
        return
    first = pd.Series(np.arange(len(key)), index=key.index).groupby(key.to_numpy()).transform("min")
    problems.add_mask(df, dup.to_numpy(), column, code, df[column],
                      other=(first.to_numpy() + 2)[dup.to_numpy()].astype(str))


def validate(kind: str, df: pd.DataFrame, ctx: ValidationContext) -> ValidationResult:
    """Check every row of a file of ``kind`` against the contract and return typed values."""
    if kind not in SPECS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {list(SPECS)}")
    problems = Problems()
    spec = SPECS[kind]
    missing = [c.name for c in spec if c.required and c.name not in df.columns]
    for name in missing:
        problems.add(-1, name, "", "missing_column")
    if len(df) == 0:
        problems.add(-1, "", "", "empty_file")
    if len(problems):
        return ValidationResult(kind, None, problems, len(df))
    df = df.assign(**{c.name: "" for c in spec if c.name not in df.columns})
    clean = pd.DataFrame(index=df.index)
    for col in spec:
        clean[col.name] = _parse_column(df, col, ctx, problems)
    extra = [c for c in df.columns if c not in clean.columns and c not in {x.name for x in spec}]
    _CHECKS[kind](df, clean, ctx, problems)
    if len(problems):
        return ValidationResult(kind, None, problems, len(df))
    if kind == "residents":  # local deployments may add risk-factor columns
        for c in extra:
            clean[c] = df[c].where(df[c] != "", None)
    return ValidationResult(kind, clean, problems, len(df))


def _check_areas(df, clean, ctx, problems):
    _duplicates(df, ["code"], "code", problems)


def _check_population(df, clean, ctx, problems):
    clean["sex"] = clean["sex"].where(clean["sex"].notna(), "T")
    clean["age_group"] = clean["age_group"].where(clean["age_group"].notna(), "all")
    _duplicates(clean.assign(**{"area_code": clean["area_code"].astype(str)}),
                ["area_code", "year", "sex", "age_group"], "area_code", problems)
    total = (clean["sex"] == "T") & (clean["age_group"] == "all")
    key = clean["area_code"].astype(str) + "|" + clean["year"].astype(str)
    both = key.isin(set(key[total])) & key.isin(set(key[~total]))
    problems.add_mask(df, both.to_numpy(), "area_code", "mixed_detail", df["area_code"])


def _check_institutions(df, clean, ctx, problems):
    _duplicates(df, ["code"], "code", problems)


def _check_episodes(df, clean, ctx, problems):
    _duplicates(df, ["record_id"], "record_id", problems)
    over = (clean["fund_paid"] > clean["total_cost"] + 1e-9).to_numpy()
    problems.add_mask(df, over, "fund_paid", "fund_gt_cost", df["fund_paid"])
    after = (clean["birth_date"] > clean["date"]).fillna(False).to_numpy(dtype=bool)
    problems.add_mask(df, after, "birth_date", "birth_after_date", df["birth_date"])
    age_from_birth = _age_at(clean["birth_date"], clean["date"])
    mismatch = (clean["age"].notna() & age_from_birth.notna()
                & ((clean["age"] - age_from_birth).abs() > 1)).to_numpy()
    problems.add_mask(df, mismatch, "age", "age_mismatch", df["age"],
                      expected=age_from_birth[mismatch].astype(int).astype(str).to_numpy())
    age = clean["age"].where(clean["age"].notna(), age_from_birth)
    clean["age"] = age
    clean["age_group"] = codes.age_group_of(age.to_numpy(dtype=float))
    clean["sex"] = clean["sex"].where(clean["sex"].notna(), "U")
    clean["insurance_type"] = clean["insurance_type"].where(clean["insurance_type"].notna(),
                                                            "unknown")


def _age_at(birth: pd.Series, when: pd.Series) -> pd.Series:
    """Completed years between two datetime series (missing where either is missing)."""
    years = when.dt.year - birth.dt.year
    before_birthday = (when.dt.month < birth.dt.month) | (
        (when.dt.month == birth.dt.month) & (when.dt.day < birth.dt.day))
    return (years - before_birthday.astype(float)).astype(float)


def _check_residents(df, clean, ctx, problems):
    _duplicates(df, ["resident_id"], "resident_id", problems)
    _duplicates(clean.assign(id_number=clean["id_number"].fillna("")), ["id_number"],
                "id_number", problems, "duplicate_id_number")
    has = clean["id_number"].notna() & clean["birth_date"].notna()
    id_birth = pd.to_datetime(clean["id_number"].where(has, None).str.slice(6, 14),
                              format="%Y%m%d", errors="coerce")
    problems.add_mask(df, (has & (id_birth != clean["birth_date"])).to_numpy(), "birth_date",
                      "id_birth_mismatch", df["birth_date"])
    has_sex = clean["id_number"].notna() & clean["sex"].notna()
    id_sex = clean["id_number"].where(has_sex, None).map(
        lambda v: ids.sex_of(v) if isinstance(v, str) else None)
    problems.add_mask(df, (has_sex & (id_sex != clean["sex"])).to_numpy(), "sex",
                      "id_sex_mismatch", df["sex"])


_CHECKS = {"areas": _check_areas, "population": _check_population,
           "institutions": _check_institutions, "episodes": _check_episodes,
           "residents": _check_residents}
