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
from healthmap.ingest import icd10
from healthmap.ingest.contract import LOCAL_REGIONS, SPECS, Column, Limits, declared
from healthmap.ingest.form import INTERNAL_COLUMNS, form_checks, header_checks
from healthmap.ingest.problems import Problems

__all__ = ["Problems", "ValidationContext", "ValidationResult", "validate", "parse_dates"]

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S",
                 "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@dataclass
class ValidationContext:
    """What validation needs to know about the database (no connection is kept)."""

    resolver: AreaResolver
    institution_codes: set[str] = field(default_factory=set)
    today: dt.date = field(default_factory=dt.date.today)
    secret_key: bytes | None = None
    area_levels: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits.from_env)
    ignore_unknown_columns: bool = False


@dataclass
class ValidationResult:
    kind: str
    clean: pd.DataFrame | None
    problems: Problems
    n_rows: int
    warnings: Problems = field(default_factory=Problems)
    # the file's frame as validated (contract column names, declared columns only)
    frame: pd.DataFrame | None = None
    #: where validation stopped: ``columns`` (header, missing columns, empty file: the
    #: form of no cell was looked at), ``form`` (cells' form: no value was parsed) or
    #: ``values`` (every check ran)
    stage: str = "values"

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


def _rule_bounds(col: Column, ctx: ValidationContext) -> tuple[float, float, str]:
    """(lo, hi, problem code above hi) of a numeric column, from the contract's Limits."""
    lim = ctx.limits
    lo = col.lo if col.lo is not None else -np.inf
    hi = col.hi if col.hi is not None else np.inf
    if col.rule == "year":
        return lim.year_min, lim.year_max(ctx.today), "range"
    if col.rule == "population":
        return lo, lim.max_population, "range"
    if col.rule == "cost":
        return lo, lim.cost_ceiling_yuan, "cost_ceiling"
    if col.rule == "age":
        return lo, lim.max_age, "range"
    return lo, hi, "range"


def _parse_column(df: pd.DataFrame, col: Column, ctx: ValidationContext,
                  problems: Problems) -> pd.Series:
    """Typed values of one column; problems are recorded, bad cells become missing."""
    raw = df[col.name] if col.name in df else pd.Series([""] * len(df), index=df.index)
    empty = _empty(raw)
    if col.required:
        problems.add_mask(df, empty, col.name, "required", raw)
    typ = col.type
    if typ in ("text", "key"):
        return raw.astype(object).where(~empty, None)
    if typ in ("int", "number"):
        num = _to_float(raw, empty)
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
        lo, hi, code = _rule_bounds(col, ctx)
        out_of = ((num < lo) | (num > hi)).to_numpy()
        problems.add_mask(df, out_of, col.name, code, raw, lo=f"{lo:,.10g}", hi=f"{hi:,.10g}")
        return num.where(~out_of)
    if typ == "date":
        d = parse_dates(raw)
        bad = ~empty & d.isna().to_numpy()
        problems.add_mask(df, bad, col.name, "date", raw)
        future = (d > pd.Timestamp(ctx.today)).to_numpy(dtype=bool)
        problems.add_mask(df, future, col.name, "future_date", raw)
        old = (d < pd.Timestamp(ctx.limits.min_date)).to_numpy(dtype=bool)
        problems.add_mask(df, old, col.name, "old_date", raw, start=ctx.limits.min_date)
        out = future | old
        if col.rule == "episode_date":
            start = pd.Timestamp(ctx.limits.data_start)
            early = ~old & (d < start).to_numpy(dtype=bool)
            problems.add_mask(df, early, col.name, "before_data_period", raw,
                              start=ctx.limits.data_start)
            out |= early
        return d.where(~out)
    normalizers = {"bool": (codes.normalize_bool, "bool"), "sex": (codes.normalize_sex, "sex"),
                   "setting": (codes.normalize_setting, "setting"),
                   "insurance": (codes.normalize_insurance, "insurance"),
                   "level": (codes.normalize_level, "level")}
    if typ in normalizers:
        fn, code = normalizers[typ]
        val = _per_value(raw, fn)
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
        val = _per_value(raw, ctx.resolver.resolve)
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "unknown_area", raw)
        return val
    if typ == "institution":
        known = raw.isin(ctx.institution_codes).to_numpy()
        problems.add_mask(df, ~empty & ~known, col.name, "unknown_institution", raw)
        return raw.astype(object).where(known, None)
    if typ == "icd10":
        val = _per_value(raw, codes.normalize_icd10_series)
        problems.add_mask(df, ~empty & val.isna().to_numpy(), col.name, "icd10", raw)
        uniq = pd.unique(val.dropna())
        unknown = set(icd10.unknown_codes(uniq))
        if unknown:
            miss = val.isin(unknown).to_numpy()
            problems.add_mask(df, miss, col.name, "icd10_unknown", raw)
            val = val.where(~miss)
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


#: plain decimals (up to 15 digits, no sign): Arrow's cast reads them as pandas does
#: (both round correctly), many times faster than ``pd.to_numeric``
_PLAIN_DECIMAL = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"


def _to_float(raw: pd.Series, empty: np.ndarray) -> pd.Series:
    """``pd.to_numeric(raw, errors="coerce")`` as floats, missing where ``empty``; a
    column of Arrow strings (a streamed chunk) has its plain decimals cast by Arrow and
    only the rest parsed by pandas.

    >>> s = pd.Series(["1.50", "", "x", "1e3", "-0", "007"], dtype="str")
    >>> _to_float(s, _empty(s)).tolist()
    [1.5, nan, nan, 1000.0, -0.0, 7.0]
    """
    if not (isinstance(raw.dtype, pd.StringDtype) and raw.dtype.storage == "pyarrow"):
        return pd.to_numeric(raw.where(~empty, None), errors="coerce").astype(float)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.chunked_array(raw.array._pa_array).combine_chunks()
    plain = pc.match_substring_regex(arr, _PLAIN_DECIMAL).to_numpy(
        zero_copy_only=False).astype(bool)
    out = np.full(len(raw), np.nan)
    out[plain] = pc.cast(arr.filter(pa.array(plain)), pa.float64()).to_numpy()
    rest = ~plain & ~empty
    if rest.any():
        out[rest] = pd.to_numeric(pd.Series(raw.to_numpy(dtype=object)[rest]),
                                  errors="coerce").astype(float).to_numpy()
    return pd.Series(out, index=raw.index)


def _per_value(raw: pd.Series, fn) -> pd.Series:
    """``fn`` (a vectorised normaliser giving Python values, ``None`` where missing)
    applied once to each distinct value of ``raw`` and spread back to its rows: a column
    of half a million cells holds a few hundred spellings.

    >>> _per_value(pd.Series(["m", "女", "m", "x"]), codes.normalize_sex).tolist()
    ['M', 'F', 'M', None]
    """
    row_of, uniq = pd.factorize(raw, use_na_sentinel=False)
    out = fn(pd.Series(uniq, dtype=raw.dtype))
    values = out.astype(object).where(out.notna(), None).to_numpy(dtype=object)
    return pd.Series(values[row_of], index=raw.index, dtype=object)


def _duplicates(df: pd.DataFrame, keys: list[str], column: str, problems: Problems,
                code: str = "duplicate") -> None:
    """Flag every repeat of a key after its first occurrence, naming the first row.

    Keys that differ only in upper/lower case are repeats too (``duplicate_case``)."""
    parts = df[keys].astype(object).fillna("").astype(str)
    key = parts.agg("\x1f".join, axis=1) if len(keys) > 1 else parts[keys[0]]
    key = key.astype(str)
    folded = key.str.casefold()
    valid = (key.str.len() > 0).to_numpy()
    dup = folded.duplicated(keep="first").to_numpy() & valid
    if not dup.any():
        return
    first = pd.Series(np.arange(len(key)), index=key.index).groupby(
        folded.to_numpy()).transform("min").to_numpy()
    exact = key.duplicated(keep="first").to_numpy() & valid
    for mask, c in ((exact, code), (dup & ~exact, "duplicate_case")):
        problems.add_mask(df, mask, column, c, df[column], other=(first + 2)[mask].astype(str))


def validate(kind: str, df: pd.DataFrame, ctx: ValidationContext,
             file_wide: bool = True) -> ValidationResult:
    """Check every row of a file of ``kind`` against the contract and return typed values.

    Order: columns (duplicate, undeclared, missing), then the form of every cell (length
    first, characters, digits, ID numbers) — a file failing these is refused before any
    value is parsed — then values, then rules across columns and rows.

    ``file_wide=False`` validates one chunk of a larger episodes file
    (:mod:`healthmap.ingest.stream`): the checks that compare a row with the file's other
    rows (:data:`FILE_WIDE`) are left to the caller, who runs them over the whole file."""
    if not file_wide and kind not in FILE_WIDE:
        raise ValueError(f"{kind} files are validated whole")
    if kind not in SPECS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {list(SPECS)}")
    problems, warnings = Problems(), Problems()
    spec = declared(kind)
    df = header_checks(kind, df, ctx, problems, warnings)
    if len(problems):
        return ValidationResult(kind, None, problems, len(df), warnings, stage="columns")
    missing = [c.name for c in spec if c.required and c.name not in df.columns]
    for name in missing:
        problems.add(-1, name, "", "missing_column")
    if len(df) == 0:
        problems.add(-1, "", "", "empty_file")
    if len(problems):
        return ValidationResult(kind, None, problems, len(df), warnings, stage="columns")
    form_checks(kind, df, ctx, problems)
    if len(problems):
        return ValidationResult(kind, None, problems, len(df), warnings, stage="form")
    df = df.assign(**{c.name: "" for c in spec if c.name not in df.columns})
    clean = pd.DataFrame(index=df.index)
    for col in spec:
        clean[col.name] = _parse_column(df, col, ctx, problems)
    if file_wide:
        _CHECKS[kind](df, clean, ctx, problems, warnings)
    else:
        _CHECKS[kind](df, clean, ctx, problems, warnings, file_wide=False)
    if len(problems):
        return ValidationResult(kind, None, problems, len(df), warnings)
    for c in INTERNAL_COLUMNS.get(kind, ()):
        if c in df.columns:
            clean[c] = pd.to_numeric(df[c], errors="coerce")
    return ValidationResult(kind, clean, problems, len(df), warnings, df)


def _county_level(df, clean, ctx, problems, column="area_code"):
    """Episodes and residents live in a township or village, never in the county as a
    whole (no township to show them in): refused."""
    county = clean[column].map(ctx.area_levels).eq("county").to_numpy(dtype=bool)
    problems.add_mask(df, county, column, "county_area", df[column])


def _check_areas(df, clean, ctx, problems, warnings):
    _duplicates(df, ["code"], "code", problems)
    own = (clean["parent_code"].astype(str) == clean["code"].astype(str)).to_numpy()
    problems.add_mask(df, own, "parent_code", "own_parent", df["parent_code"])


def _check_population(df, clean, ctx, problems, warnings):
    clean["sex"] = clean["sex"].where(clean["sex"].notna(), "T")
    clean["age_group"] = clean["age_group"].where(clean["age_group"].notna(), "all")
    _duplicates(clean.assign(area_code=clean["area_code"].astype(str),
                             year=clean["year"].astype(str)),
                ["area_code", "year", "sex", "age_group"], "area_code", problems)
    total = (clean["sex"] == "T") & (clean["age_group"] == "all")
    key = clean["area_code"].astype(str) + "|" + clean["year"].astype(str)
    both = key.isin(set(key[total])) & key.isin(set(key[~total]))
    problems.add_mask(df, both.to_numpy(), "area_code", "mixed_detail", df["area_code"])
    # an area-year's population (its total, or the sum of its split) must be at least 1
    sums = clean.groupby(key.to_numpy())["population"].transform("sum")
    zero = (clean["population"].notna() & (sums <= 0)).to_numpy()
    problems.add_mask(df, zero, "population", "population_zero", df["population"])
    # a split is complete: every sex (M, F) × every age group of the form it uses
    split = ~total & ~both
    if split.any():
        form = np.where(clean["sex"] == "T", "age", np.where(clean["age_group"] == "all",
                                                              "sex", "sex_age"))
        need = {"age": len(codes.AGE_GROUPS), "sex": len(codes.SEXES),
                "sex_age": len(codes.SEXES) * len(codes.AGE_GROUPS)}
        grp = pd.DataFrame({"key": key, "form": form})[split.to_numpy()]
        n_forms = grp.groupby("key")["form"].transform("nunique")
        n_cells = grp.groupby("key")["form"].transform("size")
        expected = grp["form"].map(need)
        bad = (n_forms > 1) | (n_cells != expected)
        mask = np.zeros(len(clean), dtype=bool)
        mask[np.flatnonzero(split.to_numpy())[bad.to_numpy()]] = True
        exp = np.zeros(len(clean), dtype=object)
        exp[np.flatnonzero(split.to_numpy())] = expected.astype(str).to_numpy()
        got = np.zeros(len(clean), dtype=object)
        got[np.flatnonzero(split.to_numpy())] = n_cells.astype(str).to_numpy()
        problems.add_mask(df, mask, "area_code", "split_incomplete", df["area_code"],
                          expected=exp[mask], got=got[mask])


def _check_institutions(df, clean, ctx, problems, warnings):
    _duplicates(df, ["code"], "code", problems)
    region = clean["region"].fillna("").astype(str).str.strip()
    foreign = (clean["in_county"].fillna(False).astype(bool)
               & ~region.isin(LOCAL_REGIONS)).to_numpy(dtype=bool)
    problems.add_mask(df, foreign, "region", "in_county_region", df["region"])


def _check_episodes(df, clean, ctx, problems, warnings, file_wide=True):
    if file_wide:  # a streamed import finds repeats across its chunks itself (FILE_WIDE)
        _duplicates(df, ["record_id"], "record_id", problems)
    _county_level(df, clean, ctx, problems)
    over = (clean["fund_paid"] > clean["total_cost"] + 1e-9).to_numpy()
    problems.add_mask(df, over, "fund_paid", "fund_gt_cost", df["fund_paid"])
    after = (clean["birth_date"] > clean["date"]).fillna(False).to_numpy(dtype=bool)
    problems.add_mask(df, after, "birth_date", "birth_after_date", df["birth_date"])
    age_from_birth = _age_at(clean["birth_date"], clean["date"])
    too_old = (age_from_birth > ctx.limits.max_age).to_numpy(dtype=bool)
    problems.add_mask(df, too_old, "birth_date", "age_implausible", df["birth_date"],
                      max_age=ctx.limits.max_age)
    age_from_birth = age_from_birth.where(~too_old)
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
    # plausibility: costs above the setting's threshold are imported with a warning
    for setting in codes.SETTINGS:
        limit = ctx.limits.cost_warn(setting)
        high = ((clean["setting"] == setting) & (clean["total_cost"] > limit)).to_numpy(
            dtype=bool)
        warnings.add_mask(df, high, "total_cost", "cost_high", df["total_cost"],
                          limit=f"{limit:,.0f}", setting=setting)


def _age_at(birth: pd.Series, when: pd.Series) -> pd.Series:
    """Completed years between two datetime series (missing where either is missing)."""
    years = when.dt.year - birth.dt.year
    before_birthday = (when.dt.month < birth.dt.month) | (
        (when.dt.month == birth.dt.month) & (when.dt.day < birth.dt.day))
    return (years - before_birthday.astype(float)).astype(float)


def _check_residents(df, clean, ctx, problems, warnings):
    _duplicates(df, ["resident_id"], "resident_id", problems)
    _county_level(df, clean, ctx, problems)
    today = pd.Series(pd.Timestamp(ctx.today), index=clean.index)
    too_old = (_age_at(clean["birth_date"], today) > ctx.limits.max_age).to_numpy(dtype=bool)
    problems.add_mask(df, too_old, "birth_date", "age_implausible", df["birth_date"],
                      max_age=ctx.limits.max_age)
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


#: the checks across rows that ``validate(..., file_wide=False)`` leaves out, per kind that
#: can be validated in chunks: a repeated key (``_duplicates``) in this column
FILE_WIDE = {"episodes": "record_id"}

_CHECKS = {"areas": _check_areas, "population": _check_population,
           "institutions": _check_institutions, "episodes": _check_episodes,
           "residents": _check_residents}
