"""Copy a SQLite test database together with its episode store (the store is the system of
record for episodes: a database file without it is a database whose store was lost)."""

import os
import shutil
from pathlib import Path


def copy_database(src, dst, readable_by_all: bool = False) -> str:
    """Copy the SQLite database ``src`` (a URL or a path; its -wal/-shm files too) to the
    path ``dst`` and its store folder to ``dst``'s store folder; the new database's URL.
    ``readable_by_all`` opens the store copy to other users (read-only deployments run as
    another user)."""
    from healthmap.store import store_dir

    src = Path(str(src).removeprefix("sqlite:///"))
    dst = Path(dst)
    shutil.copy(src, dst)
    for ext in ("-wal", "-shm"):
        if Path(str(src) + ext).exists():
            shutil.copy(str(src) + ext, str(dst) + ext)
    url = f"sqlite:///{dst}"
    source_store = store_dir(f"sqlite:///{src}")
    if source_store.is_dir():
        shutil.copytree(source_store, store_dir(url), dirs_exist_ok=True)
        if readable_by_all:
            for p in [store_dir(url), *store_dir(url).rglob("*")]:
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return url
