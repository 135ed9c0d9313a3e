"""Command line: ``python -m healthmap COMMAND``.

Every command has ``--help`` and exits non-zero with a one-line reason on bad input, never
a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from healthmap import __version__
from healthmap.measures import DEFAULT_LOOKBACK, REPORTED
from healthmap.publictables import MARGINS
from healthmap.access import ROLES, Actor


class CliError(Exception):
    pass


def _engine(args):
    """The database engine, after checking that the hashing key is this database's."""
    from healthmap.bootstrap import check_key
    from healthmap.db import is_initialised, make_engine

    engine = make_engine(args.db)
    if is_initialised(engine):
        check_key(engine)
    return engine


def _progress_printer(label: str):
    last = {"pct": -1}

    def show(fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if pct != last["pct"] and (pct % 5 == 0 or pct == 100):
            last["pct"] = pct
            print(f"\r{label}: {pct:3d}% {message:<20}", end="", file=sys.stderr, flush=True)
            if pct == 100:
                print(file=sys.stderr)

    return show


def cmd_init(args) -> int:
    from healthmap.bootstrap import init_database

    from healthmap import auth

    want_admin = getattr(args, "admin_password", None) is not None or not args.skip_admin
    if want_admin:  # refused before anything is written (init also upgrades the schema)
        if args.admin_password is None:
            raise CliError("init needs --admin-password (or --skip-admin to add users later)")
        problem = auth.password_problem(args.admin_password, args.admin_user)
        if problem:
            raise CliError(f"weak administrator password: {problem}")
    engine = _engine(args)
    out = init_database(engine)
    if want_admin:
        auth.ensure_admin(engine, args.admin_user, args.admin_password)
        print(f"administrator account '{args.admin_user}' ready")
    print(f"database ready ({engine.url.render_as_string(hide_password=True)}); "
          f"areas added: {out['areas_added']}")
    return 0


def cmd_demo(args) -> int:
    from healthmap.demo import load_demo

    engine = _engine(args)
    stats = load_demo(engine, _progress_printer("demo"), lang="en")
    from healthmap import auth

    auth.ensure_demo_accounts(engine)
    print(f"demo data loaded: {stats['episodes']:,} episodes, {stats['residents']:,} residents, "
          f"{stats['population_rows']:,} population rows, {stats['institutions']} institutions")
    return 0


def cmd_import(args) -> int:
    from healthmap.db import is_initialised
    from healthmap.ingest import import_file

    path = Path(args.file)
    if not path.exists():
        raise CliError(f"file not found: {path}")
    engine = _engine(args)
    if not is_initialised(engine):
        raise CliError("database not initialised: run `python -m healthmap init` first")
    opts = {}
    if args.kind == "areas":
        opts = {k: v for k, v in dict(code_field=args.code_field, name_field=args.name_field,
                                      level=args.level, parent_field=args.parent_field,
                                      crs=args.crs).items() if v is not None}
    from healthmap import audit

    actor = Actor.cli(args.actor)
    result = import_file(engine, args.kind, path, path.name,
                         progress=_progress_printer(f"import {args.kind}"),
                         actor=actor, lang=args.lang,
                         ignore_unknown_columns=args.ignore_unknown_columns,
                         confirm_changes=args.confirm_changes, **opts)
    audit.record(engine, actor.username, "import", f"{args.kind}:{path.name}",
                 f"ok={result.ok} rows={result.n_rows} errors={len(result.problems)} "
                 f"warnings={len(result.warnings)} changes={len(result.changes)}",
                 role=actor.role)
    if not result.ok:
        print(result.problems.drop(columns="code").to_string(index=False), file=sys.stderr)
        hint = ("; to apply these changes, run again with --confirm-changes"
                if result.needs_confirmation else "")
        raise CliError(f"{len(result.problems)} problem(s) in {path.name}; nothing was "
                       f"written{hint}")
    if len(result.warnings):
        print(result.warnings.drop(columns="code").to_string(index=False), file=sys.stderr)
    print(f"imported {result.n_rows:,} rows: {result.inserted:,} new, {result.updated:,} "
          f"updated, {result.unchanged:,} unchanged, {len(result.warnings):,} warning(s), "
          f"{len(result.changes)} confirmed change(s); summaries refreshed for "
          f"{result.years_refreshed or 'no years'}")
    return 0


def cmd_refresh(args) -> int:
    from healthmap import summary

    from healthmap.dbhealth import ImportRunning

    engine = _engine(args)
    from healthmap.store import StoreMismatch

    try:  # one writer of episodes and summaries at a time
        years = summary.rebuild(engine, Actor.cli(), _progress_printer("refresh"))
    except ImportRunning as exc:
        raise CliError(exc.message("en")) from None
    except StoreMismatch as exc:
        raise CliError(exc.message("en")) from None
    print(f"summary tables rebuilt for {years} from the episode store")
    return 0


def cmd_report(args) -> int:
    from healthmap.indicators import report
    from healthmap.queries import Filters, periods

    engine = _engine(args)
    years = tuple(args.year) if args.year else tuple(periods(engine)[-1:])
    if not years:
        raise CliError("no episode data loaded")
    if args.public:  # exactly the published tables, nothing else (decisions.md §10)
        table = _public_report(engine, args, years)
    else:
        if args.margin:
            raise CliError("--margin chooses a published table: use it with --public")
        icd = tuple(c.strip().upper()[:3] for c in (args.icd or []))
        setting = args.setting or "inpatient"
        f = Filters(years=years, groups=tuple(args.group or ()), icd3=icd, level=args.level,
                    setting=None if setting == "all" else setting)
        try:
            table = report(engine, args.measure, f, standard=args.standard,
                           lookback=args.lookback)
        except ValueError as exc:  # e.g. cost per case over all settings (issue 9)
            raise CliError(str(exc)) from None
    from healthmap import audit, exports, i18n

    from healthmap.mapmodel import basis_text

    # what was counted: new cases (新发) or diagnosed cases (就诊患者); episodes or patients
    print(basis_text(table.attrs["result"], "en"), file=sys.stderr)
    for note in table.attrs.get("notes", []):  # an empty selection is explained, not a crash
        print(i18n.t(f"map.{note}", "en"), file=sys.stderr)

    if args.format == "csv":  # one export writer for every export (formula-safe cells)
        (Path(args.output).write_bytes(exports.to_csv_bytes(table)) if args.output
         else sys.stdout.write(exports.csv_text(table)))
    elif args.format == "json":
        text = table.to_json(orient="records", force_ascii=False, indent=1)
        (Path(args.output).write_text(text, encoding="utf-8") if args.output else print(text))
    else:
        if not args.output:
            raise CliError("--format xlsx needs --output FILE.xlsx")
        Path(args.output).write_bytes(exports.to_xlsx_bytes(table))
    from healthmap.access import Actor

    audit.record(engine, Actor.cli().username, "export", f"report:{args.measure}",
                 f"format={args.format} public={args.public} years={list(years)} "
                 f"rows={len(table)}", role="admin")
    return 0


def _public_report(engine, args, years: tuple[int, ...]):
    """``report --public``: one published table (healthmap/publictables.py), suppressed
    jointly with every other margin of its year and group, as the public map shows it.
    Anything a published table does not offer is refused, naming what is offered."""
    from healthmap import publictables

    offered = ("--public serves only the published tables: new cases and crude incidence "
               "of one disease group (--group) in one year (--year) by township, for "
               f"everyone or one margin (--margin {'|'.join(publictables.MARGINS)})")
    extra = [name for name, given in (
        ("a measure other than incidence", args.measure != "incidence"),
        ("several years", len(years) != 1), ("--icd", bool(args.icd)),
        ("--standard", bool(args.standard)), ("--level village", args.level != "township"),
        ("--setting", args.setting not in (None, "all"))) if given]
    if extra or len(args.group or ()) != 1:
        raise CliError(f"{offered}; not {', '.join(extra) or 'without exactly one --group'}")
    try:
        return publictables.report(engine, years[0], args.group[0], args.margin or "all")
    except ValueError as exc:  # an unknown group
        raise CliError(f"{exc}; {offered}") from None


def cmd_bench(args) -> int:
    from healthmap.bench import run_bench

    try:
        if args.browser:  # the pages in Chromium, click to settled (issues 14, 15)
            try:  # outside the domain package: it reads Streamlit's own messages
                from benchmarks.browser import run_browser_bench
            except ModuleNotFoundError as exc:
                if exc.name != "benchmarks":
                    raise
                raise CliError("bench --browser runs from the project's checkout (its "
                               "benchmarks/ folder and app.py): cd there first") from None

            run_browser_bench(args.db, rounds=args.rounds, lang=args.lang, warm=args.warm,
                              pages=[k.strip() for k in args.pages.split(",") if k.strip()])
            return 0
        if not args.store_only:
            run_bench(args.episodes, args.db, keep=args.keep, demo=not args.no_demo)
        from healthmap.store.bench import run_store_bench  # the episode store (issue 14)

        run_store_bench(args.episodes, keep=args.keep)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return 0


def cmd_users(args) -> int:
    from healthmap import auth

    engine = _engine(args)
    if args.action == "list":
        for u in auth.list_users(engine):
            print(f"{u['username']:<16} {u['role']:<14} {'active' if u['active'] else 'disabled'}"
                  f"{'  area=' + u['area_code'] if u['area_code'] else ''}"
                  f"{'  (demo)' if u['demo'] else ''}")
        return 0
    if not args.username:
        raise CliError(f"users {args.action} needs a USERNAME")
    try:
        if args.action == "add":
            if not args.role or not args.password:
                raise CliError("users add needs --role and --password")
            auth.create_user(engine, args.username, args.password, args.role,
                             actor=Actor.cli(args.actor), area_code=args.area,
                             team=args.team)
        elif args.action == "disable":
            auth.set_active(engine, args.username, False, actor=Actor.cli(args.actor))
        elif args.action == "enable":
            auth.set_active(engine, args.username, True, actor=Actor.cli(args.actor))
        elif args.action == "reset-password":
            if not args.password:
                raise CliError("users reset-password needs --password")
            auth.reset_password(engine, args.username, args.password,
                                actor=Actor.cli(args.actor))
    except auth.AuthError as exc:
        raise CliError(str(exc)) from exc
    print(f"{args.action}: {args.username} done")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m healthmap",
                                description="HealthMap (健康地图) command line")
    p.add_argument("--version", action="version", version=__version__)
    p.add_argument("--db", help="database URL (default: HEALTHMAP_DATABASE_URL or "
                                "sqlite:///data/healthmap.db)")
    # --db is accepted before or after the command name
    db_opt = argparse.ArgumentParser(add_help=False)
    db_opt.add_argument("--db", default=argparse.SUPPRESS, help="database URL")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[db_opt], **kw)

    s = command("init", help="create or upgrade the database and load reference data")
    s.add_argument("--admin-user", default="admin")
    s.add_argument("--admin-password", help="administrator password (required unless "
                                            "--skip-admin)")
    s.add_argument("--skip-admin", action="store_true", help="do not create an administrator")
    s.set_defaults(func=cmd_init)

    s = command("demo", help="initialise and load the deterministic demo data "
                                    "(with one demo account per role)")
    s.set_defaults(func=cmd_demo)

    s = command("import", help="validate and import a data file (all or nothing)")
    s.add_argument("kind", choices=["areas", "population", "institutions", "episodes",
                                    "residents"])
    s.add_argument("file")
    s.add_argument("--code-field", help="areas: field with the area code")
    s.add_argument("--name-field", help="areas: field with the area name")
    s.add_argument("--level", choices=["township", "village"], help="areas: level")
    s.add_argument("--parent-field", help="areas: field with the parent area code")
    s.add_argument("--crs", help="areas: CRS when the file has none, e.g. EPSG:4326")
    s.add_argument("--lang", choices=["zh", "en"], default="zh",
                   help="language of problem reasons")
    s.add_argument("--ignore-unknown-columns", action="store_true",
                   help="drop undeclared columns (with a warning) instead of refusing the file")
    s.add_argument("--confirm-changes", action="store_true",
                   help="apply changes to reference rows that existing records depend on "
                        "(institutions, area parents, large population changes); audited")
    s.add_argument("--actor", help="who runs the import, for the audit log (default: the "
                                   "operating-system user)")
    s.set_defaults(func=cmd_import)

    s = command("refresh", help="rebuild all summary tables from the episode store")
    s.set_defaults(func=cmd_refresh)

    s = command("report", help="one indicator for every area")
    s.add_argument("measure", choices=REPORTED, help="a measure of healthmap/measures.py")
    s.add_argument("--year", type=int, action="append", help="year (repeatable; default: "
                                                              "latest)")
    s.add_argument("--group", action="append", help="disease group code, e.g. C_COLORECTAL")
    s.add_argument("--icd", nargs="+", help="ICD-10 codes (three-character categories used)")
    s.add_argument("--level", choices=["township", "village"], default="township")
    s.add_argument("--setting", choices=["inpatient", "outpatient", "all"],
                   help="default inpatient (--public: every setting)")
    s.add_argument("--standard", choices=["china_2000", "who_2000_2025", "segi_world",
                                          "us_2000"],
                   help="incidence: age-standardise to this standard")
    s.add_argument("--lookback", type=int, default=DEFAULT_LOOKBACK, metavar="N",
                   help="incidence: count new cases, persons without an episode of the "
                        "selected codes in any setting in the N years before (default "
                        "%(default)s); 0 counts diagnosed cases (persons treated), not "
                        "incidence")
    s.add_argument("--public", action="store_true",
                   help="for publication: one of the published tables the public map shows "
                        "(incidence of one --group in one --year by township, optionally "
                        "--margin), suppressed jointly over every margin so no difference "
                        "of published figures reveals a hidden cell")
    s.add_argument("--margin", choices=MARGINS,
                   help="--public: the published table's population (default all)")
    s.add_argument("--format", choices=["csv", "xlsx", "json"], default="csv")
    s.add_argument("--output", help="write to this file instead of standard output")
    s.set_defaults(func=cmd_report)

    s = command("bench", help="import, refresh and query speed on synthetic data")
    s.add_argument("--episodes", type=int, default=1_000_000)
    s.add_argument("--keep", action="store_true", help="keep the benchmark database")
    s.add_argument("--no-demo", action="store_true",
                   help="skip the map-page scenario on the demo data (saves ~25 s)")
    s.add_argument("--browser", action="store_true",
                   help="time the map, ranking and board pages in headless Chromium "
                        "(Playwright): opening each and typical widget changes, click to "
                        "settled; --db: a demo database to serve "
                        "(default: a fresh one)")
    s.add_argument("--rounds", type=int, default=1, help="--browser: rounds of changes")
    s.add_argument("--pages", default="map,ranking,board",
                   help="--browser: the pages to time, comma-separated, of map, ranking "
                        "(key-specialty ranking) and board (indicator board); default all")
    s.add_argument("--lang", choices=["zh", "en"], default="zh",
                   help="--browser: the pages' language")
    s.add_argument("--warm", action="store_true",
                   help="--browser: log in once the server's warm-up at start has ended (a "
                        "visitor who finds it running); default: as soon as it answers")
    s.add_argument("--store-only", action="store_true",
                   help="only the episode store's part: write speed and the distinct-person "
                        "query beside DuckDB on CSV and pandas")
    s.set_defaults(func=cmd_bench)

    s = command("users", help="manage staff accounts")
    s.add_argument("action", choices=["add", "disable", "enable", "reset-password", "list"])
    s.add_argument("username", nargs="?")
    s.add_argument("--role", choices=list(ROLES), help="the account's role")
    s.add_argument("--password")
    s.add_argument("--area", help="limit the account to one township (area code)")
    s.add_argument("--team", help="limit the account to one family-doctor team")
    s.add_argument("--actor", help="who is acting (default: the operating-system user)")
    s.set_defaults(func=cmd_users)

    from healthmap.commands import register_all

    register_all(command)  # the jobs' own commands (healthmap/commands/*.py)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    before = os.environ.get("HEALTHMAP_DATABASE_URL")
    if getattr(args, "db", None):  # one command, one database: its key follows it
        os.environ["HEALTHMAP_DATABASE_URL"] = args.db
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: nothing was written by the unfinished step", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback, no data values
        from healthmap import dbhealth
        from healthmap.config import database_url

        problem = dbhealth.explain(exc, database_url(getattr(args, "db", None)))
        if problem is not None:  # a named problem with the database file, and what to do
            print(f"error: {problem}", file=sys.stderr)
            return 2
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
              file=sys.stderr)
        return 1
    finally:
        if before is None:
            os.environ.pop("HEALTHMAP_DATABASE_URL", None)
        else:
            os.environ["HEALTHMAP_DATABASE_URL"] = before
