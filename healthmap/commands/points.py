"""``python -m healthmap points …``: award, redeem, reverse, expire, balance, import,
activities, catalogue. Writes are made by ``--actor`` (default: the operating-system user) and
audited; a refusal exits 2 with a one-line reason."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def _engine(args):
    from healthmap.cli import CliError
    from healthmap.db import is_initialised, make_engine

    engine = make_engine(args.db)
    if not is_initialised(engine):
        raise CliError("database not initialised: run `python -m healthmap init` first")
    return engine


def _date(value: str | None) -> dt.date | None:
    from healthmap.cli import CliError

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"--date {value!r} is not a date (YYYY-MM-DD)") from None


def _write(args, fn, *params, **kw):
    """Run one ledger write in its own transaction; refusals become CliError."""
    from sqlalchemy.orm import Session

    from healthmap.access import Actor, PermissionDenied
    from healthmap.cli import CliError
    from healthmap.ledger import LedgerConflict
    from healthmap.points.ledger import PointsRefused

    engine = _engine(args)
    try:
        with Session(engine) as s, s.begin():
            return fn(s, Actor.cli(args.actor), *params, **kw)
    except (PointsRefused, LedgerConflict, PermissionDenied) as exc:
        raise CliError(str(exc)) from None


def _report(out, what: str) -> int:
    state = "recorded" if out.recorded else "already recorded (unchanged)"
    print(f"{state}: {out.points:+d} {what}, source id {out.source_id}; balance {out.balance}")
    return 0


def cmd_award(args) -> int:
    from healthmap.points.ledger import award

    out = _write(args, award, args.resident, args.activity, args.source_id,
                 _date(args.date), reason=args.reason)
    return _report(out, args.activity)


def cmd_redeem(args) -> int:
    from healthmap.points.ledger import redeem

    return _report(_write(args, redeem, args.resident, args.item, args.source_id,
                          _date(args.date)), args.item)


def cmd_reverse(args) -> int:
    from healthmap.points.ledger import reverse

    return _report(_write(args, reverse, args.entry, args.reason, source_id=args.source_id),
                   f"reversal of {args.entry}")


def cmd_expire(args) -> int:
    """Write the expiry entries due (settings.yaml ``expiry.years``; none while unset).
    Run it once a year, e.g. on 1 January; running it again writes nothing more."""
    from healthmap.points.ledger import expire

    as_of = _date(args.as_of) or dt.date.today()
    written = _write(args, expire, as_of)
    print(f"{written} expiry entr{'y' if written == 1 else 'ies'} written (as of "
          f"{as_of.isoformat()})")
    return 0


def cmd_balance(args) -> int:
    from sqlalchemy.orm import Session

    from healthmap import audit
    from healthmap.access import Actor
    from healthmap.cli import CliError
    from healthmap.models import Resident
    from healthmap.points.ledger import balance

    engine = _engine(args)
    actor = Actor.cli(args.actor)
    with Session(engine) as s, s.begin():
        if s.get(Resident, args.resident) is None:
            raise CliError(f"no resident with resident_id {args.resident!r}")
        value = balance(s, args.resident)
        audit.record(s, actor.username, "view_personal", f"resident:{args.resident}",
                     "points balance", role=actor.role)
    print(value)
    return 0


def cmd_import(args) -> int:
    from healthmap import audit
    from healthmap.access import Actor
    from healthmap.cli import CliError
    from healthmap.ingest.readers import FileReadError, read_table
    from healthmap.points.imports import import_records

    path = Path(args.file)
    if not path.exists():
        raise CliError(f"file not found: {path}")
    engine = _engine(args)
    try:
        frame = read_table(path.read_bytes(), path.name)
    except FileReadError as exc:
        raise CliError(f"cannot read {path.name}: {exc}") from None
    actor = Actor.cli(args.actor)
    result = import_records(engine, frame, actor)
    if not result.ok:
        for p in result.problems.itertuples(index=False):
            print(f"line {p.row}, {p.column} = {p.value!r}: {p.reason}")
        audit.record(engine, actor.username, "points.import", path.name,
                     f"refused: {len(result.problems)} problem(s), nothing written",
                     role=actor.role)
        raise CliError(f"{path.name}: {len(result.problems)} problem(s) in "
                       f"{result.rows} row(s); nothing written")
    audit.record(engine, actor.username, "points.import", path.name,
                 f"{result.recorded} recorded, {result.unchanged} unchanged", role=actor.role)
    print(f"{path.name}: {result.rows} rows; {result.recorded} recorded, "
          f"{result.unchanged} already recorded")
    return 0


def cmd_activities(args) -> int:
    from healthmap.points.rules import load_rules

    for a in load_rules().activities:
        print(f"{a.code}\t{a.points}\t{a.max_per_day}/day\t{a.max_per_year}/year")
    return 0


def cmd_catalogue(args) -> int:
    """Code, points cost and remaining stock (the configured stock without a database)."""
    from sqlalchemy.orm import Session

    from healthmap.db import is_initialised, make_engine
    from healthmap.points.ledger import stock_left
    from healthmap.points.rules import load_rules

    rules = load_rules()
    engine = make_engine(args.db)
    left = {i.code: i.stock for i in rules.items}
    if is_initialised(engine):
        with Session(engine) as s:
            left = stock_left(s, rules)
    for i in rules.items:
        print(f"{i.code}\t{i.points}\t{left[i.code]}")
    return 0


def register(command) -> None:
    p = command("points", help="health points: award, redeem, reverse, balance, import, "
                               "list activities and the catalogue")
    sub = p.add_subparsers(dest="points_command", required=True)

    def sc(name, func, help, actor=True):
        s = sub.add_parser(name, help=help)
        s.add_argument("--db", default=argparse.SUPPRESS, help="database URL")
        if actor:
            s.add_argument("--actor", help="who records it (default: the OS user)")
        s.set_defaults(func=func)
        return s

    s = sc("award", cmd_award, "credit an activity to a resident (once per source id)")
    s.add_argument("--resident", required=True, help="resident_id of the residents import")
    s.add_argument("--activity", required=True, help="activity code (`points activities`)")
    s.add_argument("--source-id", required=True, help="unique id of the event")
    s.add_argument("--date", help="date of the activity, YYYY-MM-DD (default: today)")
    s.add_argument("--reason", help="optional note")
    s = sc("redeem", cmd_redeem, "redeem a catalogue item (refused above the balance)")
    s.add_argument("--resident", required=True)
    s.add_argument("--item", required=True, help="item code (`points catalogue`)")
    s.add_argument("--source-id", required=True)
    s.add_argument("--date", help="YYYY-MM-DD (default: today)")
    s = sc("reverse", cmd_reverse, "cancel an entry by a reversing entry with a reason")
    s.add_argument("entry", help="source id of the entry to reverse")
    s.add_argument("--reason", required=True)
    s.add_argument("--source-id", help="source id of the reversal (default: reversal:<entry>)")
    s = sc("expire", cmd_expire, "write the yearly expiry entries due (settings.yaml "
                                 "expiry.years; none while it is unset)")
    s.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
    s = sc("balance", cmd_balance, "print a resident's balance (an integer)")
    s.add_argument("--resident", required=True)
    s = sc("import", cmd_import, "import activity records (CSV/Excel; all or nothing)")
    s.add_argument("file")
    sc("activities", cmd_activities, "one line per activity: code, points, caps", False)
    sc("catalogue", cmd_catalogue, "one line per item: code, points cost, stock left", False)
