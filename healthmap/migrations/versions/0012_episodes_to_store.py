"""episodes and their summaries leave the database: the episode store (Parquet files,
healthmap.store) becomes their system of record (decisions §1-2). Upgrade writes every held
episode into the store and builds each year's roll-ups from them (money exact, in fen),
prepared at a new store version set in this transaction (readers read it as live once
the migration has committed; ``healthmap.db.upgrade`` then makes it ``manifest.json``),
then drops the tables ``episodes``, ``summary_cells``, ``summary_areas``,
``summary_institutions``; downgrade re-creates them from the store.

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


SUMMARY_TABLES = {"summary_cells": "cells", "summary_areas": "areas",
                  "summary_institutions": "institutions"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT count(*) FROM episodes").scalar():
        from healthmap import summary
        from healthmap.store.layout import engine_store_dir
        from healthmap.store.sync import prepare
        from healthmap.store.writer import StoreWriter

        writer = StoreWriter(engine_store_dir(bind), fresh=True)
        try:
            for table in _rows(bind):
                writer.append(table)
            writer.build()
            icd3_group, in_county = summary.lookups(bind)
            for year in sorted(writer.years):
                rows = writer.year_frame(year, summary.EPISODE_COLS)
                writer.add_rollups(year, summary.summarise_year(rows, year, icd3_group,
                                                                in_county))
            prepare(writer, bind)  # readable once this migration's transaction has committed
            writer.release()
        except BaseException:
            writer.discard()
            raise
    for name in SUMMARY_TABLES:
        op.drop_table(name)
    op.drop_table('episodes')  # indexes go with the tables


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
    summaries = _summary_tables()
    bind = op.get_bind()
    from healthmap.store.layout import engine_store_dir
    from healthmap.store.sync import manifest_at, store_version

    root = engine_store_dir(bind)
    manifest = manifest_at(root, store_version(bind))
    if manifest is None or not manifest.episode_files():
        return
    import duckdb

    from healthmap.db import bulk_insert

    files = ", ".join("'" + str(root / f).replace("'", "''") + "'"
                      for f in manifest.episode_files())
    db = duckdb.connect()
    try:
        frame = db.execute(
            "SELECT record_id, person_id, area_code, icd10, icd3, date, year, month, setting, "
            "institution_code, total_cost_fen / 100.0 AS total_cost, "
            "fund_paid_fen / 100.0 AS fund_paid, insurance_type, referral, sex, age, age_group "
            f"FROM read_parquet([{files}], hive_partitioning = true, "
            "hive_types = {'year': INTEGER})").df()
        frame["date"] = frame["date"].dt.date
        for c in ("fund_paid", "referral", "age"):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
        frame["age"] = frame["age"].map(lambda v: None if v is None else int(v))
        bulk_insert(bind, table, frame)
        for name, rollup in SUMMARY_TABLES.items():
            cols = [c.name for c in summaries[name].columns if c.name != "id"]
            files = ", ".join("'" + str(root / f).replace("'", "''") + "'"
                              for f in manifest.rollup_files(rollup))
            if not files:
                continue
            exprs = {"cost_sum": "CAST(cost_sum_fen AS DOUBLE) / 100",
                     "fund_sum": "CAST(fund_sum_fen AS DOUBLE) / 100",
                     "cost_sq_sum": "CAST(cost_sq_sum_fen2 AS DOUBLE) / 10000"}
            select = ", ".join(f"{exprs.get(c, c)} AS {c}" for c in cols)
            rows = db.execute(f"SELECT {select} FROM read_parquet([{files}], "
                              "hive_partitioning = true, hive_types = {'year': INTEGER})").df()
            bulk_insert(bind, summaries[name], rows)
    finally:
        db.close()


def _summary_tables() -> dict:
    """Re-create the three summary tables as migration 0003 left them."""
    def measures():
        return [sa.Column(c, sa.Float() if c.endswith("_sum") else sa.Integer(), nullable=False)
                for c in ("episodes", "new_cases", "persons", "referrals", "cost_sum",
                          "cost_sq_sum", "fund_sum", "fund_n")]
    types = {"year": sa.Integer(), "month": sa.Integer(), "area_code": sa.String(32),
             "sex": sa.String(1), "age_group": sa.String(8), "icd3": sa.String(3),
             "setting": sa.String(12), "in_county": sa.Boolean(),
             "insurance_type": sa.String(12), "institution_code": sa.String(64)}
    dims = {"summary_cells": ["year", "month", "area_code", "sex", "age_group", "icd3",
                              "setting", "in_county", "insurance_type"],
            "summary_areas": ["year", "area_code", "sex", "age_group", "setting", "in_county"],
            "summary_institutions": ["year", "month", "area_code", "icd3", "setting",
                                     "institution_code", "sex", "age_group",
                                     "insurance_type"]}
    out = {}
    for name, keys in dims.items():
        cols = measures() if name != "summary_institutions" else [
            sa.Column("episodes", sa.Integer(), nullable=False),
            sa.Column("cost_sum", sa.Float(), nullable=False),
            sa.Column("fund_sum", sa.Float(), nullable=False)]
        out[name] = op.create_table(
            name, sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            *[sa.Column(k, types[k], nullable=False) for k in keys], *cols,
            sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_summary_cells_year_area', 'summary_cells', ['year', 'area_code'])
    op.create_index('ix_summary_cells_year_icd3', 'summary_cells', ['year', 'icd3'])
    op.create_index('ix_summary_areas_year_area', 'summary_areas', ['year', 'area_code'])
    op.create_index('ix_summary_inst_year_area', 'summary_institutions', ['year', 'area_code'])
    return out
