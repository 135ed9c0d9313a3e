"""SQLAlchemy 2.0 typed models: the whole schema in one place.

Schema changes go through alembic migrations in ``healthmap/migrations`` so an existing
database upgrades without losing data. Nothing here is SQLite-only.

Coded values (kept short and language-neutral; the UI translates them):

* ``sex``: ``M``, ``F``, ``U`` (unknown); population rows use ``T`` for "all sexes".
* ``age_group``: ``0-4`` … ``80-84``, ``85+``; ``unknown`` on episodes, ``all`` on
  population rows without an age split.
* ``setting``: ``inpatient`` / ``outpatient``.
* ``insurance_type``: ``employee`` (职工), ``resident`` (城乡居民), ``self_pay`` (自费),
  ``unknown``.
* institution ``level``: ``primary`` (基层), ``secondary`` (二级), ``tertiary`` (三级).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Area(Base):
    """County, township (乡镇/街道) or village (村/社区), with simplified WGS84 geometry."""

    __tablename__ = "areas"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("areas.code"), index=True
    )
    geometry: Mapped[str | None] = mapped_column(Text)  # GeoJSON geometry, WGS84
    label_lon: Mapped[float | None] = mapped_column(Float)
    label_lat: Mapped[float | None] = mapped_column(Float)
    schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(200))


class AreaAlias(Base):
    """Another name for an area: an old name (玉环县), a short name or an address prefix."""

    __tablename__ = "area_aliases"
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"))
    basis: Mapped[str | None] = mapped_column(String(200))


class Population(Base):
    __tablename__ = "population"
    __table_args__ = (UniqueConstraint("area_code", "year", "sex", "age_group"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    sex: Mapped[str] = mapped_column(String(1))  # M, F or T (all)
    age_group: Mapped[str] = mapped_column(String(8))  # 0-4 … 85+ or "all"
    persons: Mapped[int] = mapped_column(Integer)


class Institution(Base):
    __tablename__ = "institutions"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    in_county: Mapped[bool] = mapped_column(Boolean)
    area_code: Mapped[str | None] = mapped_column(String(32), ForeignKey("areas.code"))
    region: Mapped[str | None] = mapped_column(String(50))  # e.g. 台州 / 杭州 / 上海


class DiseaseGroup(Base):
    """Reference data from ``data/disease_groups.csv`` (synced at ``init``)."""

    __tablename__ = "disease_groups"
    group_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    icd_ranges: Mapped[str] = mapped_column(String(400))
    specialty_code: Mapped[str] = mapped_column(String(40), index=True)
    specialty_zh: Mapped[str] = mapped_column(String(100))
    specialty_en: Mapped[str] = mapped_column(String(200))
    screening_target: Mapped[str | None] = mapped_column(String(40))
    denominator_sex: Mapped[str | None] = mapped_column(String(1))  # M/F: sex-specific rate


class Icd3Group(Base):
    """ICD-10 three-character category → disease group (groups never overlap)."""

    __tablename__ = "icd3_groups"
    icd3: Mapped[str] = mapped_column(String(3), primary_key=True)
    group_code: Mapped[str] = mapped_column(
        String(40), ForeignKey("disease_groups.group_code"), index=True
    )


class ImportLog(Base):
    __tablename__ = "import_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # success / rejected / failed
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    n_errors: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64))


class Resident(Base):
    """A resident for screening and health points. The ID number is stored only as a keyed
    hash plus its masked form; risk factors live in a JSON column because local deployments
    may add their own (rule sets name what they use)."""

    __tablename__ = "residents"
    resident_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(80))  # encrypted (healthmap.crypto)
    doctor_team: Mapped[str | None] = mapped_column(String(100))
    risk_factors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    import_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("import_log.id"))


class AppMeta(Base):
    """Small key/value facts about the database (e.g. ``demo_data`` = ``1``)."""

    __tablename__ = "app_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    """A staff account. Passwords are argon2 hashes; ``sso_subject`` maps an OpenID Connect
    identity (email or subject) to this account's role."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sso_subject: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # optional scope: a township (area code) and a family-doctor team
    area_code: Mapped[str | None] = mapped_column(String(32), ForeignKey("areas.code"))
    team: Mapped[str | None] = mapped_column(String(100))
    # bumped by a password reset or disable: sessions of an older epoch end
    password_epoch: Mapped[int] = mapped_column(Integer, default=0)


class AuditLog(Base):
    """Append-only: the migration adds database triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    row_hash: Mapped[str | None] = mapped_column(String(64))  # chain (healthmap.audit)


class UserSession(Base):
    """A server-side login session. The browser holds a random token in an HttpOnly,
    SameSite=Strict cookie; only its SHA-256 is stored, so a copy of the database cannot
    be used to log in."""

    __tablename__ = "user_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    password_epoch: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(20))


class LoginTicket(Base):
    """A one-time, one-minute ticket that turns a successful login in the app into the
    session cookie (redeemed by the ``/api/session`` route, which sets the cookie)."""

    __tablename__ = "login_tickets"
    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginThrottle(Base):
    """Failed attempts per key (a keyed hash of an account name, a client address or an ID
    number): each failure doubles the wait before the next attempt is checked. Nobody is
    ever locked out; attempts are only slowed."""

    __tablename__ = "login_throttle"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # account / client / id_number
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[dt.datetime | None] = mapped_column(DateTime)
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime)
