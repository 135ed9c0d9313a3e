"""``python -m healthmap store status``: the episode store beside its database."""

from __future__ import annotations


def _engine(args):
    from healthmap.cli import CliError, _engine
    from healthmap.db import is_initialised

    engine = _engine(args)
    if not is_initialised(engine):
        raise CliError("database not initialised: run `python -m healthmap init` first")
    return engine


def cmd_store(args) -> int:
    from healthmap import store
    from healthmap.cli import CliError

    engine = _engine(args)
    try:
        st = store.status(engine)
    except store.StoreLocationError as exc:
        raise CliError(str(exc)) from None
    print(f"folder        {st['folder']}")
    print(f"generation    {st['generation'] if st['generation'] is not None else '— (none)'}")
    print(f"data version  store {st['store_version'] or '—'}, "
          f"database {st['database_version']}")
    print(f"files         {st['files']} ({st['bytes'] / 2**20:,.1f} MB"
          f"{', ' + str(st['missing_files']) + ' missing' if st['missing_files'] else ''})")
    for y, n in sorted(st["store_rows"].items()):
        print(f"  {y}        {n:>12,} episodes")
    if st["pending_live"]:
        print("pending       the database's version is in pending.json (committed; the next "
              "store write, an import or refresh, renames it onto manifest.json)")
    elif st["pending"]:
        print("pending       a manifest at a version the database never committed (the next "
              "store write deletes it)")
    if st["in_sync"]:
        print("in sync: the store holds the database's episode version")
        return 0
    print("NOT in sync: " + store.StoreMismatch(st["folder"], st["store_version"],
                                               st["database_version"]).message("en"))
    return 1


def register(command) -> None:
    s = command("store", help="the episode store (the episodes' Parquet files beside the "
                              "database): its status")
    s.add_argument("action", choices=["status"])
    s.set_defaults(func=cmd_store)
