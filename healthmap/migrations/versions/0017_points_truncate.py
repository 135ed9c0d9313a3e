"""points ledger: refuse TRUNCATE on PostgreSQL as well

0006's row triggers refuse UPDATE and DELETE, but PostgreSQL's TRUNCATE fires no row
triggers: a statement trigger (the same function) refuses it too. SQLite has no TRUNCATE;
its DELETE without WHERE fires the row trigger (the truncate optimisation is off for a
table with triggers).

Revision ID: 0017
Revises: 0015
"""
from alembic import op


revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(
            "CREATE TRIGGER points_ledger_no_truncate BEFORE TRUNCATE ON points_ledger "
            "FOR EACH STATEMENT EXECUTE FUNCTION points_ledger_append_only()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS points_ledger_no_truncate ON points_ledger")
