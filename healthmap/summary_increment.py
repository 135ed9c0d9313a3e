"""A year's roll-ups updated for rows added to it (a new month), equal to a rebuild.

When an import only adds episodes to a held year (no held row replaced: the store writer
keeps the year's files and puts the new rows in a file beside them,
:attr:`healthmap.store.writer.StoreWriter.appended`), the year's roll-ups need not be
rebuilt from its millions of episodes. Every figure is exact because only the persons
with a new episode (the *affected* persons) can change:

* a flag (:func:`healthmap.summary.flag_sql`: first episode of a person in a disease
  group, first of the year) depends on that person's episodes of the year only, so only
  the affected persons' episodes can change flag;
* ``cells`` (one file per month, :func:`healthmap.summary.by_month`): the new sums are the
  held ones minus what the affected persons' held episodes gave (with their held flags)
  plus what all their episodes give now (with their new flags), integer sums (fen, fen²)
  subtracted exactly. Only the months with a new episode or a changed flag differ; the
  files of the other months are kept as they are;
* ``institutions`` (no flags): the held sums plus the new episodes', in their months;
* ``areas`` (the cells without month, ICD-10 and insurance): the held sums plus the new
  cells minus the replaced ones;
* ``persons`` (:mod:`healthmap.person_rollup`, one person's rows computed from that
  person's episodes only): the held rows of every other person plus the affected persons'
  rows rebuilt from their episodes; each held part file keeps its persons, the rebuilt
  rows go to the part their id hashes to.

The held roll-ups must be those of the held episodes under the current disease groups and
institutions (the store keeps them so: a change of either rebuilds every year's).
``tests/test_summary_increment.py`` checks every table against a full rebuild.
"""

from __future__ import annotations

import os

from healthmap import cube, person_rollup, summary


def update_year(root, held: dict, added, year: int, icd3_group: dict[str, str],
                in_county: dict[str, bool], stage=None) -> dict | None:
    """The roll-ups of ``year`` after adding the rows of the Parquet file ``added`` to the
    held year ``held`` (``{"files": [...], "rollups": {table: [...]}}``, store paths
    relative to ``root``), as :meth:`healthmap.store.writer.StoreWriter.add_rollups`
    takes them: per table a list of Arrow tables and held store paths to keep.
    ``stage(table, i)`` (:meth:`healthmap.store.writer.StoreWriter.staged_rollup`) gives
    a staged file's path and store path: the person roll-up's parts are then written
    there by DuckDB (named by their store paths in the result). ``None``
    when the held year lacks one of the roll-ups or holds the per-person roll-up of an
    older format (then rebuild it, :func:`healthmap.summary.summarise_year`)."""
    import pyarrow as pa

    rollups = held.get("rollups") or {}
    tables = [*cube.ROLLUPS, person_rollup.TABLE]
    if any(not rollups.get(t) for t in tables) or not person_rollup.current(
            root / f for f in rollups[person_rollup.TABLE]):
        return None
    path = lambda f: "'" + str(root / f).replace("'", "''") + "'"  # noqa: E731
    files = lambda fs: "[" + ", ".join(path(f) for f in fs) + "]"  # noqa: E731
    cols = ", ".join(summary.EPISODE_COLS)
    with summary.rollup_db(icd3_group, in_county, "healthmap-increment-") as db:
        db.execute(f"CREATE TEMP TABLE added AS SELECT {cols} FROM read_parquet([{path(added)}])")
        db.execute("CREATE TEMP TABLE affected AS SELECT DISTINCT person_id FROM added")
        # the affected persons' held episodes (one scan of the held files), then all theirs
        db.execute(f"CREATE TEMP TABLE held_ep AS SELECT {cols} FROM read_parquet("
                   f"{files(held['files'])}) SEMI JOIN affected USING (person_id)")
        db.execute("CREATE VIEW all_ep AS SELECT * FROM held_ep UNION ALL SELECT * FROM added")
        db.execute(f"CREATE TEMP TABLE old_flags AS {summary.flag_sql('held_ep')}")
        db.execute(f"CREATE TEMP TABLE new_flags AS {summary.flag_sql('all_ep')}")
        # months whose cells change: a new episode, or a held episode whose flag moved
        changed = sorted(m for (m,) in db.execute("""
            SELECT month FROM added UNION
            SELECT o.month FROM old_flags o JOIN new_flags n USING (record_id)
            WHERE o.is_new_case <> n.is_new_case OR o.is_first_of_year <> n.is_first_of_year
            """).fetchall())
        new_months = sorted(m for (m,) in db.execute("SELECT DISTINCT month FROM added"
                                                     ).fetchall())
        y = int(year)
        out: dict = {}
        cells, replaced = _merge(db, files, rollups["cells"], "cells", y, changed,
                                 plus="new_flags", minus="old_flags")
        out["cells"] = cells
        out["institutions"], _ = _merge(db, files, rollups["institutions"], "institutions",
                                        y, new_months, plus="added", minus=None)
        out["areas"] = _areas(db, files, rollups["areas"], y, cells, replaced)
        out[person_rollup.TABLE] = _persons(db, root, rollups[person_rollup.TABLE], stage)
        return out


def _measure_columns(table: str) -> list[tuple[str, str]]:
    from healthmap.store.layout import rollup_columns

    dims = cube.ROLLUPS[table][0]
    return [(c, t) for c, t in rollup_columns(table) if c not in dims]


def _merge(db, files, held: list[str], table: str, year: int, months: list[int],
           plus: str, minus: str | None) -> tuple[list, list[str]]:
    """``table``'s new month files: the held files that hold one of ``months`` are
    replaced by the sums of their rows, plus the sums over the episodes ``plus``, minus
    those over ``minus``, in the months those files hold and ``months``; the other held
    files are kept. Returns the new list (tables and kept paths) and the replaced files."""
    dims, measures = cube.ROLLUPS[table]
    # the months each held file holds (a file per month; a store written before, one
    # file for the year): the files holding a month to rewrite are rewritten whole
    by_path = {name: set(ms) for name, ms in db.execute(
        f"SELECT filename, list(DISTINCT month) FROM read_parquet({files(held)}, "
        "filename = true) GROUP BY filename").fetchall()}
    held_months = {f: by_path.get(files([f])[2:-2], set()) for f in held}
    rewrite, replaced = set(months), []
    while True:  # until no kept file shares a month with the rewritten ones
        more = [f for f in held if f not in replaced and held_months[f] & rewrite]
        if not more:
            break
        replaced += more
        rewrite = rewrite.union(*(held_months[f] for f in more))
    keep = [f for f in held if f not in replaced]
    rewrite = sorted(rewrite)
    if not rewrite:
        return held, []
    inner = [d for d in dims if d != "year"]
    where = "WHERE " + " AND ".join(f"{d} IS NOT NULL" for d in inner)
    months_sql = ", ".join(map(str, rewrite))

    def episodes(source: str) -> str:  # the roll-up's sums over flagged episodes
        return summary._sum_sql(dims, measures, f"(SELECT *, {year} AS year FROM {source} "
                                                 f"WHERE month IN ({months_sql}))", where
                                ).rsplit(" ORDER BY ", 1)[0]

    measure_cols = _measure_columns(table)
    names = ", ".join(c for c, _t in measure_cols)
    negated = ", ".join(f"-{c} AS {c}" for c, _t in measure_cols)
    parts = [f"SELECT {', '.join(dims)}, {names} FROM ({episodes(plus)})"]
    if minus:
        parts.append(f"SELECT {', '.join(dims)}, {negated} FROM ({episodes(minus)})")
    if replaced:
        parts.append(f"SELECT {year} AS year, {', '.join(inner)}, {names} "
                     f"FROM read_parquet({files(replaced)})")
    result = db.sql(_resum(dims, measure_cols, " UNION ALL ".join(parts))).to_arrow_table()
    db.register(f"_new_{table}", result)
    return [*keep, *summary.by_month(result)], replaced


def _resum(dims: list[str], measure_cols: list[tuple[str, str]], source: str) -> str:
    """Rows of ``source`` summed per ``dims`` (a dimension's cell with no episode left is
    dropped), measures cast back to their stored types, ordered by ``dims``."""
    sums = ", ".join(f"CAST(sum({c}) AS {t}) AS {c}" for c, t in measure_cols)
    keys = ", ".join(dims)
    return (f"SELECT {keys}, {sums} FROM ({source}) GROUP BY ALL "
            f"HAVING sum(episodes) <> 0 ORDER BY {keys}")


def _areas(db, files, held: list[str], year: int, cells: list, replaced: list[str]):
    """``areas``: the held rows plus the rewritten months' new cells minus their held
    cells."""
    dims, _measures = cube.ROLLUPS["areas"]
    inner = [d for d in dims if d != "year"]
    measure_cols = _measure_columns("areas")
    names = ", ".join(c for c, _t in measure_cols)
    negated = ", ".join(f"-{c} AS {c}" for c, _t in measure_cols)
    parts = [f"SELECT {year} AS year, {', '.join(inner)}, {names} FROM read_parquet("
             f"{files(held)})",
             f"SELECT {', '.join(dims)}, {names} FROM _new_cells"]
    if replaced:
        parts.append(f"SELECT {year} AS year, {', '.join(inner)}, {negated} "
                     f"FROM read_parquet({files(replaced)})")
    return db.sql(_resum(dims, measure_cols, " UNION ALL ".join(parts))).to_arrow_table()


def _persons(db, root, held: list[str], stage=None) -> list:
    """The per-person roll-up: each held part without the affected persons' rows, plus
    their rows rebuilt from all their episodes of the year, each person's in the part
    its id hashes to (one part per held file). With ``stage``, each part is written by
    DuckDB straight to its staged file (as the writer writes them: the file columns, row
    groups of :data:`healthmap.person_rollup.ROW_GROUP`, snappy) and named by its store
    path; else returned as an Arrow table."""
    import pyarrow as pa

    # the affected persons' episodes (a month's persons' of the year: a few hundred
    # thousand) in one part
    rebuilt = pa.concat_tables(person_rollup.build_on(db, "all_ep", "_groups", "_inst",
                                                      parts=1))
    db.register("_rebuilt", rebuilt)
    types = {c: t for c, t in person_rollup.COLUMNS if c != "year"}
    columns = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in types.items())
    db.execute("SET preserve_insertion_order = true")  # the files keep the ORDER BY
    out = []
    for i, f in enumerate(held):
        p = "'" + str(root / f).replace("'", "''") + "'"
        sql = f"""
            SELECT {columns} FROM (
                SELECT * FROM read_parquet({p}) ANTI JOIN affected USING (person_id)
                UNION ALL BY NAME
                SELECT * FROM _rebuilt WHERE hash(person_id) % {len(held)} = {i})
            ORDER BY group_code, setting, insurance_type"""
        if stage is None:
            out.append(db.sql(sql).to_arrow_table())
            continue
        path, name = stage(person_rollup.TABLE, i)
        target = str(path).replace("'", "''")
        db.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION snappy, "
                   f"ROW_GROUP_SIZE {person_rollup.ROW_GROUP})")
        os.chmod(path, 0o600)
        out.append(name)
    return out
