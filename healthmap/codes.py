"""Small, pure helpers for coded values: ICD-10 codes, age groups, sexes, settings.

Examples
--------
>>> normalize_icd10(" c18.9 ")
'C18.9'
>>> normalize_icd10("C189")
'C18.9'
>>> age_group_of(67)
'65-69'
>>> expand_icd_range("C18-C20")
['C18', 'C19', 'C20']
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

AGE_GROUPS: tuple[str, ...] = tuple(f"{a}-{a + 4}" for a in range(0, 85, 5)) + ("85+",)
SEXES = ("M", "F")
SETTINGS = ("inpatient", "outpatient")
INSURANCE_TYPES = ("employee", "resident", "self_pay", "unknown")
INSTITUTION_LEVELS = ("primary", "secondary", "tertiary")

# Chinese national clinical versions add suffixes such as "C18.900x001".
_ICD_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4}([X][0-9]{3})?)?$")
_ICD3_RE = re.compile(r"^([A-Z])([0-9]{2})$")


def normalize_icd10(code: str | None) -> str | None:
    """Upper-case, trim and insert the dot after the category; ``None`` if not ICD-10."""
    if code is None:
        return None
    c = str(code).strip().upper().replace(" ", "").rstrip(".")
    if len(c) > 3 and c[3] != ".":
        c = c[:3] + "." + c[3:]
    return c if _ICD_RE.match(c) else None


def normalize_icd10_series(codes: pd.Series) -> pd.Series:
    """Vectorised :func:`normalize_icd10`: invalid or empty codes become ``None``."""
    c = codes.fillna("").astype(str).str.strip().str.upper().str.replace(" ", "", regex=False)
    c = c.str.rstrip(".")
    needs_dot = ((c.str.len() > 3) & (c.str.slice(3, 4) != ".")).to_numpy(dtype=bool)
    c = pd.Series(np.where(needs_dot, c.str.slice(0, 3) + "." + c.str.slice(3), c),
                  index=codes.index, dtype=object)
    ok = c.str.fullmatch(_ICD_RE.pattern).to_numpy(dtype=bool)
    return c.where(ok, None)


def expand_icd_range(spec: str) -> list[str]:
    """Expand ``"C18-C20"`` or ``"C16"`` into three-character categories."""
    spec = spec.strip().upper()
    parts = spec.split("-")
    if len(parts) not in (1, 2):
        raise ValueError(f"bad ICD-10 range {spec!r}")
    ends = [_ICD3_RE.match(p.strip()) for p in parts]
    if not all(ends):
        raise ValueError(f"bad ICD-10 range {spec!r}: use three-character codes like C18-C20")
    letter = ends[0].group(1)
    if ends[-1].group(1) != letter:
        raise ValueError(f"ICD-10 range {spec!r} spans two chapters letters")
    lo, hi = int(ends[0].group(2)), int(ends[-1].group(2))
    if hi < lo:
        raise ValueError(f"ICD-10 range {spec!r} runs backwards")
    return [f"{letter}{n:02d}" for n in range(lo, hi + 1)]


def expand_icd_ranges(specs: str) -> list[str]:
    """Expand a ``;``-separated list of ranges (``"C17;C21;C26"``)."""
    out: list[str] = []
    for part in specs.split(";"):
        if part.strip():
            out.extend(expand_icd_range(part))
    return out


def age_group_of(age):
    """Five-year age group label for an age (scalar or array); ``unknown`` for missing.

    >>> list(age_group_of(np.array([0, 4, 5, 84, 85, 101])))
    ['0-4', '0-4', '5-9', '80-84', '85+', '85+']
    """
    arr = np.asarray(age, dtype="float64")
    idx = np.clip(np.floor_divide(np.nan_to_num(arr, nan=-5), 5), -1, 17).astype(int)
    labels = np.array(("unknown",) + AGE_GROUPS, dtype=object)
    out = labels[idx + 1]
    out = np.where(np.isnan(arr) | (arr < 0), "unknown", out)
    return out if out.ndim else str(out)


_AGE_ALIASES = {"85岁及以上": "85+", "85以上": "85+", "85-": "85+", ">=85": "85+", "85+": "85+"}


def normalize_age_group(label: str | None) -> str | None:
    """``'0-4'`` … ``'85+'`` from common spellings (``'0~4'``, ``'0-4岁'``, ``'85岁及以上'``)."""
    if label is None:
        return None
    s = str(label).strip().replace("岁", "").replace("~", "-").replace("—", "-").replace("–", "-")
    s = s.replace(" ", "")
    if s in _AGE_ALIASES or s + "岁" in _AGE_ALIASES:
        return "85+"
    if s.endswith("+") or s.endswith("以上") or s.endswith("及以上"):
        s = s.rstrip("+").removesuffix("及以上").removesuffix("以上")
        return "85+" if s == "85" else None
    return s if s in AGE_GROUPS else None


_SEX = {"m": "M", "male": "M", "男": "M", "1": "M", "f": "F", "female": "F", "女": "F", "2": "F"}
_SETTING = {"inpatient": "inpatient", "住院": "inpatient", "i": "inpatient", "ip": "inpatient",
            "outpatient": "outpatient", "门诊": "outpatient", "o": "outpatient",
            "op": "outpatient", "门急诊": "outpatient", "急诊": "outpatient"}
_INSURANCE = {"employee": "employee", "职工": "employee", "职工医保": "employee",
              "城镇职工": "employee", "resident": "resident", "城乡居民": "resident",
              "居民": "resident", "居民医保": "resident", "self_pay": "self_pay",
              "self-pay": "self_pay", "自费": "self_pay", "unknown": "unknown"}
_LEVEL = {"primary": "primary", "基层": "primary", "一级": "primary", "secondary": "secondary",
          "二级": "secondary", "tertiary": "tertiary", "三级": "tertiary"}
_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
         "y": True, "n": False, "是": True, "否": False, "有": True, "无": False,
         "t": True, "f": False}


def _lookup(values: pd.Series, table: dict) -> pd.Series:
    """Map spellings to codes; empty or unknown values become ``None``."""
    key = values.fillna("").astype(str).str.strip().str.lower()
    return key.map(table).astype(object).where(lambda s: s.notna(), None)


def normalize_sex(values: pd.Series) -> pd.Series:
    return _lookup(values, _SEX)


def normalize_setting(values: pd.Series) -> pd.Series:
    return _lookup(values, _SETTING)


def normalize_insurance(values: pd.Series) -> pd.Series:
    return _lookup(values, _INSURANCE)


def normalize_level(values: pd.Series) -> pd.Series:
    return _lookup(values, _LEVEL)


def normalize_bool(values: pd.Series) -> pd.Series:
    return _lookup(values, _BOOL)
