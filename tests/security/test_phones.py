"""§5 Phone numbers encrypted at rest, shown in full only to roles that contact residents
in their township; migration 0008 encrypts numbers and chains audit rows already stored."""

import datetime as dt
import os
import sqlite3
import stat

from sqlalchemy import select, text

from healthmap import access, audit, crypto, ids
from healthmap.db import make_engine, upgrade
from healthmap.ingest import import_file
from healthmap.models import Resident

PHONE = "13912345678"


def _csv(phone=PHONE):
    good = ids.make_id("339900", dt.date(1960, 5, 1), 13)
    return ("resident_id,id_number,name,sex,birth_date,area_code,phone\n"
            f"R1,{good},张三,M,1960-05-01,331083001,{phone}\n").encode()


def test_import_stores_no_phone_in_clear_and_reimport_changes_nothing(engine, request):
    from tests.dbutil import stored_bytes

    res = import_file(engine, "residents", _csv(), "r.csv", today=dt.date(2025, 1, 1))
    assert res.ok, res.problems
    server = request.getfixturevalue("pg_server") if engine.dialect.name != "sqlite" else None
    raw = stored_bytes(engine, server)
    assert b"R1" in raw and b"331083001" in raw  # the resident is in what was read
    assert PHONE.encode() not in raw
    with engine.connect() as c:
        stored = c.execute(select(Resident.phone)).scalar()
    assert crypto.is_encrypted(stored) and PHONE not in stored
    again = import_file(engine, "residents", _csv(), "r.csv", today=dt.date(2025, 1, 1))
    assert again.ok and again.unchanged == 1 and again.updated == 0


def test_phone_shown_only_to_contact_roles_in_their_township(engine):
    assert import_file(engine, "residents", _csv(), "r.csv", today=dt.date(2025, 1, 1)).ok
    with engine.connect() as c:
        row = c.execute(select(Resident.resident_id, Resident.area_code, Resident.phone)
                        ).one()._mapping
    doctor = access.Actor("d", "family_doctor", area_code="331083001")
    elsewhere = access.Actor("e", "screening", area_code="331083002")
    assert crypto.phone_for(engine, doctor, row) == PHONE
    assert crypto.phone_for(engine, access.Actor("s", "screening"), row) == PHONE
    for who in (elsewhere, access.Actor("l", "leader"), access.Actor("a", "admin"),
                access.Actor("p", "points"), access.Actor("anonymous", None)):
        assert crypto.phone_for(engine, who, row) == "139****5678", who


def test_token_bound_to_resident_and_database_key():
    k = crypto.derive(b"one database", "phone")
    tok = crypto.encrypt_phone(k, "R1", PHONE)
    assert crypto.decrypt_phone(k, "R2", tok) is None  # copied onto another row
    assert crypto.decrypt_phone(crypto.derive(b"another", "phone"), "R1", tok) is None


def test_migration_0008_encrypts_stored_phones_and_chains_old_audit_rows(tmp_path):
    from alembic import command

    from healthmap.db import alembic_config

    e = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with e.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    with e.begin() as c:
        c.execute(text("INSERT INTO areas (code, name, level, schematic) "
                       "VALUES ('331083001', '玉城街道', 'township', 0)"))
        c.execute(text("INSERT INTO residents (resident_id, id_hash, id_masked, name, sex, "
                       "birth_date, area_code, phone, risk_factors) VALUES ('R9', 'h', 'm', "
                       f"'x', 'M', '1960-01-01', '331083001', '{PHONE}', '{{}}')"))
        for i in range(3):
            c.execute(text("INSERT INTO audit_log (at, actor, role, action) VALUES "
                           f"('2025-01-0{i + 1} 08:00:00.000000', 'admin', 'admin', 'login')"))
    upgrade(e)
    with e.connect() as c:
        stored = c.execute(text("SELECT phone FROM residents")).scalar()
    assert crypto.decrypt_phone(crypto.key_for(e, "phone"), "R9", stored) == PHONE
    v = audit.verify(e)
    assert v.ok and v.rows == 3 and v.unchained == 0
    audit.record(e, "admin", "login", role="admin")
    assert audit.verify(e).ok
    with e.begin() as c:  # the append-only triggers are back after the migration
        try:
            c.execute(text("UPDATE audit_log SET actor='x' WHERE id=1"))
            raise AssertionError("update allowed")
        except Exception as exc:
            assert "append-only" in str(exc)


def test_database_file_created_0600(tmp_path):
    from healthmap.bootstrap import init_database

    e = make_engine(f"sqlite:///{tmp_path / 'new' / 'fresh.db'}")
    init_database(e)
    mode = stat.S_IMODE(os.stat(e.url.database).st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_migration_0008_down_and_up_again(tmp_path):
    from alembic import command

    from healthmap.db import alembic_config

    e = make_engine(f"sqlite:///{tmp_path / 'du.db'}")
    upgrade(e)
    audit.record(e, "admin", "login", role="admin")
    cfg = alembic_config()
    with e.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    with e.connect() as c:
        cols = [r[1] for r in c.exec_driver_sql("PRAGMA table_info(audit_log)")]
        trig = c.exec_driver_sql("SELECT COUNT(*) FROM sqlite_master WHERE type='trigger' "
                                 "AND tbl_name='audit_log'").scalar()
    assert "row_hash" not in cols and trig == 2  # append-only triggers survive
    upgrade(e)
    v = audit.verify(e)
    assert v.ok and v.rows == 1 and v.unchained == 0  # the old row chained again
