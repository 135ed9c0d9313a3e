"""health points: ledger, activities, redemption catalogue, lookup throttling

The activities and the catalogue are data files (data/points/); the lookup throttle uses
the foundation's ``login_throttle`` table. This revision adds the append-only ledger.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

from healthmap.ledger import drop_append_only_ddl, install_append_only


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'points_ledger',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('source_id', sa.String(128), nullable=False, unique=True),
        sa.Column('resident_id', sa.String(64), sa.ForeignKey('residents.resident_id'),
                  nullable=False),
        sa.Column('kind', sa.String(12), nullable=False),
        sa.Column('activity_code', sa.String(40), nullable=True),
        sa.Column('item_code', sa.String(40), nullable=True),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('recorded_by', sa.String(64), nullable=False),
        sa.Column('reason', sa.String(500), nullable=True),
        sa.Column('reverses', sa.String(128), nullable=True, unique=True),
        sa.Column('rules_version', sa.String(20), nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_points_ledger_resident_id', 'points_ledger', ['resident_id'])
    op.create_index('ix_points_ledger_activity_date', 'points_ledger',
                    ['activity_code', 'date'])
    install_append_only(op.get_bind(), 'points_ledger')


def downgrade() -> None:
    bind = op.get_bind()
    for sql in drop_append_only_ddl(bind.dialect.name, 'points_ledger'):
        bind.exec_driver_sql(sql)
    op.drop_index('ix_points_ledger_activity_date', 'points_ledger')
    op.drop_index('ix_points_ledger_resident_id', 'points_ledger')
    op.drop_table('points_ledger')
