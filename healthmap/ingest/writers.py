"""The writers of the reference kinds of import (areas, population, institutions,
residents) and the registry of every kind's writer (:data:`WRITERS`), which
:func:`healthmap.ingest.load._write` runs in its two phases: each writer returns a
:class:`healthmap.ingest.episodes.Plan` (the heavy work before the write transaction, the
writes inside it, what goes live after the commit). Episodes have their own module
(:mod:`healthmap.ingest.episodes`)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, delete, insert, select, tuple_

from healthmap import store, summary
from healthmap.ingest.episodes import Plan, plan_episodes
from healthmap.models import Area, Institution, Population, Resident


def dialect_insert(conn: Connection, table):
    """The back end's INSERT (with ``on_conflict_do_update``) for ``table``."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _upsert_changed(conn: Connection, model, records: pd.DataFrame, key: list[str],
                    import_id: int | None = None) -> tuple[int, int, int]:
    """Insert new rows and update changed ones (small tables: compared in memory)."""
    table = model.__table__
    cols = [c for c in records.columns if c in table.c]
    existing = pd.DataFrame(conn.execute(select(*[table.c[c] for c in cols])).all(),
                            columns=cols)
    merged = records[cols].merge(existing, on=key, how="left", suffixes=("", "__old"),
                                 indicator=True)
    new = merged["_merge"] == "left_only"
    value_cols = [c for c in cols if c not in key]
    changed = pd.Series(False, index=merged.index)
    for c in value_cols:
        a, b = merged[c], merged[c + "__old"]
        diff = ~((a.isna() & b.isna()) | (a.astype(str) == b.astype(str)))
        changed |= diff & ~new
    todo = records[cols].loc[(new | changed).to_numpy()]
    if len(todo):
        stmt = dialect_insert(conn, table)
        set_cols = {c: stmt.excluded[c] for c in value_cols}
        if import_id is not None and "import_id" in table.c:
            set_cols["import_id"] = import_id
            todo = todo.assign(import_id=import_id)
        stmt = stmt.on_conflict_do_update(index_elements=key, set_=set_cols)
        recs = todo.astype(object).where(todo.notna(), None).to_dict("records")
        for start in range(0, len(recs), 20_000):
            conn.execute(stmt, recs[start:start + 20_000])
    n_new, n_changed = int(new.sum()), int(changed.sum())
    return n_new, n_changed, len(records) - n_new - n_changed


_LEVEL_ORDER = {"county": 0, "township": 1, "village": 2}


def _write_areas(conn, clean, import_id, progress):
    clean = clean.assign(_o=clean["level"].map(_LEVEL_ORDER)).sort_values("_o").drop(columns="_o")
    if "geometry" in clean.columns:  # real boundaries replace schematic ones
        clean = clean.assign(schematic=False)
    counts = _upsert_changed(conn, Area, clean, ["code"])
    return counts, []


def _write_population(conn, clean, import_id, progress):
    rec = clean.rename(columns={"population": "persons"})[
        ["area_code", "year", "sex", "age_group", "persons"]].copy()
    rec["year"] = rec["year"].astype(int)
    rec["persons"] = rec["persons"].astype(int)
    pairs = rec[["area_code", "year"]].drop_duplicates()
    old = pd.DataFrame(conn.execute(select(
        Population.area_code, Population.year, Population.sex, Population.age_group,
        Population.persons)).all(), columns=["area_code", "year", "sex", "age_group", "persons"])
    old = old.merge(pairs, on=["area_code", "year"])
    key = ["area_code", "year", "sex", "age_group"]
    m = rec.merge(old, on=key, how="left", suffixes=("", "_old"))
    inserted = int(m["persons_old"].isna().sum())
    unchanged = int((m["persons_old"] == m["persons"]).sum())
    updated = len(rec) - inserted - unchanged
    stale = len(old) - len(old.merge(rec[key], on=key))
    if inserted or updated or stale:
        # replace each area-year whole, so a file can switch from totals to a sex/age split
        for chunk_start in range(0, len(pairs), 500):
            chunk = pairs.iloc[chunk_start:chunk_start + 500]
            conn.execute(delete(Population).where(tuple_(Population.area_code, Population.year)
                                                  .in_(list(chunk.itertuples(index=False,
                                                                             name=None)))))
        conn.execute(insert(Population), rec.astype(object).to_dict("records"))
    return (inserted, updated, unchanged), []


def _moved_years(conn, rec: pd.DataFrame) -> list[int]:
    """The years of the episode store's rows at the institutions of ``rec`` whose
    in-county status differs from the held one (their roll-ups must be rebuilt)."""
    held = dict(conn.execute(select(Institution.code, Institution.in_county)).all())
    moved = sorted(c for c, v in zip(rec["code"].astype(str), rec["in_county"])
                   if c in held and bool(held[c]) != bool(v))
    if not moved:
        return []
    import pyarrow as pa

    cur = store.connect(conn.engine)
    try:
        cur.register("_moved", pa.table({"code": pa.array(moved, pa.string())}))
        return sorted(int(y) for (y,) in cur.execute(
            "SELECT DISTINCT e.year FROM episodes e JOIN _moved m "
            "ON e.institution_code = m.code").fetchall())
    finally:
        cur.close()


def _write_residents(conn, clean, import_id, progress):
    from healthmap.ingest.contract import SPECS

    base = {"resident_id", "name", "sex", "birth_date", "area_code", "phone", "doctor_team",
            "id_hash", "id_masked"}
    risk_cols = [c for c in clean.columns if c not in base and c != "id_number"]
    rec = clean[[c for c in clean.columns if c in base]].copy()
    rec["birth_date"] = pd.to_datetime(rec["birth_date"]).dt.date
    known_types = {c.name: c.type for c in SPECS["residents"]}

    def risk(row) -> dict:
        out = {}
        for c in risk_cols:
            v = row[c]
            if v is None or (isinstance(v, float) and pd.isna(v)):
                continue
            out[c] = (bool(v) if known_types.get(c) == "bool"
                      else float(v) if known_types.get(c) == "number" else v)
        return out

    rec["risk_factors"] = [risk(r) for r in clean[risk_cols].to_dict("records")] \
        if risk_cols else [{} for _ in range(len(rec))]
    if "phone" in rec:  # stored encrypted; decrypted only by healthmap.crypto.phone_for
        from healthmap import crypto

        rec["phone"] = crypto.encrypt_column(conn, rec["resident_id"], rec["phone"])
    # JSON compares as text; make it canonical for change detection
    counts = _upsert_changed(conn, Resident, rec, ["resident_id"], import_id)
    return counts, []


def _in_transaction(writer):
    """A writer of a small reference table: all of it runs inside the write transaction."""
    def plan(conn, clean, progress, retry: bool = False) -> Plan:
        return Plan(lambda c, import_id: writer(c, clean, import_id, progress))
    return plan


def _plan_institutions(conn, clean, progress, retry: bool = False) -> Plan:
    """Upsert institutions inside the write transaction. An institution whose in-county
    status changed moves its episodes between "in county" and "out of county": the
    roll-ups of every year with an episode there are rebuilt with the file's statuses
    before the write transaction (heavy work, no write lock held; :func:`_write` checks
    inside it that nothing changed meanwhile), prepared in it and published after the
    commit (the episode store joins the status at query time and needs nothing)."""
    rec = clean.copy()
    rec["in_county"] = rec["in_county"].astype(bool)
    years = _moved_years(conn, rec)
    writers: list = []
    if years:
        statuses = dict(zip(rec["code"].astype(str), rec["in_county"]))
        writers.append(summary.rebuild_rollups(conn, years, in_county=statuses,
                                               prepare=False))

    def apply(c, import_id):
        counts = _upsert_changed(c, Institution, rec, ["code"])
        for w in writers:
            store.prepare(w, c)
        return counts, years

    def cleanup(c):
        for w in writers:
            w.discard()

    def after_commit(import_id):
        for w in writers:
            store.publish(w)

    return Plan(apply, cleanup, after_commit)


WRITERS = {"areas": _in_transaction(_write_areas),
            "population": _in_transaction(_write_population),
            "institutions": _plan_institutions,
            "episodes": plan_episodes,
            "residents": _in_transaction(_write_residents)}
"""kind -> ``plan(conn, clean, progress, retry=False)``; ``retry`` is true when another
writer changed the data the previous plan was built from (then nothing held is trusted
to be current: the episodes writer rebuilds the changed years' roll-ups whole)."""
