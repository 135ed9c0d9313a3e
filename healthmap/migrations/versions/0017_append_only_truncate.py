"""append-only tables refuse TRUNCATE on PostgreSQL as well

The row triggers of 0002/0005/0006/0007 refuse UPDATE and DELETE, but PostgreSQL's
TRUNCATE fires no row triggers: a statement trigger (the table's own ``*_append_only``
function) now refuses it on every append-only table (audit log, screening events,
points ledger, catalogue decisions...). Databases created after this change get the
trigger from :func:`healthmap.ledger.append_only_ddl` already; it is re-created here so
that both paths end the same. SQLite has no TRUNCATE (its DELETE without WHERE fires the
row trigger).

Revision ID: 0017
Revises: 0015
"""
from alembic import op


revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def _append_only_tables(bind) -> list[str]:
    """Tables whose ``<table>_append_only()`` function exists (installed by the ledger)."""
    names = bind.exec_driver_sql(
        "SELECT proname FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace "
        "WHERE nspname = current_schema() AND right(proname, 12) = '_append_only'").scalars()
    return sorted(n[: -len("_append_only")] for n in names)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _append_only_tables(bind):
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        bind.exec_driver_sql(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _append_only_tables(bind):
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
