"""The episode cases of the import corpus (tests/test_import_corpus.py): every hostile or
plausible episodes file of issue 16 with its expected outcome (see import_corpus_cases.py)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

from import_corpus_base import Case, csv_bytes, junk_xlsx, variants, xlsx_bytes

from healthmap import ids
from healthmap.ingest.contract import Limits

# ------------------------------------------------------------------ episodes
EP = ["record_id", "person_id", "area_code", "icd10", "date", "setting", "institution_code",
      "total_cost", "sex", "age", "birth_date", "fund_paid", "insurance_type", "referral"]
EP_OK = dict(record_id="N1", person_id="P1", area_code="331083001", icd10="C18.9",
             date="2024-03-15", setting="inpatient", institution_code="YH001",
             total_cost="20000", sex="M", age="66", birth_date="1957-06-01", fund_paid="12000",
             insurance_type="resident", referral="false")


def ep_rows(*overrides: dict) -> list[list[str]]:
    rows = [dict(EP_OK, record_id="N0", person_id="P0")]
    rows += [{**EP_OK, "record_id": f"N{i + 1}", **o} for i, o in enumerate(overrides)]
    return [[r[c] for c in EP] for r in rows]


def _not_an_id() -> str:
    """18 digits shaped like an ID number but with a wrong check digit."""
    real = ids.make_id("331083", dt.date(1957, 6, 1), 11)
    return real[:17] + ("0" if real[17] != "0" else "1")


def episode_cases() -> list[Case]:
    bad_value = [  # (name, overrides, expected code)
        ("date 1900", dict(date="1900-01-01", age="", birth_date=""), "before_data_period"),
        ("date 1950", dict(date="1950-06-01", age="", birth_date=""), "before_data_period"),
        ("date 1999", dict(date="1999-12-31", age="", birth_date=""), "before_data_period"),
        ("date 1899", dict(date="1899-12-31", age="", birth_date=""), "old_date"),
        ("date full-width digit", dict(date="2024-03-1５"), "nonascii_digit"),
        ("date full-width year", dict(date="２０２４-03-15"), "nonascii_digit"),
        ("date future", dict(date="2030-01-01"), "future_date"),
        ("date 30 Feb", dict(date="2024-02-30"), "date"),
        ("date month 13", dict(date="2024-13-01"), "date"),
        ("date text", dict(date="yesterday"), "date"),
        ("birth gives age 124", dict(birth_date="1900-01-01", age=""), "age_implausible"),
        ("birth after episode", dict(birth_date="2024-05-01", age=""), "birth_after_date"),
        ("age 121", dict(age="121", birth_date=""), "range"),
        ("age negative", dict(age="-1", birth_date=""), "negative"),
        ("age fraction", dict(age="66.5", birth_date=""), "integer"),
        ("age full-width", dict(age="６６", birth_date=""), "nonascii_digit"),
        ("age superscript", dict(age="6²", birth_date=""), "nonascii_digit"),
        ("age mismatch", dict(age="40"), "age_mismatch"),
        ("cost 5,000,000", dict(total_cost="5000000", fund_paid=""), "cost_ceiling"),
        ("cost 99,999,999", dict(total_cost="99999999", fund_paid=""), "cost_ceiling"),
        ("cost 100,000,000", dict(total_cost="100000000", fund_paid=""), "cost_ceiling"),
        ("cost just above ceiling", dict(total_cost="3000000.01", fund_paid=""),
         "cost_ceiling"),
        ("cost 1e400", dict(total_cost="1e400", fund_paid=""), "cost_ceiling"),
        ("cost negative", dict(total_cost="-5", fund_paid=""), "negative"),
        ("cost text", dict(total_cost="lots"), "number"),
        ("cost full-width", dict(total_cost="２0000"), "nonascii_digit"),
        ("fund above ceiling", dict(fund_paid="4000000"), "cost_ceiling"),
        ("fund above cost", dict(fund_paid="30000"), "fund_gt_cost"),
        ("icd A0Z", dict(icd10="A0Z"), "icd10_unknown"),
        ("icd X9Z.ZZZZ", dict(icd10="X9Z.ZZZZ"), "icd10_unknown"),
        ("icd U99.9", dict(icd10="U99.9"), "icd10_unknown"),
        ("icd B99.ZZZZ", dict(icd10="B99.ZZZZ"), "icd10_unknown"),
        ("icd I00.0", dict(icd10="I00.0"), "icd10_unknown"),
        ("icd C18.X", dict(icd10="C18.X"), "icd10_unknown"),
        ("icd XYZ", dict(icd10="XYZ"), "icd10"),
        ("icd C1", dict(icd10="C1"), "icd10"),
        ("icd empty", dict(icd10=""), "required"),
        ("area county code", dict(area_code="331083"), "county_area"),
        ("area 玉环市", dict(area_code="玉环市"), "county_area"),
        ("area 玉环县", dict(area_code="玉环县"), "county_area"),
        ("area unknown", dict(area_code="上海市徐汇区"), "unknown_area"),
        ("institution unknown", dict(institution_code="NOPE"), "unknown_institution"),
        ("setting bad", dict(setting="ward"), "setting"),
        ("sex bad", dict(sex="X"), "sex"),
        ("insurance bad", dict(insurance_type="gold"), "insurance"),
        ("referral bad", dict(referral="maybe"), "bool"),
        ("record id zero-width", dict(record_id="N0\u200b"), "key_chars"),
        ("record id space", dict(record_id="N 9"), "key_chars"),
        ("record id quote", dict(record_id='N"9'), "key_chars"),
        ("record id apostrophe", dict(record_id="N'9"), "key_chars"),
        ("record id newline", dict(record_id="N\n9"), "key_chars"),
        ("record id backslash", dict(record_id="N\\9"), "key_chars"),
        ("record id full-width", dict(record_id="N９"), "nonascii_digit"),
        ("record id case", dict(record_id="n0"), "duplicate_case"),
        ("record id repeated", dict(record_id="N0"), "duplicate"),
        ("record id 65 chars", dict(record_id="E" * 65), "too_long"),
        ("person id newline", dict(person_id="P\n1"), "key_chars"),
        ("person id quotes", dict(person_id='"P1"x'), "key_chars"),
        ("person id tab", dict(person_id="P\t1"), "key_chars"),
        ("person id zero-width", dict(person_id="P\u200b1"), "key_chars"),
        ("person id BOM", dict(person_id="P\ufeff1"), "key_chars"),
        ("person id is an ID number", dict(person_id=ids.make_id("331083",
                                                                  dt.date(1957, 6, 1), 11)),
         "id_number_elsewhere"),
        ("area with newline", dict(area_code="玉城\n街道"), "control_chars"),
        ("area 201 chars", dict(area_code="玉" * 201), "too_long"),
        ("icd 17 chars", dict(icd10="C18.900X001XXXXXX"), "too_long"),
    ]
    out = []
    for name, over, code in bad_value:
        out += variants("episodes", name, EP, ep_rows({}, over), code)
    good = [
        ("plain", {}), ("icd national extension", dict(icd10="C18.900x001")),
        ("icd leaf with placeholder", dict(icd10="I10.x00x002")), ("icd lower case",
                                                                   dict(icd10="i10")),
        ("icd without dot", dict(icd10="C189")), ("icd U07.1", dict(icd10="U07.1")),
        ("address", dict(area_code="浙江省玉环县楚门镇")), ("old town name",
                                                      dict(area_code="坎门镇")),
        ("village", dict(area_code="331083001001")), ("date 2000-01-01",
                                                     dict(date="2000-01-01", age="",
                                                          birth_date="")),
        ("age 120", dict(age="120", birth_date="")),
        ("inpatient at the warning threshold", dict(total_cost="500000")),
        ("outpatient 19,999", dict(setting="outpatient", total_cost="19999", fund_paid="")),
        ("person id of 18 digits that is no ID number", dict(person_id=_not_an_id())),
        ("record id 64 chars", dict(record_id="E" * 64)),
    ]
    for name, over in good:
        out += variants("episodes", f"ok {name}", EP, ep_rows({}, over), "ok")
    warned = [
        ("inpatient 600,000", dict(total_cost="600000", fund_paid="")),
        ("inpatient 2,999,999", dict(total_cost="2999999", fund_paid="")),
        ("outpatient 25,000", dict(setting="outpatient", total_cost="25000", fund_paid="")),
    ]
    for name, over in warned:
        out += variants("episodes", f"warn {name}", EP, ep_rows({}, over), "warn:cost_high")
    rows = ep_rows({})
    long_rows = ep_rows(dict(record_id="R" * 1_000_000))
    out += [
        Case("episodes", "1 MB record id in 10 rows", lambda: csv_bytes(
            EP, ep_rows(*[{}] * 8, dict(record_id="R" * 1_000_000))), "too_long"),
        Case("episodes", "100 kB person id", lambda: csv_bytes(
            EP, ep_rows(dict(person_id="P" * 100_000))), "too_long"),
        Case("episodes", "1 MB record id/xlsx", lambda: xlsx_bytes(EP, long_rows[:1] + [
            [v[:32000] for v in long_rows[1]]]), "too_long", "f.xlsx"),
        Case("episodes", "record id differs from a held one in case", lambda: csv_bytes(
            EP, [[dict(EP_OK, record_id="b1")[c] for c in EP]]), "duplicate_case_held"),
        Case("episodes", "total_cost twice", lambda: csv_bytes(
            EP + ["total_cost"], [r + ["1"] for r in rows]), "duplicate_column"),
        Case("episodes", "total_cost and 总费用", lambda: csv_bytes(
            EP + ["总费用"], [r + ["99"] for r in rows]), "duplicate_column"),
        Case("episodes", "record_id and 就诊记录号", lambda: csv_bytes(
            EP + ["就诊记录号"], [r + ["X"] for r in rows]), "duplicate_column"),
        Case("episodes", "icd10 and icd", lambda: csv_bytes(
            EP + ["icd"], [r + ["C18"] for r in rows]), "duplicate_column"),
        Case("episodes", "fund_payed", lambda: csv_bytes(
            [c if c != "fund_paid" else "fund_payed" for c in EP], rows),
            "unknown_column_hint"),
        Case("episodes", "referal", lambda: csv_bytes(
            [c if c != "referral" else "referal" for c in EP], rows), "unknown_column_hint"),
        Case("episodes", "undeclared column", lambda: csv_bytes(
            EP + ["ward_bed"], [r + ["12"] for r in rows]), "unknown_column"),
        Case("episodes", "fund_payed ignored", lambda: csv_bytes(
            [c if c != "fund_paid" else "fund_payed" for c in EP], rows),
            "warn:ignored_column", opts=dict(ignore_unknown_columns=True)),
        Case("episodes", "undeclared ignored/xlsx", lambda: xlsx_bytes(
            EP + ["ward_bed"], [r + ["12"] for r in rows]), "warn:ignored_column", "f.xlsx",
            dict(ignore_unknown_columns=True)),
        Case("episodes", "required column missing", lambda: csv_bytes(
            EP[1:], [r[1:] for r in rows]), "missing_column"),
        Case("episodes", "header only", lambda: csv_bytes(EP, []), "empty_file"),
        Case("episodes", "UTF-8 file with a GBK line", lambda: (
            csv_bytes(EP, ep_rows(dict(area_code="玉城街道")))
            + ",".join(ep_rows(dict(area_code="楚门镇"))[1]).replace("N1", "N9").encode(
                "gbk") + b"\n"), "mixed_encoding"),
        Case("episodes", "GBK file", lambda: csv_bytes(EP, ep_rows(dict(area_code="楚门镇")),
                                                        "gbk"), "ok"),
        Case("episodes", "UTF-8 with BOM", lambda: b"\xef\xbb\xbf" + csv_bytes(EP, rows),
             "ok"),
        Case("episodes", "3 blank lines before the header", lambda: b"\n \r\n\n" + csv_bytes(
            EP, _many(3)), "ok"),
        Case("episodes", "blank lines before the header, a bad date on line 5", lambda:
             b"\n\n" + csv_bytes(EP, ep_rows(dict(date="2024-02-30"))), "date", rows=(5,)),
        Case("episodes", "blank lines before the header, a field too many on line 5", lambda:
             b"\n\n" + csv_bytes(EP, [r + ["x"] if i == 1 else r for i, r in enumerate(
                 _many(3))]), "field_count", rows=(5,)),
        Case("episodes", "birth date 1899", lambda: csv_bytes(EP, ep_rows(dict(
            birth_date="1899-12-31", age=""))), "old_date", rows=(3,)),
        Case("episodes", "birth date before a configured min_date", lambda: csv_bytes(
            EP, ep_rows(dict(birth_date="1939-12-31", age=""))), "old_date",
            opts=dict(limits=Limits(min_date="1940-01-01")), rows=(3,)),
        Case("episodes", "xlsx with 300 columns", lambda: xlsx_bytes(
            EP + [f"c{i}" for i in range(300)], [r + ["x"] * 300 for r in rows]),
            "too_many_columns", "f.xlsx"),
        Case("episodes", "CSV above the size limit", lambda: csv_bytes(EP, _many(60)),
             "file_too_large", opts=dict(limits=Limits(max_episode_csv_mb=0.001))),
        Case("episodes", "CSV above max_file_mb, read in chunks", lambda: csv_bytes(
            EP, _many(60)), "ok", opts=dict(limits=Limits(max_file_mb=0.001))),
        Case("episodes", "GBK CSV above max_file_mb (decoded whole)", lambda: csv_bytes(
            EP, _many(60, area_code="楚门镇"), "gbk"), "file_too_large",
            opts=dict(limits=Limits(max_file_mb=0.001))),
        Case("episodes", "xlsx above max_file_mb", lambda: xlsx_bytes(EP, _many(60)),
             "file_too_large", "f.xlsx", dict(limits=Limits(max_file_mb=0.001))),
        Case("episodes", "rows 3 and 5 with a field too many", lambda: csv_bytes(
            EP, [r + ["x"] if i in (1, 3) else r for i, r in enumerate(_many(5))]),
            "field_count", rows=(3, 5)),
        Case("episodes", "row 4 with a field too many, quoted line break before", lambda:
             csv_bytes(EP, [r + ["x"] if i == 2 else r for i, r in enumerate(
                 ep_rows({}, dict(area_code="玉城\n街道")) + _many(3)[1:])]),
             "field_count", rows=(4,)),
        Case("episodes", "row lacking only optional trailing fields", lambda: csv_bytes(
            EP, [r[:8] if i == 1 else r for i, r in enumerate(_many(3))]), "ok"),
        Case("episodes", "row lacking a required field", lambda: csv_bytes(
            EP, [r[:7] if i == 1 else r for i, r in enumerate(_many(3))]), "required",
            rows=(3,)),
        Case("episodes", "xlsx above the row limit", lambda: xlsx_bytes(EP, rows * 30),
             "too_many_rows", "f.xlsx", dict(limits=Limits(max_excel_rows=20))),
        Case("episodes", "xlsx with 1,000,000 junk rows", lambda: junk_xlsx(1_000_000),
             "too_many_rows", "f.xlsx"),
        Case("episodes", "xlsx zip bomb", lambda: _zip_bomb_xlsx(), "unpacked_too_large",
             "f.xlsx", dict(limits=Limits(max_unpacked_mb=1))),
        Case("episodes", "old .xls", lambda: b"\xd0\xcf\x11\xe0junk", "xls_format", "f.xls"),
        Case("episodes", "too many columns", lambda: csv_bytes(
            EP + [f"c{i}" for i in range(300)], [r + [""] * 300 for r in rows]),
            "too_many_columns"),
        Case("episodes", "a million columns", lambda: ("c," * 1_000_000 + "c\n").encode(),
             "too_many_columns"),
        Case("episodes", "not a workbook", lambda: b"\x00\x01\x02", "unreadable", "f.xlsx"),
    ]
    return out


def _many(n: int, **over) -> list[list[str]]:
    """``n`` good episode rows with distinct record ids (M0 …)."""
    return [[dict(EP_OK, record_id=f"M{i}", **over)[c] for c in EP] for i in range(n)]


def _zip_bomb_xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b" " * (3 << 20))
    return buf.getvalue()
