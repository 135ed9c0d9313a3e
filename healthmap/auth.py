"""Staff accounts: passwords, logins that cannot be abused, account administration, demo
accounts.

* Passwords are hashed with argon2id (argon2-cffi) and chosen by NIST SP 800-63B rules
  (:func:`password_problem`): a minimum length, no composition rules, and a check against
  common and breached passwords and context words (zxcvbn's frequency lists and
  pattern matching, with the user name, product and county names and the published demo
  password as context).
* Failed logins slow the next attempt on the account and from the client
  (:mod:`healthmap.throttle`); nobody is ever locked out. Unknown user, wrong password,
  disabled account and a delayed attempt give the same answer after the same work (an
  argon2 verification). The audit log keeps the user name of a failed login only when it
  is a real account (otherwise a keyed hash), so a password typed into the name box is
  never stored.
* Page access is declared in :mod:`healthmap.pagespec`; actions in :mod:`healthmap.access`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from healthmap import access, pagespec, sessions, throttle
from healthmap.access import Actor
from healthmap.audit import record
from healthmap.models import User

ROLES, ROLE_LABELS, PUBLIC = access.ROLES, access.ROLE_LABELS, access.PUBLIC
can_open = pagespec.can_open
SESSION_TIMEOUT = sessions.IDLE
MIN_LENGTH, MAX_LENGTH = 10, 128

# Demo accounts: only in a demo database (see :func:`healthmap.db.is_demo`).
DEMO_PASSWORD = "Demo-2024-healthmap"
DEMO_USERS = {role: f"demo_{role}" for role in ROLES}
CONTEXT_WORDS = ("healthmap", "health", "map", "yuhuan", "玉环", "健康地图", "taizhou",
                 "zhejiang", "admin", "demo", DEMO_PASSWORD)

_hasher = PasswordHasher()


class AuthError(ValueError):
    pass


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password may not be used, or ``None`` (NIST SP 800-63B §5.1.1.2).

    At least 10 characters (at most 128); not the demo password; not guessable by zxcvbn
    (score 3 or more, i.e. about 10^8 guesses) with the user name and the product and
    county names as context. No rules about character classes.

    >>> password_problem("short"), password_problem("Qwerty12345")
    ('at least 10 characters', 'too easy to guess (common word, name or pattern)')
    >>> password_problem("Yuhuan-health-2024"), password_problem(DEMO_PASSWORD)
    ('too close to the product, county or user name', 'the published demo password cannot be used')
    >>> password_problem("tide-lantern-47-orchid") is None
    True
    """
    from zxcvbn import zxcvbn

    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    if password == DEMO_PASSWORD:
        return "the published demo password cannot be used"
    if len(username) >= 3 and username.lower() in password.lower():
        return "must not contain the user name"
    context = [w for w in (*CONTEXT_WORDS, username) if w]
    rest = password.lower()
    for word in sorted(context, key=len, reverse=True):
        rest = rest.replace(word.lower(), "")
    if sum(ch.isalpha() for ch in rest) < 4:  # e.g. Yuhuan-health-2024
        return "too close to the product, county or user name"
    if zxcvbn(password, user_inputs=context)["score"] < 3:
        return "too easy to guess (common word, name or pattern)"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def throttle_keys(engine: Engine, username: str, client: str | None) -> dict[str, str]:
    """The throttle keys of a login attempt: the account name and, if known, the client."""
    from healthmap.config import engine_key

    secret = engine_key(engine)
    keys = {"account": throttle.key_hash(secret, "account", username.strip().lower())}
    if client:
        keys["client"] = throttle.key_hash(secret, "client", client)
    return keys


def _acting(actor: Actor | str) -> Actor:
    """The actor of an account change, checked for ``users.manage``. A plain name is a
    system process (``init``, ``demo``) acting as administrator: only code passes one;
    pages pass ``Actor.from_user`` and the CLI ``Actor.cli``."""
    who = actor if isinstance(actor, Actor) else Actor(actor, "admin")
    access.require(who, "users.manage")
    return who


def create_user(engine: Engine, username: str, password: str, role: str, *,
                actor: Actor | str, demo: bool = False, check_strength: bool = True,
                area_code: str | None = None, team: str | None = None) -> None:
    """Add a staff account (``area_code``/``team``: optional township / family-doctor
    team scope). ``actor`` must be allowed ``users.manage``."""
    who = _acting(actor)
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,64}", username):
        raise AuthError("username: 3-64 letters, digits, '_', '.', '-'")
    if check_strength and (problem := password_problem(password, username)):
        raise AuthError(f"weak password: {problem}")
    if demo is False and username in DEMO_USERS.values():
        raise AuthError("demo_* names are reserved for demo databases")
    with Session(engine) as s, s.begin():
        if s.get(User, username):
            raise AuthError(f"user {username} exists")
        if area_code:
            from healthmap.models import Area

            if s.get(Area, area_code) is None:
                raise AuthError(f"unknown area code {area_code}")
        s.add(User(username=username, password_hash=hash_password(password), role=role,
                   active=True, demo=demo, failed_logins=0, created_at=dt.datetime.now(),
                   area_code=area_code or None, team=team or None, password_epoch=0))
        record(s, who.username, "user_add", username,
               f"role={role}" + (f" area={area_code}" if area_code else ""), role=who.role)


def _change(engine: Engine, username: str, actor: Actor | str, action: str, apply) -> None:
    who = _acting(actor)
    with Session(engine) as s, s.begin():
        user = s.get(User, username)
        if user is None:
            raise AuthError(f"no user {username}")
        apply(user)
        if action in ("user_disable", "user_password_reset"):
            user.password_epoch = (user.password_epoch or 0) + 1
            sessions.end_all(s, username, action.removeprefix("user_"))
        record(s, who.username, action, username, f"role={user.role}", role=who.role)


def set_active(engine: Engine, username: str, active: bool, *, actor: Actor | str) -> None:
    """Enable or disable an account (disabling ends its sessions)."""
    _change(engine, username, actor, "user_enable" if active else "user_disable",
            lambda u: setattr(u, "active", active))


def set_role(engine: Engine, username: str, role: str, *, actor: Actor | str) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    _change(engine, username, actor, "user_role", lambda u: setattr(u, "role", role))


def reset_password(engine: Engine, username: str, password: str, *, actor: Actor | str,
                   check_strength: bool = True) -> None:
    """Set a new password (ends the account's sessions)."""
    if check_strength and (problem := password_problem(password, username)):
        raise AuthError(f"weak password: {problem}")
    _change(engine, username, actor, "user_password_reset",
            lambda u: setattr(u, "password_hash", hash_password(password)))


def list_users(engine: Engine) -> list[dict]:
    with Session(engine) as s:
        return [dict(username=u.username, role=u.role, active=u.active, demo=u.demo,
                     area_code=u.area_code, team=u.team)
                for u in s.scalars(select(User).order_by(User.username))]


def failures_by_account(engine: Engine) -> list[dict]:
    """Accounts with recent failed logins and the wait now imposed on them."""
    by_hash = {throttle_keys(engine, u["username"], None)["account"]: u["username"]
               for u in list_users(engine)}
    return [dict(username=by_hash[r["key_full"]], failures=r["failures"],
                 last_failure=r["last_failure"], wait_until=r["not_before"])
            for r in throttle.recent(engine, "account", full=True) if r["key_full"] in by_hash]


def authenticate(engine: Engine, username: str, password: str, client: str | None = None,
                 now: dt.datetime | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[dict | None, str]:
    """Check a login: ``(user, "ok")`` or ``(None, "invalid")``.

    Waits first as long as the throttle asks (per account and per client); then always
    does one argon2 verification. Unknown user, wrong password, disabled account and a
    demo account outside a demo database all answer ``invalid``. Audited.
    """
    from healthmap.db import is_demo

    name = username.strip()
    keys = throttle_keys(engine, name, client)
    wait = throttle.wait_seconds(engine, keys, now)
    if wait > 0:
        sleep(wait)
    now = now + dt.timedelta(seconds=wait) if now else dt.datetime.now()
    demo_db = is_demo(engine)
    with Session(engine) as s, s.begin():
        user = s.get(User, name) if name else None
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        allowed = (user is not None and ok and user.active and (demo_db or not user.demo))
        if not allowed:
            throttle.failed(s, keys, now)
            actor = user.username if user else "unknown:" + keys["account"][:12]
            why = ("disabled" if user is not None and ok and not user.active else
                   "demo_account" if user is not None and ok else "invalid")
            record(s, actor, "login_failed", detail=why, role=user.role if user else None)
            return None, "invalid"
        throttle.succeeded(s, {"account": keys["account"]})
        record(s, user.username, "login", role=user.role)
        return (dict(username=user.username, role=user.role, demo=user.demo,
                     area_code=user.area_code, team=user.team), "ok")


def actor_of(user: dict | None) -> Actor:
    return Actor.from_user(user)


def user_for_sso(engine: Engine, subject: str) -> dict | None:
    """The active account mapped to an OpenID Connect identity (email or subject)."""
    with Session(engine) as s:
        user = s.scalars(select(User).where(User.sso_subject == subject)).first()
        if user is None or not user.active:
            return None
        return dict(username=user.username, role=user.role, demo=user.demo,
                    area_code=user.area_code, team=user.team)


def ensure_admin(engine: Engine, username: str, password: str) -> None:
    with Session(engine) as s:
        exists = s.get(User, username) is not None
    if exists:
        reset_password(engine, username, password, actor="init")
        set_role(engine, username, "admin", actor="init")
    else:
        create_user(engine, username, password, "admin", actor="init")


def ensure_demo_accounts(engine: Engine) -> list[str]:
    """One demo account per role (password :data:`DEMO_PASSWORD`), only in a demo
    database; refused elsewhere."""
    from healthmap.db import is_demo

    if not is_demo(engine):
        raise AuthError("demo accounts exist only in a demo database")
    made = []
    with Session(engine) as s:
        have = set(s.scalars(select(User.username)))
    for role, name in DEMO_USERS.items():
        if name not in have:
            create_user(engine, name, DEMO_PASSWORD, role, actor="demo", demo=True,
                        check_strength=False)
            made.append(name)
    return made


def disable_demo_accounts(session: Session) -> int:
    """Disable every demo account (when a demo database stops being one)."""
    n = 0
    for user in session.scalars(select(User).where(User.demo.is_(True), User.active.is_(True))):
        user.active = False
        user.password_epoch = (user.password_epoch or 0) + 1
        sessions.end_all(session, user.username, "demo_off")
        n += 1
    return n


_DUMMY_HASH = _hasher.hash("not-a-real-password-0")
