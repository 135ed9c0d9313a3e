"""Tests that kill an import: wait until PostgreSQL has ended the killed process's session
(its advisory import lock) before the next step."""

from sqlalchemy import text

from healthmap import importlock


def wait_until_free(engine) -> None:
    """PostgreSQL: block until the server has ended the holder's session (a blocking take
    of the same advisory lock, bounded by lock_timeout), then let it go again. SQLite:
    nothing to wait for."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as c:
        c.execute(text("SET lock_timeout = '60s'"))
        c.execute(text(f"SELECT pg_advisory_lock({importlock.IMPORT_LOCK_KEY})"))
        c.execute(text(f"SELECT pg_advisory_unlock({importlock.IMPORT_LOCK_KEY})"))
        c.rollback()
