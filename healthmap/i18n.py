"""User-facing text in Chinese (default) and English.

``t(key, lang, **params)`` looks a key up and formats it. Keys missing in one language are
a bug caught by the tests (every key has both). Place and disease names are data and stay
Chinese in both languages.

Examples
--------
>>> t("err.required", "zh")
'必填项为空'
>>> t("err.required", "en")
'required value is empty'
"""

from __future__ import annotations

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    # --- app chrome
    "app.title": ("健康地图", "HealthMap"),
    "app.subtitle": ("玉环市健康地图 · 发病率、外转率与均次费用",
                     "Yuhuan health map · incidence, outward referral and cost per case"),
    "app.language": ("语言 / Language", "Language / 语言"),
    "app.demo_banner": ("演示数据：本系统当前载入的是按固定随机种子生成的合成数据，不代表真实情况。导入真实数据后此提示消失。",
                        "Demo data: the database holds synthetic data generated from a fixed seed; it describes no real person or place. This notice disappears once real data are imported."),
    "app.first_start": ("首次启动：正在创建数据库并载入演示数据……",
                        "First start: creating the database and loading the demo data…"),
    "app.first_start_done": ("演示数据已载入。", "Demo data loaded."),
    "nav.data": ("数据管理", "Data management"),
    "nav.map": ("健康地图", "Health map"),
    "nav.group.analysis": ("分析", "Analysis"),
    "nav.group.admin": ("管理", "Administration"),
    # --- data page
    "data.title": ("数据管理", "Data management"),
    "data.intro": ("上传数据文件：系统先校验整份文件，列出每一个问题（行、列、值、原因）；只要有一处错误，就不写入任何数据。同一文件重复导入不会产生重复记录。",
                   "Upload a data file: the whole file is checked first and every problem is listed (row, column, value, reason); if anything is invalid nothing is written. Importing the same file again creates no duplicates."),
    "data.kind": ("数据类型", "File type"),
    "data.file": ("选择文件（CSV / Excel；区划可用 GeoJSON / Shapefile 压缩包 / GeoPackage）",
                  "Choose a file (CSV / Excel; areas also GeoJSON / zipped Shapefile / GeoPackage)"),
    "data.template": ("下载模板", "Download template"),
    "data.columns": ("列说明", "Columns"),
    "data.validate": ("校验", "Validate"),
    "data.import": ("导入", "Import"),
    "data.valid": ("校验通过：{n} 行，可以导入。", "Valid: {n} rows, ready to import."),
    "data.invalid": ("发现 {n} 个问题，未写入任何数据。请修正后重新上传。",
                     "{n} problems found; nothing was written. Fix them and upload again."),
    "data.imported": ("导入完成：新增 {inserted} 行，更新 {updated} 行，未变 {unchanged} 行。",
                      "Imported: {inserted} new, {updated} updated, {unchanged} unchanged rows."),
    "data.log": ("导入日志", "Import log"),
    "data.loaded": ("当前数据", "Data loaded"),
    "data.no_data_areas": ("无就诊数据的区域", "Areas without episode data"),
    "data.none": ("无", "none"),
    "data.options": ("区划文件选项", "Area file options"),
    "data.code_field": ("编码字段", "Code field"),
    "data.name_field": ("名称字段", "Name field"),
    "data.parent_field": ("上级编码字段（可选）", "Parent code field (optional)"),
    "data.level": ("层级", "Level"),
    "data.crs": ("坐标系（文件无 .prj 时必填，如 EPSG:4326）", "CRS (required when the file has no .prj, e.g. EPSG:4326)"),
    "data.progress": ("正在导入……", "Importing…"),
    "data.refresh": ("重建汇总表", "Rebuild summary tables"),
    "data.refreshed": ("汇总表已重建：{years}", "Summary tables rebuilt: {years}"),
    "kind.areas": ("行政区划", "Areas"),
    "kind.population": ("人口", "Population"),
    "kind.institutions": ("医疗机构", "Institutions"),
    "kind.episodes": ("就诊记录", "Medical episodes"),
    "kind.residents": ("居民（筛查与积分）", "Residents (screening and points)"),
    "col.row": ("行", "Row"),
    "col.column": ("列", "Column"),
    "col.value": ("值", "Value"),
    "col.reason": ("原因", "Reason"),
    # --- validation reasons
    "err.missing_column": ("缺少必需的列", "required column is missing"),
    "err.empty_file": ("文件没有数据行", "the file has no data rows"),
    "err.unreadable": ("无法读取文件：{detail}", "cannot read the file: {detail}"),
    "err.required": ("必填项为空", "required value is empty"),
    "err.integer": ("不是整数", "not a whole number"),
    "err.number": ("不是数字", "not a number"),
    "err.negative": ("不能为负数", "must not be negative"),
    "err.range": ("超出允许范围 {lo}–{hi}", "outside the allowed range {lo}-{hi}"),
    "err.date": ("日期格式无法识别（应为 YYYY-MM-DD）", "unrecognised date (use YYYY-MM-DD)"),
    "err.future_date": ("日期在未来", "date is in the future"),
    "err.old_date": ("日期早于 1900 年", "date is before 1900"),
    "err.bool": ("应为 是/否（true/false）", "must be true/false (是/否)"),
    "err.sex": ("性别应为 M/F（男/女）", "sex must be M/F (男/女)"),
    "err.setting": ("就诊类型应为 inpatient/outpatient（住院/门诊）",
                    "setting must be inpatient/outpatient (住院/门诊)"),
    "err.insurance": ("险种应为 职工/城乡居民/自费（employee/resident/self_pay）",
                      "insurance type must be employee/resident/self_pay (职工/城乡居民/自费)"),
    "err.level": ("机构级别应为 基层/二级/三级（primary/secondary/tertiary）",
                  "level must be primary/secondary/tertiary (基层/二级/三级)"),
    "err.area_level": ("区划层级应为 county/township/village", "area level must be county/township/village"),
    "err.age_group": ("年龄组应为 0-4 … 80-84、85+", "age group must be 0-4 … 80-84 or 85+"),
    "err.icd10": ("不是有效的 ICD-10 编码", "not a valid ICD-10 code"),
    "err.unknown_area": ("未知的区划编码或名称（可在区划别名中登记旧名）",
                         "unknown area code or name (register old names as area aliases)"),
    "err.unknown_institution": ("未知的机构编码（请先导入医疗机构）",
                                "unknown institution code (import institutions first)"),
    "err.unknown_parent": ("上级区划不存在", "parent area does not exist"),
    "err.duplicate": ("文件内重复（与第 {other} 行重复）", "duplicate within the file (same as row {other})"),
    "err.duplicate_id_number": ("身份证号在文件内重复（与第 {other} 行重复）",
                                "ID number repeated within the file (same as row {other})"),
    "err.fund_gt_cost": ("医保支付额大于总费用", "fund-paid amount exceeds the total cost"),
    "err.birth_after_date": ("出生日期晚于就诊日期", "birth date is after the episode date"),
    "err.age_mismatch": ("年龄与出生日期不符（按出生日期应为 {expected} 岁）",
                         "age does not match the birth date (expected {expected})"),
    "err.id_length": ("身份证号应为 18 位", "ID number must have 18 characters"),
    "err.id_chars": ("身份证号含非法字符", "ID number has invalid characters"),
    "err.id_birth_date": ("身份证号中的出生日期无效", "the birth date inside the ID number is invalid"),
    "err.id_check_digit": ("身份证号校验位错误", "ID number check digit is wrong"),
    "err.id_birth_mismatch": ("出生日期与身份证号不符", "birth date does not match the ID number"),
    "err.id_sex_mismatch": ("性别与身份证号不符", "sex does not match the ID number"),
    "err.phone": ("手机号应为 11 位数字", "phone must be 11 digits"),
    "err.mixed_detail": ("同一区域年份既有合计行又有分性别/年龄行，会重复计数",
                         "the same area and year has both total rows and sex/age rows (double counting)"),
    "err.geometry": ("几何无效或为空", "geometry is empty or invalid"),
    "err.no_crs": ("文件没有坐标系（.prj），请指定 --crs", "the file has no CRS (.prj): give --crs"),
    "err.field": ("文件中没有字段 {field}", "the file has no field {field}"),
    # --- misc labels
    "sex.M": ("男", "Male"), "sex.F": ("女", "Female"), "sex.U": ("未知", "Unknown"),
    "sex.T": ("合计", "All"),
    "setting.inpatient": ("住院", "Inpatient"), "setting.outpatient": ("门诊", "Outpatient"),
    "insurance.employee": ("职工医保", "Employee insurance"),
    "insurance.resident": ("城乡居民医保", "Resident insurance"),
    "insurance.self_pay": ("自费", "Self-pay"), "insurance.unknown": ("未知", "Unknown"),
    "level.primary": ("基层", "Primary"), "level.secondary": ("二级", "Secondary"),
    "level.tertiary": ("三级", "Tertiary"),
    "common.all": ("全部", "All"),
    "common.yes": ("是", "Yes"), "common.no": ("否", "No"),
}


def t(key: str, lang: str = "zh", **params) -> str:
    """Text for ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``params``."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text
