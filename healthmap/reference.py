"""Reference data shipped in ``data/``, validated on load.

Each file has a plain-language explanation in ``data/README.md``. Loaders raise
:class:`ReferenceDataError` with the file and the problem when a file is inconsistent,
so a local expert who edits a rule file is told exactly what is wrong.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from healthmap.codes import AGE_GROUPS, expand_icd_ranges
from healthmap.config import DATA_DIR


class ReferenceDataError(ValueError):
    pass


def _read(path: Path, required: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReferenceDataError(f"{path.name}: missing columns {missing}")
    return df


def load_disease_groups(path: Path | None = None) -> pd.DataFrame:
    """Disease groups with their ICD-10 ranges and specialty; checks codes and overlaps."""
    path = path or DATA_DIR / "disease_groups.csv"
    df = _read(path, ["group_code", "name_zh", "name_en", "icd_ranges", "specialty_code",
                      "specialty_zh", "specialty_en", "screening_target", "denominator_sex"])
    if df["group_code"].duplicated().any():
        dup = df.loc[df["group_code"].duplicated(), "group_code"].tolist()
        raise ReferenceDataError(f"{path.name}: duplicate group codes {dup}")
    for col in ("group_code", "name_zh", "name_en", "icd_ranges", "specialty_code"):
        if (df[col].str.strip() == "").any():
            raise ReferenceDataError(f"{path.name}: empty {col}")
    seen: dict[str, str] = {}
    for row in df.itertuples():
        try:
            cats = expand_icd_ranges(row.icd_ranges)
        except ValueError as exc:
            raise ReferenceDataError(f"{path.name}: group {row.group_code}: {exc}") from exc
        for c in cats:
            if c in seen:
                raise ReferenceDataError(
                    f"{path.name}: {c} is in both {seen[c]} and {row.group_code}; "
                    "groups must not overlap so new-case counts stay exact")
            seen[c] = row.group_code
    spec = df.groupby("specialty_code")[["specialty_zh", "specialty_en"]].nunique()
    if (spec > 1).any().any():
        raise ReferenceDataError(f"{path.name}: a specialty code has two different names")
    bad_sex = ~df["denominator_sex"].isin(["", "M", "F"])
    if bad_sex.any():
        raise ReferenceDataError(f"{path.name}: denominator_sex must be M, F or empty "
                                 f"(groups {df.loc[bad_sex, 'group_code'].tolist()})")
    df["screening_target"] = df["screening_target"].replace("", None)
    df["denominator_sex"] = df["denominator_sex"].replace("", None)
    return df


def disease_label(groups: pd.DataFrame, lang: str = "zh") -> pd.Series:
    """Disease-group names as every page, chart and export shows them.

    Names of diseases are shown in Chinese in both languages (the health commission's
    own names); the English page adds the English name after it, so an English reader
    can follow without losing the name that appears in Chinese documents.

    Parameters
    ----------
    groups : DataFrame with ``name_zh`` and ``name_en``.
    lang : ``"zh"`` or ``"en"``.

    >>> g = pd.DataFrame({"name_zh": ["结直肠癌", "肺癌"], "name_en": ["Colorectal cancer", ""]})
    >>> disease_label(g, "zh").tolist()
    ['结直肠癌', '肺癌']
    >>> disease_label(g, "en").tolist()
    ['结直肠癌 (Colorectal cancer)', '肺癌']
    """
    zh = groups["name_zh"].astype("string")
    if lang != "en":
        return zh.astype(object)
    en = groups["name_en"].astype("string").fillna("").str.strip()
    return zh.where(en.eq(""), zh + " (" + en + ")").astype(object)


def icd3_to_group(groups: pd.DataFrame) -> dict[str, str]:
    """Map every three-character ICD-10 category in the ranges to its group code."""
    return {c: g for g, r in zip(groups["group_code"], groups["icd_ranges"])
            for c in expand_icd_ranges(r)}


def load_standard_populations(path: Path | None = None) -> pd.DataFrame:
    """Standard populations as weights over the 18 five-year groups (0 and 1-4 merged).

    Returns a frame with index ``age_group`` (``0-4`` … ``85+``) and one column of weights
    (summing to 1) per standard.
    """
    path = path or DATA_DIR / "standard_populations.csv"
    df = _read(path, ["standard", "age_group", "population"])
    df["population"] = pd.to_numeric(df["population"], errors="raise").astype(float)
    df["age_group"] = df["age_group"].replace({"0": "0-4", "1-4": "0-4"})
    wide = df.groupby(["age_group", "standard"])["population"].sum().unstack("standard")
    missing = [g for g in AGE_GROUPS if g not in wide.index]
    if missing:
        raise ReferenceDataError(f"{path.name}: age groups missing {missing}")
    wide = wide.loc[list(AGE_GROUPS)]
    if wide.isna().any().any():
        raise ReferenceDataError(f"{path.name}: a standard lacks some age groups")
    return wide / wide.sum()


STANDARD_LABELS = {
    "china_2000": ("中国2000年人口普查标准人口", "China 2000 census"),
    "who_2000_2025": ("WHO 2000-2025 世界标准人口", "WHO 2000-2025 world standard"),
    "segi_world": ("Segi 世界标准人口", "Segi world standard"),
    "us_2000": ("美国2000年标准人口", "US 2000 standard"),
}


def load_policy_targets(path: Path | None = None) -> pd.DataFrame:
    path = path or DATA_DIR / "policy_targets.csv"
    df = _read(path, ["code", "name_zh", "name_en", "value", "unit", "comparison", "source",
                      "explanation_zh", "explanation_en"])
    df["value"] = pd.to_numeric(df["value"], errors="raise")
    bad = set(df["comparison"]) - {">=", "<=", "="}
    if bad:
        raise ReferenceDataError(f"{path.name}: unknown comparison {sorted(bad)}")
    return df


def load_reference_areas(path: Path | None = None) -> pd.DataFrame:
    """The built-in Yuhuan county and township list (code, name, level, parent, label point)."""
    path = path or DATA_DIR / "yuhuan_areas.csv"
    df = _read(path, ["code", "name", "level", "parent_code", "registered_population",
                      "label_lon", "label_lat"])
    for c in ("registered_population", "label_lon", "label_lat"):
        df[c] = pd.to_numeric(df[c], errors="raise")
    return df


def load_area_aliases(path: Path | None = None) -> pd.DataFrame:
    path = path or DATA_DIR / "area_aliases.csv"
    return _read(path, ["alias", "code", "basis"])


@lru_cache(maxsize=4)
def cached_disease_groups() -> pd.DataFrame:
    """Disease groups from the shipped file, read once per process (immutable reference)."""
    return load_disease_groups()


@lru_cache(maxsize=4)
def cached_standard_weights() -> pd.DataFrame:
    return load_standard_populations()
