"""What an assessment says about itself: the reasons each resident was flagged (or could
not be assessed), the snapshot of the inputs it read, and the rule set described item by
item with explanations and sources (for the pages, the CLI and the tests).

Split from :mod:`healthmap.screening.rules`, which evaluates; this module only words.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from healthmap.screening.model import RuleSet

if TYPE_CHECKING:  # the evaluator's result type (rules imports this module)
    from healthmap.screening.rules import RuleResult


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v == "":
        return None
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()[:10]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def snapshot(residents: pd.DataFrame, ruleset: RuleSet) -> list[dict[str, Any]]:
    """The raw values each resident's assessment read (JSON-ready; missing = ``None``)."""
    cols = ruleset.raw_columns()
    n = len(residents)
    columns = {c: ([_json_value(v) for v in residents[c].astype(object).tolist()]
                   if c in residents.columns else [None] * n) for c in cols}
    return [dict(zip(cols, vals)) for vals in zip(*columns.values())] if cols else [{}] * n


# ------------------------------------------------------------------ reasons
def _fmt(v: float) -> str:
    return f"{v:g}" if not np.isnan(v) else "?"


def _reasons(results: list[RuleResult], rs: RuleSet, values, set_elig, miss_cols,
             lang: str, n: int) -> list[str]:
    per_row: list[list[str]] = [[] for _ in range(n)]
    age = values.get("age")
    for r in results:
        rule = r.rule
        short = rule.short[lang]
        if rule.kind == "criteria":
            gate_txt = [c.label[lang] for c in rule.population]
            for i in range(n):
                if not r.applies[i]:
                    continue
                if r.population[i] == 0:
                    per_row[i].append(_outside(short, gate_txt, age, i, lang))
                    continue
                if r.eligible[i] == 1 or (np.isnan(r.eligible[i]) and
                                          any(r.crit[c.id][i] == 1 for c in rule.any_of)):
                    met = []
                    for c in rule.any_of:
                        if r.crit[c.id][i] != 1:
                            continue
                        txt = c.label[lang]
                        if c.items:
                            present = [it.label[lang] for it in c.items
                                       if r.points[f"_crit_{id(it.when)}"][i] == 1]
                            txt += ": " + ", ".join(present)
                        met.append(txt)
                    gate = _gate_text(gate_txt, age, i, lang)
                    per_row[i].append(f"{short}: " + "; ".join(([gate] if gate else []) + met))
                elif r.eligible[i] == 0:
                    per_row[i].append(f"{short}: " + ("未见所列危险因素" if lang == "zh"
                                                      else "none of the listed risk factors"))
        else:
            for i in range(n):
                if not r.applies[i]:
                    continue
                if r.population[i] == 0:
                    gate_txt = [c.label[lang] for c in rule.population]
                    per_row[i].append(_outside(short, gate_txt, age, i, lang))
                    continue
                parts = []
                for f in rule.factors:
                    p = r.points[f.id][i]
                    if not np.isnan(p) and p != 0:
                        parts.append(f"{f.label[lang]} +{int(p)}")
                if np.isnan(r.score[i]):
                    total = (f"{int(r.score_lo[i])}–{int(r.score_hi[i])}")
                    lead = (f"{short} {total}（资料不全）" if lang == "zh"
                            else f"{short} {total} (incomplete)")
                else:
                    tier_i = r.tier_lo[i]
                    label = rs.tier_label(rs.tier_ids[int(tier_i)], lang)
                    lead = f"{short} {int(r.score[i])} ({label})"
                per_row[i].append(lead + (": " + ", ".join(parts) if parts else ""))
    out = []
    for i in range(n):
        texts = per_row[i]
        if miss_cols[i]:
            cols = ", ".join(miss_cols[i])
            if np.isnan(set_elig[i]):
                texts = texts + [f"无法评估：缺少 {cols}" if lang == "zh"
                                 else f"cannot assess: missing {cols}"]
            else:
                texts = texts + [f"未知：{cols}" if lang == "zh" else f"unknown: {cols}"]
        out.append("; ".join(texts))
    return out


def _gate_text(gate_txt: list[str], age, i: int, lang: str = "en") -> str:
    if not gate_txt:
        return ""
    if age is None or np.isnan(age.iloc[i]):
        return ", ".join(gate_txt)
    a = int(age.iloc[i])
    return ", ".join(gate_txt) + (f"（{a}岁）" if lang == "zh" else f" (age {a})")


def _outside(short: str, gate_txt: list[str], age, i: int, lang: str) -> str:
    gate = _gate_text(gate_txt, age, i, lang)
    return (f"{short}: 不在目标人群：{gate}" if lang == "zh"
            else f"{short}: outside the target group: {gate}")


# ------------------------------------------------------------------ documentation
def describe(ruleset: RuleSet, lang: str = "en") -> pd.DataFrame:
    """Every criterion, factor and band of a rule set with its explanation and source:
    the table the pages show and the tests read."""
    rows = []
    for r in ruleset.rules:
        for c in r.population:
            rows.append(dict(rule=r.id, kind="population", item=c.id, label=c.label[lang],
                             detail=c.explain[lang], source=c.source, note=c.note))
        for c in r.any_of:
            rows.append(dict(rule=r.id, kind="risk factor", item=c.id, label=c.label[lang],
                             detail=c.explain[lang], source=c.source, note=c.note))
        for f in r.factors:
            if f.values:
                bands = ", ".join(f"{k}: {p}" for k, p in f.values)
            elif f.by:
                bands = " | ".join(f"{g}: " + ", ".join(f"{b.label} → {b.points}" for b in bs)
                                   for g, bs in f.by_bands)
            else:
                bands = ", ".join(f"{b.label} → {b.points}" for b in f.bands)
            rows.append(dict(rule=r.id, kind="score factor", item=f.id, label=f.label[lang],
                             detail=f"{f.explain[lang]} [{bands}]", source=f.source,
                             note=f.note))
        for t in r.score_tiers:
            rows.append(dict(rule=r.id, kind="score tier", item=t.tier,
                             label=ruleset.tier_label(t.tier, lang),
                             detail=f"{t.min}–{t.max}", source=r.source, note=""))
    return pd.DataFrame(rows, columns=["rule", "kind", "item", "label", "detail", "source",
                                       "note"])
