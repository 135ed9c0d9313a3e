"""The episode store (issue 14, decisions §1–2): episodes as Parquet files queried by DuckDB.

The store is the system of record for episodes: they are not kept in the SQLAlchemy
database, whose import log says which version of the store is current
(:mod:`healthmap.store.sync`: imports commit to both in two phases). Layout, atomic
writes and how Spark reads or writes it: ``docs/episode-store.md``.

Query contract
--------------
``connect(engine)`` returns a DuckDB cursor (read-only use; one per thread or request;
close it) holding exactly these relations; ``query(engine, sql, params)`` runs one
parameterised query (``?`` or ``$name``) and returns a pandas DataFrame.

``episodes`` (view over the manifest's files only; one row per episode)

=================  =========  ==================================================
column             type       meaning
=================  =========  ==================================================
record_id          VARCHAR    the source record id (unique)
person_id          VARCHAR    the person (pseudonymous id from the source)
area_code          VARCHAR    residence area (village or township code)
icd10              VARCHAR    diagnosis as imported (e.g. ``C16.9``)
icd3               VARCHAR    its three-character category (``C16``)
date               DATE       date of admission / visit
year               INTEGER    year of ``date`` (the partition)
month              INTEGER    month of ``date`` (1–12)
setting            VARCHAR    ``inpatient`` / ``outpatient``
institution_code   VARCHAR    treating institution
total_cost_fen     BIGINT     total cost in fen (yuan × 100, exact)
fund_paid_fen      BIGINT     insurance fund share in fen (NULL = not given)
insurance_type     VARCHAR    ``employee`` / ``resident`` / ``self_pay`` …
referral           BOOLEAN    referred out (NULL = not given)
sex                VARCHAR    ``M`` / ``F``
age                INTEGER    age in years (NULL = not given)
age_group          VARCHAR    five-year band (``60-64``), as imported
=================  =========  ==================================================

Files are sorted by ``icd3, area_code, person_id, date, record_id`` within each year, so
filters on a year and a disease group read few row groups.

``rollup_cells``, ``rollup_areas``, ``rollup_institutions``: the summary roll-ups
(:data:`healthmap.cube.ROLLUPS`; columns :func:`healthmap.store.layout.rollup_columns`):
``year`` and the other dimensions, then the measures, counts as BIGINT and money exact:
``cost_sum_fen`` and ``fund_sum_fen`` BIGINT fen, ``cost_sq_sum_fen2`` DECIMAL(38,0) fen².
Disease group and in-county status are as they were when the roll-ups were built (they are
rebuilt whenever either changes). :func:`healthmap.queries.rollup` reads them in yuan.

``rollup_persons``: the per-person roll-up (:mod:`healthmap.person_rollup`, columns
:data:`healthmap.person_rollup.COLUMNS`); ``rollup_person_counts``: the person counts
(:mod:`healthmap.person_counts`); ``store_years(year INTEGER, persons BOOLEAN, counts
BOOLEAN, specialties VARCHAR)``: the manifest's years, whether each has them, and the
digest of the key specialties' grouping its counts were computed with
(:func:`healthmap.person_counts.specialty_digest`).

``icd3_groups(icd3 VARCHAR, group_code VARCHAR)``: the current disease grouping (one group
per ICD-3 category; categories outside every group are absent).

``institutions(code VARCHAR, in_county BOOLEAN)``: whether each institution is in the
county (the current reference data).

``areas(code VARCHAR, level VARCHAR, parent_code VARCHAR)``: the area hierarchy
(``county`` / ``township`` / ``village``; a village's ``parent_code`` is its township), to
roll village codes up to townships.

Disease group and in-county status are not stored with the episodes (they change when
reference data changes): join these tables.

Examples
--------
Distinct persons per area among one year's inpatient episodes of one disease group::

    from healthmap import store
    df = store.query(engine, '''
        SELECT e.area_code, count(DISTINCT e.person_id) AS persons
        FROM episodes e JOIN icd3_groups g USING (icd3)
        WHERE e.year = ? AND g.group_code = ? AND e.setting = 'inpatient'
        GROUP BY e.area_code ORDER BY e.area_code''', [2024, "C_STOMACH"])
"""

from healthmap.store.layout import StoreLocationError, engine_store_dir, store_dir
from healthmap.store.query import VIEW_COLUMNS, connect, query
from healthmap.store.sync import (StoreMismatch, live_manifest, open_writer, prepare, publish,
                                  status, store_version)

__all__ = ["VIEW_COLUMNS", "StoreLocationError", "StoreMismatch", "connect",
           "engine_store_dir", "live_manifest", "open_writer", "prepare", "publish", "query",
           "status", "store_dir", "store_version"]
