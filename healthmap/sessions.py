"""Server-side login sessions that survive a reload, a typed URL and a new tab.

How it works (the README's "Sessions" section says the same for operators):

1. A successful login in the app issues a one-time **ticket** (random, valid 60 s, stored
   only as its SHA-256) and sends the browser to ``/api/session?ticket=…``.
2. That route (``web.py``) redeems the ticket: it creates a **session** with a new random
   token (256 bits), stores only the token's SHA-256, and sets the token as a cookie that
   is ``HttpOnly`` (page scripts cannot read it) and ``SameSite=Strict`` (other sites
   cannot send it), then redirects to the user's landing page.
3. Every run of the app reads the cookie from the websocket handshake
   (``st.context.cookies``) and :func:`validate`s it: the session must exist, not be
   ended, be younger than 12 h (absolute expiry), have been used in the last 30 minutes
   (idle timeout), belong to an active account whose password has not been reset since.
4. Logout ends the session row; every other tab using it gets the login page on its next
   interaction. Disabling an account or resetting its password ends all its sessions.

A copy of the database does not let anyone log in (only hashes are stored); a stolen
ticket is useless after its first use or one minute. No streamlit here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from healthmap.models import LoginTicket, User, UserSession

COOKIE = "hm_session"
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
TICKET_TTL = dt.timedelta(seconds=60)
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen is written at most once a minute


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_ticket(engine: Engine, username: str, now: dt.datetime | None = None) -> str:
    """A one-time ticket for ``username`` (call only after a successful login)."""
    now = now or dt.datetime.now()
    ticket = secrets.token_urlsafe(32)
    with Session(engine) as s, s.begin():
        s.add(LoginTicket(ticket_hash=_hash(ticket), username=username, created_at=now,
                          expires_at=now + TICKET_TTL))
    return ticket


def redeem_ticket(engine: Engine, ticket: str, now: dt.datetime | None = None) -> str | None:
    """Exchange a valid, unused ticket for a new session token (``None`` if invalid)."""
    now = now or dt.datetime.now()
    with Session(engine) as s, s.begin():
        # one UPDATE marks it used: a second redemption (even concurrent) finds no row
        used = s.execute(update(LoginTicket).where(
            LoginTicket.ticket_hash == _hash(ticket), LoginTicket.used_at.is_(None),
            LoginTicket.expires_at > now).values(used_at=now))
        if used.rowcount != 1:
            return None
        ticket_row = s.get(LoginTicket, _hash(ticket))
        user = s.get(User, ticket_row.username)
        if user is None or not user.active:
            return None
        token = secrets.token_urlsafe(32)
        s.add(UserSession(token_hash=_hash(token), username=user.username, created_at=now,
                          last_seen=now, expires_at=now + ABSOLUTE,
                          password_epoch=user.password_epoch or 0))
    return token


def validate(engine: Engine, token: str | None, now: dt.datetime | None = None
             ) -> tuple[dict | None, str]:
    """The user of a session token, or ``(None, reason)``: ``none``, ``unknown``,
    ``ended``, ``expired``, ``idle``, ``account``."""
    if not token:
        return None, "none"
    now = now or dt.datetime.now()
    with Session(engine) as s:
        row = s.get(UserSession, _hash(token))
        if row is None:
            return None, "unknown"
        if row.ended_at is not None:
            return None, "ended"
        user = s.get(User, row.username)
        reason = ("expired" if now >= row.expires_at else
                  "idle" if now - row.last_seen > IDLE else
                  "account" if user is None or not user.active
                  or (user.password_epoch or 0) != row.password_epoch else "")
        if reason:
            end_session(engine, token, reason, now)
            return None, reason
        found = dict(username=user.username, role=user.role, demo=user.demo,
                     area_code=user.area_code, team=user.team, token_hash=row.token_hash)
        stale = now - row.last_seen >= TOUCH_EVERY
    if stale:
        with Session(engine) as s, s.begin():
            s.execute(update(UserSession).where(UserSession.token_hash == _hash(token))
                      .values(last_seen=now))
    return found, "ok"


def end_session(engine: Engine, token: str, reason: str = "logout",
                now: dt.datetime | None = None) -> None:
    """End one session (logout, timeout)."""
    end_by_hash(engine, _hash(token), reason, now)


def end_by_hash(engine: Engine, token_hash: str, reason: str = "logout",
                now: dt.datetime | None = None) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(UserSession).where(UserSession.token_hash == token_hash,
                                            UserSession.ended_at.is_(None))
                  .values(ended_at=now or dt.datetime.now(), ended_reason=reason[:20]))


def end_all(session: Session, username: str, reason: str) -> None:
    """End every open session of ``username`` (inside the caller's transaction)."""
    session.execute(update(UserSession).where(UserSession.username == username,
                                              UserSession.ended_at.is_(None))
                    .values(ended_at=dt.datetime.now(), ended_reason=reason[:20]))
