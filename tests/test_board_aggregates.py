"""Aggregate indicators: declared definitions, validated entry (every bad row named, all
or nothing), storage with permission and audit, tiles, and the subsidy lines."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from healthmap import access, aggregates, audit, board, subsidies
from healthmap.reference import ReferenceDataError

TODAY = dt.date(2025, 3, 1)


def test_every_bad_row_is_named_and_nothing_passes():
    df = pd.DataFrame({
        "指标": ["hospice_beds", "nope", "hospice_beds", "nego_drugs_hospital",
                 "hospice_beds", "vaccinations", "hospice_beds"],
        "年份": ["2024", "2024", "2026", "2024", "2024", "2024", "2023"],
        "数值": ["12", "1", "3", "120", "12", "2.5", "x"],
    })
    clean, p = aggregates.validate(df, today=TODAY)
    assert clean is None
    assert p[["row", "column", "problem"]].values.tolist() == [
        [3, "indicator", "unknown_indicator"], [4, "period", "period"],
        [5, "value", "range"], [6, "indicator", "duplicate"], [7, "value", "integer"],
        [8, "value", "number"]]


def test_columns_checked_first():
    clean, p = aggregates.validate(pd.DataFrame({"indicator": ["x"], "extra": [1]}),
                                   today=TODAY)
    assert clean is None and set(p["problem"]) == {"missing_column", "unknown_column"}
    clean, p = aggregates.validate(pd.DataFrame(columns=["indicator", "period", "value"]),
                                   today=TODAY)
    assert p["problem"].tolist() == ["empty"]


def test_save_replaces_needs_permission_and_is_audited(engine):
    clean, _ = aggregates.validate(pd.DataFrame({
        "indicator": ["hospice_beds", "ccv_event_rate", "ccv_event_rate_taizhou"],
        "period": ["2024", "2024", "2024"], "value": ["10", "250.5", "270"]}), today=TODAY)
    with Session(engine) as s, s.begin():
        with pytest.raises(access.PermissionDenied):
            aggregates.save(s, access.Actor("li", "leader"), clean, "form")
    with Session(engine) as s, s.begin():
        assert aggregates.save(s, access.Actor("wang", "data_manager"), clean, "a.csv") == 3
    again, _ = aggregates.validate(pd.DataFrame({"indicator": ["hospice_beds"],
                                                 "period": ["2024"], "value": ["12"]}),
                                   today=TODAY)
    with Session(engine) as s, s.begin():
        aggregates.save(s, access.Actor("wang", "data_manager"), again, "form")
    v = aggregates.values(engine)
    assert len(v) == 3 and aggregates.value_of(v, "hospice_beds", 2024) == 12
    assert (audit.search_audit(engine, action="board.enter")["actor"] == "wang").sum() == 2
    tiles = {t.key: t for t in aggregates.tiles(v, 2024)}
    assert tiles["ccv_event_rate"].status == "met"  # 250.5 ≤ Taizhou 270, outside 5 %
    assert tiles["nego_drugs_pharmacy"].status == "no_data"
    assert tiles["hospice_beds"].value == 12 and tiles["hospice_beds"].status == ""


def test_ccv_rate_against_taizhou_boundaries():
    v = pd.DataFrame({"indicator": ["ccv_event_rate", "ccv_event_rate_taizhou"],
                      "period": ["2024", "2024"], "value": [260.0, 270.0]})
    assert {t.key: t for t in aggregates.tiles(v, 2024)}["ccv_event_rate"].status == "at_risk"
    v.loc[0, "value"] = 271.0
    assert {t.key: t for t in aggregates.tiles(v, 2024)}["ccv_event_rate"].status == "missed"
    v = v.iloc[:1]  # no Taizhou average for the year: no status can be judged
    t = {t.key: t for t in aggregates.tiles(v, 2024)}["ccv_event_rate"]
    assert t.status == "no_data"
    assert t.params["target_text"] == "≤ 心脑血管疾病急性事件发生率（台州市平均）（2024 年未填报）"
    t = {t.key: t for t in aggregates.tiles(v, 2024, lang="en")}["ccv_event_rate"]
    assert t.params["target_text"].endswith("(Taizhou average) (not entered for 2024)")


def test_bad_definition_file_refused(tmp_path):
    text = aggregates.DEFINITIONS.read_text(encoding="utf-8")
    bad = tmp_path / "d.csv"
    bad.write_text(text.replace(",hospice_bed,", ",no_such_target,", 1), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="no_such_target"):
        aggregates.load_definitions(bad)
    bad.write_text(text.replace(">=,20,,", ">=,20,ccv_event_rate,", 1), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="exactly one"):
        aggregates.load_definitions(bad)


def test_subsidy_lines_hand_worked():
    v = pd.DataFrame({"indicator": ["tcm_herbal_rx", "tumour_surgery_g4_new", "hospice_home"],
                      "period": ["2024"] * 3, "value": [1000.0, 3.0, 7.0]})
    t = subsidies.subsidy_lines(2024, v, None, None, "zh").set_index("code")
    assert int(t.at["tcm_herbal_rx", "amount_fen"]) == 1000 * 500  # ≥ 5 yuan each: minimum
    assert "最低" in t.at["tcm_herbal_rx", "note"]
    assert int(t.at["tumour_surgery_g4", "amount_fen"]) == 3 * 200_000
    assert int(t.at["hospice_home", "amount_fen"]) == 7 * 100_000
    assert pd.isna(t.at["tumour_surgery_g3", "amount_fen"])
    assert "手术分级" in t.at["tumour_surgery_g3", "note"]
    assert pd.isna(t.at["screening_fee_reduction", "count"])  # ledger not readable
    empty = subsidies.subsidy_lines(2024, v, pd.DataFrame(columns=["month", "reductions",
                                                                 "reduction_fen"]), 0, "zh")
    assert int(empty.set_index("code").at["screening_fee_reduction", "amount_fen"]) == 0
    assert pd.isna(t.at["chronic_new_managed", "amount_fen"])
    assert t.at["hospice_home", "amount_yuan"] == 7000


def test_entered_indicators_speak_english_units():
    v = pd.DataFrame({"indicator": ["hospice_beds", "ccv_event_rate", "ccv_event_rate_taizhou"],
                      "period": ["2024"] * 3, "value": [12.0, 250.0, 270.0]})
    en = {t.key: t for t in aggregates.tiles(v, 2024, lang="en")}
    zh = {t.key: t for t in aggregates.tiles(v, 2024, lang="zh")}
    assert board.value_text(12.0, en["hospice_beds"], "en") == "12 beds"
    assert board.value_text(12.0, zh["hospice_beds"], "zh") == "12 张"
    assert en["ccv_event_rate"].params["target_text"] == "≤ 270 per 100,000"
    assert zh["ccv_event_rate"].params["target_text"] == "≤ 270 /10万"


@pytest.mark.parametrize("value, expected", [(19.9, "missed"), (20.0, "at_risk"),
                                             (20.99, "at_risk"), (21.0, "met"), (80.0, "met")])
def test_negotiated_drugs_at_least_20_percent(value, expected):
    # ≥ 20 %: satisfied from 20; the at-risk band is 5 % of 20 = 1 point (20 to < 21)
    v = pd.DataFrame({"indicator": ["nego_drugs_hospital"], "period": ["2024"],
                      "value": [value]})
    t = {t.key: t for t in aggregates.tiles(v, 2024)}["nego_drugs_hospital"]
    assert t.status == expected and t.params["target_text"] == "≥ 20 %"
