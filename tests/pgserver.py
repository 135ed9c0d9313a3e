"""A throw-away PostgreSQL server for the test suite (no containers, no system service).

:func:`start` runs ``initdb`` into a temporary folder and ``pg_ctl start`` on a free
localhost port (as the ``postgres`` user when the tests run as root: initdb refuses root),
with durability switched off (a test server loses nothing worth keeping). :func:`stop`
stops it and removes the folder. Databases for single tests are cloned from templates
(``CREATE DATABASE … TEMPLATE``), which is much faster than migrating each one.

Binaries are looked up in ``HEALTHMAP_PG_BINDIR``, then ``/usr/lib/postgresql/<version>/bin``
(Debian's ``postgresql`` package), then ``PATH``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is absent."""
    env = os.environ.get("HEALTHMAP_PG_BINDIR", "").strip()
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    return None


def missing_reason() -> str | None:
    """Why no server can be started here (None when one can)."""
    if bindir() is None:
        return ("PostgreSQL server binaries not found (install Debian's `postgresql` "
                "package or set HEALTHMAP_PG_BINDIR)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (requirements.txt)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run initdb as"
    return None


@dataclass
class Server:
    folder: Path
    port: int
    bin: Path
    user: str | None  # the OS user running the server (None: the current user)
    _names = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction on the ``postgres`` database."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create(self, template: str | None = None, name: str | None = None) -> str:
        """Create a new database (a copy of ``template`` if given); return its URL."""
        name = name or f"t{next(self._names)}"
        clone = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.admin(f"CREATE DATABASE {name}{clone}")
        return self.url(name)

    def drop(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(cmd: list[str], user: str | None, **kw) -> subprocess.CompletedProcess:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> Server:
    """Initialise and start a server; the caller must :func:`stop` it."""
    bin_ = bindir()
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="healthmap-pg-"))
    if user:
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data = folder / "data"
    try:
        _run([str(bin_ / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], user, cwd=folder)
        port = _free_port()
        opts = (f"-c port={port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                "-c shared_buffers=64MB")
        _run([str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
              "-o", opts, "-w", "-t", "60", "start"], user, cwd=folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Server(folder, port, bin_, user)


def stop(server: Server) -> None:
    try:
        _run([str(server.bin / "pg_ctl"), "-D", str(server.folder / "data"), "-m",
              "immediate", "-w", "stop"], server.user, cwd=server.folder)
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
