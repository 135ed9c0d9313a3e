"""Runtime configuration: where the database is and where the keyed-hash secret lives.

Everything is read from the environment when asked for, never cached at import time, so
tests can point the package at a throw-away database with ``HEALTHMAP_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = DATA_DIR / "healthmap.db"
FINGERPRINT_LABEL = b"healthmap key fingerprint v1"


class SecretKeyError(RuntimeError):
    """The hashing key is missing or is not the key this database was set up with."""


def database_url(override: str | None = None) -> str:
    """Return the database URL: the override, ``HEALTHMAP_DATABASE_URL``, or the SQLite default.

    Examples
    --------
    >>> database_url("sqlite:///:memory:")
    'sqlite:///:memory:'
    """
    if override:
        return override
    env = os.environ.get("HEALTHMAP_DATABASE_URL", "").strip()
    if env:
        return env
    return f"sqlite:///{DEFAULT_DB_PATH}"


def busy_timeout_ms() -> int:
    """How long an SQLite connection waits for another writer's lock before failing with
    ``database is locked``: ``HEALTHMAP_BUSY_TIMEOUT_MS`` (milliseconds), default 30,000.

    >>> busy_timeout_ms() > 0
    True
    """
    value = os.environ.get("HEALTHMAP_BUSY_TIMEOUT_MS", "").strip()
    if not value:
        return 30_000
    if not value.isdigit():
        raise ValueError(f"HEALTHMAP_BUSY_TIMEOUT_MS must be a number of milliseconds, "
                         f"not {value!r}")
    return int(value)


def key_dir() -> Path:
    """Where key files live by default: outside the project and away from the databases
    (``$HEALTHMAP_KEY_DIR``, else ``$XDG_CONFIG_HOME/healthmap/keys`` or
    ``~/.config/healthmap/keys``)."""
    env = os.environ.get("HEALTHMAP_KEY_DIR", "").strip()
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "healthmap" / "keys"


def secret_path(url: str | None = None) -> Path:
    """The key file of the database at ``url``: ``HEALTHMAP_SECRET_FILE`` if set, else one
    file per database in :func:`key_dir`, named after the database.

    >>> secret_path("sqlite:////srv/a/county.db").name[:7], secret_path("sqlite:////srv/b/county.db") != secret_path("sqlite:////srv/a/county.db")
    ('county-', True)
    """
    env = os.environ.get("HEALTHMAP_SECRET_FILE", "").strip()
    if env:
        return Path(env)
    url = database_url(url)
    stem = Path(url.split("?")[0].rsplit("/", 1)[-1]).stem or "database"
    tag = hashlib.sha256(_canonical(url).encode("utf-8")).hexdigest()[:12]
    return key_dir() / f"{stem}-{tag}.key"


def _canonical(url: str) -> str:
    """The database's identity: an SQLite file's absolute path (however the URL names
    it); a server URL without its password (changing the password keeps the key file).

    >>> _canonical("postgresql+psycopg://hm:secret@db:5432/county")
    'postgresql+psycopg://hm@db:5432/county'
    """
    from healthmap.dbhealth import sqlite_path

    path = sqlite_path(url)  # the file, however the URL names it (e.g. read-only)
    if path is not None:
        return "sqlite:///" + str(path.resolve())
    if "@" in url:
        from sqlalchemy.engine import URL, make_url

        u = make_url(url)
        return URL.create(u.drivername, u.username, None, u.host, u.port, u.database,
                          u.query).render_as_string(hide_password=False)
    return url


def secret_key(create: bool = False, url: str | None = None) -> bytes:
    """Return the key used for keyed hashes of ID numbers (and derived keys).

    Taken from ``HEALTHMAP_SECRET_KEY`` if set, else from the database's key file
    (:func:`secret_path`; created with a random 32-byte key, mode 0600, when ``create`` is
    true). The key never lives in the project folder or beside the database by default.
    """
    env = os.environ.get("HEALTHMAP_SECRET_KEY", "").strip()
    if env:
        return env.encode("utf-8")
    path = secret_path(url)
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    if not create:
        raise SecretKeyError(
            f"no key file {path}: run `python -m healthmap init` for this database, set "
            "HEALTHMAP_SECRET_FILE to its key file, or HEALTHMAP_SECRET_KEY")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key.encode("utf-8")


def forget_key(url: str) -> None:
    """Delete the key file of a throw-away database (a benchmark's) at ``url``, only when
    it is one of :func:`key_dir`'s per-database files (never ``HEALTHMAP_SECRET_FILE``)."""
    if os.environ.get("HEALTHMAP_SECRET_FILE", "").strip():
        return
    path = secret_path(url)
    if path.parent == key_dir():
        path.unlink(missing_ok=True)


def engine_key(engine) -> bytes:
    """The key of the database behind ``engine`` (see :func:`secret_key`)."""
    return secret_key(url=engine.url.render_as_string(hide_password=False))


def fingerprint(key: bytes) -> str:
    """A short, non-reversible fingerprint of a key (stored in the database at ``init``).

    >>> fingerprint(b"k") == fingerprint(b"k"), fingerprint(b"k") != fingerprint(b"j")
    (True, True)
    """
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def tile_basemap() -> dict[str, str] | None:
    """The optional raster tile basemap: ``HEALTHMAP_TILE_URL`` (an XYZ template such as
    ``https://tiles.example.gov.cn/{z}/{x}/{y}.png``, e.g. an intranet or Tianditu server)
    and ``HEALTHMAP_TILE_ATTRIBUTION``. ``None`` (the default) = no tiles: maps render
    fully offline on a plain background.

    >>> import os; os.environ.pop("HEALTHMAP_TILE_URL", None); tile_basemap() is None
    True
    """
    url = os.environ.get("HEALTHMAP_TILE_URL", "").strip()
    if not url:
        return None
    if not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise ValueError("HEALTHMAP_TILE_URL must contain {z}, {x} and {y}")
    return {"url": url, "attribution": os.environ.get("HEALTHMAP_TILE_ATTRIBUTION", "").strip()}
