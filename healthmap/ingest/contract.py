"""The data contract: the columns of every import file type, as declarative data.

The README's column tables and the downloadable templates are generated from these specs,
so documentation and validation cannot drift apart.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Every size limit and plausibility rule of the imports, in one place.

    Each can be changed for a deployment with an environment variable
    ``HEALTHMAP_LIMIT_<NAME>`` (e.g. ``HEALTHMAP_LIMIT_MAX_FILE_MB=500``) or per call by
    passing ``Limits(...)`` to :func:`healthmap.ingest.import_file`. "Refused" means the
    whole file is refused; "warned" means the import succeeds and the warning is recorded
    (import log, audit) and shown.

    >>> Limits().cost_ceiling_yuan
    3000000.0
    >>> Limits.from_env({"HEALTHMAP_LIMIT_COST_CEILING_YUAN": "5e6"}).cost_ceiling_yuan
    5000000.0
    """

    max_file_mb: float = 300.0            # refused before the file is read (a file read whole)
    max_episode_csv_mb: float = 2048.0    # an episodes CSV in UTF-8, read in chunks of rows
    #                                       (10 M episodes are about 1 GB); only the CLI sends
    #                                       files above the pages' 200 MB upload limit
    max_unpacked_mb: float = 500.0        # xlsx / zip contents after unpacking (zip bombs)
    max_excel_rows: int = 100_000         # Excel rows, empty formatted rows included (CSV has no
    #                                       row limit; openpyxl parses about 10,000 rows a second here)
    max_columns: int = 200
    max_features: int = 20_000            # features in a boundary file
    max_cell_chars: int = 200             # any cell without a limit of its own
    data_start: str = "2000-01-01"        # episode dates before this are refused
    min_date: str = "1900-01-01"          # any date (birth dates too) before this: refused
    max_age: int = 120                    # ages (given or from the birth date) above: refused
    cost_ceiling_yuan: float = 3_000_000.0         # one episode's cost above: refused
    cost_warn_inpatient_yuan: float = 500_000.0    # one stay above: warned
    cost_warn_outpatient_yuan: float = 20_000.0    # one visit above: warned
    year_min: int = 1950                  # population years from ...
    years_ahead: int = 1                  # ... to the current year + this
    max_population: int = 3_000_000       # one area-year (the county has about 650,000)
    population_change_factor: float = 2.0  # vs the held or previous year: needs confirming
    boundary_tolerance_km: float = 2.0    # boundaries may reach this far outside the county
    boundary_outside_share: float = 0.05  # share of a boundary allowed beyond the tolerance

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f"HEALTHMAP_LIMIT_{f.name.upper()}")
            if raw not in (None, ""):
                kind = type(getattr(cls, f.name))
                values[f.name] = kind(float(raw)) if kind is int else kind(raw)
        return cls(**values)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def max_bytes(self, streamed: bool = False) -> tuple[int, float]:
        """The largest file accepted, in bytes and in MB: ``max_episode_csv_mb`` for a
        file read in chunks (``streamed``), ``max_file_mb`` for any other.

        >>> Limits().max_bytes(), Limits().max_bytes(streamed=True)
        ((314572800, 300.0), (2147483648, 2048.0))
        """
        mb = self.max_episode_csv_mb if streamed else self.max_file_mb
        return int(mb * 1024 * 1024), mb

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * 1024 * 1024)

    def year_max(self, today: _dt.date | None = None) -> int:
        return (today or _dt.date.today()).year + self.years_ahead

    def cost_warn(self, setting: str) -> float:
        return (self.cost_warn_inpatient_yuan if setting == "inpatient"
                else self.cost_warn_outpatient_yuan)


# Longest value accepted per column type (checked before anything else); a column may set
# its own ``max_len``. Identifiers and names are at most 100 characters.
TYPE_MAX_LEN: dict[str, int] = {
    "text": 100, "key": 64, "area": 200, "institution": 64, "icd10": 16, "date": 30,
    "int": 20, "number": 30, "id_number": 30, "phone": 20,
}
SHORT_MAX_LEN = 20  # coded values: sex, setting, level, bool, ...

# Characters refused in identifiers ("key" columns): control and format characters
# (newlines, zero-width spaces), whitespace, quotes and backslashes.
KEY_BAD_CHARS = r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\"'`\\\\]"
# Characters refused in every cell: control characters (newlines) and zero-width ones.
CELL_BAD_CHARS = r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff]"

# Regions that count as the county itself (an in-county institution must have one of these).
LOCAL_REGIONS = ("", "玉环", "玉环市", "玉环县")


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
    max_len: int | None = None
    rule: str = ""  # a plausibility rule of Limits: year, population, cost, episode_date,
    #                 birth_date (see validate.py)

    @property
    def max_chars(self) -> int:
        """Longest accepted value (see :data:`TYPE_MAX_LEN`)."""
        return self.max_len or TYPE_MAX_LEN.get(self.type, SHORT_MAX_LEN)


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
    # screening questionnaire items the shipped rule sets use (decisions §8; data/screening/)
    Column("polyp_history", "bool", False, "肠息肉史", example="",
           note="own history of intestinal polyps"),
    Column("cancer_history", "bool", False, "本人癌症史", example="",
           note="own history of any cancer"),
    Column("chronic_constipation", "bool", False, "慢性便秘", example=""),
    Column("chronic_diarrhoea", "bool", False, "慢性腹泻", example=""),
    Column("mucus_bloody_stool", "bool", False, "黏液血便", example=""),
    Column("adverse_life_events", "bool", False, "不良生活事件史", example="",
           note="serious adverse life events (colorectal questionnaire)"),
    Column("chronic_appendicitis", "bool", False, "慢性阑尾炎或阑尾切除史", example=""),
    Column("chronic_cholecystitis", "bool", False, "慢性胆道疾病或胆囊切除史", example=""),
    Column("high_salt_pickled_diet", "bool", False, "高盐或腌制饮食", example=""),
    Column("heavy_drinking", "bool", False, "重度饮酒", example=""),
)

SPECS: dict[str, tuple[Column, ...]] = {
    "areas": (
        Column("code", "key", True, "区划编码", example="331083001", max_len=32),
        Column("name", "text", True, "名称", example="玉城街道"),
        Column("level", "area_level", True, "层级", example="township",
               note="county / township / village"),
        Column("parent_code", "text", False, "上级编码", example="331083"),
    ),
    "population": (
        Column("area_code", "area", True, "区划编码", example="331083001"),
        Column("year", "int", True, "年份", example="2024", rule="year"),
        Column("population", "int", True, "人口数", 0, example="2875", rule="population"),
        Column("sex", "sex", False, "性别", example="M"),
        Column("age_group", "age_group", False, "年龄组", example="60-64"),
    ),
    "institutions": (
        Column("code", "key", True, "机构编码", example="H001"),
        Column("name", "text", True, "机构名称", example="玉环市人民医院"),
        Column("level", "level", True, "级别", example="tertiary",
               note="primary/secondary/tertiary or 基层/二级/三级"),
        Column("in_county", "bool", True, "是否县域内", example="true"),
        Column("area_code", "area", False, "所在区划", example="331083001"),
        Column("region", "text", False, "地区", example="玉环",
               note="for patient-flow charts, e.g. 玉环/台州/杭州/上海"),
    ),
    "episodes": (
        Column("record_id", "key", True, "就诊记录号", example="E0000001"),
        Column("person_id", "key", True, "患者编号", example="P000123",
               note="pseudonymised"),
        Column("area_code", "area", True, "居住地区划", example="331083001",
               note="code, name, old name or address"),
        Column("icd10", "icd10", True, "主诊断编码", example="C18.9"),
        Column("date", "date", True, "就诊日期", example="2024-03-15",
               note="admission or visit date", rule="episode_date"),
        Column("setting", "setting", True, "就诊类型", example="inpatient"),
        Column("institution_code", "institution", True, "机构编码", example="H001"),
        Column("total_cost", "number", True, "总费用", 0, example="23650.40", rule="cost"),
        Column("sex", "sex", False, "性别", example="M"),
        Column("age", "int", False, "年龄", 0, example="67", rule="age"),
        Column("birth_date", "date", False, "出生日期", example="1957-02-01", rule="birth_date"),
        Column("fund_paid", "number", False, "医保支付", 0, example="15020.00", rule="cost"),
        Column("insurance_type", "insurance", False, "险种", example="resident"),
        Column("referral", "bool", False, "转诊标志", example="false"),
    ),
    "residents": (
        Column("resident_id", "key", True, "居民编号", example="R000001"),
        Column("id_number", "id_number", True, "身份证号", example="33102119570201001X",
               note="validated, stored only as a keyed hash"),
        Column("name", "text", True, "姓名", example="张三"),
        Column("sex", "sex", True, "性别", example="M"),
        Column("birth_date", "date", True, "出生日期", example="1957-02-01", rule="birth_date"),
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


def local_columns(kind: str) -> tuple[Column, ...]:
    """Columns a deployment declares in a local data file (decisions §3): ``data/
    local_columns.csv`` or the file named by ``HEALTHMAP_LOCAL_COLUMNS``, with the columns
    ``kind, name, type, zh, lo, hi, max_len, note``. Only residents files keep extra
    columns (in ``risk_factors``); every declared column needs a type and an explanation.
    """
    import csv
    from pathlib import Path

    from healthmap.config import DATA_DIR

    path = Path(os.environ.get("HEALTHMAP_LOCAL_COLUMNS", DATA_DIR / "local_columns.csv"))
    if not path.exists():
        return ()
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            if r.get("kind") != kind:
                continue
            if kind != "residents" or r.get("type") not in ("text", "number", "int",
                                                            "bool") or not r.get("note"):
                raise ValueError(f"{path}: local column {r.get('name')!r} needs kind "
                                 "residents, a type (text/number/int/bool) and a note")
            num = {k: float(r[k]) if r.get(k) else None for k in ("lo", "hi")}
            out.append(Column(r["name"], r["type"], False, r.get("zh") or "", num["lo"],
                              num["hi"], note=r["note"],
                              max_len=int(r["max_len"]) if r.get("max_len") else None))
    return tuple(out)


def declared(kind: str) -> tuple[Column, ...]:
    """Every column an import of ``kind`` keeps: the contract's plus the local ones."""
    return SPECS[kind] + local_columns(kind)


def rule_range(col: Column, limits: Limits | None = None,
               today: _dt.date | None = None) -> str:
    """The accepted range of ``col`` as text (from ``lo``/``hi`` or its Limits rule)."""
    lim = limits or Limits.from_env()
    if col.rule == "year":
        return f"{lim.year_min}–{lim.year_max(today)}"
    if col.rule == "population":
        return f"0–{lim.max_population:,} (0 refused for an area's total)"
    if col.rule == "cost":
        return (f"0–{lim.cost_ceiling_yuan:,.0f}; warned above {lim.cost_warn_inpatient_yuan:,.0f}"
                f" (inpatient) / {lim.cost_warn_outpatient_yuan:,.0f} (outpatient)")
    if col.rule == "episode_date":
        return f"{lim.data_start} – today"
    if col.rule in ("birth_date", "age"):
        return f"age 0–{lim.max_age}"
    if col.lo is not None and col.hi is not None:
        return f"{col.lo:g}–{col.hi:g}"
    return ""


def template_frame(kind: str) -> "pd.DataFrame":
    """A one-row example file for ``kind`` (the downloadable template)."""
    import pandas as pd

    cols = SPECS[kind]
    return pd.DataFrame([{c.name: c.example for c in cols}])


def columns_doc(kind: str) -> "pd.DataFrame":
    """The contract of ``kind`` as a table (column, Chinese header, type, required, note)."""
    import pandas as pd

    rows = []
    for c in declared(kind):
        rows.append({"column": c.name, "中文列名": c.zh, "type": c.type,
                     "required": "yes" if c.required else "", "range": rule_range(c),
                     "max_chars": c.max_chars,
                     "example": c.example, "note": c.note})
    return pd.DataFrame(rows)
