"""``python -m healthmap store status`` and ``python -m healthmap store rebuild``."""

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
        if args.action == "rebuild":
            m = store.rebuild(engine)
            print(f"episode store rebuilt: {m.rows:,} episodes in {len(m.years)} year(s), "
                  f"generation {m.generation}, data version {m.data_version}")
            return 0
        st = store.status(engine)
    except store.StoreLocationError as exc:
        raise CliError(str(exc)) from None
    print(f"folder        {st['folder']}")
    print(f"generation    {st['generation'] if st['generation'] is not None else '— (none)'}")
    print(f"data version  store {st['store_version'] or '—'}, "
          f"database {st['database_version']}")
    print(f"files         {st['files']} ({st['bytes'] / 2**20:,.1f} MB"
          f"{', ' + str(st['missing_files']) + ' missing' if st['missing_files'] else ''})")
    years = sorted(set(st["store_rows"]) | set(st["database_rows"]))
    for y in years:
        a, b = st["store_rows"].get(y, 0), st["database_rows"].get(y, 0)
        print(f"  {y}        {a:>12,} rows in store, {b:>12,} in database"
              f"{'' if a == b else '   DIFFERENT'}")
    print("in sync" if st["in_sync"] else
          "NOT in sync: `python -m healthmap store rebuild` (or any reader) brings it up")
    return 0 if st["in_sync"] else 1


def register(command) -> None:
    s = command("store", help="the episode store (Parquet files beside the database): "
                              "status, or rebuild it from the database")
    s.add_argument("action", choices=["status", "rebuild"])
    s.set_defaults(func=cmd_store)
