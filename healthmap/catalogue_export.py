"""The Excel workbook of a catalogue draft with all its evidence, for the expert panel.

Sheets: method and weights; the specialties with their decisions; one sheet per specialty
with its disease groups and their indicators (from the draft's own snapshot, so the
workbook of an old catalogue is the same whenever it is exported); every disease group;
the decision log. Written through :func:`healthmap.exports.to_xlsx_book` (stamped,
formula-safe). Recording the export in the audit log is the caller's job.
"""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import Engine

from healthmap import catalogue, exports, i18n
from healthmap.reference import disease_label

GROUP_COLUMNS = ["rank", "tier", "group_code", "name", "icd_ranges", "new_cases", "case_basis",
                 "population", "incidence", "asr", "episodes", "out_episodes",
                 "outward_referral", "cost_per_case", "cost_in_county", "cost_out_county",
                 "fund_outflow", "trend", "unstable", "score", "rank_low", "rank_high",
                 "top_share"]
SPECIALTY_COLUMNS = ["rank", "tier", "specialty_code", "specialty", "score", "n_groups",
                     "persons", "drivers", "decision", "reason", "decided_by", "decided_at"]


def _t(key: str, lang: str, **kw) -> str:
    return i18n.t(key, lang, **kw)


def _labels(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    return df.rename(columns={c: _t(f"ranking.col.{c}", lang) for c in df.columns
                              if f"ranking.col.{c}" in i18n.TEXT})


def _translate(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = df.copy()
    if "tier" in out.columns:
        out["tier"] = out["tier"].map(lambda v: _t(f"ranking.tier.{v}", lang)
                                      if isinstance(v, str) else v)
    if "decision" in out.columns:
        out["decision"] = out["decision"].map(lambda v: _t(f"ranking.decision.{v}", lang)
                                              if isinstance(v, str) else v)
    return out


def case_basis(basis, lookback, lang: str = "zh") -> list[str]:
    """What each group's case count is, in words (the snapshot's ``case_basis`` and
    ``lookback``; drafts saved before they were recorded say so).

    >>> case_basis(["new", "diagnosed", None], [1, 1, None], "en")
    ['new cases (look-back 1 year(s))', 'diagnosed cases (no full look-back window in the data; not incidence)', 'not recorded']
    """
    out = []
    for b, n in zip(basis, lookback):
        if b == "new" and n is not None and not pd.isna(n):
            out.append(_t("ranking.basis.new", lang, n=int(n)))
        elif b == "diagnosed":
            out.append(_t("ranking.basis.diagnosed", lang))
        else:
            out.append(_t("ranking.basis.unknown", lang))
    return out


def sheet_name(rank: int, name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (≤ 31 characters, no ``[]:*?/\\``).

    >>> sheet_name(1, "胃肠外科", set()), sheet_name(2, "a/b" * 20, set())
    ('01 胃肠外科', '02 a_ba_ba_ba_ba_ba_ba_ba_ba_ba')
    """
    base = f"{rank:02d} " + re.sub(r"[\[\]:*?/\\]", "_", str(name))
    base = base[:31]
    out, i = base, 2
    while out in taken:
        suffix = f" ({i})"
        out, i = base[:31 - len(suffix)] + suffix, i + 1
    taken.add(out)
    return out


def method_sheet(d: dict, lang: str = "zh") -> pd.DataFrame:
    """The draft's settings: period, setting, method, each criterion's weight and direction."""
    crit = d["criteria"].split(",")
    ent = d.get("entropy_weights") or {}
    rows = [(_t("ranking.col.name", lang), d["name"]),
            (_t("ranking.item.period", lang), d["years"]),
            (_t("ranking.item.setting", lang), d["setting"] or "all"),
            (_t("ranking.item.method", lang), _t(f"ranking.method.{d['method']}", lang)),
            (_t("ranking.item.weight_source", lang),
             _t(f"ranking.weight_source.{d['weight_source']}", lang)),
            (_t("ranking.item.stability", lang),
             _t("ranking.item.stability_value", lang, runs=d["runs"],
                j=round(d["jitter"] * 100), seed=d["seed"], n=d["top_n"])),
            (_t("ranking.item.created", lang), f"{d['created_at']} {d['created_by']}"),
            (_t("ranking.col.status", lang), _t(f"ranking.status.{d['status']}", lang))]
    if d["status"] == "adopted":
        rows += [(_t("ranking.item.adopted", lang), f"{d['adopted_at']} {d['adopted_by']}"),
                 (_t("ranking.item.valid_until", lang), str(d["valid_until"]))]
    if d.get("note"):
        rows.append((_t("ranking.item.note", lang), d["note"]))
    rows.append((_t("ranking.item.definitions", lang),
                 _t("ranking.item.definitions_value", lang)))
    for c in crit:
        w = round(float(d["weights"].get(c, 0.0)), 4)
        e = f"; {_t('ranking.col.entropy_weight', lang)} {round(float(ent[c]), 4)}" \
            if c in ent else ""
        rows.append((f"{_t('ranking.col.weight', lang)}: {_t(f'ranking.c.{c}', lang)}",
                     f"{w}{e}; {_t('ranking.higher', lang)}"))
    return pd.DataFrame(rows, columns=[_t("ranking.col.item", lang),
                                       _t("ranking.col.value", lang)])


def workbook_sheets(engine: Engine, draft_id: int, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """Every sheet of the draft's workbook, in order (name → table)."""
    d = catalogue.draft(engine, draft_id)
    spec_col = "specialty_en" if lang == "en" else "specialty_zh"
    groups = catalogue.snapshot_groups(engine, draft_id)
    groups["name"] = disease_label(groups, lang)
    groups["case_basis"] = case_basis(groups["case_basis"], groups["lookback"], lang)
    ent = catalogue.entries(engine, draft_id)
    ent["specialty"] = ent[spec_col]
    sheets = {_t("ranking.sheet.method", lang): method_sheet(d, lang),
              _t("ranking.sheet.specialties", lang):
                  _labels(_translate(ent[SPECIALTY_COLUMNS], lang), lang)}
    taken = set(sheets)
    for r in ent.itertuples():
        sub = groups[groups["specialty_code"] == r.specialty_code]
        sheets[sheet_name(int(r.rank), getattr(r, spec_col), taken)] = _labels(
            _translate(sub[GROUP_COLUMNS], lang), lang)
    all_groups = groups.assign(specialty=groups[spec_col])
    sheets[_t("ranking.sheet.groups", lang)] = _labels(
        _translate(all_groups[GROUP_COLUMNS[:4] + ["specialty"] + GROUP_COLUMNS[4:]], lang),
        lang)
    sheets[_t("ranking.sheet.decisions", lang)] = _labels(
        _translate(catalogue.decision_history(engine, draft_id), lang), lang)
    return sheets


def workbook(engine: Engine, draft_id: int, user: str, lang: str = "zh") -> bytes:
    """The stamped workbook (bytes) of a draft."""
    d = catalogue.draft(engine, draft_id)
    stamp = exports.Stamp(user, f"{_t('ranking.export_content', lang)} · {d['name']}",
                          filters=f"years={d['years']}; setting={d['setting'] or 'all'}; "
                                  f"method={d['method']}")
    return exports.to_xlsx_book(workbook_sheets(engine, draft_id, lang), stamp)
