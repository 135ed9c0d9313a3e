"""Tables of the leaders' board (issue 10; migration 0010):

* :class:`AggregateValue` — one value of an aggregate indicator (declared in
  ``data/board_indicators.csv``) for one period, entered by a form or an upload
  (replaced by a later entry of the same indicator and period; every entry audited);
* :class:`DrugSettlement` — one outpatient drug settlement of a hypertension/diabetes
  patient (import kind ``drug_settlements``; money in integer fen);
* :class:`ChronicRegister` — one person's management of one chronic disease (import kind
  ``chronic_register``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index,
                        Integer, String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from healthmap.models import Base

DISEASES = ("hypertension", "diabetes")
SCHEMES = ("general", "special", "chronic")  # 普通门诊统籌 / 两病专项 / 门诊慢特病
DRUG_CLASSES = ("antihypertensive", "antidiabetic", "other")


class AggregateValue(Base):
    __tablename__ = "board_aggregate_values"
    __table_args__ = (UniqueConstraint("indicator", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))  # YYYY or YYYY-MM
    value: Mapped[float] = mapped_column(Float)
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(200))  # "form" or the uploaded file's name


class DrugSettlement(Base):
    __tablename__ = "drug_settlements"
    __table_args__ = (Index("ix_drug_settlements_year_month", "year", "month"),)

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    area_code: Mapped[str] = mapped_column(String(32))
    date: Mapped[dt.date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    disease: Mapped[str] = mapped_column(String(12))  # DISEASES
    scheme: Mapped[str] = mapped_column(String(8))  # SCHEMES
    drug_class: Mapped[str] = mapped_column(String(16))  # DRUG_CLASSES
    drug_cost_fen: Mapped[int] = mapped_column(BigInteger)
    policy_cost_fen: Mapped[int] = mapped_column(BigInteger)
    fund_paid_fen: Mapped[int] = mapped_column(BigInteger)
    import_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("import_log.id"))


class ChronicRegister(Base):
    __tablename__ = "chronic_register"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    disease: Mapped[str] = mapped_column(String(12), primary_key=True)  # DISEASES
    managed_since: Mapped[dt.date] = mapped_column(Date)
    standardised: Mapped[bool] = mapped_column(Boolean)
    import_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("import_log.id"))
