"""Keys derived from the database's secret, and phone numbers encrypted at rest.

One secret per database (:func:`healthmap.config.secret_key`, kept apart from the data)
serves several purposes; each gets its own key by HKDF-SHA256 with a purpose label, so a
key leaked from one use (say, the audit chain) says nothing about another:

* ``phone``: residents' phone numbers are stored encrypted with AES-SIV (``cryptography``),
  with the resident's id as associated data. AES-SIV is deterministic for the same
  (resident, number), so re-importing the same file changes nothing (imports match
  records by content), while equal numbers of two residents still differ in the database;
  a token copied onto another resident's row does not decrypt.
* ``audit``: the keyed hash chain of the audit log (:mod:`healthmap.audit`).

Phone numbers are decrypted only for roles that contact residents (permission
``contact_resident``: screening staff and family doctors), within their township;
everyone else sees the masked form.

Examples
--------
>>> k = derive(b"secret", "phone")
>>> len(k), k != derive(b"secret", "audit"), k == derive(b"secret", "phone")
(64, True, True)
>>> tok = encrypt_phone(k, "R001", "13800001234")
>>> tok.startswith("v1:"), tok == encrypt_phone(k, "R001", "13800001234")
(True, True)
>>> tok != encrypt_phone(k, "R002", "13800001234"), decrypt_phone(k, "R001", tok)
(True, '13800001234')
>>> decrypt_phone(k, "R002", tok) is None
True
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from healthmap import access, ids

_PREFIX = "v1:"
_LENGTH = {"phone": 64, "audit": 32}  # AES-256-SIV takes a 512-bit key


def derive(secret: bytes, purpose: str) -> bytes:
    """The key for ``purpose`` derived from the database's ``secret`` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=_LENGTH.get(purpose, 32),
                salt=b"healthmap key derivation v1",
                info=f"healthmap/{purpose}".encode()).derive(secret)


def database_secret(bind) -> bytes:
    """The secret of the database behind ``bind`` (an Engine, Connection or Session)."""
    from healthmap import config

    engine = bind.get_bind() if hasattr(bind, "get_bind") else bind
    engine = getattr(engine, "engine", engine)
    if hasattr(config, "engine_key"):
        return config.engine_key(engine)
    return config.secret_key()


def key_for(bind, purpose: str) -> bytes:
    return derive(database_secret(bind), purpose)


def encrypt_phone(key: bytes, resident_id: str, phone: str | None) -> str | None:
    """The stored form of a phone number (``None`` and blanks stay ``None``)."""
    if phone is None or str(phone).strip() in ("", "nan", "None"):
        return None
    token = AESSIV(key).encrypt(str(phone).strip().encode(), [str(resident_id).encode()])
    return _PREFIX + base64.urlsafe_b64encode(token).decode().rstrip("=")


def decrypt_phone(key: bytes, resident_id: str, stored: str | None) -> str | None:
    """The number, or ``None`` when there is none or the token does not belong to this
    resident (or this database's key)."""
    if not stored or not str(stored).startswith(_PREFIX):
        return None
    raw = str(stored)[len(_PREFIX):]
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return AESSIV(key).decrypt(data, [str(resident_id).encode()]).decode()
    except (InvalidTag, ValueError):
        return None


def is_encrypted(stored: Any) -> bool:
    return isinstance(stored, str) and stored.startswith(_PREFIX)


def encrypt_column(bind, resident_ids, phones) -> list[str | None]:
    """Encrypt a column of phone numbers for the database behind ``bind`` (imports)."""
    key = key_for(bind, "phone")
    return [encrypt_phone(key, r, p) for r, p in zip(resident_ids, phones)]


def phone_for(bind, actor: access.Actor, resident: Any) -> str:
    """The phone number as ``actor`` may see it: in full for a role that contacts
    residents within its township (``contact_resident``), else masked (``138****1234``);
    ``""`` when there is none. ``resident`` is a mapping or object with ``resident_id``,
    ``area_code`` and the stored ``phone``."""
    get = resident.get if hasattr(resident, "get") else lambda k: getattr(resident, k, None)
    number = decrypt_phone(key_for(bind, "phone"), get("resident_id"), get("phone"))
    if not number:
        return ""
    if access.can(actor, "contact_resident", get("area_code")):
        return number
    return ids.mask_phone(number)
