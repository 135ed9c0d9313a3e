"""Leaders' board (issue 10): aggregate indicator values, outpatient drug settlements of
hypertension/diabetes patients (money in integer fen) and the chronic-disease management
register

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'board_aggregate_values',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('indicator', sa.String(length=40), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('entered_by', sa.String(length=64), nullable=False),
        sa.Column('entered_at', sa.DateTime(), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.UniqueConstraint('indicator', 'period'),
    )
    op.create_table(
        'drug_settlements',
        sa.Column('record_id', sa.String(length=64), primary_key=True),
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('area_code', sa.String(length=32), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('month', sa.Integer(), nullable=False),
        sa.Column('disease', sa.String(length=12), nullable=False),
        sa.Column('scheme', sa.String(length=8), nullable=False),
        sa.Column('drug_class', sa.String(length=16), nullable=False),
        sa.Column('drug_cost_fen', sa.BigInteger(), nullable=False),
        sa.Column('policy_cost_fen', sa.BigInteger(), nullable=False),
        sa.Column('fund_paid_fen', sa.BigInteger(), nullable=False),
        sa.Column('import_id', sa.Integer(), sa.ForeignKey('import_log.id'), nullable=True),
    )
    op.create_index('ix_drug_settlements_person_id', 'drug_settlements', ['person_id'])
    op.create_index('ix_drug_settlements_year_month', 'drug_settlements', ['year', 'month'])
    op.create_table(
        'chronic_register',
        sa.Column('person_id', sa.String(length=64), primary_key=True),
        sa.Column('disease', sa.String(length=12), primary_key=True),
        sa.Column('managed_since', sa.Date(), nullable=False),
        sa.Column('standardised', sa.Boolean(), nullable=False),
        sa.Column('import_id', sa.Integer(), sa.ForeignKey('import_log.id'), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('chronic_register')
    op.drop_index('ix_drug_settlements_year_month', table_name='drug_settlements')
    op.drop_index('ix_drug_settlements_person_id', table_name='drug_settlements')
    op.drop_table('drug_settlements')
    op.drop_table('board_aggregate_values')
