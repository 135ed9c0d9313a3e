"""The public self-lookup: a resident proves who they are with their ID number plus their
name or the last 4 digits of their phone, and sees their own points.

Equal work on every path (decisions §9): an unknown ID number is checked against a dummy
record through the same code as a known one, and both a wrong name and an unknown ID
give the one answer ``no_match``, count one failure against the ID's keyed hash and
against the client, and are audited (``points.lookup_failed``, naming only the client's
key hash); a success is audited as ``view_personal`` of the resident. After
``lookup.free_failures`` failures (settings.yaml) each further attempt waits, the wait
doubling up to a cap (:mod:`healthmap.throttle`); nobody is locked out. The typed ID
number and name are never logged or stored: the throttle keeps keyed hashes only.

Examples
--------
>>> normalize_name(" 张 三 "), normalize_name("ＬＩ Ｍｉｎｇ")
('张三', 'liming')
>>> client_key("10.0.0.7", "sess-1"), client_key(None, "sess-1")
('ip:10.0.0.7', 'session:sess-1')
"""

from __future__ import annotations

import datetime as dt
import hmac
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from healthmap import audit, crypto, ids, throttle
from healthmap.models import LoginThrottle, Resident
from healthmap.points.rules import LookupSettings, Rules, load_rules

ID_KIND, CLIENT_KIND = "lookup_id", "lookup_client"
# stands in for the stored record when the ID number is unknown: the comparisons below
# then run on it exactly as on a real record, and cannot match (no typed name is empty,
# and the phone token does not decrypt)
_DUMMY = {"resident_id": "-", "name": "\x00", "phone": "v1:" + "A" * 43}


@dataclass(frozen=True)
class LookupAnswer:
    """``status``: ``ok``, ``no_match`` (wrong name/phone or unknown ID: one answer),
    ``invalid_id`` (not an 18-character ID with a valid check digit), ``missing`` (no
    name or phone digits typed) or ``throttled`` (wait ``wait_seconds``)."""

    status: str
    wait_seconds: float = 0.0
    resident_id: str | None = None


def normalize_name(value: str | None) -> str:
    """Width-folded, case-folded, without spaces (so 张 三 and 张三 match)."""
    text = unicodedata.normalize("NFKC", value or "")
    return "".join(text.split()).casefold()


def client_key(proxy_address: str | None, session_id: str) -> str:
    """The throttle's client: the address Streamlit reports, or behind a proxy the one in
    the header named by ``HEALTHMAP_PROXY_HEADER`` (the page passes
    :func:`ui.client_address`), so a reload does not reset it; the browser session only
    when no address is known."""
    return f"ip:{proxy_address}" if proxy_address else f"session:{session_id}"


def delay_seconds(failures: int, cfg: LookupSettings) -> float:
    """Wait after ``failures`` failures: none before ``free_failures``, then
    ``first_delay_seconds`` doubling, at most ``max_delay_seconds``.

    >>> cfg = LookupSettings(free_failures=5, first_delay_seconds=30, max_delay_seconds=3600)
    >>> [delay_seconds(n, cfg) for n in (4, 5, 6, 7, 20)]
    [0.0, 30.0, 60.0, 120.0, 3600.0]
    """
    steps = throttle.delay(failures, cap=float("inf"), free=cfg.free_failures - 1)
    return float(min(cfg.max_delay_seconds, cfg.first_delay_seconds * steps))


def _keys(secret: bytes, id_number: str, client: str) -> dict[str, str]:
    return {ID_KIND: throttle.key_hash(secret, ID_KIND, id_number),
            CLIENT_KIND: throttle.key_hash(secret, CLIENT_KIND, client)}


def _record_failure(session: Session, keys: dict[str, str], now: dt.datetime,
                    cfg: LookupSettings) -> None:
    forget = dt.timedelta(hours=cfg.forget_after_hours)
    for kind, h in keys.items():
        row = session.get(LoginThrottle, h)
        if row is None:
            row = LoginThrottle(key_hash=h, kind=kind, failures=0)
            session.add(row)
        if row.last_failure is not None and now - row.last_failure > forget:
            row.failures = 0
        row.failures = (row.failures or 0) + 1
        row.last_failure = now
        row.not_before = now + dt.timedelta(seconds=delay_seconds(row.failures, cfg))


def _serialise(session: Session, keys: dict[str, str]) -> None:
    """One attempt at a time per ID hash and per client: the count is read, the details
    compared and a failure written in one locked transaction, so parallel requests cannot
    all slip past the same count. SQLite: the write lock (``BEGIN IMMEDIATE``);
    PostgreSQL: a transaction advisory lock per key, in one order."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        if not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    for h in sorted(keys.values()):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                        {"k": f"lookup:{h}"})


def lookup(engine: Engine, id_number: str, name: str | None = None,
           phone_tail: str | None = None, client: str = "", now: dt.datetime | None = None,
           rules: Rules | None = None) -> LookupAnswer:
    """Check a self-lookup. ``name`` or ``phone_tail`` (4 digits) is the second fact;
    ``client`` is :func:`client_key`'s answer; ``now`` is injectable for tests."""
    cfg = (rules or load_rules()).settings.lookup
    now = now or dt.datetime.now()
    number = ids.normalize_id(id_number)
    if ids.id_problem(number, now.date()) is not None:
        return LookupAnswer("invalid_id")
    by_name = bool(normalize_name(name))
    tail = (phone_tail or "").strip()
    if not by_name and not (len(tail) == 4 and tail.isdigit()):
        return LookupAnswer("missing")
    secret = crypto.database_secret(engine)
    keys = _keys(secret, number, client)
    with Session(engine) as s, s.begin():
        _serialise(s, keys)
        wait = throttle.wait_seconds(s, keys, now)
        if wait > 0:
            return LookupAnswer("throttled", wait)
        found = s.execute(select(Resident.resident_id, Resident.name, Resident.phone).where(
            Resident.id_hash == ids.hash_id(number, secret))).mappings().first()
        row = dict(found) if found is not None else _DUMMY
        phone = crypto.decrypt_phone(crypto.key_for(engine, "phone"), row["resident_id"],
                                     row["phone"]) or ""
        name_ok = hmac.compare_digest(normalize_name(name).encode(),
                                      normalize_name(row["name"]).encode())
        tail_ok = hmac.compare_digest(tail.encode(), phone[-4:].encode())
        ok = (found is not None) & (name_ok if by_name else tail_ok)
        if not ok:
            _record_failure(s, keys, now, cfg)
            # audited without anything typed: the client's key-hash prefix (as the
            # administrator's throttle list shows it), never the ID number or name
            audit.record(s, "public", "points.lookup_failed",
                         f"{CLIENT_KIND}:{keys[CLIENT_KIND][:12]}", "no match", role=None)
            return LookupAnswer("no_match")
        throttle.succeeded(s, {ID_KIND: keys[ID_KIND]})  # the client's count stays
        audit.record(s, "public", "view_personal", f"resident:{row['resident_id']}",
                     "points self-lookup", role=None)
    return LookupAnswer("ok", resident_id=row["resident_id"])
