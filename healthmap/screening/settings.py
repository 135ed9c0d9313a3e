"""Screening settings from ``data/screening/settings.yaml``, validated on load.

>>> s = load_settings()
>>> s.fee_percent, s.reduction_fen(12345), s.uptake("lung")
(30, 3704, (52.0, 60.0))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from healthmap.screening.model import RULES_DIR, RuleSetError

SETTINGS_FILE = RULES_DIR / "settings.yaml"


@dataclass(frozen=True)
class Settings:
    version: str
    fee_percent: int
    invitation_overdue_days: int
    abnormal_overdue_days: int
    thresholds: dict[str, tuple[float, float]] = field(default_factory=dict)
    basis: dict[str, dict[str, str]] = field(default_factory=dict)  # part → {zh, en}

    def reduction_fen(self, fee_fen: int) -> int:
        """``fee_percent`` % of ``fee_fen``, in integer fen, rounded half up (exact:
        integer arithmetic, no floats)."""
        return (int(fee_fen) * self.fee_percent * 2 + 100) // 200

    def uptake(self, target: str) -> tuple[float, float]:
        """(acceptable, achievable) uptake in percent for ``target``."""
        return self.thresholds[target]


def load_settings(path: Path | None = None) -> Settings:
    path = Path(path or SETTINGS_FILE)
    problems: list[str] = []
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleSetError(path, [f"not readable: {str(exc).splitlines()[0]}"]) from None

    def number(where: str, v, lo: float, hi: float) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            problems.append(f"{where}: a number from {lo:g} to {hi:g}, got {v!r}")
            return lo
        return v

    fee = d.get("fee_reduction") or {}
    fu = d.get("follow_up") or {}
    up = d.get("uptake") or {}
    pct = number("fee_reduction.percent", fee.get("percent"), 0, 100)
    if pct != int(pct):
        problems.append("fee_reduction.percent: a whole number")
    inv = number("follow_up.invitation_overdue_days", fu.get("invitation_overdue_days"), 1, 3650)
    ab = number("follow_up.abnormal_overdue_days", fu.get("abnormal_overdue_days"), 1, 3650)
    thresholds = {}
    for target, t in (up.get("thresholds") or {}).items():
        t = t or {}
        a = number(f"uptake.{target}.acceptable", t.get("acceptable"), 0, 100)
        b = number(f"uptake.{target}.achievable", t.get("achievable"), 0, 100)
        if a > b:
            problems.append(f"uptake.{target}: acceptable must not exceed achievable")
        thresholds[str(target)] = (float(a), float(b))
    for key, part in (("fee_reduction", fee), ("follow_up", fu), ("uptake", up)):
        basis = part.get("basis")
        if not isinstance(basis, dict) or not all(str(basis.get(lang, "")).strip()
                                                  for lang in ("zh", "en")):
            problems.append(f"{key}.basis: say where the values come from, in zh and en")
    if not str(d.get("version", "")).strip():
        problems.append("version is required")
    if problems:
        raise RuleSetError(path, problems)
    return Settings(str(d["version"]), int(pct), int(inv), int(ab), thresholds,
                    {k: {lang: str(v["basis"][lang]) for lang in ("zh", "en")}
                     for k, v in (("fee_reduction", fee), ("follow_up", fu), ("uptake", up))})
