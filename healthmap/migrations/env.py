"""Alembic environment: runs against the connection HealthMap hands over (see db.upgrade),
or against HEALTHMAP_DATABASE_URL when alembic is called from the command line."""

from alembic import context
from sqlalchemy import create_engine

from healthmap.config import database_url
from healthmap.models import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(database_url())
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    context.run_migrations()


run()
