"""Checks of an import against what the database already holds.

Reference rows that existing records depend on (an institution's county flag, an area's
parent, an area-year's population) change only when the user confirms the change
(``--confirm-changes``, the data page's second step); each confirmed change is written to
the audit log with the number of records it affects. Changes that would make data vanish
(an area changing level) and hierarchies that cannot be drawn are refused outright.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from healthmap.ingest.contract import Limits
from healthmap.ingest.validate import Problems
from healthmap.models import Area, Institution, Population, Resident

# problems that a confirmation turns into audited changes
CONFIRMABLE = frozenset({"confirm_institution", "confirm_area_parent", "confirm_population"})
# the level of an area's parent (None: no parent)
PARENT_LEVEL = {"county": None, "township": "county", "village": "township"}


@dataclass(frozen=True)
class Change:
    """A confirmed change to a reference row, for the audit log."""

    target: str
    detail: str


def _counts(engine: Engine, column, values) -> dict[str, int]:
    """Rows of a database table per value of ``column`` (only values that occur)."""
    values = [str(v) for v in values]
    if not values:
        return {}
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            out.update(conn.execute(select(column, func.count()).where(column.in_(chunk))
                                    .group_by(column)).all())
    return out


# episodes held per institution or residence area, from the episode store
_EPISODE_COUNTS = {
    column: f"SELECT e.{column} AS value, count(*) AS n FROM episodes e "
            f"JOIN _values v ON e.{column} = v.value GROUP BY e.{column}"
    for column in ("institution_code", "area_code")}


def _store_cursor(engine: Engine):
    """A cursor on the episode store (empty views while nothing is held: reading never
    writes the store)."""
    from healthmap import store

    return store.connect(engine)


def _episode_counts(engine: Engine, column: str, values) -> dict[str, int]:
    """Episodes held per value of the store's ``column`` (``institution_code`` or
    ``area_code``; only values that occur), the values passed as a relation."""
    import pyarrow as pa

    values = sorted({str(v) for v in values})
    cur = _store_cursor(engine) if values else None
    if cur is None:
        return {}
    try:
        cur.register("_values", pa.table({"value": pa.array(values, pa.string())}))
        rows = cur.execute(_EPISODE_COUNTS[column]).fetchall()
    finally:
        cur.close()
    return {str(v): int(n) for v, n in rows}


def check(engine: Engine, kind: str, df: pd.DataFrame, clean: pd.DataFrame,
          problems: Problems, limits: Limits, confirm: bool) -> list[Change]:
    """Record problems of ``kind``'s file against the database; return the changes that
    are confirmed (empty unless ``confirm`` and every problem is confirmable)."""
    key = _KEYS.get(kind)
    if key is not None:
        _case_clashes(engine, key[0], key[1], df, clean, problems)
    elif kind == "episodes":
        _episode_case_clashes(engine, df, clean, problems)
    fn = {"institutions": _institutions, "areas": _areas, "population": _population}.get(kind)
    if fn is None:
        return []
    pending = Problems()
    changes = fn(engine, df, clean, problems, pending, limits)
    if confirm:
        return changes
    problems.extend(pending)
    return []


_KEYS = {"areas": (Area.code, "code"), "institutions": (Institution.code, "code"),
         "residents": (Resident.resident_id, "resident_id")}


def _case_clashes(engine, column, name, df, clean, problems) -> None:
    """A key that differs from a held one only in upper/lower case names the same record
    twice: refused (``duplicate_case``, naming the held key). Episodes:
    :func:`_episode_case_clashes`."""
    with engine.connect() as conn:
        held = pd.Series(conn.scalars(select(column)).all(), dtype=object)
    if not len(held):
        return
    by_fold = dict(zip(held.str.casefold(), held))
    keys = clean[name].astype(str)
    other = keys.str.casefold().map(by_fold)
    clash = (other.notna() & (other != keys)).to_numpy()
    problems.add_mask(df, clash, name, "duplicate_case_held", df[name],
                      other=other[clash].to_numpy())


def _episode_case_clashes(engine, df, clean, problems) -> None:
    """Episode record ids that differ from held ones only in case (ASCII letters: record
    ids allow no other letters) are refused like other keys. The episode store's record
    ids are joined on ``lower(record_id)`` with the file's lowered ids, which DuckDB gets
    as a relation (one hash join, no id list in the SQL text)."""
    import pyarrow as pa

    keys = clean["record_id"].astype(str)
    folded = keys.str.lower()
    held: dict[str, str] = {}
    cur = _store_cursor(engine)
    if cur is None:
        return  # nothing held yet (first loads)
    try:
        cur.register("_file_ids", pa.table({"folded": pa.array(folded.unique(), pa.string())}))
        for (rid,) in cur.execute("SELECT e.record_id FROM episodes e JOIN _file_ids f "
                                  "ON lower(e.record_id) = f.folded ORDER BY e.record_id"
                                  ).fetchall():
            held.setdefault(rid.lower(), rid)
    finally:
        cur.close()
    if not held:
        return
    other = folded.map(held)
    clash = (other.notna() & (other != keys)).to_numpy()
    problems.add_mask(df, clash, "record_id", "duplicate_case_held", df["record_id"],
                      other=other[clash].to_numpy())


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


def _institutions(engine, df, clean, problems, pending, limits) -> list[Change]:
    cols = ["code", "level", "in_county", "area_code", "region"]
    with engine.connect() as conn:
        old = pd.DataFrame(conn.execute(select(*[Institution.__table__.c[c] for c in cols]))
                           .all(), columns=cols).set_index("code")
    changes = []
    rows = []
    for i, code in enumerate(clean["code"].astype(str)):
        if code not in old.index:
            continue
        diffs = []
        for c in cols[1:]:
            a, b = old.at[code, c], clean[c].iloc[i]
            a = bool(a) if c == "in_county" else a
            b = bool(b) if c == "in_county" and b is not None else b
            if _fmt(a) != _fmt(b):
                diffs.append(f"{c}: {_fmt(a)}→{_fmt(b)}")
        if diffs:
            rows.append((i, code, "; ".join(diffs)))
    n = _episode_counts(engine, "institution_code", [r[1] for r in rows])
    for i, code, detail in rows:
        if n.get(code, 0):
            pending.add(i, "code", code, "confirm_institution", change=detail, n=f"{n[code]:,}")
            changes.append(Change(f"institutions:{code}", f"{detail}; records={n[code]}"))
    return changes


def _areas(engine, df, clean, problems, pending, limits) -> list[Change]:
    with engine.connect() as conn:
        old = pd.DataFrame(conn.execute(select(Area.code, Area.name, Area.level,
                                               Area.parent_code)).all(),
                           columns=["code", "name", "level", "parent_code"])
    new = clean[["code", "name", "level", "parent_code"]].astype(object)
    new = new.assign(code=new["code"].astype(str))
    merged = pd.concat([old[~old["code"].isin(new["code"])], new], ignore_index=True)
    level_of = dict(zip(merged["code"], merged["level"]))
    old_by = old.set_index("code")
    changes = []
    moved = []
    for i, r in enumerate(new.itertuples(index=False)):
        parent = None if r.parent_code is None or pd.isna(r.parent_code) else str(r.parent_code)
        want = PARENT_LEVEL.get(r.level)
        if r.code in old_by.index and old_by.at[r.code, "level"] != r.level:
            problems.add(i, "level", str(df["level"].iloc[i]), "level_change",
                         old=old_by.at[r.code, "level"], new=r.level)
            continue
        if parent == r.code:
            continue  # own_parent, reported by validation
        if want is None and parent:
            problems.add(i, "parent_code", parent, "parent_level", level=r.level,
                         want="—", got=level_of.get(parent, "?"))
        elif want is not None and not parent:
            problems.add(i, "parent_code", "", "parent_required", level=r.level, want=want)
        elif want is not None and parent not in level_of:
            problems.add(i, "parent_code", parent, "unknown_parent")
        elif want is not None and level_of[parent] != want:
            problems.add(i, "parent_code", parent, "parent_level", level=r.level, want=want,
                         got=level_of[parent])
        elif r.code in old_by.index and _fmt(old_by.at[r.code, "parent_code"]) != _fmt(parent):
            moved.append((i, r.code, f"parent_code: {_fmt(old_by.at[r.code, 'parent_code'])}"
                                     f"→{_fmt(parent)}"))
    # a name may not repeat a township's or the county's name (it would capture their data)
    big = merged[merged["level"].isin(["county", "township"])]
    big_names = dict(zip(big["name"].astype(str), big["code"]))
    for i, r in enumerate(new.itertuples(index=False)):
        other = big_names.get(str(r.name))
        if other is not None and other != r.code:
            problems.add(i, "name", str(r.name), "name_taken", other=other)
    dup = new[new["level"].isin(["county", "township"])]["name"].duplicated(keep="first")
    for i in np.flatnonzero(dup.reindex(new.index, fill_value=False).to_numpy()):
        problems.add(int(i), "name", str(new["name"].iloc[i]), "name_taken",
                     other=str(new["code"][new["name"] == new["name"].iloc[i]].iloc[0]))
    n_ep = _episode_counts(engine, "area_code", [m[1] for m in moved])
    n_pop = _counts(engine, Population.area_code, [m[1] for m in moved])
    for i, code, detail in moved:
        n = n_ep.get(code, 0) + n_pop.get(code, 0)
        if n:
            pending.add(i, "parent_code", str(df["parent_code"].iloc[i]), "confirm_area_parent",
                        change=detail, n=f"{n:,}")
            changes.append(Change(f"areas:{code}", f"{detail}; records={n}"))
    return changes


def _population(engine, df, clean, problems, pending, limits) -> list[Change]:
    key = clean["area_code"].astype(str) + "|" + clean["year"].astype(int).astype(str)
    new_tot = clean.groupby(key.to_numpy())["population"].sum()
    first_row = pd.Series(np.arange(len(clean)), index=key.to_numpy()).groupby(level=0).min()
    areas = sorted(set(clean["area_code"].astype(str)))
    with engine.connect() as conn:
        old = pd.DataFrame(conn.execute(
            select(Population.area_code, Population.year, func.sum(Population.persons))
            .where(Population.area_code.in_(areas))
            .group_by(Population.area_code, Population.year)).all(),
            columns=["area_code", "year", "persons"])
    held = {f"{a}|{int(y)}": int(p) for a, y, p in old.itertuples(index=False)}
    f = limits.population_change_factor
    changes = []
    for k, total in new_tot.items():
        area, year = k.split("|")
        prev = held.get(k)
        basis = "held"
        if prev is None:
            prev_key = f"{area}|{int(year) - 1}"
            prev = held.get(prev_key, new_tot.get(prev_key))
            basis = "previous year"
        if not prev or not total:
            continue
        ratio = total / prev
        if ratio > f or ratio < 1 / f:
            i = int(first_row[k])
            detail = f"{year}: {int(prev):,} ({basis}) → {int(total):,}"
            pending.add(i, "population", str(df["population"].iloc[i]), "confirm_population",
                        change=detail, factor=f"{f:g}")
            changes.append(Change(f"population:{area}:{year}", detail))
    return changes
