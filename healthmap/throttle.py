"""Growing delays after failed attempts, instead of lock-outs.

A failed login (or public look-up) records a failure against keys: the account (or ID
number) and the client. The next attempt on a key must wait ``delay(failures)``: nothing
for the first few failures, then doubling up to a cap. Nobody can lock anyone out — a
correct password still works after the wait — but guessing becomes slow. Keys are stored
as keyed hashes (HMAC with the database's key), so the table reveals no user names,
addresses or ID numbers. A success clears the key's failures. No streamlit here.

Examples
--------
>>> [delay(n, cap=60) for n in (0, 3, 4, 5, 6, 10)]
[0.0, 0.0, 1.0, 2.0, 4.0, 60.0]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from healthmap.models import LoginThrottle

FREE_FAILURES = 3  # failures before any delay
CAPS = {"account": 30.0, "client": 300.0}  # staff logins; the public look-up has its own


def delay(failures: int, cap: float = 300.0, free: int = FREE_FAILURES) -> float:
    """Seconds to wait before the next attempt after ``failures`` failures."""
    if failures <= free:
        return 0.0
    return float(min(cap, 2 ** (failures - free - 1)))


def key_hash(secret: bytes, kind: str, value: str) -> str:
    """Keyed hash of a throttle key (the value itself is never stored)."""
    return hmac.new(secret, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def wait_seconds(bind: Engine | Session, hashes: dict[str, str],
                 now: dt.datetime | None = None) -> float:
    """How long the next attempt must wait: the longest wait over the given keys
    (``{kind: key_hash}``). ``bind``: an Engine, or a Session to read inside its
    transaction (after taking a lock, so that parallel attempts see each other)."""
    now = now or dt.datetime.now()
    stmt = select(LoginThrottle).where(LoginThrottle.key_hash.in_(list(hashes.values())))
    if isinstance(bind, Session):
        rows = bind.scalars(stmt).all()
    else:
        with Session(bind) as s:
            rows = s.scalars(stmt).all()
    waits = [(r.not_before - now).total_seconds() for r in rows
             if r.not_before is not None and r.not_before > now]
    return max(waits, default=0.0)


def failed(session: Session, hashes: dict[str, str], now: dt.datetime | None = None) -> None:
    """Record one failure for each key (inside the caller's transaction)."""
    now = now or dt.datetime.now()
    for kind, h in hashes.items():
        row = session.get(LoginThrottle, h)
        if row is None:
            row = LoginThrottle(key_hash=h, kind=kind, failures=0)
            session.add(row)
        row.failures = (row.failures or 0) + 1
        row.last_failure = now
        row.not_before = now + dt.timedelta(seconds=delay(row.failures, CAPS.get(kind, 300)))


def succeeded(session: Session, hashes: dict[str, str]) -> None:
    """Clear the failures of these keys (a correct attempt)."""
    for h in hashes.values():
        row = session.get(LoginThrottle, h)
        if row is not None:
            session.delete(row)


def recent(engine: Engine, kind: str | None = None, limit: int = 200,
           full: bool = False) -> list[dict]:
    """Keys with failures, newest first (for the administrator's view); ``full`` adds
    the whole key hash (``key_full``) so a caller can match known keys."""
    stmt = select(LoginThrottle).order_by(LoginThrottle.last_failure.desc()).limit(limit)
    if kind:
        stmt = stmt.where(LoginThrottle.kind == kind)
    with Session(engine) as s:
        return [dict(key=r.key_hash[:12], kind=r.kind, failures=r.failures,
                     last_failure=r.last_failure, not_before=r.not_before,
                     **({"key_full": r.key_hash} if full else {}))
                for r in s.scalars(stmt)]
