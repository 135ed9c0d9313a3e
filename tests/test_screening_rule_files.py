"""Screening rule sets: missing data (what cannot be assessed, and why, in both languages)
and the rule files themselves (every item explained and cited; the loader's validation).
The published bands: test_screening_rules.py."""

from __future__ import annotations

import datetime as dt
import textwrap

import pandas as pd
import pytest
from screening_people import AS_OF, born, lung_person, person

from healthmap.screening import rules
from healthmap.screening.rules import RuleSetError, assess, load_ruleset


# ---------------------------------------------------------------- missing data
def test_missing_score_factor_cannot_assess_names_it():
    # woman of 65 (18), BMI 19.5 (0), SBP 135 (6), no family history: 24 + waist 0-10
    p = person(sex="F", birth_date=born(65), height_cm=160, weight_kg=50, sbp=135,
               family_history_diabetes="false")
    out = assess(pd.DataFrame([p]), load_ruleset("diabetes"), AS_OF).iloc[0]
    assert out["tier"] == "cannot_assess" and out["eligible"] is None
    assert pd.isna(out["score"])
    assert "cannot assess: missing waist_cm" in out["reasons"]
    assert out["missing"] == "waist_cm"


def test_missing_factor_that_cannot_change_the_answer_still_decides():
    # 18 (age 65) + 10 (SBP ≥ 160) = 28 ≥ 25 whatever the waist and BMI
    p = person(sex="F", birth_date=born(65), sbp=170, family_history_diabetes="false")
    out = assess(pd.DataFrame([p]), load_ruleset("diabetes"), AS_OF).iloc[0]
    assert out["eligible"] is True and out["tier"] == "high"
    assert pd.isna(out["score"])  # incomplete: no exact score is claimed
    assert "28–43" in out["reasons"]


def test_missing_birth_date_is_named_as_birth_date():
    p = lung_person(birth_date="", copd="true")
    out = assess(pd.DataFrame([p]), load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is None and "cannot assess: missing birth_date" in out["reasons"]


def test_any_of_one_positive_is_enough_even_with_others_missing():
    """decisions §8: in an any-of rule one positive factor makes a person high risk."""
    p = person(birth_date=born(60), copd="true")  # every other lung factor missing
    out = assess(pd.DataFrame([p]), load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is True and out["tier"] == "high" and out["missing"] == ""


def test_any_of_cannot_assess_only_when_every_factor_missing():
    """decisions §8: "cannot assess" only when every factor is missing; with some known
    (negative) and others missing the person is not high risk, and the unknown ones are
    listed."""
    rs = load_ruleset("lung")
    nothing = person(birth_date=born(60))
    partial = person(birth_date=born(60), copd="false", family_history_lung="false")
    out = assess(pd.DataFrame([nothing, partial]), rs, AS_OF)
    assert out["tier"].tolist() == ["cannot_assess", "low"]
    assert out["eligible"].tolist() == [None, False]
    assert out["reasons"].iloc[0].endswith(
        "cannot assess: missing smoking_pack_years, quit_years, passive_smoking_years, "
        "copd, occupational_exposure, family_history_lung")
    assert "passive_smoking_years" in out["missing"].iloc[1]
    assert "unknown:" in out["reasons"].iloc[1]


def test_absent_columns_count_as_missing_and_chinese_reasons():
    out = assess(pd.DataFrame([{"resident_id": "R9", "sex": "M", "birth_date": born(55)}]),
                 load_ruleset("diabetes"), AS_OF, lang="zh").iloc[0]
    assert out["tier"] == "cannot_assess"
    assert "无法评估：缺少 height_cm, weight_kg, waist_cm, sbp, family_history_diabetes" \
        in out["reasons"]


def test_assess_detail_snapshots_the_inputs_used():
    p = lung_person(copd="true", name="不应出现", id_number="x")
    out = assess(pd.DataFrame([p]), load_ruleset("lung"), AS_OF, detail=True)
    snap = out["inputs"].iloc[0]
    assert snap["copd"] == "true" and snap["birth_date"] == born(60)
    assert "name" not in snap and "id_number" not in snap


def test_typed_values_from_the_database_are_accepted():
    p = {"resident_id": "R1", "sex": "M", "birth_date": dt.date(1960, 1, 1), "copd": True,
         "smoking_pack_years": 0.0, "quit_years": 0.0}
    out = assess(pd.DataFrame([p]), load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is True


def test_large_input_is_scored_whole():
    """50,000 rows through the vectorised path: every score present and the age bands
    spread as built (no timing assertion here; benchmarks print timings)."""
    n = 50_000
    df = pd.DataFrame({"resident_id": [f"R{i}" for i in range(n)], "sex": ["M", "F"] * (n // 2),
                       "birth_date": [born(40 + i % 35) for i in range(n)],
                       "height_cm": 165, "weight_kg": 70, "waist_cm": 85, "sbp": 130,
                       "family_history_diabetes": "false"})
    out = assess(df, load_ruleset("diabetes"), AS_OF)
    assert len(out) == n and out["score"].notna().all()
    # row 0: man of 40 → 11 + BMI 25.7 → 3 + waist 85 (M) → 7 + SBP 130 → 6 + male 2 = 29
    # row 1: woman of 41 → 11 + 3 + waist 85 (F) → 8 + 6 = 28
    assert out["score"].iloc[:2].tolist() == [29, 28]


# ---------------------------------------------------------------- the files themselves
PRIMARY = {"diabetes": ["Diabetes Care 2013;36:3944-52"],
           "colorectal": ["Gut 2011;60:1236-41", "中华肿瘤杂志 2021;43(1):16-38"],
           "lung": ["10.3760/cma.j.cn112152-20210119-00060"],
           "gastric": ["胃肠病学 2018;23(2):92-97"]}


@pytest.mark.parametrize("rid", sorted(PRIMARY))
def test_every_item_is_explained_in_both_languages_and_cites_its_source(rid):
    rs = load_ruleset(rid)
    assert rs.version and rs.fingerprint
    for lang in ("zh", "en"):
        doc = rules.describe(rs, lang)
        assert len(doc) and (doc["label"].str.len() > 0).all()
        assert (doc["detail"].str.len() > 0).all() and (doc["source"].str.len() > 0).all()
    sources = " ".join(rules.describe(rs)["source"])
    for cite in PRIMARY[rid]:
        assert cite in sources


def test_load_all_lists_the_four_targets():
    assert set(rules.load_all()) == {"colorectal", "lung", "gastric", "diabetes"}


def _write(tmp_path, text: str, name: str = "demo_rule"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD = """
id: demo_rule
version: "1"
target: test
name: {zh: 测试, en: test}
tiers:
  - {id: low, label: {zh: 低, en: low}}
  - {id: high, label: {zh: 高, en: high}, eligible: true}
rules:
  - id: s
    kind: score
    name: {zh: 分, en: score}
    short: {zh: 分, en: s}
    source: "a source"
    factors:
      - id: sbp
        input: sbp
        label: {zh: 压, en: sbp}
        explain: {zh: 压, en: sbp}
        source: "a source"
        bands:
          - {lt: 120, points: 0}
          - {ge: 120, points: 2}
    tiers:
      - {tier: low, min: 0, max: 1}
      - {tier: high, min: 2, max: 2}
"""


def test_a_good_file_loads(tmp_path):
    rs = rules.load_file(_write(tmp_path, GOOD))
    out = assess(pd.DataFrame([person(sbp=119), person(sbp=120)]), rs, AS_OF)
    assert out["tier"].tolist() == ["low", "high"]


@pytest.mark.parametrize("old,new,message", [
    ("{ge: 120, points: 2}", "{ge: 125, points: 2}", "leave a gap"),
    ("{ge: 120, points: 2}", "{gt: 120, points: 2}", "leave a gap"),
    ("{lt: 120, points: 0}", "{le: 120, points: 0}", "leave a overlap"),
    ("input: sbp", "input: blood_pressure", "not a declared residents column"),
    ("explain: {zh: 压, en: sbp}", "explain: {zh: 压}", "'explain' needs non-empty zh and en"),
    ("{tier: high, min: 2, max: 2}", "{tier: high, min: 3, max: 3}", "must meet without gap"),
    ("{tier: high, min: 2, max: 2}", "{tier: high, min: 2, max: 5}", "highest 2"),
    ('version: "1"\n', "", "'version' is required"),
    ("points: 2}", "points: 2.5}", "whole number"),
    ("kind: score", "kind: magic", "'kind' must be score or criteria"),
])
def test_bad_files_are_refused_with_the_problem_named(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(RuleSetError) as err:
        rules.load_file(_write(tmp_path, GOOD.replace(old, new)))
    assert message in str(err.value), str(err.value)
    assert "demo_rule.yaml" in str(err.value)


def test_all_problems_are_reported_together(tmp_path):
    bad = GOOD.replace("input: sbp", "input: nope").replace('source: "a source"\n    factors',
                                                            'factors')
    with pytest.raises(RuleSetError) as err:
        rules.load_file(_write(tmp_path, bad))
    assert len(err.value.problems) >= 2


def test_unknown_rule_set_is_named():
    with pytest.raises(KeyError, match="known: colorectal, diabetes, gastric, lung"):
        load_ruleset("liver")


# ---------------------------------------------------------------- settings.yaml
@pytest.mark.parametrize("fee_fen,reduction", [(10000, 3000), (12345, 3704), (1, 0), (2, 1),
                                               (5, 2), (0, 0), (99999, 30000)])
def test_fee_reduction_is_30_percent_in_whole_fen_half_up(fee_fen, reduction):
    """Clause (八): 30 % of the fee; integer fen, half up (2 fen → 0.6 → 1; 5 → 1.5 → 2)."""
    from healthmap.screening.settings import load_settings

    assert load_settings().reduction_fen(fee_fen) == reduction


def test_settings_are_validated(tmp_path):
    from healthmap.screening.settings import SETTINGS_FILE, load_settings

    s = load_settings()
    assert s.uptake("colorectal") == (52.0, 60.0) and s.invitation_overdue_days == 90
    bad = SETTINGS_FILE.read_text(encoding="utf-8").replace("percent: 30", "percent: 130") \
        .replace("acceptable: 52, achievable: 60}\n    lung", "acceptable: 70, achievable: 60}\n"
                 "    lung")
    path = tmp_path / "settings.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(RuleSetError) as err:
        load_settings(path)
    assert "fee_reduction.percent" in str(err.value)
    assert "acceptable must not exceed achievable" in str(err.value)
    # every basis is explained in both languages
    assert set(s.basis["uptake"]) == {"zh", "en"} and "NHS" in s.basis["uptake"]["zh"]
    one_language = SETTINGS_FILE.read_text(encoding="utf-8").replace(
        '    zh: "本地工作规则', '    xx: "本地工作规则')
    path.write_text(one_language, encoding="utf-8")
    with pytest.raises(RuleSetError, match="follow_up.basis"):
        load_settings(path)
