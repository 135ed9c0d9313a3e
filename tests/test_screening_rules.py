"""Screening rule sets: every band and cut-off just below, at and above, against the
published tables (written out here independently of the YAML files), missing data, and
the loader's validation.

Sources (as checked in shared/reference/screening_criteria.md):
CDRS  Zhou X, Qiao Q, Ji L, et al. Diabetes Care 2013;36:3944-52 (China diabetes risk score)
APCS  Yeoh KG et al. Gut 2011;60:1236-41 (Asia-Pacific Colorectal Screening score)
CRC20 中国结直肠癌筛查与早诊早治指南(2020，北京). 中华肿瘤杂志 2021;43(1):16-38
LUNG21 中国肺癌筛查与早诊早治指南(2021，北京). 中华肿瘤杂志 2021;43(3):243-268
GC17  中国早期胃癌筛查流程专家共识意见(草案)(2017年，上海). 胃肠病学 2018;23(2):92-97
      (with its new gastric cancer screening score)
"""

from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pandas as pd
import pytest

from healthmap.screening import rules
from healthmap.screening.rules import RuleSetError, assess, load_ruleset

AS_OF = dt.date(2025, 6, 30)


def born(age: int, days_short: int = 0) -> str:
    """A birth date giving ``age`` completed years on AS_OF (``days_short`` > 0: the
    birthday is that many days away, so the person is still ``age - 1``)."""
    d = AS_OF.replace(year=AS_OF.year - age) + dt.timedelta(days=days_short)
    return d.isoformat()


def person(**kw) -> dict:
    base = {"resident_id": "R1", "sex": "M", "birth_date": born(60)}
    base.update(kw)
    return base


def factor_points(ruleset: str, rule_id: str, factor: str, people: list[dict]) -> list:
    rs = load_ruleset(ruleset)
    results, _, _ = rules.run_rules(pd.DataFrame(people), rs, AS_OF)
    r = next(x for x in results if x.rule.id == rule_id)
    return [None if np.isnan(v) else int(v) for v in r.points[factor]]


def boundary_cases(table: list[tuple[float | None, float | None, int]], step: float):
    """(value, expected points) just below, at and above every cut-off of a published
    band table given as (from, below, points) rows (None = open)."""
    cases = []
    for lo, hi, pts in table:
        if lo is not None:
            cases += [(lo, pts), (round(lo + step, 6), pts)]
        if hi is not None:
            cases.append((round(hi - step, 6), pts))
    return cases


# ---------------------------------------------------------------- CDRS (Zhou 2013)
CDRS_AGE = [(20, 25, 0), (25, 35, 4), (35, 40, 8), (40, 45, 11), (45, 50, 12), (50, 55, 13),
            (55, 60, 15), (60, 65, 16), (65, 75, 18)]
CDRS_BMI = [(None, 22.0, 0), (22.0, 24.0, 1), (24.0, 30.0, 3), (30.0, None, 5)]
CDRS_WAIST_M = [(None, 75.0, 0), (75.0, 80.0, 3), (80.0, 85.0, 5), (85.0, 90.0, 7),
                (90.0, 95.0, 8), (95.0, None, 10)]
CDRS_WAIST_F = [(None, 70.0, 0), (70.0, 75.0, 3), (75.0, 80.0, 5), (80.0, 85.0, 7),
                (85.0, 90.0, 8), (90.0, None, 10)]
CDRS_SBP = [(None, 110, 0), (110, 120, 1), (120, 130, 3), (130, 140, 6), (140, 150, 7),
            (150, 160, 8), (160, None, 10)]


@pytest.mark.parametrize("age,points", boundary_cases(CDRS_AGE, 1))
def test_cdrs_age_bands(age, points):
    """CDRS age: 20-24 0, 25-34 4, 35-39 8, 40-44 11, 45-49 12, 50-54 13, 55-59 15,
    60-64 16, 65-74 18 (Zhou 2013)."""
    assert factor_points("diabetes", "cdrs", "age", [person(birth_date=born(age))]) == [points]


def test_cdrs_age_uses_completed_years_on_the_assessment_date():
    # the day before the 25th birthday is still 24 (0 points); on the birthday 4 points
    got = factor_points("diabetes", "cdrs", "age",
                        [person(birth_date=born(25, days_short=1)), person(birth_date=born(25))])
    assert got == [0, 4]


@pytest.mark.parametrize("bmi,points", boundary_cases(CDRS_BMI, 0.1))
def test_cdrs_bmi_bands(bmi, points):
    """CDRS BMI: <22.0 0, 22.0-23.9 1, 24.0-29.9 3, ≥30.0 5 (Zhou 2013). Height 100 cm
    makes weight = BMI."""
    got = factor_points("diabetes", "cdrs", "bmi",
                        [person(height_cm=100, weight_kg=bmi)])
    assert got == [points]


def test_cdrs_bmi_rounded_to_one_decimal_first():
    # 23.96 is reported as 24.0 (3 points); 23.94 as 23.9 (1 point)
    got = factor_points("diabetes", "cdrs", "bmi", [person(height_cm=100, weight_kg=23.96),
                                                     person(height_cm=100, weight_kg=23.94)])
    assert got == [3, 1]


@pytest.mark.parametrize("sex,table", [("M", CDRS_WAIST_M), ("F", CDRS_WAIST_F)])
def test_cdrs_waist_bands_by_sex(sex, table):
    """CDRS waist (men / women): <75/<70 0, 75-79.9/70-74.9 3, 80-84.9/75-79.9 5,
    85-89.9/80-84.9 7, 90-94.9/85-89.9 8, ≥95/≥90 10 (Zhou 2013)."""
    cases = boundary_cases(table, 0.1)
    got = factor_points("diabetes", "cdrs", "waist",
                        [person(sex=sex, waist_cm=w) for w, _ in cases])
    assert got == [p for _, p in cases]


@pytest.mark.parametrize("sbp,points", boundary_cases(CDRS_SBP, 1))
def test_cdrs_sbp_bands(sbp, points):
    """CDRS systolic BP: <110 0, 110-119 1, 120-129 3, 130-139 6, 140-149 7, 150-159 8,
    ≥160 10 (Zhou 2013)."""
    assert factor_points("diabetes", "cdrs", "sbp", [person(sbp=sbp)]) == [points]


def test_cdrs_family_history_and_sex():
    """CDRS: family history of diabetes 6, male 2 (Zhou 2013)."""
    assert factor_points("diabetes", "cdrs", "family_history", [
        person(family_history_diabetes="true"), person(family_history_diabetes="false")]) == [6, 0]
    assert factor_points("diabetes", "cdrs", "sex", [person(sex="M"), person(sex="F")]) == [2, 0]


def _cdrs_person(total: int) -> dict:
    """A complete woman aged 65 (18 points) with BMI < 22 (0) and no family history, with
    waist and SBP chosen to reach ``total``."""
    waist = {0: 65, 3: 72, 5: 77, 7: 82, 8: 87, 10: 91}
    sbp = {0: 100, 1: 115, 3: 125, 6: 135, 7: 145, 8: 155, 10: 165}
    for wp, w in waist.items():
        for sp, s in sbp.items():
            if 18 + wp + sp == total:
                return person(sex="F", birth_date=born(65), height_cm=160, weight_kg=50,
                              waist_cm=w, sbp=s, family_history_diabetes="false")
    raise AssertionError(total)


@pytest.mark.parametrize("total,tier,eligible", [(24, "low", False), (25, "high", True),
                                                 (26, "high", True)])
def test_cdrs_threshold_25(total, tier, eligible):
    """CDRS total ≥ 25 → high risk, refer for OGTT (Zhou 2013; the Chinese guideline)."""
    out = assess(pd.DataFrame([_cdrs_person(total)]), load_ruleset("diabetes"), AS_OF)
    assert out[["score", "tier", "eligible"]].iloc[0].tolist() == [total, tier, eligible]


@pytest.mark.parametrize("age,target", [(19, False), (20, True), (74, True), (75, False)])
def test_cdrs_applies_to_ages_20_to_74(age, target):
    p = _cdrs_person(30) | {"birth_date": born(age)}
    out = assess(pd.DataFrame([p]), load_ruleset("diabetes"), AS_OF).iloc[0]
    assert (out["tier"] != "not_target") == target
    if not target:
        assert out["eligible"] is False and "outside the target group" in out["reasons"]


def test_cdrs_maximum_is_51():
    p = person(birth_date=born(70), height_cm=150, weight_kg=80, waist_cm=110, sbp=180,
               family_history_diabetes="true")
    assert assess(pd.DataFrame([p]), load_ruleset("diabetes"), AS_OF)["score"].iloc[0] == 51


# ---------------------------------------------------------------- APCS (Yeoh 2011)
@pytest.mark.parametrize("age,points", [(49, 0), (50, 2), (51, 2), (69, 2), (70, 3), (71, 3)])
def test_apcs_age(age, points):
    """APCS age: <50 0, 50-69 2, ≥70 3 (Yeoh 2011)."""
    assert factor_points("colorectal", "apcs", "age", [person(birth_date=born(age))]) == [points]


def test_apcs_sex_family_history_smoking():
    """APCS: male 1; colorectal cancer in a first-degree relative 2; smoking current or
    past 1 (Yeoh 2011)."""
    assert factor_points("colorectal", "apcs", "sex", [person(sex="M"), person(sex="F")]) == [1, 0]
    assert factor_points("colorectal", "apcs", "family_history", [
        person(family_history_colorectal="true"), person(family_history_colorectal="false")]) \
        == [2, 0]
    # past smoker (quit 10 years) and current smoker both count; never-smoker does not
    assert factor_points("colorectal", "apcs", "smoking", [
        person(smoking_pack_years=5, quit_years=10), person(smoking_pack_years=5, quit_years=0),
        person(smoking_pack_years=0, quit_years=0)]) == [1, 1, 0]


def _apcs_person(score: int) -> dict:
    age = {0: 40, 2: 55, 3: 75}  # points → an age giving them
    for ap, a in age.items():
        for male in (0, 1):
            for fh in (0, 2):
                for smoke in (0, 1):
                    if ap + male + fh + smoke == score:
                        return person(birth_date=born(a), sex="M" if male else "F",
                                      family_history_colorectal="true" if fh else "false",
                                      smoking_pack_years=10 if smoke else 0, quit_years=0)
    raise AssertionError(score)


@pytest.mark.parametrize("score,tier,eligible", [
    (0, "low", False), (1, "low", False), (2, "moderate", False), (3, "moderate", False),
    (4, "high", True), (5, "high", True), (7, "high", True)])
def test_apcs_tiers(score, tier, eligible):
    """APCS tiers: 0-1 average, 2-3 moderate, 4-7 high (Yeoh 2011). Only APCS here:
    ``colorectal.apcs``."""
    out = assess(pd.DataFrame([_apcs_person(score)]), load_ruleset("colorectal.apcs"), AS_OF)
    assert out[["score", "tier", "eligible"]].iloc[0].tolist() == [score, tier, eligible]


# ---------------------------------------------------------------- China 2020 colorectal
SYMPTOMS = ["chronic_constipation", "chronic_diarrhoea", "mucus_bloody_stool",
            "adverse_life_events", "chronic_appendicitis", "chronic_cholecystitis"]
CRC_SINGLE = ["family_history_colorectal", "cancer_history", "polyp_history", "fobt_positive"]


def _crc(**kw) -> dict:
    base = {c: "false" for c in SYMPTOMS + CRC_SINGLE}
    base.update(kw)
    return person(**base)


@pytest.mark.parametrize("flag", CRC_SINGLE)
def test_crc2020_single_items(flag):
    """CRC20: any of first-degree relative with CRC, own cancer, own polyps (and a positive
    FOBT/FIT refers to colonoscopy) makes a person high risk."""
    rs = load_ruleset("colorectal.cn2020")
    out = assess(pd.DataFrame([_crc(**{flag: "true"}), _crc()]), rs, AS_OF)
    assert out["eligible"].tolist() == [True, False]
    assert out["tier"].tolist() == ["high", "low"]
    assert pd.isna(out["score"]).all()  # criteria rules have no score


@pytest.mark.parametrize("n_symptoms,eligible", [(1, False), (2, True), (3, True)])
def test_crc2020_two_or_more_symptoms(n_symptoms, eligible):
    """CRC20: two or more of the six history items (just below, at, above 2)."""
    rs = load_ruleset("colorectal.cn2020")
    p = _crc(**{s: "true" for s in SYMPTOMS[:n_symptoms]})
    out = assess(pd.DataFrame([p]), rs, AS_OF).iloc[0]
    assert out["eligible"] is eligible
    if eligible:
        assert "chronic constipation" in out["reasons"]


def test_colorectal_set_is_high_if_either_rule_says_so():
    rs = load_ruleset("colorectal")
    apcs_high = _apcs_person(4) | {c: "false" for c in SYMPTOMS + CRC_SINGLE[1:]}
    quest = _apcs_person(0) | {c: "false" for c in SYMPTOMS + CRC_SINGLE[1:]} | {
        "polyp_history": "true"}
    moderate = person(birth_date=born(55), sex="F", smoking_pack_years=0) | {
        c: "false" for c in SYMPTOMS + CRC_SINGLE}  # APCS 2: age 50-69 only
    out = assess(pd.DataFrame([apcs_high, quest, moderate]), rs, AS_OF)
    assert out["eligible"].tolist() == [True, True, False]
    assert out["tier"].tolist() == ["high", "high", "moderate"]
    assert out["score"].tolist() == [4, 0, 2]  # the APCS total


# ---------------------------------------------------------------- lung (China 2021)
def _lung(**kw) -> dict:
    base = dict(smoking_pack_years=0, quit_years=0, passive_smoking_years=0, copd="false",
                occupational_exposure="false", family_history_lung="false")
    base.update(kw)
    return person(**base)


@pytest.mark.parametrize("age,eligible", [(49, False), (50, True), (51, True), (73, True),
                                          (74, True), (75, False)])
def test_lung_age_band_50_74(age, eligible):
    """LUNG21: age 50-74 (with a risk factor)."""
    out = assess(pd.DataFrame([_lung(birth_date=born(age), copd="true")]),
                 load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is eligible
    assert out["tier"] == ("high" if eligible else "not_target")


@pytest.mark.parametrize("pack_years,quit,eligible", [
    (29.9, 0, False), (30, 0, True), (30.1, 0, True),          # ≥ 30 pack-years
    (40, 14, True), (40, 15, False), (40, 16, False),          # quit < 15 years
])
def test_lung_pack_years_and_years_since_quitting(pack_years, quit, eligible):
    """LUNG21: ≥ 30 pack-years, including former smokers who quit less than 15 years ago."""
    out = assess(pd.DataFrame([_lung(smoking_pack_years=pack_years, quit_years=quit)]),
                 load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is eligible


@pytest.mark.parametrize("years,eligible", [(19, False), (20, True), (21, True)])
def test_lung_passive_smoking_20_years(years, eligible):
    """LUNG21: living or working with a smoker for 20 years (≥ 20 chosen where copies say
    "more than 20": documented in lung.yaml)."""
    out = assess(pd.DataFrame([_lung(passive_smoking_years=years)]), load_ruleset("lung"),
                 AS_OF).iloc[0]
    assert out["eligible"] is eligible


@pytest.mark.parametrize("flag", ["copd", "occupational_exposure", "family_history_lung"])
def test_lung_other_exposures(flag):
    """LUNG21: COPD; ≥ 1 year occupational exposure; lung cancer in a first-degree relative."""
    out = assess(pd.DataFrame([_lung(**{flag: "true"}), _lung()]), load_ruleset("lung"), AS_OF)
    assert out["eligible"].tolist() == [True, False]
    assert out["score"].isna().all()


# ---------------------------------------------------------------- gastric (2017 consensus)
GASTRIC_FLAGS = ["h_pylori", "hp_antibody", "atrophic_gastritis", "gastric_precancerous",
                 "family_history_gastric", "high_salt_pickled_diet", "heavy_drinking"]


def _gastric(**kw) -> dict:
    base = {c: "false" for c in GASTRIC_FLAGS}
    base.update(area_code="331083001", smoking_pack_years=0, quit_years=0)
    base.update(kw)
    return person(**base)


@pytest.mark.parametrize("age,eligible", [(39, False), (40, True), (41, True)])
def test_gastric_consensus_age_40(age, eligible):
    """GC17: age ≥ 40 and a risk factor."""
    out = assess(pd.DataFrame([_gastric(birth_date=born(age), h_pylori="true")]),
                 load_ruleset("gastric.cn2017"), AS_OF).iloc[0]
    assert out["eligible"] is eligible


@pytest.mark.parametrize("kw", [
    {"h_pylori": "true"}, {"hp_antibody": "true"}, {"atrophic_gastritis": "true"},
    {"gastric_precancerous": "true"}, {"family_history_gastric": "true"},
    {"high_salt_pickled_diet": "true"}, {"heavy_drinking": "true"},
    {"smoking_pack_years": 10, "quit_years": 0},  # current smoker
    {"area_code": "331083104"},  # high-incidence township (local setting)
    {"area_code": "331083104001"},  # a village of it
])
def test_gastric_consensus_each_factor(kw):
    """GC17: high-incidence area; H. pylori infection; precancerous conditions; first-degree
    relative with gastric cancer; other risk factors (high salt, pickled food, smoking,
    heavy drinking)."""
    out = assess(pd.DataFrame([_gastric(**kw), _gastric()]), load_ruleset("gastric.cn2017"),
                 AS_OF)
    assert out["eligible"].tolist() == [True, False]


def test_gastric_former_smoker_is_not_a_current_smoker():
    out = assess(pd.DataFrame([_gastric(smoking_pack_years=10, quit_years=3)]),
                 load_ruleset("gastric.cn2017"), AS_OF)
    assert out["eligible"].tolist() == [False]


def _gscore(**kw) -> dict:
    base = dict(sex="F", birth_date=born(45), hp_antibody="false", pg_ratio=5.0, g17=1.0)
    base.update(kw)
    return person(**base)


@pytest.mark.parametrize("age,points", [(40, 0), (41, 0), (49, 0), (50, 5), (51, 5), (59, 5),
                                        (60, 6), (61, 6), (69, 6), (70, 10), (71, 10)])
def test_gastric_score_age(age, points):
    """New gastric score age: 40-49 0, 50-59 5, 60-69 6, > 69 10 (GC17)."""
    assert factor_points("gastric", "score", "age", [_gscore(birth_date=born(age))]) == [points]


@pytest.mark.parametrize("ratio,points", [(3.88, 3), (3.89, 0), (3.90, 0)])
def test_gastric_score_pg_ratio(ratio, points):
    """New gastric score: PG I/II ratio < 3.89 → 3 (GC17)."""
    assert factor_points("gastric", "score", "pg_ratio", [_gscore(pg_ratio=ratio)]) == [points]


@pytest.mark.parametrize("g17,points", [(1.49, 0), (1.50, 3), (1.51, 3), (5.69, 3), (5.70, 3),
                                        (5.71, 5)])
def test_gastric_score_gastrin17(g17, points):
    """New gastric score: G-17 < 1.50 → 0, 1.50-5.70 → 3, > 5.70 pmol/L → 5 (GC17; exactly
    1.50 scores 3, a documented choice)."""
    assert factor_points("gastric", "score", "g17", [_gscore(g17=g17)]) == [points]


def test_gastric_score_sex_and_antibody():
    """New gastric score: male 4; H. pylori antibody positive 1 (GC17)."""
    assert factor_points("gastric", "score", "sex", [_gscore(sex="M"), _gscore()]) == [4, 0]
    assert factor_points("gastric", "score", "hp_antibody",
                         [_gscore(hp_antibody="true"), _gscore()]) == [1, 0]


def _gscore_total(total: int) -> dict:
    for age, ap in ((45, 0), (55, 5), (65, 6), (75, 10)):
        for male in (0, 4):
            for hp in (0, 1):
                for pg in (0, 3):
                    for g, gp in ((1.0, 0), (3.0, 3), (8.0, 5)):
                        if ap + male + hp + pg + gp == total:
                            return _gscore(birth_date=born(age), sex="M" if male else "F",
                                           hp_antibody="true" if hp else "false",
                                           pg_ratio=2.0 if pg else 5.0, g17=g)
    raise AssertionError(total)


@pytest.mark.parametrize("total,tier", [(11, "low"), (12, "medium"), (13, "medium"),
                                        (16, "medium"), (17, "high"), (18, "high"),
                                        (23, "high")])
def test_gastric_score_tiers(total, tier):
    """New gastric score tiers: low 0-11, medium 12-16, high 17-23 (GC17)."""
    out = assess(pd.DataFrame([_gscore_total(total)]), load_ruleset("gastric.score"),
                 AS_OF).iloc[0]
    assert (out["score"], out["tier"], out["eligible"]) == (total, tier, tier == "high")


def test_gastric_score_only_where_serology_present():
    """Without any serology the score does not apply (and does not make the person
    "cannot assess"); the consensus decides."""
    p = _gastric(birth_date=born(70), pg_ratio="", g17="", hp_antibody="")
    out = assess(pd.DataFrame([p]), load_ruleset("gastric"), AS_OF).iloc[0]
    assert out["tier"] == "low" and out["eligible"] is False and pd.isna(out["score"])
    assert "gastric score" not in out["reasons"]


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
    p = _lung(birth_date="", copd="true")
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
    p = _lung(copd="true", name="不应出现", id_number="x")
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
