"""disease_groups.denominator_sex: the sex whose population is the denominator of a
sex-specific group's rate (M prostate; F cervix, uterus, ovary, breast, pregnancy; NULL both)

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # filled from data/disease_groups.csv by bootstrap.sync_disease_groups at the next init
    op.add_column('disease_groups', sa.Column('denominator_sex', sa.String(length=1),
                                              nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, PostgreSQL): a batch copy of the table
    # would trip icd3_groups' foreign key to it
    op.drop_column('disease_groups', 'denominator_sex')
