"""Staff accounts, roles, page access, and the append-only audit log.

Passwords are hashed with argon2id (argon2-cffi). Five failed logins lock an account for
15 minutes. Which role may open which page is declared in :data:`PAGE_ROLES`; the UI shows
only the pages a role may open and refuses the others with a login prompt.
"""

from __future__ import annotations

import datetime as dt
import re


from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from healthmap import access, pagespec
from healthmap.audit import record
from healthmap.models import User

ROLES, ROLE_LABELS, PUBLIC = access.ROLES, access.ROLE_LABELS, access.PUBLIC
can_open = pagespec.can_open

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TIMEOUT = dt.timedelta(minutes=30)
_COMMON = {"password", "12345678", "123456789", "1234567890", "qwertyuiop", "admin123456",
           "password123", "iloveyou", "11111111", "88888888", "abc123456", "a123456789"}

# Demo accounts (README states them; the demo banner marks them demo-only).
DEMO_PASSWORD = "Demo-2024-healthmap"
DEMO_USERS = {role: f"demo_{role}" for role in ROLES}

_hasher = PasswordHasher()


class AuthError(ValueError):
    pass


def password_problem(password: str) -> str | None:
    """Why a password is too weak, or ``None``: 10+ characters, 3 of 4 character classes,
    not a common password.

    >>> password_problem("short"), password_problem("Yuhuan-health-2024")
    ('at least 10 characters', None)
    """
    if len(password) < 10:
        return "at least 10 characters"
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^\w]"))
    if classes < 3:
        return "use 3 of: lower case, upper case, digits, symbols"
    if password.lower() in _COMMON:
        return "too common"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(engine: Engine, username: str, password: str, role: str, *, actor: str,
                demo: bool = False, check_strength: bool = True) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,64}", username):
        raise AuthError("username: 3-64 letters, digits, '_', '.', '-'")
    if check_strength and (problem := password_problem(password)):
        raise AuthError(f"weak password: {problem}")
    with Session(engine) as s, s.begin():
        if s.get(User, username):
            raise AuthError(f"user {username} exists")
        s.add(User(username=username, password_hash=hash_password(password), role=role,
                   active=True, demo=demo, failed_logins=0, created_at=dt.datetime.now()))
        record(s, actor, "user_add", username, f"role={role}")


def set_active(engine: Engine, username: str, active: bool, *, actor: str) -> None:
    with Session(engine) as s, s.begin():
        user = s.get(User, username)
        if user is None:
            raise AuthError(f"no user {username}")
        user.active = active
        record(s, actor, "user_enable" if active else "user_disable", username)


def set_role(engine: Engine, username: str, role: str, *, actor: str) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    with Session(engine) as s, s.begin():
        user = s.get(User, username)
        if user is None:
            raise AuthError(f"no user {username}")
        user.role = role
        record(s, actor, "user_role", username, f"role={role}")


def reset_password(engine: Engine, username: str, password: str, *, actor: str) -> None:
    if problem := password_problem(password):
        raise AuthError(f"weak password: {problem}")
    with Session(engine) as s, s.begin():
        user = s.get(User, username)
        if user is None:
            raise AuthError(f"no user {username}")
        user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        record(s, actor, "user_password_reset", username)


def list_users(engine: Engine) -> list[dict]:
    with Session(engine) as s:
        return [dict(username=u.username, role=u.role, active=u.active, demo=u.demo,
                     locked_until=u.locked_until, failed_logins=u.failed_logins)
                for u in s.scalars(select(User).order_by(User.username))]


def authenticate(engine: Engine, username: str, password: str,
                 now: dt.datetime | None = None) -> tuple[dict | None, str]:
    """Check a login. Returns ``(user, "ok")`` or ``(None, reason)`` with reason one of
    ``invalid`` (unknown user or wrong password: the same answer for both), ``locked``,
    ``disabled``. Every attempt is audited."""
    now = now or dt.datetime.now()
    with Session(engine) as s, s.begin():
        user = s.get(User, username)
        if user is None:
            verify_password(_DUMMY_HASH, password)  # same work as a real check
            record(s, username[:64], "login_failed", detail="invalid")
            return None, "invalid"
        if user.locked_until and user.locked_until > now:
            record(s, username, "login_failed", detail="locked")
            return None, "locked"
        if not verify_password(user.password_hash, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
                record(s, username, "account_locked")
            record(s, username, "login_failed", detail="invalid")
            return None, "invalid"
        if not user.active:
            record(s, username, "login_failed", detail="disabled")
            return None, "disabled"
        user.failed_logins = 0
        user.locked_until = None
        record(s, username, "login", role=user.role)
        return dict(username=user.username, role=user.role, demo=user.demo), "ok"


def user_for_sso(engine: Engine, subject: str) -> dict | None:
    """The active account mapped to an OpenID Connect identity (email or subject)."""
    with Session(engine) as s:
        user = s.scalars(select(User).where(User.sso_subject == subject)).first()
        if user is None or not user.active:
            return None
        return dict(username=user.username, role=user.role, demo=user.demo)


def ensure_admin(engine: Engine, username: str, password: str) -> None:
    with Session(engine) as s:
        exists = s.get(User, username) is not None
    if exists:
        reset_password(engine, username, password, actor="init")
        set_role(engine, username, "admin", actor="init")
    else:
        create_user(engine, username, password, "admin", actor="init")


def ensure_demo_accounts(engine: Engine) -> list[str]:
    """One demo account per role (password :data:`DEMO_PASSWORD`), for demo databases only."""
    made = []
    with Session(engine) as s:
        have = set(s.scalars(select(User.username)))
    for role, name in DEMO_USERS.items():
        if name not in have:
            create_user(engine, name, DEMO_PASSWORD, role, actor="demo", demo=True)
            made.append(name)
    return made


_DUMMY_HASH = _hasher.hash("not-a-real-password-0")
