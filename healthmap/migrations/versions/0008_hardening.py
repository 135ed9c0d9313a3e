"""hardening: audit hash chain, encrypted phone numbers

* ``audit_log.row_hash``: the keyed hash chain (:mod:`healthmap.audit`); rows already in
  the log are chained now (the append-only triggers are lifted for that one update) when
  the database's key is at hand, else they stay unchained and ``audit verify`` counts them.
* ``residents.phone`` holds the AES-SIV token (:mod:`healthmap.crypto`), up to 80
  characters; numbers already stored in clear are encrypted now (that needs the key).

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _key(bind, purpose):
    from healthmap import crypto

    try:
        return crypto.key_for(bind, purpose)
    except RuntimeError:  # no key yet (a new database: init creates it right after)
        return None


def upgrade() -> None:
    from healthmap import audit, crypto, ledger

    bind = op.get_bind()
    op.add_column('audit_log', sa.Column('row_hash', sa.String(64), nullable=True))
    if bind.dialect.name != 'sqlite':  # SQLite does not enforce VARCHAR lengths
        op.alter_column('residents', 'phone', type_=sa.String(80))
    n_audit = bind.exec_driver_sql("SELECT COUNT(*) FROM audit_log").scalar()
    key = _key(bind, 'audit') if n_audit else None
    if key:
        for sql in ledger.drop_append_only_ddl(bind.dialect.name, 'audit_log'):
            bind.exec_driver_sql(sql)
        audit.seal_existing(bind, key)
        ledger.install_append_only(bind, 'audit_log')
    else:
        bind.exec_driver_sql("INSERT INTO app_meta (key, value) VALUES ('audit_head', '')")
    clear = bind.exec_driver_sql(
        "SELECT resident_id, phone FROM residents WHERE phone IS NOT NULL AND phone <> ''"
    ).all()
    clear = [(r, p) for r, p in clear if not crypto.is_encrypted(p)]
    if clear:
        pkey = _key(bind, 'phone')
        if pkey is None:
            raise RuntimeError("residents' phone numbers must be encrypted, but the database's "
                               "key is missing: set HEALTHMAP_SECRET_FILE to its key file")
        table = sa.table('residents', sa.column('resident_id'), sa.column('phone'))
        for rid, phone in clear:
            bind.execute(table.update().where(table.c.resident_id == rid)
                         .values(phone=crypto.encrypt_phone(pkey, rid, phone)))


def downgrade() -> None:
    # phone numbers stay encrypted (decrypting them into the clear is not a downgrade
    # anyone should run by accident); the chain column and its head go
    bind = op.get_bind()
    bind.exec_driver_sql("DELETE FROM app_meta WHERE key = 'audit_head'")
    # plain DROP COLUMN (SQLite >= 3.35): a batch copy would lose the append-only triggers
    op.drop_column('audit_log', 'row_hash')
