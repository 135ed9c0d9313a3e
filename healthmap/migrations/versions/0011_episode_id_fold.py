"""episodes: index on lower(record_id), so an import can find held record ids that differ
from a new one only in case without reading the whole table

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_episodes_record_id_lower', 'episodes', [sa.text('lower(record_id)')])


def downgrade() -> None:
    op.drop_index('ix_episodes_record_id_lower', 'episodes')
