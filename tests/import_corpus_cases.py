"""The cases of the import corpus (tests/test_import_corpus.py): file builders and, per
kind, every hostile or plausible file of issue 16 with its expected outcome: ``ok``,
``warn:<code>`` (imported, the warning recorded) or the code of the refusal (a text key
``err.<code>``). Each bad value is tried as CSV and, in turn, as Excel or with Chinese
headers. ``base_rows`` is the small database the cases run against."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from import_corpus_base import TODAY, Case, csv_bytes, variants
from import_corpus_episodes import episode_cases

from healthmap import ids
from healthmap.codes import AGE_GROUPS
from healthmap.ingest.contract import Limits

# ------------------------------------------------------------------ residents
RES = ["resident_id", "id_number", "name", "sex", "birth_date", "area_code", "phone",
       "doctor_team", "smoking_pack_years", "copd"]
ID_M = ids.make_id("331083", dt.date(1960, 5, 1), 13)
ID_F = ids.make_id("331083", dt.date(1962, 7, 9), 24)


def res_rows(*overrides: dict) -> list[list[str]]:
    base = dict(resident_id="Q0", id_number=ID_M, name="张三", sex="M", birth_date="1960-05-01",
                area_code="331083001", phone="13800001234", doctor_team="玉城1团队",
                smoking_pack_years="20", copd="false")
    rows = [base] + [{**base, "resident_id": f"Q{i + 1}", "id_number": ID_F, "sex": "F",
                      "birth_date": "1962-07-09", **o} for i, o in enumerate(overrides)]
    return [[r[c] for c in RES] for r in rows]


def resident_cases() -> list[Case]:
    sup = ID_F[:5] + "²" + ID_F[6:]
    old = ids.make_id("331083", dt.date(1900, 1, 1), 24)
    bad_value = [
        ("name 101 chars", dict(name="王" * 101), "too_long"),
        ("name with newline", dict(name="李\n四"), "control_chars"),
        ("name with zero-width space", dict(name="李\u200b四"), "control_chars"),
        ("id superscript digit", dict(id_number=sup), "nonascii_digit"),
        ("id full-width digit", dict(id_number=ID_F[:-2] + "４" + ID_F[-1]), "nonascii_digit"),
        ("id check digit", dict(id_number=ID_F[:-1] + ("0" if ID_F[-1] != "0" else "1")),
         "id_check_digit"),
        ("id 17 chars", dict(id_number=ID_F[:17]), "id_length"),
        ("id letters", dict(id_number="33108319620709A24X"), "id_chars"),
        ("id repeated", dict(id_number=ID_M, sex="M", birth_date="1960-05-01"),
         "duplicate_id_number"),
        ("birth mismatch", dict(birth_date="1962-07-10"), "id_birth_mismatch"),
        ("sex mismatch", dict(sex="M"), "id_sex_mismatch"),
        ("age 125", dict(id_number=old, birth_date="1900-01-01"), "age_implausible"),
        ("resident id zero-width", dict(resident_id="Q0\u200b"), "key_chars"),
        ("resident id case", dict(resident_id="q0"), "duplicate_case"),
        ("resident id quote", dict(resident_id="Q'1"), "key_chars"),
        ("phone full-width", dict(phone="1380000123４"), "nonascii_digit"),
        ("phone short", dict(phone="1380000"), "phone"),
        ("area county", dict(area_code="玉环市"), "county_area"),
        ("ID number in doctor_team", dict(doctor_team=f"团队{ID_M}"), "id_number_elsewhere"),
        ("ID number in name", dict(name=ID_M), "id_number_elsewhere"),
        ("pack-years 500", dict(smoking_pack_years="500"), "range"),
        ("copd maybe", dict(copd="maybe"), "bool"),
        ("doctor team 101 chars", dict(doctor_team="队" * 101), "too_long"),
    ]
    out = []
    for name, over, code in bad_value:
        out += variants("residents", name, RES, res_rows(over), code)
    rows = res_rows({})
    out += variants("residents", "ok two residents", RES, rows, "ok")
    out += variants("residents", "ok name 100 chars", RES, res_rows(dict(name="王" * 100)), "ok")
    out += [
        Case("residents", "1,000,000-character name", lambda: csv_bytes(
            RES, res_rows(dict(name="名" * 1_000_000))), "too_long"),
        Case("residents", "extra column of ID numbers", lambda: csv_bytes(
            RES + ["身份证号2"], [r + [ID_F] for r in rows]), "unknown_column_hint"),
        Case("residents", "extra column of ID numbers, ignored", lambda: csv_bytes(
            RES + ["id_copy"], [r + [ID_F] for r in rows]), "warn:ignored_column",
            opts=dict(ignore_unknown_columns=True)),
        Case("residents", "200 kB free text column", lambda: csv_bytes(
            RES + ["notes"], [r + ["x" * 200_000] for r in rows]), "unknown_column"),
        Case("residents", "200 kB free text ignored", lambda: csv_bytes(
            RES + ["notes"], [r + ["x" * 200_000] for r in rows]), "warn:ignored_column",
            opts=dict(ignore_unknown_columns=True)),
        Case("residents", "misspelt risk factor", lambda: csv_bytes(
            [c if c != "smoking_pack_years" else "smoking_pack_yeras" for c in RES], rows),
            "unknown_column_hint"),
        Case("residents", "resident id differs from a held one in case", lambda: csv_bytes(
            RES, [["q0"] + rows[0][1:]]), "duplicate_case_held"),
        Case("residents", "rows 2 and 4 with a field too many", lambda: csv_bytes(
            RES, [r + ["x"] if i in (0, 2) else r for i, r in enumerate(res_rows({}, dict(
                resident_id="Q9", id_number=ID_F[:-1] + "0")))]), "field_count",
            rows=(2, 4)),
        Case("residents", "blank line before the header, a bad sex on line 4", lambda:
             b" \n" + csv_bytes(RES, res_rows(dict(sex="X"))), "sex", rows=(4,)),
        Case("residents", "blank lines before the header", lambda: b"\n\n" + csv_bytes(
            RES, rows), "ok"),
        Case("residents", "CSV above max_file_mb", lambda: csv_bytes(RES, rows),
             "file_too_large", opts=dict(limits=Limits(max_file_mb=0.0001))),
        Case("residents", "id_number twice", lambda: csv_bytes(
            RES + ["身份证号"], [r + [r[1]] for r in rows]), "duplicate_column"),
    ]
    return out


# ------------------------------------------------------------------ population
POP = ["area_code", "year", "population", "sex", "age_group"]


def split(area: str, year: str, n: int, drop: int = 0) -> list[list[str]]:
    cells = [[area, year, str(n), s, g] for s in "MF" for g in AGE_GROUPS]
    return cells[:len(cells) - drop]


def population_cases() -> list[Case]:
    t = lambda area, year, n: [area, year, str(n), "", ""]  # noqa: E731
    bad = [
        ("year 2100", [t("331083003", "2100", 58000)], "range"),
        ("year 1800", [t("331083003", "1800", 58000)], "range"),
        ("year 2200", [t("331083003", "2200", 58000)], "range"),
        ("year 1949", [t("331083003", "1949", 58000)], "range"),
        ("year next-but-one", [t("331083003", str(TODAY.year + 2), 58000)], "range"),
        ("year 2024.5", [t("331083003", "2024.5", 58000)], "integer"),
        ("year full-width", [t("331083003", "２０２４", 58000)], "nonascii_digit"),
        ("year text", [t("331083003", "last", 58000)], "integer"),
        ("year 1800 unknown area", [t("nowhere", "1800", 5)], "range"),
        ("99 million", [t("331083003", "2024", 99_000_000)], "range"),
        ("population 0", [t("331083003", "2024", 0)], "population_zero"),
        ("population negative", [t("331083003", "2024", -5)], "negative"),
        ("population fraction", [t("331083003", "2024", 5.5)], "integer"),
        ("玉城 2024 replaced by 1", [t("331083001", "2024", 1)], "confirm_population"),
        ("玉城 2024 doubled and more", [t("331083001", "2024", 300_000)],
         "confirm_population"),
        ("坎门 2024 vs 2023 tripled", [t("331083002", "2024", 201_000)], "confirm_population"),
        ("split 1 of 36", split("331083003", "2024", 800, 35), "split_incomplete"),
        ("split 35 of 36", split("331083003", "2024", 800, 1), "split_incomplete"),
        ("split sex only, one sex", [["331083003", "2024", "29000", "M", ""]],
         "split_incomplete"),
        ("split all zero", split("331083003", "2024", 0), "population_zero"),
        ("totals and split", [t("331083003", "2024", 58000)] + split("331083003", "2024",
                                                                     800), "mixed_detail"),
        ("unknown area", [t("上海", "2024", 5000)], "unknown_area"),
        ("repeated row", [t("331083003", "2024", 5000), t("331083003", "2024", 5000)],
         "duplicate"),
        ("bad age group", [["331083003", "2024", "5", "M", "0-3"]], "age_group"),
    ]
    out = []
    for name, rows, code in bad:
        out += variants("population", name, POP, rows, code)
    good = [
        ("new area-year", [t("331083003", "2024", 58339)]),
        ("玉城 small change", [t("331083001", "2024", 111_000)]),
        ("坎门 2024 close to 2023", [t("331083002", "2024", 67_500)]),
        ("complete split", split("331083003", "2024", 800)),
        ("sex split", [["331083003", "2024", "29000", s, ""] for s in "MF"]),
        ("age split", [["331083003", "2024", "3000", "", g] for g in AGE_GROUPS]),
        ("year 1950", [t("331083003", "1950", 20000)]),
        ("next year", [t("331083003", str(TODAY.year + 1), 58000)]),
    ]
    for name, rows in good:
        out += variants("population", f"ok {name}", POP, rows, "ok")
    for name, rows in [("玉城 replaced by 1, confirmed", [t("331083001", "2024", 1)]),
                       ("坎门 tripled, confirmed", [t("331083002", "2024", 201_000)])]:
        out += variants("population", name, POP, rows, "ok", confirm_changes=True)
    return out


# ------------------------------------------------------------------ institutions
INS = ["code", "name", "level", "in_county", "area_code", "region"]
YH001 = ["YH001", "玉环市人民医院", "tertiary", "true", "331083001", "玉环"]


def institution_cases() -> list[Case]:
    bad = [
        ("YH001 flipped out of county", [YH001[:3] + ["false", "331083001", "台州"]],
         "confirm_institution"),
        ("YH001 level changed", [YH001[:2] + ["secondary"] + YH001[3:]],
         "confirm_institution"),
        ("YH001 moved township", [YH001[:4] + ["331083002", "玉环"]], "confirm_institution"),
        ("in county with region 上海", [["YH009", "某医院", "primary", "true", "", "上海"]],
         "in_county_region"),
        ("in county with region 台州", [["YH009", "某医院", "primary", "是", "", "台州"]],
         "in_county_region"),
        ("code zero-width", [["YH\u200b9", "某医院", "primary", "true", "", "玉环"]],
         "key_chars"),
        ("code with space", [["YH 9", "某医院", "primary", "true", "", "玉环"]], "key_chars"),
        ("code case duplicate", [YH001, ["yh001"] + YH001[1:]], "duplicate_case"),
        ("code differs from a held one in case", [["yh001"] + YH001[1:]],
         "duplicate_case_held"),
        ("code repeated", [YH001, YH001], "duplicate"),
        ("level bad", [["YH009", "某医院", "level 4", "true", "", "玉环"]], "level"),
        ("in_county bad", [["YH009", "某医院", "primary", "perhaps", "", "玉环"]], "bool"),
        ("name 101 chars", [["YH009", "院" * 101, "primary", "true", "", "玉环"]], "too_long"),
        ("name with newline", [["YH009", "某\n医院", "primary", "true", "", "玉环"]],
         "control_chars"),
        ("area unknown", [["YH009", "某医院", "primary", "true", "火星", "玉环"]],
         "unknown_area"),
        ("code 65 chars", [["Y" * 65, "某医院", "primary", "true", "", "玉环"]], "too_long"),
    ]
    out = []
    for name, rows, code in bad:
        out += variants("institutions", name, INS, rows, code)
    good = [
        ("re-import unchanged", [YH001]),
        ("YH001 renamed", [["YH001", "玉环市人民医院（新院区）"] + YH001[2:]]),
        ("new in county", [["YH009", "某卫生院", "基层", "是", "331083101", "玉环市"]]),
        ("new in county, no region", [["YH009", "某卫生院", "primary", "true", "", ""]]),
        ("new in Shanghai", [["SH009", "上海某医院", "三级", "否", "", "上海"]]),
        ("TZ001 with no records changes", [["TZ002", "台州某院", "secondary", "false", "",
                                            "杭州"]]),
    ]
    for name, rows in good:
        out += variants("institutions", f"ok {name}", INS, rows, "ok")
    out += variants("institutions", "YH001 flipped, confirmed",
                    INS, [YH001[:3] + ["false", "331083001", "台州"]], "ok",
                    confirm_changes=True)
    return out


# ------------------------------------------------------------------ areas
AR = ["code", "name", "level", "parent_code"]


def box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1],
                                                [x0, y0]]]}


def geojson(features: list[tuple[str, str, dict | None]], parent: str = "331083001") -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": n, "parent": parent},
         "geometry": g} for c, n, g in features]}).encode()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


GEO = dict(code_field="code", name_field="name", level="village", parent_field="parent")


def area_cases() -> list[Case]:
    bad = [
        ("village its own parent", [["331083001009", "某村", "village", "331083001009"]],
         "own_parent"),
        ("county under a township", [["331083", "玉环市", "county", "331083001"]],
         "parent_level"),
        ("village without parent", [["331083001009", "某村", "village", ""]],
         "parent_required"),
        ("township re-imported as a village", [["331083001", "玉城街道", "village",
                                                "331083002"]], "level_change"),
        ("village with a township's name", [["331083002009", "玉城街道", "village",
                                             "331083002"]], "name_taken"),
        ("village with the county's name", [["331083002009", "玉环市", "village",
                                             "331083002"]], "name_taken"),
        ("township whose parent is a village", [["331083009", "新镇", "township",
                                                 "331083001001"]], "parent_level"),
        ("villages each other's parent", [["331083001008", "甲村", "village", "331083001009"],
                                          ["331083001009", "乙村", "village", "331083001008"]],
         "parent_level"),
        ("township under a township", [["331083009", "新镇", "township", "331083001"]],
         "parent_level"),
        ("unknown parent", [["331083001009", "某村", "village", "331083999"]],
         "unknown_parent"),
        ("bad level", [["331083001009", "某村", "hamlet", "331083001"]], "area_level"),
        ("code with quote", [["331083'01", "某村", "village", "331083001"]], "key_chars"),
        ("code 33 chars", [["3" * 33, "某村", "village", "331083001"]], "too_long"),
        ("code repeated", [["331083001009", "某村", "village", "331083001"]] * 2, "duplicate"),
        ("two townships one name", [["331083008", "新镇", "township", "331083"],
                                    ["331083009", "新镇", "township", "331083"]],
         "name_taken"),
        ("village with records moved", [["331083001001", "东门村", "village", "331083002"]],
         "confirm_area_parent"),
        ("name with newline", [["331083001009", "某\n村", "village", "331083001"]],
         "control_chars"),
    ]
    out = []
    for name, rows, code in bad:
        out += variants("areas", name, AR, rows, code)
    good = [
        ("new village", [["331083001009", "某村", "village", "331083001"]]),
        ("new township without boundary", [["331083009", "新镇", "township", "331083"]]),
        ("villages sharing a name", [["331083001009", "新村", "village", "331083001"],
                                     ["331083002009", "新村", "village", "331083002"]]),
        ("re-import a township", [["331083002", "坎门街道", "township", "331083"]]),
    ]
    for name, rows in good:
        out += variants("areas", f"ok {name}", AR, rows, "ok")
    out += variants("areas", "village with records moved, confirmed",
                    AR, [["331083001001", "东门村", "village", "331083002"]], "ok",
                    confirm_changes=True)
    inside = box(121.24, 28.14, 121.25, 28.15)
    geo = [
        ("polygon in the USA", [("331083001009", "某村", box(-100, 40, -99, 41))],
         "outside_county"),
        ("polygon in Beijing", [("331083001009", "某村", box(116.3, 39.9, 116.4, 40.0))],
         "outside_county"),
        ("swapped lat/lon", [("331083001009", "某村", box(28.14, 121.24, 28.15, 121.25))],
         "latlon_swapped"),
        ("point", [("331083001009", "某村", {"type": "Point", "coordinates": [121.24, 28.14]})],
         "geometry_type"),
        ("line", [("331083001009", "某村", {"type": "LineString",
                                            "coordinates": [[121.24, 28.14], [121.25, 28.15]]})],
         "geometry_type"),
        ("no geometry", [("331083001009", "某村", None)], "geometry"),
        ("half outside", [("331083001009", "某村", box(121.24, 28.14, 121.25, 28.15)),
                          ("331083001008", "外村", box(121.9, 28.14, 122.2, 28.4))],
         "outside_county"),
        ("township code as its own parent", [("331083001", "某村", inside)], "own_parent"),
    ]
    for name, feats, code in geo:
        out.append(Case("areas", f"geojson {name}", lambda f=feats: geojson(f), code,
                        "a.geojson", dict(GEO)))
        out.append(Case("areas", f"zipped geojson {name}",
                        lambda f=feats: zipped("a.geojson", geojson(f)), code, "a.zip",
                        dict(GEO)))
    town = dict(GEO, level="township")
    for name, geom, code in (("in the USA", box(-100, 40, -99, 41), "outside_county"),
                             ("lat/lon swapped", box(28.14, 121.24, 28.15, 121.25),
                              "latlon_swapped"),
                             ("inside", inside, "ok")):
        out.append(Case("areas", f"geojson township {name}", lambda g=geom: geojson(
            [("331083009", "新镇", g)], parent="331083"), code, "a.geojson", town))
    out += [
        Case("areas", "geojson ok village", lambda: geojson([("331083001009", "某村", inside)]),
             "ok", "a.geojson", dict(GEO)),
        Case("areas", "300,000 point features", lambda: _points(300_000), "too_many_features",
             "a.geojson", dict(GEO)),
        Case("areas", "too many features (limit 50)", lambda: geojson(
            [(f"3310830010{i:02d}", f"村{i}", inside) for i in range(60)]),
            "too_many_features", "a.geojson", dict(GEO, limits=Limits(max_features=50))),
        Case("areas", "zip unpacking to 1 GiB of whitespace", lambda: _whitespace_zip(),
             "unpacked_too_large", "a.zip", dict(GEO)),
        Case("areas", "zip above a 1 MB unpack limit", lambda: zipped(
            "a.geojson", geojson([("331083001009", "某村", inside)]) + b" " * (2 << 20)),
            "unpacked_too_large", "a.zip", dict(GEO, limits=Limits(max_unpacked_mb=1))),
    ]
    return out


def _points(n: int) -> bytes:
    feature = ('{"type":"Feature","properties":{"code":"%d","name":"n%d","parent":"331083001"},'
               '"geometry":{"type":"Point","coordinates":[121.2,28.1]}}')
    return ('{"type":"FeatureCollection","features":['
            + ",".join(feature % (i, i) for i in range(n)) + "]}").encode()


def _whitespace_zip() -> bytes:
    """A zip whose GeoJSON member unpacks to 1 GiB of spaces (about 1 MB compressed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("a.geojson", "w", force_zip64=True) as f:
            block = b" " * (64 << 20)
            for _ in range(16):
                f.write(block)
    return buf.getvalue()


CASES = episode_cases() + resident_cases() + population_cases() + institution_cases() \
    + area_cases()
