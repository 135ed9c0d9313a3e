"""Health-points rules as data: activities, the redemption catalogue and settings.

The three files under ``data/points/`` are read and validated here; every problem is
collected and reported together (file, place, reason) before anything is used.

Examples
--------
>>> rules = load_rules()
>>> act = rules.activity("health_lecture")
>>> act.points, act.max_per_day, act.max_per_year
(5, 1, 12)
>>> rules.item("health_kit").points
30
>>> rules.settings.level_for(130).code
'gold'
>>> validate_activities({"version": "1", "activities": [{"code": "xy", "points": -1}]})[:2]
['activities[0].name: needs zh and en', 'activities[0].explanation: needs zh and en']
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from healthmap.access import ROLES

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "points"
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class RulesError(ValueError):
    """A points rule file is not valid; ``problems`` lists every problem found."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Activity:
    code: str
    name: dict[str, str]
    explanation: dict[str, str]
    points: int
    max_per_day: int
    max_per_year: int
    recorded_by: tuple[str, ...]
    min_age: int | None = None
    max_age: int | None = None
    sex: str | None = None

    def ineligible(self, birth_date: dt.date | None, sex: str | None,
                   on: dt.date) -> str | None:
        """Why a resident born ``birth_date`` of ``sex`` may not earn this on ``on``.

        >>> a = Activity("x", {}, {}, 1, 1, 1, ("points",), min_age=40, max_age=74)
        >>> a.ineligible(dt.date(1990, 5, 1), "F", dt.date(2024, 5, 1))
        'age 34 is under 40'
        >>> a.ineligible(dt.date(1960, 5, 1), "F", dt.date(2024, 5, 1)) is None
        True
        """
        if self.sex and sex != self.sex:
            return f"only for sex {self.sex}"
        if birth_date is not None and (self.min_age is not None or self.max_age is not None):
            age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month,
                                                                     birth_date.day))
            if self.min_age is not None and age < self.min_age:
                return f"age {age} is under {self.min_age}"
            if self.max_age is not None and age > self.max_age:
                return f"age {age} is over {self.max_age}"
        return None

    def eligibility_text(self, lang: str = "zh") -> str:
        """Plain-language eligibility, e.g. ``40-74岁`` (empty when open to everyone)."""
        if self.min_age is None and self.max_age is None and not self.sex:
            return ""
        lo, hi = self.min_age or 0, self.max_age
        span = f"{lo}-{hi}" if hi is not None else f"{lo}+"
        if lang == "en":
            return f"aged {span}" + (f", sex {self.sex}" if self.sex else "")
        sex = {"M": "男性", "F": "女性"}.get(self.sex or "", "")
        return f"{span}岁{sex}"


@dataclass(frozen=True)
class Item:
    code: str
    name: dict[str, str]
    explanation: dict[str, str]
    points: int
    stock: int


@dataclass(frozen=True)
class Level:
    code: str
    min_earned: int
    name: dict[str, str]


@dataclass(frozen=True)
class LookupSettings:
    free_failures: int = 5
    first_delay_seconds: int = 30
    max_delay_seconds: int = 3600
    forget_after_hours: int = 24


@dataclass(frozen=True)
class Settings:
    expiry_years: int | None
    levels: tuple[Level, ...]
    lookup: LookupSettings
    explanation: dict[str, dict[str, str]] = field(default_factory=dict)

    def level_for(self, earned: int) -> Level:
        """The highest level whose ``min_earned`` is reached."""
        return [lv for lv in self.levels if earned >= lv.min_earned][-1]


@dataclass(frozen=True)
class Rules:
    version: str
    catalogue_version: str
    explanation: dict[str, str]
    activities: tuple[Activity, ...]
    items: tuple[Item, ...]
    settings: Settings
    #: the first day the scheme counts: no award or redemption is dated before it
    valid_from: dt.date | None = None

    def activity(self, code: str) -> Activity:
        for a in self.activities:
            if a.code == code:
                return a
        raise KeyError(f"unknown activity {code!r}")

    def item(self, code: str) -> Item:
        for i in self.items:
            if i.code == code:
                return i
        raise KeyError(f"unknown catalogue item {code!r}")


def _pair(value: Any) -> bool:
    return (isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k].strip()
                                            for k in ("zh", "en")))


def _int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _entries(doc: Any, key: str, problems: list[str]) -> list[dict]:
    if not isinstance(doc, dict):
        problems.append("the file must be a mapping with `version` and `" + key + "`")
        return []
    if not isinstance(doc.get("version"), str) or not doc["version"].strip():
        problems.append("version: needs a text version, e.g. \"2024.1\"")
    entries = doc.get(key)
    if not isinstance(entries, list) or not entries:
        problems.append(f"{key}: needs a non-empty list")
        return []
    return entries


def _common(e: Any, where: str, seen: set, problems: list[str]) -> bool:
    if not isinstance(e, dict):
        problems.append(f"{where}: must be a mapping")
        return False
    code = e.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        problems.append(f"{where}.code: {code!r} is not a code (lower-case letters, digits, _)")
    elif code in seen:
        problems.append(f"{where}.code: {code!r} appears twice")
    seen.add(code)
    for k in ("name", "explanation"):
        if not _pair(e.get(k)):
            problems.append(f"{where}.{k}: needs zh and en")
    if not _int(e.get("points"), 1):
        problems.append(f"{where}.points: {e.get('points')!r} is not a positive integer")
    return True


def validate_activities(doc: Any) -> list[str]:
    """Every problem in a parsed activities file (empty list = valid)."""
    problems: list[str] = []
    seen: set = set()
    if isinstance(doc, dict) and doc.get("valid_from") is not None and (
            type(doc["valid_from"]) is not dt.date):
        problems.append(f"valid_from: {doc['valid_from']!r} is not a date (YYYY-MM-DD)")
    for i, e in enumerate(_entries(doc, "activities", problems)):
        where = f"activities[{i}]"
        if not _common(e, where, seen, problems):
            continue
        for k in ("max_per_day", "max_per_year"):
            if not _int(e.get(k), 1):
                problems.append(f"{where}.{k}: {e.get(k)!r} is not a positive integer")
        if _int(e.get("max_per_day"), 1) and _int(e.get("max_per_year"), 1) \
                and e["max_per_day"] > e["max_per_year"]:
            problems.append(f"{where}: max_per_day is larger than max_per_year")
        who = e.get("recorded_by")
        if not isinstance(who, list) or not who or any(r not in ROLES for r in who):
            problems.append(f"{where}.recorded_by: {who!r} must list roles of {list(ROLES)}")
        elig = e.get("eligibility") or {}
        if not isinstance(elig, dict) or set(elig) - {"min_age", "max_age", "sex"}:
            problems.append(f"{where}.eligibility: only min_age, max_age, sex are allowed")
            continue
        for k in ("min_age", "max_age"):
            if elig.get(k) is not None and not _int(elig[k], 0):
                problems.append(f"{where}.eligibility.{k}: {elig[k]!r} is not an age")
        if elig.get("sex") not in (None, "M", "F"):
            problems.append(f"{where}.eligibility.sex: {elig['sex']!r} is not M or F")
    return problems


def validate_catalogue(doc: Any) -> list[str]:
    """Every problem in a parsed catalogue file (empty list = valid)."""
    problems: list[str] = []
    seen: set = set()
    for i, e in enumerate(_entries(doc, "items", problems)):
        if _common(e, f"items[{i}]", seen, problems) and not _int(e.get("stock"), 0):
            problems.append(f"items[{i}].stock: {e.get('stock')!r} is not a whole number >= 0")
    return problems


def validate_settings(doc: Any) -> list[str]:
    """Every problem in a parsed settings file (empty list = valid)."""
    if not isinstance(doc, dict):
        return ["the file must be a mapping with expiry, levels and lookup"]
    problems: list[str] = []
    years = (doc.get("expiry") or {}).get("years")
    if years is not None and not _int(years, 1):
        problems.append(f"expiry.years: {years!r} must be null or a positive integer")
    levels = doc.get("levels")
    if not isinstance(levels, list) or not levels:
        problems.append("levels: needs a non-empty list")
    else:
        mins = [lv.get("min_earned") if isinstance(lv, dict) else None for lv in levels]
        if not all(_int(m, 0) for m in mins) or mins != sorted(set(mins)) or mins[0] != 0:
            problems.append(f"levels: min_earned {mins} must be distinct, ascending, from 0")
        for i, lv in enumerate(levels):
            if not isinstance(lv, dict) or not lv.get("code") or not _pair(lv.get("name")):
                problems.append(f"levels[{i}]: needs code and name (zh, en)")
    look = doc.get("lookup") or {}
    for k in ("free_failures", "first_delay_seconds", "max_delay_seconds",
              "forget_after_hours"):
        if not _int(look.get(k), 1):
            problems.append(f"lookup.{k}: {look.get(k)!r} is not a positive integer")
    return problems


def _read(path: Path, check) -> dict:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(path, [f"cannot read: {exc}".splitlines()[0]]) from exc
    problems = check(doc)
    if problems:
        raise RulesError(path, problems)
    return doc


def _text(d: dict | None) -> dict[str, str]:
    return {k: str(v) for k, v in (d or {}).items()}


def load_rules_from(folder: Path | str) -> Rules:
    """Read and validate ``activities.yaml``, ``catalogue.yaml`` and ``settings.yaml``."""
    folder = Path(folder)
    a = _read(folder / "activities.yaml", validate_activities)
    c = _read(folder / "catalogue.yaml", validate_catalogue)
    s = _read(folder / "settings.yaml", validate_settings)
    acts = tuple(Activity(
        e["code"], _text(e["name"]), _text(e["explanation"]), e["points"], e["max_per_day"],
        e["max_per_year"], tuple(e["recorded_by"]), (e.get("eligibility") or {}).get("min_age"),
        (e.get("eligibility") or {}).get("max_age"), (e.get("eligibility") or {}).get("sex"))
        for e in a["activities"])
    items = tuple(Item(e["code"], _text(e["name"]), _text(e["explanation"]), e["points"],
                       e["stock"]) for e in c["items"])
    look = s.get("lookup") or {}
    lookup = LookupSettings(**{k: look[k] for k in LookupSettings.__dataclass_fields__
                               if look.get(k) is not None})
    settings = Settings(
        expiry_years=(s.get("expiry") or {}).get("years"),
        levels=tuple(Level(lv["code"], lv["min_earned"], _text(lv["name"]))
                     for lv in s["levels"]),
        lookup=lookup,
        explanation={k: _text((s.get(k) or {}).get("explanation"))
                     for k in ("expiry", "lookup")})
    return Rules(str(a["version"]), str(c["version"]), _text(a.get("explanation")), acts,
                 items, settings, a.get("valid_from"))


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """The shipped rules (``data/points/``), read once per process."""
    return load_rules_from(DATA_DIR)
