"""summary_areas (cells rolled up over ICD-10 categories, months, insurance); sex, age
group and insurance type in summary_institutions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KEYS = ["year", "area_code", "sex", "age_group", "setting", "in_county"]
SUMS = ["episodes", "new_cases", "persons", "referrals", "cost_sum", "cost_sq_sum",
        "fund_sum", "fund_n"]


def upgrade() -> None:
    op.create_table(
        'summary_areas',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('area_code', sa.String(length=32), nullable=False),
        sa.Column('sex', sa.String(length=1), nullable=False),
        sa.Column('age_group', sa.String(length=8), nullable=False),
        sa.Column('setting', sa.String(length=12), nullable=False),
        sa.Column('in_county', sa.Boolean(), nullable=False),
        sa.Column('episodes', sa.Integer(), nullable=False),
        sa.Column('new_cases', sa.Integer(), nullable=False),
        sa.Column('persons', sa.Integer(), nullable=False),
        sa.Column('referrals', sa.Integer(), nullable=False),
        sa.Column('cost_sum', sa.Float(), nullable=False),
        sa.Column('cost_sq_sum', sa.Float(), nullable=False),
        sa.Column('fund_sum', sa.Float(), nullable=False),
        sa.Column('fund_n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_summary_areas_year_area', 'summary_areas', ['year', 'area_code'])
    # fill it for databases that already hold summary cells
    keys = ", ".join(KEYS)
    sums = ", ".join(f"SUM({c})" for c in SUMS)
    op.execute(f"INSERT INTO summary_areas ({keys}, {', '.join(SUMS)}) "
               f"SELECT {keys}, {sums} FROM summary_cells GROUP BY {keys}")
    _institutions_table(INST_KEYS + INST_NEW)


INST_KEYS = ["year", "month", "area_code", "icd3", "setting", "institution_code"]
INST_NEW = ["sex", "age_group", "insurance_type"]


def _institutions_table(keys: list[str]) -> None:
    """(Re)create summary_institutions with ``keys`` and fill it from the episodes."""
    op.drop_table('summary_institutions')
    types = {"year": sa.Integer(), "month": sa.Integer(), "area_code": sa.String(32),
             "icd3": sa.String(3), "setting": sa.String(12), "institution_code": sa.String(64),
             "sex": sa.String(1), "age_group": sa.String(8), "insurance_type": sa.String(12)}
    op.create_table(
        'summary_institutions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        *[sa.Column(k, types[k], nullable=False) for k in keys],
        sa.Column('episodes', sa.Integer(), nullable=False),
        sa.Column('cost_sum', sa.Float(), nullable=False),
        sa.Column('fund_sum', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_summary_inst_year_area', 'summary_institutions', ['year', 'area_code'])
    cols = ", ".join(keys)
    op.execute(f"INSERT INTO summary_institutions ({cols}, episodes, cost_sum, fund_sum) "
               f"SELECT {cols}, COUNT(*), SUM(total_cost), SUM(COALESCE(fund_paid, 0)) "
               f"FROM episodes GROUP BY {cols}")


def downgrade() -> None:
    _institutions_table(INST_KEYS)
    op.drop_index('ix_summary_areas_year_area', table_name='summary_areas')
    op.drop_table('summary_areas')
