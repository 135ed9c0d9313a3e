"""The append-only audit log: who did what, when (no personal data in it).

The database refuses UPDATE and DELETE on ``audit_log`` (triggers installed by
:func:`healthmap.ledger.install_append_only`).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from healthmap.models import AuditLog


def record(engine_or_session, actor: str, action: str, target: str | None = None,
           detail: str | None = None, role: str | None = None) -> None:
    """Append one audit entry. Never pass personal data (names, ID numbers) in ``detail``."""
    values = dict(at=dt.datetime.now(), actor=actor or "anonymous", role=role, action=action,
                  target=target, detail=detail)
    if isinstance(engine_or_session, Session):
        engine_or_session.execute(insert(AuditLog).values(**values))
        return
    with engine_or_session.begin() as conn:
        conn.execute(insert(AuditLog).values(**values))


AUDIT_COLUMNS = ["id", "at", "actor", "role", "action", "target", "detail"]


def search_audit(engine: Engine, text: str | None = None, action: str | None = None,
                 since: dt.date | None = None, until: dt.date | None = None,
                 limit: int = 5000) -> pd.DataFrame:
    """Audit entries, newest first: ``text`` matches actor, action, target or detail
    (case-insensitive substring); ``since``/``until`` are inclusive dates."""
    stmt = select(*(getattr(AuditLog, c) for c in AUDIT_COLUMNS)).order_by(
        AuditLog.id.desc()).limit(limit)
    if text:
        like = f"%{text.strip()}%"
        stmt = stmt.where(AuditLog.actor.ilike(like) | AuditLog.action.ilike(like)
                          | AuditLog.target.ilike(like) | AuditLog.detail.ilike(like))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if since:
        stmt = stmt.where(AuditLog.at >= dt.datetime.combine(since, dt.time.min))
    if until:
        stmt = stmt.where(AuditLog.at < dt.datetime.combine(until + dt.timedelta(days=1),
                                                            dt.time.min))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


