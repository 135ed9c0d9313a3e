"""The key clinical specialty catalogue (临床重点专科目录): drafts, the expert panel's
decisions, adoption for 3 years, history (domain.md §1, §5; seed 000 clause 十一).

* :func:`save_draft` stores a ranking as a named draft with its period, setting, method,
  weights and date, and a **snapshot** of every ranked disease group (names, ICD-10 ranges,
  specialty, indicators with money in integer fen, score, rank interval, tier) and of the
  specialty roll-up. The snapshot makes a draft independent of the live ``disease_groups``
  table, which ``init`` deletes and re-inserts.
* :func:`decide` appends the panel's decision for a specialty (include / exclude / watch,
  with a reason) to an append-only ledger; the latest decision per specialty counts, the
  earlier ones stay visible.
* :func:`adopt` makes a draft the catalogue, valid 3 years; the database then refuses any
  change to it (triggers of migration 0007), not only this module.

Who may do what (:data:`healthmap.access.PERMISSIONS`): planners and administrators draft;
the expert panel (role ``expert``), planners (domain.md counts the panel among planners:
a planner may record the panel's decision for it) and administrators decide; adopting is
the commission's act: leaders, planners and administrators.

Examples
--------
>>> valid_until(dt.date(2025, 3, 1)), valid_until(dt.date(2024, 2, 29))
(datetime.date(2028, 3, 1), datetime.date(2027, 2, 28))
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Engine, Float, ForeignKey,
                        Integer, String, Text, select)
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmap import access, audit, db, ledger
from healthmap.models import Base

VALID_YEARS = 3  # seed 000: the catalogue is re-set every 3 years
DECISIONS = ("include", "exclude", "watch")


class CatalogueDraft(Base):
    __tablename__ = "catalogue_drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    years: Mapped[str] = mapped_column(String(100))  # "2022,2023,2024"
    setting: Mapped[str | None] = mapped_column(String(12))
    method: Mapped[str] = mapped_column(String(20))
    criteria: Mapped[str] = mapped_column(String(200))  # "incidence,outward_referral,…"
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    weight_source: Mapped[str] = mapped_column(String(12))  # entropy / planner
    entropy_weights: Mapped[dict[str, float] | None] = mapped_column(JSON)
    top_n: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    jitter: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    adopted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    adopted_by: Mapped[str | None] = mapped_column(String(64))
    valid_until: Mapped[dt.date | None] = mapped_column(Date)


class CatalogueGroup(Base):
    """Snapshot of one disease group in a draft (append-only)."""

    __tablename__ = "catalogue_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[int] = mapped_column(Integer, ForeignKey("catalogue_drafts.id"))
    group_code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    icd_ranges: Mapped[str] = mapped_column(String(400))
    specialty_code: Mapped[str] = mapped_column(String(40))
    specialty_zh: Mapped[str] = mapped_column(String(100))
    specialty_en: Mapped[str] = mapped_column(String(200))
    new_cases: Mapped[int] = mapped_column(Integer)
    # "new" (with a look-back of ``lookback`` years) or "diagnosed" (migration 0015; NULL
    # in drafts saved before it)
    case_basis: Mapped[str | None] = mapped_column(String(10))
    lookback: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    incidence: Mapped[float | None] = mapped_column(Float)
    asr: Mapped[float | None] = mapped_column(Float)
    episodes: Mapped[int] = mapped_column(Integer)
    out_episodes: Mapped[int] = mapped_column(Integer)
    outward_referral: Mapped[float | None] = mapped_column(Float)
    cost_per_case_fen: Mapped[int | None] = mapped_column(BigInteger)
    cost_in_county_fen: Mapped[int | None] = mapped_column(BigInteger)
    cost_out_county_fen: Mapped[int | None] = mapped_column(BigInteger)
    fund_outflow_fen: Mapped[int] = mapped_column(BigInteger)
    trend: Mapped[float | None] = mapped_column(Float)
    unstable: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)
    rank_low: Mapped[int | None] = mapped_column(Integer)
    rank_high: Mapped[int | None] = mapped_column(Integer)
    top_share: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(String(8))


class CatalogueSpecialty(Base):
    """Snapshot of one specialty's roll-up in a draft (append-only)."""

    __tablename__ = "catalogue_specialties"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[int] = mapped_column(Integer, ForeignKey("catalogue_drafts.id"))
    specialty_code: Mapped[str] = mapped_column(String(40))
    specialty_zh: Mapped[str] = mapped_column(String(100))
    specialty_en: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(8))
    n_groups: Mapped[int] = mapped_column(Integer)
    top_group: Mapped[str] = mapped_column(String(40))
    drivers: Mapped[str] = mapped_column(String(1000))
    persons: Mapped[int | None] = mapped_column(Integer)


class CatalogueDecision(Base):
    """The expert panel's decision on one specialty of a draft (append-only ledger)."""

    __tablename__ = "catalogue_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64), unique=True)
    draft_id: Mapped[int] = mapped_column(Integer, ForeignKey("catalogue_drafts.id"))
    specialty_code: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(1000))
    decided_by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime)


class CatalogueError(ValueError):
    """A refused catalogue action (the message says why, in one line)."""


def valid_until(adopted: dt.date, years: int = VALID_YEARS) -> dt.date:
    """The last day of validity: the same day ``years`` later (29 Feb → 28 Feb)."""
    try:
        return adopted.replace(year=adopted.year + years)
    except ValueError:
        return adopted.replace(year=adopted.year + years, day=28)


def _fen(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else ledger.to_fen(round(float(v), 2))


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def save_draft(engine: Engine, actor: access.Actor, name: str, *, years: tuple[int, ...],
               setting: str | None, method: str, criteria: tuple[str, ...],
               weights: dict[str, float], weight_source: str, groups: pd.DataFrame,
               specialties: pd.DataFrame, entropy_weights: dict[str, float] | None = None,
               top_n: int = 10, runs: int = 500, seed: int = 0, jitter: float = 0.2,
               note: str | None = None, now: dt.datetime | None = None) -> int:
    """Save a ranking as a named draft with its snapshot; returns the draft id.

    ``groups`` is the ranked indicator table (:func:`healthmap.ranking_data.group_indicators`
    plus ``score``, ``rank``, ``rank_low``, ``rank_high``, ``top_share``, ``tier``; rows
    without a score were not ranked); ``specialties`` the roll-up
    (:func:`healthmap.ranking.rollup_specialties` plus ``specialty_zh``, ``specialty_en``,
    ``tier``). ``groups``'s ``case_basis`` (``new`` / ``diagnosed``) and ``lookback`` (the
    look-back years of its new cases) are kept with each group, so an export says what
    its case counts are.
    """
    access.require(actor, "catalogue.draft")
    name = (name or "").strip()
    if not name:
        raise CatalogueError("a draft needs a name")
    if method not in ("weighted_sum", "topsis"):
        raise CatalogueError(f"unknown method {method!r}")
    now = now or dt.datetime.now().replace(microsecond=0)
    with Session(engine) as s, s.begin():
        if s.scalar(select(CatalogueDraft.id).where(CatalogueDraft.name == name)) is not None:
            raise CatalogueError(f"a draft named {name!r} exists already")
        d = CatalogueDraft(name=name, created_at=now, created_by=actor.username,
                           years=",".join(map(str, sorted(years))), setting=setting,
                           method=method, criteria=",".join(criteria),
                           weights={k: float(v) for k, v in weights.items()},
                           weight_source=weight_source,
                           entropy_weights=None if entropy_weights is None else
                           {k: float(v) for k, v in entropy_weights.items()},
                           top_n=int(top_n), runs=int(runs), seed=int(seed),
                           jitter=float(jitter), note=note, status="draft")
        s.add(d)
        s.flush()
        for r in groups.to_dict("records"):
            s.add(CatalogueGroup(
                draft_id=d.id, group_code=r["group_code"], name_zh=r["name_zh"],
                name_en=r["name_en"], icd_ranges=r["icd_ranges"],
                specialty_code=r["specialty_code"], specialty_zh=r["specialty_zh"],
                specialty_en=r["specialty_en"], new_cases=int(r["new_cases"]),
                case_basis=r.get("case_basis") or None, lookback=_int(r.get("lookback")),
                population=int(round(r["population"])), incidence=_num(r.get("incidence")),
                asr=_num(r.get("asr")), episodes=int(r["episodes"]),
                out_episodes=int(r["out_episodes"]),
                outward_referral=_num(r.get("outward_referral")),
                cost_per_case_fen=_fen(r.get("cost_per_case")),
                cost_in_county_fen=_fen(r.get("cost_in_county")),
                cost_out_county_fen=_fen(r.get("cost_out_county")),
                fund_outflow_fen=_fen(r.get("fund_outflow")) or 0,
                trend=_num(r.get("trend")), unstable=bool(r["unstable"]),
                score=_num(r.get("score")), rank=_int(r.get("rank")),
                rank_low=_int(r.get("rank_low")), rank_high=_int(r.get("rank_high")),
                top_share=_num(r.get("top_share")), tier=r.get("tier") or None))
        for r in specialties.to_dict("records"):
            s.add(CatalogueSpecialty(
                draft_id=d.id, specialty_code=r["specialty_code"],
                specialty_zh=r["specialty_zh"], specialty_en=r["specialty_en"],
                score=float(r["score"]), rank=int(r["rank"]), tier=r.get("tier") or None,
                n_groups=int(r["n_groups"]), top_group=r["top_group"],
                drivers=str(r["drivers"])[:1000], persons=_int(r.get("persons"))))
        audit.record(s, actor.username, "catalogue.draft", f"catalogue:{d.id}",
                     f"name={name}; years={d.years}; method={method}; "
                     f"weights={d.weights}", role=actor.role)
        db.bump_version(s)
        return d.id


def _draft(s: Session, draft_id: int) -> CatalogueDraft:
    d = s.get(CatalogueDraft, draft_id)
    if d is None:
        raise CatalogueError(f"no catalogue draft {draft_id}")
    return d


def decide(engine: Engine, actor: access.Actor, draft_id: int, specialty_code: str,
           decision: str, reason: str, now: dt.datetime | None = None) -> str:
    """Record the panel's decision on a specialty of a draft; returns its source id.

    Decisions are appended, never edited: a new decision on the same specialty supersedes
    the earlier one, which stays in the ledger. Refused once the catalogue is adopted.
    """
    access.require(actor, "catalogue.decide")
    if decision not in DECISIONS:
        raise CatalogueError(f"decision must be one of {', '.join(DECISIONS)}")
    reason = (reason or "").strip()
    if not reason:
        raise CatalogueError("a decision needs a reason")
    now = now or dt.datetime.now().replace(microsecond=0)
    with Session(engine) as s, s.begin():
        d = _draft(s, draft_id)
        if d.status == "adopted":
            raise CatalogueError(f"catalogue {d.name!r} is adopted and cannot be changed")
        known = s.scalar(select(CatalogueSpecialty.id).where(
            CatalogueSpecialty.draft_id == draft_id,
            CatalogueSpecialty.specialty_code == specialty_code))
        if known is None:
            raise CatalogueError(f"specialty {specialty_code!r} is not in draft {d.name!r}")
        source_id = uuid.uuid4().hex
        ledger.insert_only(s, CatalogueDecision, [dict(
            source_id=source_id, draft_id=draft_id, specialty_code=specialty_code,
            decision=decision, reason=reason[:1000], decided_by=actor.username,
            role=actor.role, decided_at=now)])
        audit.record(s, actor.username, "catalogue.decide", f"catalogue:{draft_id}",
                     f"{specialty_code}={decision}", role=actor.role)
        db.bump_version(s)
    return source_id


def adopt(engine: Engine, actor: access.Actor, draft_id: int,
          now: dt.datetime | None = None) -> dt.date:
    """Adopt a draft as the catalogue, valid 3 years; returns the last day of validity.

    Needs at least one specialty whose latest decision is ``include``. Afterwards the
    draft, its snapshot and its decisions cannot be changed (the database refuses).
    """
    access.require(actor, "catalogue.adopt")
    now = now or dt.datetime.now().replace(microsecond=0)
    with Session(engine) as s, s.begin():
        d = _draft(s, draft_id)
        if d.status == "adopted":
            raise CatalogueError(f"catalogue {d.name!r} is adopted already")
        latest = _latest(s, draft_id)
        if not (latest["decision"] == "include").any():
            raise CatalogueError("no specialty is included yet: record the panel's "
                                 "decisions first")
        d.status, d.adopted_at, d.adopted_by = "adopted", now, actor.username
        d.valid_until = valid_until(now.date())
        audit.record(s, actor.username, "catalogue.adopt", f"catalogue:{draft_id}",
                     f"name={d.name}; valid_until={d.valid_until}", role=actor.role)
        db.bump_version(s)
        return d.valid_until


DECISION_COLUMNS = ["specialty_code", "decision", "reason", "decided_by", "role", "decided_at"]


def _latest(s: Session, draft_id: int) -> pd.DataFrame:
    rows = s.execute(select(*[getattr(CatalogueDecision, c) for c in DECISION_COLUMNS])
                     .where(CatalogueDecision.draft_id == draft_id)
                     .order_by(CatalogueDecision.id)).all()
    df = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    return df.drop_duplicates("specialty_code", keep="last").reset_index(drop=True)


def drafts(engine: Engine) -> pd.DataFrame:
    """Every draft and catalogue, newest first, with its number of included specialties."""
    cols = ["id", "name", "status", "created_at", "created_by", "years", "setting", "method",
            "weight_source", "adopted_at", "adopted_by", "valid_until"]
    with Session(engine) as s:
        rows = s.execute(select(*[getattr(CatalogueDraft, c) for c in cols])
                         .order_by(CatalogueDraft.id.desc())).all()
        df = pd.DataFrame(rows, columns=cols)
        df["included"] = [int((_latest(s, i)["decision"] == "include").sum()) for i in df["id"]]
    return df


def draft(engine: Engine, draft_id: int) -> dict[str, Any]:
    """One draft's settings as a dict (method, weights, period …)."""
    with Session(engine) as s:
        d = _draft(s, draft_id)
        return {c.name: getattr(d, c.name) for c in CatalogueDraft.__table__.columns}


def snapshot_groups(engine: Engine, draft_id: int) -> pd.DataFrame:
    """The draft's disease groups as saved (money back in yuan), best rank first."""
    cols = [c.name for c in CatalogueGroup.__table__.columns if c.name not in ("id",)]
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(select(CatalogueGroup.__table__).where(
            CatalogueGroup.draft_id == draft_id)).mappings().all(), columns=["id"] + cols)
    for c in ("cost_per_case", "cost_in_county", "cost_out_county", "fund_outflow"):
        df[c] = [np.nan if v is None or pd.isna(v) else float(ledger.fen_to_yuan(v))
                 for v in df.pop(f"{c}_fen")]
    return df.drop(columns=["id"]).sort_values(["rank", "group_code"], na_position="last",
                                               kind="stable").reset_index(drop=True)


def entries(engine: Engine, draft_id: int) -> pd.DataFrame:
    """The draft's specialties with the latest decision on each (empty = undecided)."""
    with Session(engine) as s:
        cols = [c.name for c in CatalogueSpecialty.__table__.columns if c.name != "id"]
        spec = pd.DataFrame(s.execute(select(*[getattr(CatalogueSpecialty, c) for c in cols])
                                      .where(CatalogueSpecialty.draft_id == draft_id)
                                      .order_by(CatalogueSpecialty.rank,
                                                CatalogueSpecialty.specialty_code)).all(),
                            columns=cols)
        latest = _latest(s, draft_id)
    return spec.merge(latest, on="specialty_code", how="left")


def decision_history(engine: Engine, draft_id: int) -> pd.DataFrame:
    """Every decision recorded on a draft, oldest first (the ledger)."""
    with engine.connect() as conn:
        rows = conn.execute(select(*[getattr(CatalogueDecision, c) for c in DECISION_COLUMNS])
                            .where(CatalogueDecision.draft_id == draft_id)
                            .order_by(CatalogueDecision.id)).all()
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def current(engine: Engine, today: dt.date | None = None) -> dict[str, Any] | None:
    """The catalogue in force: the latest adopted one, with ``review_due`` (its last day
    of validity) and ``overdue`` (past that day)."""
    today = today or dt.date.today()
    with Session(engine) as s:
        d = s.scalars(select(CatalogueDraft).where(CatalogueDraft.status == "adopted")
                      .order_by(CatalogueDraft.adopted_at.desc(), CatalogueDraft.id.desc())
                      .limit(1)).first()
        if d is None:
            return None
        return {"id": d.id, "name": d.name, "adopted_at": d.adopted_at,
                "review_due": d.valid_until, "overdue": today > d.valid_until}


def compare(engine: Engine, draft_a: int, draft_b: int) -> pd.DataFrame:
    """Two catalogues side by side per specialty: rank and latest decision in each."""
    a = entries(engine, draft_a)[["specialty_code", "specialty_zh", "specialty_en", "rank",
                                  "decision"]]
    b = entries(engine, draft_b)[["specialty_code", "specialty_zh", "specialty_en", "rank",
                                  "decision"]]
    out = a.merge(b, on="specialty_code", how="outer", suffixes=("_a", "_b"))
    for c in ("specialty_zh", "specialty_en"):
        out[c] = out[f"{c}_a"].fillna(out[f"{c}_b"])
        out = out.drop(columns=[f"{c}_a", f"{c}_b"])
    out["changed"] = out["decision_a"].fillna("") != out["decision_b"].fillna("")
    return out[["specialty_code", "specialty_zh", "specialty_en", "rank_a", "decision_a",
                "rank_b", "decision_b", "changed"]].sort_values(
        ["rank_b", "rank_a"], na_position="last").reset_index(drop=True)
