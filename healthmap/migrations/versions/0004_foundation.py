"""foundation: user scope, server-side sessions, login throttling

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as b:
        b.add_column(sa.Column('area_code', sa.String(32), nullable=True))
        b.add_column(sa.Column('team', sa.String(100), nullable=True))
        b.add_column(sa.Column('password_epoch', sa.Integer(), nullable=False,
                               server_default='0'))
        b.create_foreign_key('fk_users_area', 'areas', ['area_code'], ['code'])
    op.create_table(
        'user_sessions',
        sa.Column('token_hash', sa.String(64), primary_key=True),
        sa.Column('username', sa.String(64), sa.ForeignKey('users.username'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('password_epoch', sa.Integer(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('ended_reason', sa.String(20), nullable=True),
    )
    op.create_index('ix_user_sessions_username', 'user_sessions', ['username'])
    op.create_table(
        'login_tickets',
        sa.Column('ticket_hash', sa.String(64), primary_key=True),
        sa.Column('username', sa.String(64), sa.ForeignKey('users.username'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'login_throttle',
        sa.Column('key_hash', sa.String(64), primary_key=True),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure', sa.DateTime(), nullable=True),
        sa.Column('not_before', sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    op.drop_table('login_tickets')
    op.drop_index('ix_user_sessions_username', 'user_sessions')
    op.drop_table('user_sessions')
    with op.batch_alter_table('users') as b:
        b.drop_constraint('fk_users_area', type_='foreignkey')
        b.drop_column('password_epoch')
        b.drop_column('team')
        b.drop_column('area_code')
