"""Append-only ledgers: database-enforced immutability, idempotent insert-only writes, money
in integer fen.

Used by the audit log and by every ledger of the jobs (points, screening events, fee
reductions, catalogue decisions):

* :func:`install_append_only` installs triggers that refuse UPDATE and DELETE on a table,
  for SQLite and PostgreSQL (call it from the table's migration);
* :func:`insert_only` writes rows keyed by a unique source id: an identical repeat is a
  no-op, a changed repeat is a named error, and nothing is written if any row fails;
* :func:`to_fen` / :func:`fen_to_yuan` convert money exactly (decisions: integer fen).

Examples
--------
>>> to_fen("12.34"), to_fen(0.1 + 0.2), fen_to_yuan(1234)
(1234, 30, Decimal('12.34'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """SQL that makes ``table`` refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE.

    ``dialect`` is ``sqlite`` or ``postgresql``. PostgreSQL's TRUNCATE fires no row
    triggers, so a statement trigger refuses it; SQLite has no TRUNCATE (its DELETE
    without WHERE fires the row trigger: the truncate optimisation is off on a table
    with triggers).

    >>> append_only_ddl("sqlite", "points_ledger")[0][:52]
    'CREATE TRIGGER points_ledger_no_update BEFORE UPDATE'
    >>> append_only_ddl("postgresql", "audit_log")[-1][:52]
    'CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE'
    """
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                for verb in ("UPDATE", "DELETE")]
    if dialect == "postgresql":
        return [f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
                f"BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql",
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"]
    raise ValueError(f"append-only triggers are not written for {dialect!r}")


def drop_append_only_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{v}" for v in ("update", "delete")]
    return [f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"DROP FUNCTION IF EXISTS {table}_append_only()"]


def install_append_only(bind, table: str) -> None:
    """Install the triggers on ``bind`` (a Connection; in a migration ``op.get_bind()``)."""
    for sql in append_only_ddl(bind.dialect.name, table):
        bind.exec_driver_sql(sql)


class LedgerConflict(ValueError):
    """Rows whose source id is already in the ledger with different content."""

    def __init__(self, conflicts: list[dict[str, Any]]):
        self.conflicts = conflicts
        ids = ", ".join(str(c["source_id"]) for c in conflicts[:5])
        more = f" (+{len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        super().__init__(f"{len(conflicts)} source id(s) already recorded with different "
                         f"content: {ids}{more}")


@dataclass
class InsertResult:
    inserted: int = 0
    unchanged: int = 0
    inserted_ids: list[str] = field(default_factory=list)


def insert_only(session: Session, model, rows: Iterable[Mapping[str, Any]],
                key: str = "source_id", compare: Iterable[str] | None = None,
                _again: bool = True) -> InsertResult:
    """Insert ``rows`` into the ledger ``model``, idempotently by ``key``.

    A row whose ``key`` is already stored with the same values in ``compare`` (default:
    every column given) is skipped; one stored with other values raises
    :class:`LedgerConflict` naming every such id, before anything is written. Duplicate keys
    within ``rows`` follow the same rule. The caller owns the transaction (``with
    Session(engine) as s, s.begin(): insert_only(s, ...)``), so a failure writes nothing.
    A key committed by a concurrent transaction between the read and the insert is judged
    the same way (on PostgreSQL the insert runs in a savepoint and is read again once).
    """
    rows = [dict(r) for r in rows]
    if not rows:
        return InsertResult()
    fields = list(compare) if compare is not None else [c for c in rows[0] if c != key]
    col = getattr(model, key)
    ids = list({r[key] for r in rows})
    stored: dict[Any, Any] = {}
    for start in range(0, len(ids), 500):
        for obj in session.scalars(select(model).where(col.in_(ids[start:start + 500]))):
            stored[getattr(obj, key)] = obj
    seen: dict[Any, dict] = {}
    new, conflicts, unchanged = [], [], 0
    for r in rows:
        k = r[key]
        before = stored.get(k)
        if before is not None:
            same = all(_same(getattr(before, f), r.get(f)) for f in fields)
        elif k in seen:
            same = all(_same(seen[k].get(f), r.get(f)) for f in fields)
        else:
            seen[k] = r
            new.append(r)
            continue
        if same:
            unchanged += 1
        else:
            conflicts.append({"source_id": k})
    if conflicts:
        raise LedgerConflict(conflicts)
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time: no race
        session.add_all(model(**r) for r in new)
        session.flush()
        return InsertResult(len(new), unchanged, [r[key] for r in new])
    try:
        with session.begin_nested():
            session.add_all(model(**r) for r in new)
            session.flush()
    except IntegrityError:
        # another transaction committed one of these keys after the read above (on
        # PostgreSQL a writer holding a different resident's lock): read again, so the
        # clash is judged like any stored key (a repeat, or a named conflict)
        if not _again:
            raise
        return insert_only(session, model, rows, key, compare, _again=False)
    return InsertResult(len(new), unchanged, [r[key] for r in new])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(str(a)) == Decimal(str(b))
    if hasattr(a, "isoformat") and isinstance(b, str):
        return a.isoformat()[:len(b)] == b
    return a == b


def to_fen(yuan: Any) -> int:
    """Yuan (number or text) to integer fen, rounding half up at the fen.

    >>> to_fen(100), to_fen("0.005"), to_fen(-1.015)
    (10000, 1, -102)
    """
    d = Decimal(str(yuan)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(d * 100)


def fen_array(yuan) -> "np.ndarray":
    """Yuan (a numeric array or Series) to integer fen (int64), half up like :func:`to_fen`.

    Rounding at the sixth decimal of the fen first absorbs binary representation error
    (``1.005 * 100`` is ``100.49999999999999``), so each element equals ``to_fen(str(x))``
    for amounts with up to six decimals. Missing values are refused: mask them first.

    >>> fen_array([1.005, 0.1 + 0.2, 23650.4, 0.0]).tolist()
    [101, 30, 2365040, 0]
    """
    import numpy as np

    x = np.asarray(yuan, dtype=float)
    if np.isnan(x).any():
        raise ValueError("fen_array: missing amounts; mask them before converting")
    return (np.sign(x) * np.floor(np.round(np.abs(x) * 100, 6) + 0.5)).astype(np.int64)


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen to exact yuan (for display and export only)."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))
