"""Screening tables (all append-only: the migration installs triggers that refuse UPDATE
and DELETE). A person's screening state is derived from them, never stored.

* :class:`ScreeningRun` — one application of a rule set (its version and file fingerprint,
  the date ages were computed on, the scope it covered);
* :class:`ScreeningAssessment` — one resident's result in a run, with a snapshot of the
  inputs used (a later residents import overwrites risk factors in place);
* :class:`ScreeningEvent` — reviews (expert confirm / exclude with a reason), invitations,
  screenings (institution, fee in fen), results (normal / abnormal / diagnosed) and fee
  reductions (30 % of the fee, integer fen), each with a unique ``source_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from healthmap.models import Base

EVENT_KINDS = ("review", "invited", "screened", "result", "reduction")
REVIEW_DECISIONS = ("confirmed", "excluded")
RESULTS = ("normal", "abnormal", "diagnosed")


class ScreeningRun(Base):
    __tablename__ = "screening_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(40), unique=True)
    ruleset_id: Mapped[str] = mapped_column(String(40), index=True)
    ruleset_version: Mapped[str] = mapped_column(String(20))
    ruleset_fingerprint: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[dt.date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(200))  # all / township=… / team=…
    n_assessed: Mapped[int] = mapped_column(Integer)
    n_eligible: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ScreeningAssessment(Base):
    __tablename__ = "screening_assessments"
    __table_args__ = (UniqueConstraint("run_id", "resident_id"),
                      Index("ix_screening_assessments_set_resident", "ruleset_id",
                            "resident_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(40), ForeignKey("screening_runs.run_id"))
    ruleset_id: Mapped[str] = mapped_column(String(40))
    ruleset_version: Mapped[str] = mapped_column(String(20))
    resident_id: Mapped[str] = mapped_column(String(64), ForeignKey("residents.resident_id"))
    area_code: Mapped[str] = mapped_column(String(32))  # residence when assessed
    doctor_team: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(20))
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    reasons_zh: Mapped[str] = mapped_column(Text)
    reasons_en: Mapped[str] = mapped_column(Text)
    missing: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    as_of: Mapped[dt.date] = mapped_column(Date)


class ScreeningEvent(Base):
    __tablename__ = "screening_events"
    __table_args__ = (Index("ix_screening_events_set_resident", "ruleset_id", "resident_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(128), unique=True)
    ruleset_id: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[str] = mapped_column(String(64), ForeignKey("residents.resident_id"))
    kind: Mapped[str] = mapped_column(String(12))  # EVENT_KINDS
    date: Mapped[dt.date] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(12))  # review: confirmed / excluded
    result: Mapped[str | None] = mapped_column(String(12))  # result: RESULTS
    reason: Mapped[str | None] = mapped_column(String(500))
    institution_code: Mapped[str | None] = mapped_column(String(64))
    fee_fen: Mapped[int | None] = mapped_column(Integer)  # screened: the full fee
    reduction_fen: Mapped[int | None] = mapped_column(Integer)  # reduction: amount owed
    refers_to: Mapped[str | None] = mapped_column(String(128))  # e.g. the screening's id
    assessment_id: Mapped[int | None] = mapped_column(Integer)
    area_code: Mapped[str] = mapped_column(String(32))  # residence when recorded
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
