"""The append-only audit log: who did what, when (no personal data in it), chained so that
tampering shows.

The database refuses UPDATE and DELETE on ``audit_log`` (triggers installed by
:func:`healthmap.ledger.install_append_only`). Anyone holding the database file can still
drop the triggers, edit rows, insert forged rows or cut the tail. So every row carries
``row_hash`` = HMAC-SHA256 over its content and the previous row's hash, keyed with a key
derived from the database's secret (:mod:`healthmap.crypto`; the secret lives apart from
the data), and ``app_meta.audit_head`` holds a keyed seal of the last row. Without the key
nobody can recompute the chain after an edit; :func:`verify` (``python -m healthmap audit
verify``) names the first row that does not fit.

Appends are serialised so the chain stays linear: :func:`record` first takes the write
lock (an UPDATE of the head row), then reads the last hash, inserts, and moves the head,
all in one short transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from healthmap.models import AppMeta, AuditLog

HEAD_KEY = "audit_head"
_meta = AppMeta.__table__
_log = AuditLog.__table__


def _content(at: dt.datetime, actor, role, action, target, detail) -> bytes:
    stamp = at.isoformat(sep=" ", timespec="microseconds") if at is not None else None
    return json.dumps([stamp, actor, role, action, target, detail], ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def row_hash(key: bytes, previous: str | None, at, actor, role, action, target,
             detail) -> str:
    """The chain hash of one row.

    >>> t = dt.datetime(2025, 1, 1, 8, 0)
    >>> h = row_hash(b"k", "", t, "admin", "admin", "login", None, None)
    >>> len(h), h == row_hash(b"k", "", t, "admin", "admin", "login", None, "x")
    (64, False)
    """
    msg = (previous or "").encode("ascii") + b"\n" + _content(at, actor, role, action, target,
                                                                 detail)
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def head_seal(key: bytes, row_id: int, last_hash: str) -> str:
    """The value of ``app_meta.audit_head``: the last row's id and a keyed seal of it."""
    seal = hmac.new(key, f"head:{row_id}:{last_hash}".encode("ascii"), hashlib.sha256)
    return f"{row_id}:{seal.hexdigest()}"


def _key(bind) -> bytes:
    from healthmap import crypto

    return crypto.key_for(bind, "audit")


def _append(conn, values: dict) -> None:
    key = _key(conn)
    # the write lock first (before any read), so no other append can slip in between
    locked = conn.execute(update(_meta).where(_meta.c.key == HEAD_KEY)
                          .values(value=_meta.c.value)).rowcount
    if not locked:
        conn.execute(insert(_meta).values(key=HEAD_KEY, value=""))
    prev = conn.execute(select(_log.c.row_hash).order_by(_log.c.id.desc()).limit(1)).first()
    h = row_hash(key, prev[0] if prev else "", **values)
    new_id = conn.execute(insert(_log).values(**values, row_hash=h)).inserted_primary_key[0]
    conn.execute(update(_meta).where(_meta.c.key == HEAD_KEY)
                 .values(value=head_seal(key, new_id, h)))


def record(engine_or_session, actor: str, action: str, target: str | None = None,
           detail: str | None = None, role: str | None = None) -> None:
    """Append one audit entry. Never pass personal data (names, ID numbers) in ``detail``."""
    values = dict(at=dt.datetime.now(), actor=actor or "anonymous", role=role, action=action,
                  target=target, detail=detail)
    if isinstance(engine_or_session, Session):
        _append(engine_or_session.connection(), values)
        return
    with engine_or_session.begin() as conn:
        _append(conn, values)


@dataclass
class Verdict:
    """The result of :func:`verify`: ``broken_id`` is the first row that does not fit
    (``None`` when the chain holds); ``unchained`` counts rows written before the chain
    existed (migration without a key), which carry no proof."""

    rows: int
    broken_id: int | None = None
    reason: str = ""
    unchained: int = 0

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.reason


def verify(engine: Engine, batch: int = 5000) -> Verdict:
    """Recompute the chain from the first row; name the first row that breaks it."""
    key = _key(engine)
    prev, n, unchained, last_id, started = "", 0, 0, None, False
    cols = [_log.c.id, _log.c.at, _log.c.actor, _log.c.role, _log.c.action, _log.c.target,
            _log.c.detail, _log.c.row_hash]
    with engine.connect() as conn:
        head = conn.execute(select(_meta.c.value).where(_meta.c.key == HEAD_KEY)).scalar()
        after = 0
        while True:
            rows = conn.execute(select(*cols).where(_log.c.id > after).order_by(_log.c.id)
                                .limit(batch)).all()
            if not rows:
                break
            for r in rows:
                n += 1
                after = last_id = r.id
                if r.row_hash is None and not started:
                    unchained += 1
                    continue
                started = True
                want = row_hash(key, prev, r.at, r.actor, r.role, r.action, r.target, r.detail)
                if r.row_hash != want:
                    why = ("no hash" if r.row_hash is None else
                           "content or order changed, or row inserted or removed before it")
                    return Verdict(n, r.id, why, unchained)
                prev = r.row_hash
    if started and head != head_seal(key, last_id, prev):
        return Verdict(n, None, f"the log does not end where it was sealed (last row {last_id}"
                                f"; rows cut from the end, or the head edited)", unchained)
    if not started and head:
        return Verdict(n, None, "the sealed rows are gone (rows cut from the end)", unchained)
    return Verdict(n, None, "", unchained)


def seal_existing(conn, key: bytes) -> int:
    """Chain the rows already in the log (migration 0008); returns how many."""
    prev, last_id = "", None
    rows = conn.execute(select(_log.c.id, _log.c.at, _log.c.actor, _log.c.role, _log.c.action,
                               _log.c.target, _log.c.detail).order_by(_log.c.id)).all()
    for r in rows:
        prev = row_hash(key, prev, r.at, r.actor, r.role, r.action, r.target, r.detail)
        conn.execute(update(_log).where(_log.c.id == r.id).values(row_hash=prev))
        last_id = r.id
    conn.execute(insert(_meta).values(key=HEAD_KEY, value=head_seal(key, last_id, prev)
                                      if last_id is not None else ""))
    return len(rows)


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


def actions(engine: Engine) -> list[str]:
    """The actions the log holds (for the administrator's filter), sorted."""
    with engine.connect() as conn:
        return sorted(conn.scalars(select(AuditLog.action).distinct()).all())
