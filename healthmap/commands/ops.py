"""``python -m healthmap check`` and ``python -m healthmap backup DEST``."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cmd_check(args) -> int:
    from healthmap import dbhealth
    from healthmap.cli import CliError
    from healthmap.config import database_url
    from healthmap.db import is_initialised, make_engine

    url = database_url(args.db)
    problem = dbhealth.diagnose(url, need_write=False)
    if problem:
        raise CliError(str(problem))
    engine = make_engine(url)
    if not is_initialised(engine):
        raise CliError(str(dbhealth.DatabaseProblem(
            "not_initialised", str(dbhealth.sqlite_path(url) or url))))
    report = dbhealth.check(engine)
    for item, value, ok in report["lines"]:
        print(f"{'ok ' if ok else 'BAD'}  {item:<12} {value}")
    running = dbhealth.running_import(url)
    if running:
        print(f"     {'import':<12} running: {running['kind']} {running['file']!r} by "
              f"{running['user']} since {running['since']}")
    if not report["ok"]:
        raise CliError("check found problems (lines marked BAD)")
    return 0


def cmd_backup(args) -> int:
    from healthmap import dbhealth
    from healthmap.cli import CliError
    from healthmap.config import database_url
    from healthmap.db import make_engine

    url = database_url(args.db)
    problem = dbhealth.diagnose(url, need_write=False)
    if problem:
        raise CliError(str(problem))
    from healthmap.access import Actor

    dest = Path(args.dest)
    if args.dest.endswith(("/", os.sep)):  # `backup bk/` names a folder, even a new one
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        out = dbhealth.backup(make_engine(url), dest, overwrite=args.force,
                              user=Actor.cli().username)
    except (ValueError, FileExistsError) as exc:
        raise CliError(str(exc)) from exc
    except dbhealth.ImportRunning as exc:  # the pair would not agree: after the import
        raise CliError(exc.message("en")) from None
    print(f"backup written: {out['path']} ({out['bytes'] / 2**20:,.1f} MB, integrity ok)",
          file=sys.stdout)
    if out["store"]:
        print(f"episode store: {out['store']} ({out['store_files']} files, "
              f"{out['store_bytes'] / 2**20:,.1f} MB, row counts ok)")
        if not out["store_in_sync"]:
            print("note: the store was not at the database's version (it is rebuilt from "
                  "the database when opened; `python -m healthmap store status`)",
                  file=sys.stderr)
    else:
        print("no episode store (none built yet): only the database was copied")
    return 0


def register(command) -> None:
    s = command("check", help="database integrity, migration level, key fingerprint, audit "
                              "chain, free disk space")
    s.set_defaults(func=cmd_check)
    s = command("backup", help="consistent copy of the SQLite database and its episode "
                               "store while the app runs (PostgreSQL: pg_dump, see "
                               "docs/security.md)")
    s.add_argument("dest", help="backup file, or a folder (a dated file is made in it); "
                                "the store goes to DEST.store/")
    s.add_argument("--force", action="store_true", help="overwrite an existing backup")
    s.set_defaults(func=cmd_backup)
