"""The data contract: the columns of every import file type, as declarative data.

The README's column tables and the downloadable templates are generated from these specs,
so documentation and validation cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text, int, number, date, bool, sex, setting, insurance, level, area,
    #            institution, icd10, age_group, id_number, phone, area_level
    required: bool = True
    zh: str = ""  # Chinese header accepted as an alias
    lo: float | None = None
    hi: float | None = None
    example: str = ""
    note: str = ""


RISK_FACTOR_COLUMNS: tuple[Column, ...] = (
    Column("smoking_pack_years", "number", False, "吸烟包年", 0, 200, "35"),
    Column("quit_years", "number", False, "戒烟年数", 0, 80, "0", "0 = still smoking"),
    Column("passive_smoking_years", "number", False, "被动吸烟年数", 0, 100, ""),
    Column("occupational_exposure", "bool", False, "职业暴露", example="false"),
    Column("copd", "bool", False, "慢阻肺", example="false"),
    Column("family_history_colorectal", "bool", False, "结直肠癌家族史", example="false"),
    Column("family_history_lung", "bool", False, "肺癌家族史", example="true"),
    Column("family_history_gastric", "bool", False, "胃癌家族史", example=""),
    Column("family_history_diabetes", "bool", False, "糖尿病家族史", example=""),
    Column("h_pylori", "bool", False, "幽门螺杆菌感染", example=""),
    Column("atrophic_gastritis", "bool", False, "萎缩性胃炎", example=""),
    Column("gastric_precancerous", "bool", False, "胃癌前病变", example=""),
    Column("fobt_positive", "bool", False, "粪便隐血阳性", example=""),
    Column("height_cm", "number", False, "身高", 50, 250, "168"),
    Column("weight_kg", "number", False, "体重", 2, 300, "70"),
    Column("waist_cm", "number", False, "腰围", 30, 200, "88"),
    Column("sbp", "number", False, "收缩压", 50, 300, "135"),
    Column("pg_ratio", "number", False, "PGR", 0, 100, ""),
    Column("g17", "number", False, "G-17", 0, 500, ""),
    Column("hp_antibody", "bool", False, "Hp抗体", example=""),
)

SPECS: dict[str, tuple[Column, ...]] = {
    "areas": (
        Column("code", "text", True, "区划编码", example="331083001"),
        Column("name", "text", True, "名称", example="玉城街道"),
        Column("level", "area_level", True, "层级", example="township",
               note="county / township / village"),
        Column("parent_code", "text", False, "上级编码", example="331083"),
    ),
    "population": (
        Column("area_code", "area", True, "区划编码", example="331083001"),
        Column("year", "int", True, "年份", 1900, 2100, "2024"),
        Column("population", "int", True, "人口数", 0, 1e8, "2875"),
        Column("sex", "sex", False, "性别", example="M"),
        Column("age_group", "age_group", False, "年龄组", example="60-64"),
    ),
    "institutions": (
        Column("code", "text", True, "机构编码", example="H001"),
        Column("name", "text", True, "机构名称", example="玉环市人民医院"),
        Column("level", "level", True, "级别", example="tertiary",
               note="primary/secondary/tertiary or 基层/二级/三级"),
        Column("in_county", "bool", True, "是否县域内", example="true"),
        Column("area_code", "area", False, "所在区划", example="331083001"),
        Column("region", "text", False, "地区", example="玉环",
               note="for patient-flow charts, e.g. 玉环/台州/杭州/上海"),
    ),
    "episodes": (
        Column("record_id", "text", True, "就诊记录号", example="E0000001"),
        Column("person_id", "text", True, "患者编号", example="P000123",
               note="pseudonymised"),
        Column("area_code", "area", True, "居住地区划", example="331083001",
               note="code, name, old name or address"),
        Column("icd10", "icd10", True, "主诊断编码", example="C18.9"),
        Column("date", "date", True, "就诊日期", example="2024-03-15",
               note="admission or visit date"),
        Column("setting", "setting", True, "就诊类型", example="inpatient"),
        Column("institution_code", "institution", True, "机构编码", example="H001"),
        Column("total_cost", "number", True, "总费用", 0, 1e8, "23650.40"),
        Column("sex", "sex", False, "性别", example="M"),
        Column("age", "int", False, "年龄", 0, 120, "67"),
        Column("birth_date", "date", False, "出生日期", example="1957-02-01"),
        Column("fund_paid", "number", False, "医保支付", 0, 1e8, "15020.00"),
        Column("insurance_type", "insurance", False, "险种", example="resident"),
        Column("referral", "bool", False, "转诊标志", example="false"),
    ),
    "residents": (
        Column("resident_id", "text", True, "居民编号", example="R000001"),
        Column("id_number", "id_number", True, "身份证号", example="33102119570201001X",
               note="validated, stored only as a keyed hash"),
        Column("name", "text", True, "姓名", example="张三"),
        Column("sex", "sex", True, "性别", example="M"),
        Column("birth_date", "date", True, "出生日期", example="1957-02-01"),
        Column("area_code", "area", True, "居住地区划", example="331083001"),
        Column("phone", "phone", False, "手机号", example="13800001234"),
        Column("doctor_team", "text", False, "家庭医生团队", example="玉城1团队"),
    ) + RISK_FACTOR_COLUMNS,
}

KINDS = tuple(SPECS)

# Chinese headers (and a few common variants) accepted as aliases of the contract names.
HEADER_ALIASES: dict[str, str] = {
    c.zh: c.name for cols in SPECS.values() for c in cols if c.zh
}
HEADER_ALIASES.update({
    "编码": "code", "代码": "code", "上级代码": "parent_code", "人数": "population",
    "诊断编码": "icd10", "icd": "icd10", "icd-10": "icd10", "机构": "institution_code",
    "费用": "total_cost", "统筹支付": "fund_paid", "基金支付": "fund_paid",
    "是否转诊": "referral", "身份证": "id_number", "电话": "phone",
})


def template_frame(kind: str) -> "pd.DataFrame":
    """A one-row example file for ``kind`` (the downloadable template)."""
    import pandas as pd

    cols = SPECS[kind]
    return pd.DataFrame([{c.name: c.example for c in cols}])


def columns_doc(kind: str) -> "pd.DataFrame":
    """The contract of ``kind`` as a table (column, Chinese header, type, required, note)."""
    import pandas as pd

    rows = []
    for c in SPECS[kind]:
        rng = f"{c.lo:g}–{c.hi:g}" if c.lo is not None and c.hi is not None else ""
        rows.append({"column": c.name, "中文列名": c.zh, "type": c.type,
                     "required": "yes" if c.required else "", "range": rng,
                     "example": c.example, "note": c.note})
    return pd.DataFrame(rows)
