"""episodes leave the database: the episode store (Parquet files, healthmap.store) becomes
their system of record (decisions §1). Upgrade writes every held episode into the store at
the database's episode version (unless the store already holds exactly those rows), then
drops the table; downgrade re-creates the table from the store.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_COLUMNS = ["record_id", "person_id", "area_code", "icd10", "icd3", "date", "year", "month",
            "setting", "institution_code", "total_cost", "fund_paid", "insurance_type",
            "referral", "sex", "age", "age_group"]
_CHUNK = 250_000


def _rows(bind):
    """The table's rows as Arrow tables of the store's columns, a chunk at a time."""
    from healthmap.store.layout import to_arrow

    cursor = bind.exec_driver_sql(f"SELECT {', '.join(_COLUMNS)} FROM episodes",
                                  execution_options={"stream_results": True})
    try:
        while rows := cursor.fetchmany(_CHUNK):
            yield to_arrow(dict(zip(_COLUMNS, zip(*[tuple(r) for r in rows]))))
    finally:
        cursor.close()


def upgrade() -> None:
    bind = op.get_bind()
    per_year = dict(bind.exec_driver_sql(
        "SELECT year, count(*) FROM episodes GROUP BY year").all())
    if per_year:
        from healthmap.store.layout import engine_store_dir
        from healthmap.store.sync import episodes_version, settle
        from healthmap.store.writer import StoreWriter

        root = engine_store_dir(bind)
        version = episodes_version(bind)
        writer = StoreWriter(root)
        try:
            settle(root, version)
            base = writer.base
            held = base is not None and base.data_version == version and {
                int(y): int(v["rows"]) for y, v in base.years.items()} == {
                int(y): int(n) for y, n in per_year.items()} and all(
                (root / f).exists() for f in base.files())
            if held:
                writer.discard()
            else:
                writer.discard()
                writer = StoreWriter(root, fresh=True)
                for table in _rows(bind):
                    writer.append(table)
                writer.build()
                writer.publish(version)
        finally:
            writer.discard()
    op.drop_table('episodes')  # its indexes go with it


def downgrade() -> None:
    table = op.create_table(
        'episodes',
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('area_code', sa.String(length=32), nullable=False),
        sa.Column('icd10', sa.String(length=16), nullable=False),
        sa.Column('icd3', sa.String(length=3), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('month', sa.Integer(), nullable=False),
        sa.Column('setting', sa.String(length=12), nullable=False),
        sa.Column('institution_code', sa.String(length=64), nullable=False),
        sa.Column('total_cost', sa.Float(), nullable=False),
        sa.Column('fund_paid', sa.Float(), nullable=True),
        sa.Column('insurance_type', sa.String(length=12), nullable=False),
        sa.Column('referral', sa.Boolean(), nullable=True),
        sa.Column('sex', sa.String(length=1), nullable=False),
        sa.Column('age', sa.Integer(), nullable=True),
        sa.Column('age_group', sa.String(length=8), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['area_code'], ['areas.code'], ),
        sa.ForeignKeyConstraint(['import_id'], ['import_log.id'], ),
        sa.ForeignKeyConstraint(['institution_code'], ['institutions.code'], ),
        sa.PrimaryKeyConstraint('record_id'))
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episodes_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_year'), ['year'], unique=False)
    op.create_index('ix_episodes_record_id_lower', 'episodes', [sa.text('lower(record_id)')])
    bind = op.get_bind()
    from healthmap.store.layout import engine_store_dir, read_manifest

    root = engine_store_dir(bind)
    manifest = read_manifest(root)
    if manifest is None or not manifest.files():
        return
    import duckdb

    from healthmap.db import bulk_insert

    files = ", ".join("'" + str(root / f).replace("'", "''") + "'" for f in manifest.files())
    db = duckdb.connect()
    try:
        frame = db.execute(
            "SELECT record_id, person_id, area_code, icd10, icd3, date, year, month, setting, "
            "institution_code, total_cost_fen / 100.0 AS total_cost, "
            "fund_paid_fen / 100.0 AS fund_paid, insurance_type, referral, sex, age, age_group "
            f"FROM read_parquet([{files}], hive_partitioning = true, "
            "hive_types = {'year': INTEGER})").df()
    finally:
        db.close()
    frame["date"] = frame["date"].dt.date
    for c in ("fund_paid", "referral", "age"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    frame["age"] = frame["age"].map(lambda v: None if v is None else int(v))
    bulk_insert(bind, table, frame)
