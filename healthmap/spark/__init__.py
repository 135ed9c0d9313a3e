"""Summary roll-ups on Apache Spark, for data beyond one machine (issue 14).

The app reads the summary roll-ups (``cells``, ``areas``, ``institutions``) of the episode
store; on one machine :mod:`healthmap.summary` builds them with pandas.
For a city or a province, :mod:`healthmap.spark.rollups` builds the same tables with
PySpark from the episode store's Parquet files (layout in ``docs/episode-store.md``):

1. ``python -m healthmap spark-reference OUT`` writes the two small mapping tables the job
   needs (ICD-10 category → disease group, institution → in county) as Parquet;
2. ``spark-submit healthmap/spark/rollups.py EPISODES REFERENCE OUT`` (or
   ``python -m healthmap spark-rollups`` in local mode) writes the three tables as Parquet
   under ``OUT/<table>/``;
3. ``python -m healthmap spark-load OUT`` replaces the roll-ups of the years found there in
   the store, in one store write committed with its database transaction, and bumps the
   data version, so every app process sees them.

The job follows the single-machine definitions exactly (first episode by date then record
id per person, year and disease group; money summed in integer fen and fen²), and a test checks that
its output equals the pandas output row for row and bit for bit on the demo data.
PySpark is needed only where the job runs (``requirements-dev.txt`` pins it for the tests);
importing this package does not import it.
"""
