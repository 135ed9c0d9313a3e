"""Health-points rule files: the shipped ones load; broken ones are refused, every problem
named."""

import shutil

import pytest
import yaml

from healthmap.points.rules import DATA_DIR, RulesError, load_rules, load_rules_from


def test_shipped_rules_load_with_the_required_activities():
    rules = load_rules()
    codes = {a.code for a in rules.activities}
    assert {"health_lecture", "knowledge_quiz", "annual_checkup", "cancer_screening",
            "vaccination", "family_doctor_contract", "chronic_followup",
            "blood_donation"} <= codes
    assert str(rules.valid_from) == "2024-01-01"
    for a in rules.activities:
        assert a.name["zh"] and a.name["en"] and a.explanation["zh"] and a.explanation["en"]
        assert 1 <= a.max_per_day <= a.max_per_year
    assert all(i.points > 0 and i.stock >= 0 for i in rules.items)
    assert rules.settings.expiry_years is None
    assert rules.settings.lookup.free_failures == 5
    assert rules.activity("cancer_screening").min_age == 40
    with pytest.raises(KeyError):
        rules.activity("nope")


def _copy(tmp_path):
    folder = tmp_path / "points"
    shutil.copytree(DATA_DIR, folder)
    return folder


def test_broken_activity_file_names_every_problem(tmp_path):
    folder = _copy(tmp_path)
    doc = yaml.safe_load((folder / "activities.yaml").read_text(encoding="utf-8"))
    doc["activities"][0]["points"] = 0
    doc["activities"][1]["code"] = doc["activities"][0]["code"]
    doc["activities"][2]["recorded_by"] = ["nurse"]
    doc["activities"][3]["max_per_day"] = 9
    del doc["activities"][4]["name"]["en"]
    doc["valid_from"] = "soon"
    (folder / "activities.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                            encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_rules_from(folder)
    text = " ".join(err.value.problems)
    assert "activities[0].points" in text
    assert "activities[1].code" in text and "twice" in text
    assert "activities[2].recorded_by" in text
    assert "activities[3]: max_per_day is larger" in text
    assert "activities[4].name" in text
    assert "valid_from: 'soon' is not a date" in text
    assert len(err.value.problems) == 6


def test_broken_catalogue_and_settings_are_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / "catalogue.yaml").write_text("version: '1'\nitems:\n  - code: a_b\n    "
                                           "name: {zh: 甲, en: A}\n    explanation: {zh: 甲, "
                                           "en: A}\n    points: 5\n    stock: -1\n",
                                           encoding="utf-8")
    with pytest.raises(RulesError, match=r"items\[0\].stock"):
        load_rules_from(folder)
    folder = _copy(tmp_path / "b")
    text = (folder / "settings.yaml").read_text(encoding="utf-8")
    (folder / "settings.yaml").write_text(text.replace("min_earned: 50", "min_earned: 500")
                                          .replace("years: null", "years: 0"), encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_rules_from(folder)
    assert any("expiry.years" in p for p in err.value.problems)
    assert any("levels" in p for p in err.value.problems)


def test_unparseable_yaml_is_one_clear_error(tmp_path):
    folder = _copy(tmp_path)
    (folder / "activities.yaml").write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match="cannot read"):
        load_rules_from(folder)


def test_every_refusal_code_has_a_text_in_both_languages():
    import re

    from healthmap.i18n import TEXT
    from points_helpers import ROOT_DIR

    codes = set()
    for name in ("ledger.py", "imports.py"):
        src = open(f"{ROOT_DIR}/healthmap/points/{name}", encoding="utf-8").read()
        codes |= set(re.findall(r'PointsRefused\(.*?,\s*"([a-z_]+)"', src, re.S))
        codes |= set(re.findall(r'"code": "([a-z_]+)"', src))
    codes |= {"conflict", "denied"}
    assert {"balance", "daily_cap", "yearly_cap", "not_a_date", "reversal_negative"} <= codes
    for code in codes:
        zh, en = TEXT[f"points.refused.{code}"]
        assert zh and en
