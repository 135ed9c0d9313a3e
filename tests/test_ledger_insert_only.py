"""The insert-only path every ledger uses (healthmap.ledger.insert_only, issue 8): an
identical repeat of a source id is a no-op, a changed repeat is a named error, nothing is
written if any row fails; money as integer fen compares exactly. A throw-away table."""

from decimal import Decimal

import pytest
from sqlalchemy import BigInteger, String, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from healthmap.ledger import LedgerConflict, install_append_only, insert_only, to_fen


class Base(DeclarativeBase):
    pass


class Fee(Base):
    __tablename__ = "fees"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(String(40), unique=True)
    resident: Mapped[str] = mapped_column(String(20))
    fee_fen: Mapped[int] = mapped_column(BigInteger)


@pytest.fixture()
def engine():
    e = create_engine("sqlite://")
    Base.metadata.create_all(e)
    with e.begin() as conn:
        install_append_only(conn, "fees")
    yield e
    e.dispose()


def stored(engine):
    with Session(engine) as s:
        return sorted((f.source_id, f.resident, f.fee_fen) for f in s.scalars(select(Fee)))


def write(engine, rows):
    with Session(engine) as s, s.begin():
        return insert_only(s, Fee, rows)


def test_identical_repeat_is_a_no_op_changed_repeat_is_named_and_writes_nothing(engine):
    first = [{"source_id": "S1", "resident": "R1", "fee_fen": to_fen("120.50")},
             {"source_id": "S2", "resident": "R2", "fee_fen": to_fen(Decimal("0.07"))}]
    res = write(engine, first)
    assert (res.inserted, res.unchanged, sorted(res.inserted_ids)) == (2, 0, ["S1", "S2"])
    assert stored(engine) == [("S1", "R1", 12050), ("S2", "R2", 7)]
    # the same file again, plus one new row: only the new row is written
    res = write(engine, [*first, {"source_id": "S3", "resident": "R3", "fee_fen": 100}])
    assert (res.inserted, res.unchanged, res.inserted_ids) == (1, 2, ["S3"])
    # a batch with a new row (S4), an identical repeat (S1) and two changed repeats (S2, S3)
    batch = [{"source_id": "S4", "resident": "R4", "fee_fen": 500},
             {"source_id": "S1", "resident": "R1", "fee_fen": 12050},
             {"source_id": "S2", "resident": "R2", "fee_fen": 8},  # 0.08 yuan, not 0.07
             {"source_id": "S3", "resident": "R9", "fee_fen": 100}]
    with pytest.raises(LedgerConflict, match=r"^2 source id\(s\) .*: S2, S3$") as err:
        write(engine, batch)
    assert err.value.conflicts == [{"source_id": "S2"}, {"source_id": "S3"}]
    assert stored(engine) == [("S1", "R1", 12050), ("S2", "R2", 7), ("S3", "R3", 100)]


def test_the_same_source_id_twice_in_one_batch(engine):
    same = {"source_id": "S1", "resident": "R1", "fee_fen": 10}
    assert write(engine, [same, dict(same)]).inserted == 1
    with pytest.raises(LedgerConflict, match="S5"):
        write(engine, [{"source_id": "S5", "resident": "R1", "fee_fen": 10},
                       {"source_id": "S5", "resident": "R1", "fee_fen": 11}])
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Fee)) == 1


def test_rows_once_written_cannot_change(engine):
    write(engine, [{"source_id": "S1", "resident": "R1", "fee_fen": 10}])
    for sql in ("UPDATE fees SET fee_fen = 11", "DELETE FROM fees"):
        with engine.begin() as c, pytest.raises(Exception, match="append-only"):
            c.execute(text(sql))
    assert stored(engine) == [("S1", "R1", 10)]
