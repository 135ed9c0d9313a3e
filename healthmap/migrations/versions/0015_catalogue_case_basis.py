"""catalogue snapshots say what their case counts are: new cases with a look-back of N
years, or diagnosed cases (a period the data cannot look back from, decisions §5)

Two nullable columns on ``catalogue_groups`` (append-only, so a saved basis cannot be
changed); drafts saved before this revision keep NULL (basis not recorded).

Revision ID: 0015
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('catalogue_groups', sa.Column('case_basis', sa.String(10), nullable=True))
    op.add_column('catalogue_groups', sa.Column('lookback', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('catalogue_groups', 'lookback')
    op.drop_column('catalogue_groups', 'case_basis')
