"""``spark-reference``, ``spark-rollups`` and ``spark-load``: the summary build on Spark.

See :mod:`healthmap.spark` for the three steps and README "City and province deployments".
"""

from __future__ import annotations


def cmd_reference(args) -> int:
    from healthmap.cli import _engine
    from healthmap.spark.exchange import write_reference

    counts = write_reference(_engine(args), args.out)
    print(", ".join(f"{k}: {v:,} rows" for k, v in counts.items()))
    return 0


def cmd_rollups(args) -> int:
    from healthmap.cli import CliError

    try:
        from healthmap.spark import rollups
    except ImportError as exc:  # pragma: no cover - pyspark is a dev/cluster dependency
        raise CliError(f"PySpark is not installed here ({exc}); pip install pyspark") from exc
    try:
        counts = rollups.run(args.episodes, args.reference, args.out, args.master)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    for name, n in counts.items():
        print(f"{name}: {n:,} rows")
    return 0


def cmd_load(args) -> int:
    from healthmap import dbhealth
    from healthmap.cli import CliError, _engine
    from healthmap.spark.exchange import load_rollups
    from healthmap.store import StoreMismatch

    try:
        years = load_rollups(_engine(args), args.folder, actor=args.actor)
    except (FileNotFoundError, ValueError, dbhealth.ImportRunning) as exc:
        raise CliError(str(exc)) from exc
    except StoreMismatch as exc:
        raise CliError(exc.message("en")) from exc
    print(f"summary roll-ups replaced in the episode store for {years}")
    return 0


def register(command) -> None:
    s = command("spark-reference", help="write the mapping tables the Spark roll-up job reads")
    s.add_argument("out", help="folder for icd3_groups.parquet and institutions.parquet")
    s.set_defaults(func=cmd_reference)
    s = command("spark-rollups", help="build the summary roll-ups with PySpark (local mode by "
                                      "default; --master for a cluster)")
    s.add_argument("episodes", help="episode store folder (episodes/year=YYYY/*.parquet)")
    s.add_argument("reference", help="folder written by spark-reference")
    s.add_argument("out", help="output folder")
    s.add_argument("--master", default="local[2]")
    s.set_defaults(func=cmd_rollups)
    s = command("spark-load", help="replace the store's roll-ups of the years in a Spark "
                                   "job's output (all or nothing)")
    s.add_argument("folder", help="the job's output folder")
    s.add_argument("--actor", default="cli", help="who loads (for the audit log)")
    s.set_defaults(func=cmd_load)
