"""screening: rule-set runs and assessments (with input snapshots), and the append-only
events (reviews, invitations, screenings, results, fee reductions)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

from healthmap.ledger import drop_append_only_ddl, install_append_only


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ('screening_runs', 'screening_assessments', 'screening_events')


def upgrade() -> None:
    op.create_table(
        'screening_runs',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('run_id', sa.String(40), nullable=False, unique=True),
        sa.Column('ruleset_id', sa.String(40), nullable=False),
        sa.Column('ruleset_version', sa.String(20), nullable=False),
        sa.Column('ruleset_fingerprint', sa.String(16), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('scope', sa.String(200), nullable=False),
        sa.Column('n_assessed', sa.Integer(), nullable=False),
        sa.Column('n_eligible', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_screening_runs_ruleset_id', 'screening_runs', ['ruleset_id'])
    op.create_table(
        'screening_assessments',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('run_id', sa.String(40), sa.ForeignKey('screening_runs.run_id'),
                  nullable=False),
        sa.Column('ruleset_id', sa.String(40), nullable=False),
        sa.Column('ruleset_version', sa.String(20), nullable=False),
        sa.Column('resident_id', sa.String(64), sa.ForeignKey('residents.resident_id'),
                  nullable=False),
        sa.Column('area_code', sa.String(32), nullable=False),
        sa.Column('doctor_team', sa.String(100), nullable=True),
        sa.Column('score', sa.Integer(), nullable=True),
        sa.Column('tier', sa.String(20), nullable=False),
        sa.Column('eligible', sa.Boolean(), nullable=True),
        sa.Column('reasons_zh', sa.Text(), nullable=False),
        sa.Column('reasons_en', sa.Text(), nullable=False),
        sa.Column('missing', sa.Text(), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.UniqueConstraint('run_id', 'resident_id'),
    )
    op.create_index('ix_screening_assessments_set_resident', 'screening_assessments',
                    ['ruleset_id', 'resident_id'])
    op.create_table(
        'screening_events',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('source_id', sa.String(128), nullable=False, unique=True),
        sa.Column('ruleset_id', sa.String(40), nullable=False),
        sa.Column('resident_id', sa.String(64), sa.ForeignKey('residents.resident_id'),
                  nullable=False),
        sa.Column('kind', sa.String(12), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('decision', sa.String(12), nullable=True),
        sa.Column('result', sa.String(12), nullable=True),
        sa.Column('reason', sa.String(500), nullable=True),
        sa.Column('institution_code', sa.String(64), nullable=True),
        sa.Column('fee_fen', sa.Integer(), nullable=True),
        sa.Column('reduction_fen', sa.Integer(), nullable=True),
        sa.Column('refers_to', sa.String(128), nullable=True),
        sa.Column('assessment_id', sa.Integer(), nullable=True),
        sa.Column('area_code', sa.String(32), nullable=False),
        sa.Column('recorded_by', sa.String(64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('review', 'invited', 'screened', 'result', 'reduction')",
                           name='ck_screening_events_kind'),
        sa.CheckConstraint('fee_fen IS NULL OR fee_fen >= 0', name='ck_screening_fee'),
        sa.CheckConstraint('reduction_fen IS NULL OR reduction_fen >= 0',
                           name='ck_screening_reduction'),
    )
    op.create_index('ix_screening_events_set_resident', 'screening_events',
                    ['ruleset_id', 'resident_id'])
    # a screening earns at most one reduction
    op.create_index('ux_screening_events_reduction', 'screening_events',
                    ['refers_to', 'kind'], unique=True)
    bind = op.get_bind()
    for table in TABLES:
        install_append_only(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for sql in drop_append_only_ddl(bind.dialect.name, table):
            bind.exec_driver_sql(sql)
    op.drop_index('ux_screening_events_reduction', 'screening_events')
    op.drop_index('ix_screening_events_set_resident', 'screening_events')
    op.drop_table('screening_events')
    op.drop_index('ix_screening_assessments_set_resident', 'screening_assessments')
    op.drop_table('screening_assessments')
    op.drop_index('ix_screening_runs_ruleset_id', 'screening_runs')
    op.drop_table('screening_runs')
