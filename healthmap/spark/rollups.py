"""The summary roll-ups as a PySpark job (see :mod:`healthmap.spark`).

Run with ``spark-submit healthmap/spark/rollups.py EPISODES REFERENCE OUT [--master URL]``;
``EPISODES`` is the episode store's folder (``episodes/year=YYYY/*.parquet``) or any folder
of Parquet files with the store's columns.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

# the roll-ups' names, columns and money units, written once in healthmap.cube
try:
    from healthmap.cube import (AREA_DIMS, CELL_DIMS, INST_DIMS, INST_MEASURES, MEASURES,
                                MONEY, ROLLUPS)
except ImportError:  # spark-submit of this file alone: put the project on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from healthmap.cube import (AREA_DIMS, CELL_DIMS, INST_DIMS, INST_MEASURES, MEASURES,
                                MONEY, ROLLUPS)

TABLES = tuple(ROLLUPS)


def episode_files(folder: str) -> tuple[str, list[str]]:
    """The base folder and live Parquet files of an episode store: the files its
    ``manifest.json`` names (never staged or retired files), else every file under
    ``episodes/year=*/``."""
    import json

    base = os.path.join(folder, "episodes")
    manifest = os.path.join(folder, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as fh:
            years = json.load(fh)["years"]
        files = [os.path.join(folder, f) for y in sorted(years) for f in years[y]["files"]]
    else:
        files = sorted(glob.glob(os.path.join(base, "year=*", "*.parquet")))
    return base, files


def session(master: str = "local[2]"):
    """A Spark session for the job (local mode by default; a cluster via ``master``)."""
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(master).appName("healthmap-rollups")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "true")  # an overflowing sum fails loudly
            .getOrCreate())


def build(spark, base: str, files: list[str], reference: str) -> dict:
    """The three roll-ups as Spark DataFrames, keyed by table name.

    Same definitions as :func:`healthmap.summary.summarise_year`: a new case is a person's
    first episode (by date, then record id) of the year in a disease group, an ICD-10
    category outside every group counting as its own group; ``persons`` flags a person's
    first episode of the year.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # the year is the hive partition (``year=YYYY`` folders), not a column in the files
    ep = spark.read.option("basePath", base).parquet(*files)
    groups = spark.read.parquet(os.path.join(reference, "icd3_groups.parquet"))
    inst = spark.read.parquet(os.path.join(reference, "institutions.parquet"))
    ep = (ep.join(F.broadcast(groups), "icd3", "left")
            .join(F.broadcast(inst.withColumnRenamed("code", "institution_code")),
                  "institution_code", "left")
            .withColumn("group_key", F.coalesce("group_code", F.concat(F.lit("ICD:"), "icd3"))))
    order = [F.col("date"), F.col("record_id")]
    by_group = Window.partitionBy("year", "person_id", "group_key").orderBy(*order)
    by_person = Window.partitionBy("year", "person_id").orderBy(*order)
    cost = F.col("total_cost_fen").cast("long")
    fund = F.col("fund_paid_fen").cast("long")
    exact = "decimal(38,0)"  # fen²: beyond int64 at province scale
    ep = ep.select(
        *[F.col(c) for c in sorted(set(CELL_DIMS) | set(INST_DIMS))],
        (F.row_number().over(by_group) == 1).cast("long").alias("new_case"),
        (F.row_number().over(by_person) == 1).cast("long").alias("first_of_year"),
        F.when(F.col("referral"), 1).otherwise(0).cast("long").alias("referral_n"),
        cost.alias("cost"), (cost.cast(exact) * cost.cast(exact)).cast(exact).alias("cost_sq"),
        F.coalesce(fund, F.lit(0).cast("long")).alias("fund"),
        F.when(fund.isNotNull(), 1).otherwise(0).cast("long").alias("fund_known"))
    sums = {"episodes": F.count(F.lit(1)), "new_cases": F.sum("new_case"),
            "persons": F.sum("first_of_year"), "referrals": F.sum("referral_n"),
            "cost_sum": F.sum("cost"), "cost_sq_sum": F.sum("cost_sq").cast(exact),
            "fund_sum": F.sum("fund"), "fund_n": F.sum("fund_known")}
    cells_fen = ep.groupBy(*CELL_DIMS).agg(*[sums[m].alias(m) for m in MEASURES]).cache()
    areas_fen = cells_fen.groupBy(*AREA_DIMS).agg(
        *[(F.sum(m).cast(exact) if m == "cost_sq_sum" else F.sum(m)).alias(m)
          for m in MEASURES])
    inst_fen = ep.groupBy(*INST_DIMS).agg(*[sums[m].alias(m) for m in INST_MEASURES])

    def store_form(frame):  # the store's roll-up columns (money exact, in fen and fen²)
        for measure, (column, _per_yuan) in MONEY.items():
            if measure in frame.columns:
                frame = frame.withColumnRenamed(measure, column)
        return frame

    return {"cells": store_form(cells_fen), "areas": store_form(areas_fen),
            "institutions": store_form(inst_fen)}


def run(episodes: str, reference: str, out: str, master: str = "local[2]") -> dict[str, int]:
    """Build the roll-ups and write ``OUT/<table>/`` as Parquet; rows written per table."""
    base, files = episode_files(episodes)
    if not files:
        raise FileNotFoundError(f"no Parquet episode files under {episodes}")
    spark = session(master)
    try:
        counts = {}
        for name, frame in build(spark, base, files, reference).items():
            frame.write.mode("overwrite").parquet(os.path.join(out, name))
            counts[name] = spark.read.parquet(os.path.join(out, name)).count()
        return counts
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HealthMap summary roll-ups on Spark")
    parser.add_argument("episodes", help="episode store folder (episodes/year=YYYY/*.parquet)")
    parser.add_argument("reference", help="folder written by `healthmap spark-reference`")
    parser.add_argument("out", help="output folder (one Parquet folder per roll-up)")
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[2]"))
    args = parser.parse_args(argv)
    for name, n in run(args.episodes, args.reference, args.out, args.master).items():
        print(f"{name}: {n:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
