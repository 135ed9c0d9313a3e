"""Area look-up: turn codes, names, old names or address strings into area codes."""

from __future__ import annotations

import re

import pandas as pd

_PREFIXES = ("浙江省", "台州市", "玉环市", "玉环县", "玉环")


class AreaResolver:
    """Resolve area references against the areas and aliases in the database.

    Order: exact code → exact name → alias → an address that contains exactly one area name
    (longest match wins, e.g. ``浙江省台州市玉环县楚门镇某村`` → 楚门镇).

    Examples
    --------
    >>> areas = pd.DataFrame({"code": ["331083", "331083101"], "name": ["玉环市", "楚门镇"],
    ...                       "level": ["county", "township"]})
    >>> aliases = pd.DataFrame({"alias": ["玉环县"], "code": ["331083"]})
    >>> r = AreaResolver(areas, aliases)
    >>> r.resolve(pd.Series(["331083101", "楚门镇", "玉环县", "浙江省玉环县楚门镇东风村", "x"])).tolist()
    ['331083101', '331083101', '331083', '331083101', None]
    """

    def __init__(self, areas: pd.DataFrame, aliases: pd.DataFrame | None = None):
        self.codes = set(areas["code"].astype(str))
        self.by_name: dict[str, str] = {}
        # names may repeat across townships at village level: keep only unique names
        counts = areas["name"].value_counts()
        for code, name in zip(areas["code"], areas["name"]):
            if counts[name] == 1:
                self.by_name[str(name)] = str(code)
        self.by_alias: dict[str, str] = {}
        if aliases is not None and len(aliases):
            self.by_alias = {str(a): str(c) for a, c in zip(aliases["alias"], aliases["code"])}
        names = sorted(self.by_name, key=len, reverse=True)
        self._name_re = re.compile("|".join(re.escape(n) for n in names)) if names else None

    def resolve_one(self, value: str) -> str | None:
        v = str(value).strip()
        if not v:
            return None
        if v in self.codes:
            return v
        if v in self.by_name:
            return self.by_name[v]
        if v in self.by_alias:
            return self.by_alias[v]
        if self._name_re is not None:
            rest = v
            for p in _PREFIXES:
                rest = rest.replace(p, "")
            found = {self.by_name[m] for m in self._name_re.findall(rest)}
            if len(found) == 1:
                return found.pop()
            if not found and rest != v and not rest:
                return self.by_alias.get(v)
        return None

    def resolve(self, values: pd.Series) -> pd.Series:
        """Vectorised over unique values; unresolved entries are ``None``."""
        uniq = pd.unique(values.astype(str))
        table = {u: self.resolve_one(u) for u in uniq}
        return values.astype(str).map(table).astype(object).where(lambda s: s.notna(), None)
