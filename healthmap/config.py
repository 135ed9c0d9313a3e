"""Runtime configuration: where the database is and where the keyed-hash secret lives.

Everything is read from the environment when asked for, never cached at import time, so
tests can point the package at a throw-away database with ``HEALTHMAP_DATABASE_URL``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = DATA_DIR / "healthmap.db"
DEFAULT_SECRET_PATH = DATA_DIR / ".secret_key"


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


def secret_path() -> Path:
    return Path(os.environ.get("HEALTHMAP_SECRET_FILE", str(DEFAULT_SECRET_PATH)))


def secret_key(create: bool = False) -> bytes:
    """Return the key used for keyed hashes of ID numbers.

    Taken from ``HEALTHMAP_SECRET_KEY`` if set, else from the secret file (created with a
    random 32-byte key when ``create`` is true). The key is never committed: the default
    file lives under ``data/`` which git ignores.
    """
    env = os.environ.get("HEALTHMAP_SECRET_KEY", "").strip()
    if env:
        return env.encode("utf-8")
    path = secret_path()
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    if not create:
        raise RuntimeError(
            "no secret key: run `python -m healthmap init` or set HEALTHMAP_SECRET_KEY"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key, encoding="utf-8")
    try:
        path.chmod(0o600)
    except OSError:  # pragma: no cover - filesystems without chmod
        pass
    return key.encode("utf-8")


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
