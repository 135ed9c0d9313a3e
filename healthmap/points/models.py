"""The health-points ledger table (append-only: the migration installs triggers that refuse
UPDATE and DELETE)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from healthmap.models import Base


class PointsEntry(Base):
    """One ledger entry. ``kind``: ``award`` (points > 0), ``redeem`` (points < 0),
    ``reversal`` (the negation of the entry whose source id is in ``reverses``) or
    ``expiry`` (points < 0, settings.yaml ``expiry.years``). A balance is the sum of
    ``points``."""

    __tablename__ = "points_ledger"
    __table_args__ = (Index("ix_points_ledger_activity_date", "activity_code", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(128), unique=True)
    resident_id: Mapped[str] = mapped_column(String(64), ForeignKey("residents.resident_id"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(12))
    activity_code: Mapped[str | None] = mapped_column(String(40))
    item_code: Mapped[str | None] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    reverses: Mapped[str | None] = mapped_column(String(128), unique=True)
    rules_version: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
