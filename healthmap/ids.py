"""Chinese resident ID numbers (居民身份证号, GB 11643-1999): check, hash, mask.

The 18th character is an ISO 7064 MOD 11-2 check digit. Numbers are stored only as keyed
hashes (HMAC-SHA256 with the deployment's secret key) plus a masked form for display.

Examples
--------
>>> check_digit("11010519491231002")
'X'
>>> is_valid_id("11010519491231002X")
True
>>> mask_id("11010519491231002X")
'1101*************X'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def normalize_id(value: str | None) -> str:
    return ("" if value is None else str(value)).strip().upper().replace(" ", "")


def id_problem(value: str | None, today: dt.date | None = None) -> str | None:
    """Why ``value`` is not a valid 18-character ID number, or ``None`` if it is.

    Returns one of ``length``, ``chars``, ``birth_date``, ``check_digit``.
    """
    s = normalize_id(value)
    if len(s) != 18:
        return "length"
    if not (s[:17].isdigit() and (s[17].isdigit() or s[17] == "X")):
        return "chars"
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "birth_date"
    if born > (today or dt.date.today()) or born.year < 1880:
        return "birth_date"
    if check_digit(s[:17]) != s[17]:
        return "check_digit"
    return None


def is_valid_id(value: str | None) -> bool:
    return id_problem(value) is None


def birth_date_of(value: str) -> dt.date:
    s = normalize_id(value)
    return dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))


def sex_of(value: str) -> str:
    """``M`` or ``F`` from the 17th digit (odd = male)."""
    return "M" if int(normalize_id(value)[16]) % 2 else "F"


def hash_id(value: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a normalised ID number."""
    return hmac.new(key, normalize_id(value).encode("ascii"), hashlib.sha256).hexdigest()


def mask_id(value: str | None) -> str:
    """The only form of an ID number that is stored beside its hash or shown to anyone
    (decisions §4): the first 4 characters (province and city) and the check character,
    the birth date and sequence digits hidden: ``3310*************X``.

    Applied to its own output it changes nothing, so an already masked value (stored,
    or in a problem report) keeps its form. Anything shorter than 6 characters is all
    hidden.

    >>> mask_id("33108319900101123X"), mask_id("3310*************X"), mask_id(None)
    ('3310*************X', '3310*************X', '')
    """
    s = normalize_id(value)
    if len(s) < 6:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 5) + s[-1]


def mask_phone(value: str | None) -> str:
    """``138****5678`` for an 11-digit mobile number."""
    s = "" if value is None else str(value).strip()
    if len(s) < 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def make_id(region: str, born: dt.date, seq: int) -> str:
    """Build a syntactically valid ID number (for synthetic demo residents only)."""
    first17 = f"{region}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_digit(first17)
