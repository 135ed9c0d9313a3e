"""key-specialty catalogue: drafts, decisions, disease-group snapshots

A draft keeps its own snapshot of the disease groups (names, ICD-10 ranges, specialty) and
their indicators, so ``init`` re-inserting the disease groups cannot change history. The
snapshots and the expert panel's decisions are append-only; a draft may be updated only
once, to adopt it, and an adopted catalogue can no longer be changed: no update, no delete,
no new snapshot row or decision (triggers, SQLite and PostgreSQL).

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

from healthmap.ledger import drop_append_only_ddl, install_append_only


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CHILDREN = ('catalogue_groups', 'catalogue_specialties', 'catalogue_decisions')
# the columns a draft is made of: equal before and after its one legal update (adoption)
CONTENT = ('name', 'created_at', 'created_by', 'years', 'setting', 'method', 'criteria',
           'weights', 'weight_source', 'entropy_weights', 'top_n', 'runs', 'seed', 'jitter',
           'note')


def _guards(dialect: str) -> list[str]:
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" if dialect == 'postgresql'
                        else f"NEW.{c} IS OLD.{c}" for c in CONTENT if c != 'weights'
                        and c != 'entropy_weights')
    # JSON columns compared as text
    same += (" AND NEW.weights::text = OLD.weights::text AND NEW.entropy_weights::text IS "
             "NOT DISTINCT FROM OLD.entropy_weights::text" if dialect == 'postgresql' else
             " AND NEW.weights IS OLD.weights AND NEW.entropy_weights IS OLD.entropy_weights")
    adoption = f"OLD.status = 'draft' AND NEW.status = 'adopted' AND {same}"
    if dialect == 'sqlite':
        out = [
            "CREATE TRIGGER catalogue_drafts_frozen BEFORE UPDATE ON catalogue_drafts "
            f"WHEN NOT ({adoption}) BEGIN SELECT RAISE(ABORT, 'an adopted catalogue cannot "
            "be changed; a draft changes only by being adopted'); END",
            "CREATE TRIGGER catalogue_drafts_no_delete BEFORE DELETE ON catalogue_drafts "
            "BEGIN SELECT RAISE(ABORT, 'catalogue drafts are kept as history'); END",
        ]
        for t in CHILDREN:
            out.append(f"CREATE TRIGGER {t}_adopted BEFORE INSERT ON {t} WHEN (SELECT status "
                       "FROM catalogue_drafts WHERE id = NEW.draft_id) = 'adopted' BEGIN "
                       "SELECT RAISE(ABORT, 'an adopted catalogue cannot be changed'); END")
        return out
    if dialect == 'postgresql':
        out = [
            "CREATE OR REPLACE FUNCTION catalogue_drafts_guard() RETURNS trigger AS $$ BEGIN "
            "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'catalogue drafts are kept as history'; "
            f"END IF; IF NOT ({adoption}) THEN RAISE EXCEPTION 'an adopted catalogue cannot "
            "be changed; a draft changes only by being adopted'; END IF; RETURN NEW; END; $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER catalogue_drafts_guard BEFORE UPDATE OR DELETE ON catalogue_drafts "
            "FOR EACH ROW EXECUTE FUNCTION catalogue_drafts_guard()",
            "CREATE OR REPLACE FUNCTION catalogue_child_guard() RETURNS trigger AS $$ BEGIN "
            "IF (SELECT status FROM catalogue_drafts WHERE id = NEW.draft_id) = 'adopted' THEN "
            "RAISE EXCEPTION 'an adopted catalogue cannot be changed'; END IF; RETURN NEW; "
            "END; $$ LANGUAGE plpgsql",
        ]
        for t in CHILDREN:
            out.append(f"CREATE TRIGGER {t}_adopted BEFORE INSERT ON {t} FOR EACH ROW "
                       "EXECUTE FUNCTION catalogue_child_guard()")
        return out
    raise ValueError(f"catalogue triggers are not written for {dialect!r}")


def _drop_guards(dialect: str) -> list[str]:
    if dialect == 'sqlite':
        return ([f"DROP TRIGGER IF EXISTS {n}" for n in ('catalogue_drafts_frozen',
                                                          'catalogue_drafts_no_delete')]
                + [f"DROP TRIGGER IF EXISTS {t}_adopted" for t in CHILDREN])
    return ([f"DROP TRIGGER IF EXISTS {t}_adopted ON {t}" for t in CHILDREN]
            + ["DROP TRIGGER IF EXISTS catalogue_drafts_guard ON catalogue_drafts",
               "DROP FUNCTION IF EXISTS catalogue_drafts_guard()",
               "DROP FUNCTION IF EXISTS catalogue_child_guard()"])


def upgrade() -> None:
    op.create_table(
        'catalogue_drafts',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(200), nullable=False, unique=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('years', sa.String(100), nullable=False),
        sa.Column('setting', sa.String(12), nullable=True),
        sa.Column('method', sa.String(20), nullable=False),
        sa.Column('criteria', sa.String(200), nullable=False),
        sa.Column('weights', sa.JSON(), nullable=False),
        sa.Column('weight_source', sa.String(12), nullable=False),
        sa.Column('entropy_weights', sa.JSON(), nullable=True),
        sa.Column('top_n', sa.Integer(), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('jitter', sa.Float(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('status', sa.String(12), nullable=False, server_default='draft'),
        sa.Column('adopted_at', sa.DateTime(), nullable=True),
        sa.Column('adopted_by', sa.String(64), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'adopted')", name='ck_catalogue_status'),
        sa.CheckConstraint("method IN ('weighted_sum', 'topsis')", name='ck_catalogue_method'),
    )
    op.create_table(
        'catalogue_groups',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('draft_id', sa.Integer(), sa.ForeignKey('catalogue_drafts.id'),
                  nullable=False),
        sa.Column('group_code', sa.String(40), nullable=False),
        sa.Column('name_zh', sa.String(100), nullable=False),
        sa.Column('name_en', sa.String(200), nullable=False),
        sa.Column('icd_ranges', sa.String(400), nullable=False),
        sa.Column('specialty_code', sa.String(40), nullable=False),
        sa.Column('specialty_zh', sa.String(100), nullable=False),
        sa.Column('specialty_en', sa.String(200), nullable=False),
        sa.Column('new_cases', sa.Integer(), nullable=False),
        sa.Column('population', sa.Integer(), nullable=False),
        sa.Column('incidence', sa.Float(), nullable=True),
        sa.Column('asr', sa.Float(), nullable=True),
        sa.Column('episodes', sa.Integer(), nullable=False),
        sa.Column('out_episodes', sa.Integer(), nullable=False),
        sa.Column('outward_referral', sa.Float(), nullable=True),
        sa.Column('cost_per_case_fen', sa.BigInteger(), nullable=True),
        sa.Column('cost_in_county_fen', sa.BigInteger(), nullable=True),
        sa.Column('cost_out_county_fen', sa.BigInteger(), nullable=True),
        sa.Column('fund_outflow_fen', sa.BigInteger(), nullable=False),
        sa.Column('trend', sa.Float(), nullable=True),
        sa.Column('unstable', sa.Boolean(), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('rank_low', sa.Integer(), nullable=True),
        sa.Column('rank_high', sa.Integer(), nullable=True),
        sa.Column('top_share', sa.Float(), nullable=True),
        sa.Column('tier', sa.String(8), nullable=True),
        sa.UniqueConstraint('draft_id', 'group_code', name='uq_catalogue_groups'),
    )
    op.create_table(
        'catalogue_specialties',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('draft_id', sa.Integer(), sa.ForeignKey('catalogue_drafts.id'),
                  nullable=False),
        sa.Column('specialty_code', sa.String(40), nullable=False),
        sa.Column('specialty_zh', sa.String(100), nullable=False),
        sa.Column('specialty_en', sa.String(200), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('tier', sa.String(8), nullable=True),
        sa.Column('n_groups', sa.Integer(), nullable=False),
        sa.Column('top_group', sa.String(40), nullable=False),
        sa.Column('drivers', sa.String(1000), nullable=False),
        sa.Column('persons', sa.Integer(), nullable=True),
        sa.UniqueConstraint('draft_id', 'specialty_code', name='uq_catalogue_specialties'),
    )
    op.create_table(
        'catalogue_decisions',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('source_id', sa.String(64), nullable=False, unique=True),
        sa.Column('draft_id', sa.Integer(), sa.ForeignKey('catalogue_drafts.id'),
                  nullable=False),
        sa.Column('specialty_code', sa.String(40), nullable=False),
        sa.Column('decision', sa.String(8), nullable=False),
        sa.Column('reason', sa.String(1000), nullable=False),
        sa.Column('decided_by', sa.String(64), nullable=False),
        sa.Column('role', sa.String(20), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("decision IN ('include', 'exclude', 'watch')",
                           name='ck_catalogue_decision'),
    )
    op.create_index('ix_catalogue_decisions_draft', 'catalogue_decisions',
                    ['draft_id', 'specialty_code'])
    bind = op.get_bind()
    for t in CHILDREN:
        install_append_only(bind, t)
    for sql in _guards(bind.dialect.name):
        bind.exec_driver_sql(sql)


def downgrade() -> None:
    bind = op.get_bind()
    for sql in _drop_guards(bind.dialect.name):
        bind.exec_driver_sql(sql)
    for t in CHILDREN:
        for sql in drop_append_only_ddl(bind.dialect.name, t):
            bind.exec_driver_sql(sql)
    op.drop_index('ix_catalogue_decisions_draft', 'catalogue_decisions')
    for t in reversed(('catalogue_drafts',) + CHILDREN):
        op.drop_table(t)
