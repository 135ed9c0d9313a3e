"""``python -m healthmap two-disease-report --year Y --month M --out FILE``: the monthly
两病 outpatient-drug report (due by the 2nd of each month) as Excel, exported as an
administrator-rights CLI actor and audited; ``import-two-disease KIND FILE`` imports
drug settlements or the management register (validated, all or nothing)."""

from __future__ import annotations

from pathlib import Path


def cmd_report(args) -> int:
    from healthmap import access, audit, exports, queries, twodisease
    from healthmap.cli import CliError
    from healthmap.db import make_engine

    if not 1 <= args.month <= 12:
        raise CliError(f"month must be 1-12, not {args.month}")
    actor = access.Actor.cli(args.actor)
    access.require(actor, "board.report")
    engine = make_engine(args.db)
    county = queries.area_set(engine, "county").areas["name"]
    data = twodisease.report_xlsx(engine, args.year, args.month,
                                  str(county.iloc[0]) if len(county) else "",
                                  exports.Stamp(actor.username, f"两病门诊用药保障情况表 "
                                                f"{args.year}-{args.month:02d}"))
    Path(args.out).write_bytes(data)
    audit.record(engine, actor.username, "export", f"board:two_disease:{args.year}-"
                 f"{args.month}", str(args.out)[:200], role=actor.role)
    print(f"wrote {args.out}")
    return 0


def cmd_import(args) -> int:
    from healthmap import access, twodisease_import
    from healthmap.cli import CliError
    from healthmap.db import make_engine
    from healthmap.ingest.readers import FileReadError, read_table

    engine = make_engine(args.db)
    path = Path(args.file)
    try:
        df = read_table(path.read_bytes(), path.name)
    except (OSError, FileReadError) as e:
        raise CliError(f"cannot read {path}: {e}") from None
    clean, problems = twodisease_import.validate(engine, args.kind, df)
    if clean is None:
        print(problems[["row", "column", "value", "reason"]].to_string(index=False))
        raise CliError(f"{path.name} refused: {len(problems)} problems, nothing written")
    n = twodisease_import.write(engine, access.Actor.cli(args.actor), args.kind, clean,
                               path.name)
    print(f"imported {n:,} rows of {args.kind}")
    return 0


def register(command) -> None:
    s = command("two-disease-report", help="the monthly 两病 outpatient-drug report (Excel)")
    s.add_argument("--year", type=int, required=True)
    s.add_argument("--month", type=int, required=True)
    s.add_argument("--out", required=True, help="the .xlsx file to write")
    s.add_argument("--actor", default=None, help="who exports (audited; default: OS user)")
    s.set_defaults(func=cmd_report)
    s = command("import-two-disease", help="import 两病 drug settlements or the management "
                "register (validated, all or nothing)")
    s.add_argument("kind", choices=["drug_settlements", "chronic_register"])
    s.add_argument("file")
    s.add_argument("--actor", default=None, help="who imports (audited; default: OS user)")
    s.set_defaults(func=cmd_import)
