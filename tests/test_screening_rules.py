"""Screening rule sets: every band and cut-off just below, at and above, against the
published tables (written out here independently of the YAML files). Missing data and
the rule files themselves: test_screening_rule_files.py.

Sources (as checked in shared/reference/screening_criteria.md):
CDRS  Zhou X, Qiao Q, Ji L, et al. Diabetes Care 2013;36:3944-52 (China diabetes risk score)
APCS  Yeoh KG et al. Gut 2011;60:1236-41 (Asia-Pacific Colorectal Screening score)
CRC20 中国结直肠癌筛查与早诊早治指南(2020，北京). 中华肿瘤杂志 2021;43(1):16-38
LUNG21 中国肺癌筛查与早诊早治指南(2021，北京). 中华肿瘤杂志 2021;43(3):243-268
GC17  中国早期胃癌筛查流程专家共识意见(草案)(2017年，上海). 胃肠病学 2018;23(2):92-97
      (with its new gastric cancer screening score)
"""

from __future__ import annotations

import pandas as pd
import pytest
from screening_people import AS_OF, boundary_cases, born, factor_points, lung_person, person

from healthmap.screening.rules import assess, load_ruleset

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
@pytest.mark.parametrize("age,eligible", [(49, False), (50, True), (51, True), (73, True),
                                          (74, True), (75, False)])
def test_lung_age_band_50_74(age, eligible):
    """LUNG21: age 50-74 (with a risk factor)."""
    out = assess(pd.DataFrame([lung_person(birth_date=born(age), copd="true")]),
                 load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is eligible
    assert out["tier"] == ("high" if eligible else "not_target")


@pytest.mark.parametrize("pack_years,quit,eligible", [
    (29.9, 0, False), (30, 0, True), (30.1, 0, True),          # ≥ 30 pack-years
    (40, 14, True), (40, 15, False), (40, 16, False),          # quit < 15 years
])
def test_lung_pack_years_and_years_since_quitting(pack_years, quit, eligible):
    """LUNG21: ≥ 30 pack-years, including former smokers who quit less than 15 years ago."""
    out = assess(pd.DataFrame([lung_person(smoking_pack_years=pack_years, quit_years=quit)]),
                 load_ruleset("lung"), AS_OF).iloc[0]
    assert out["eligible"] is eligible


@pytest.mark.parametrize("years,eligible", [(19, False), (20, True), (21, True)])
def test_lung_passive_smoking_20_years(years, eligible):
    """LUNG21: living or working with a smoker for 20 years (≥ 20 chosen where copies say
    "more than 20": documented in lung.yaml)."""
    out = assess(pd.DataFrame([lung_person(passive_smoking_years=years)]), load_ruleset("lung"),
                 AS_OF).iloc[0]
    assert out["eligible"] is eligible


@pytest.mark.parametrize("flag", ["copd", "occupational_exposure", "family_history_lung"])
def test_lung_other_exposures(flag):
    """LUNG21: COPD; ≥ 1 year occupational exposure; lung cancer in a first-degree relative."""
    out = assess(pd.DataFrame([lung_person(**{flag: "true"}), lung_person()]), load_ruleset("lung"), AS_OF)
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
