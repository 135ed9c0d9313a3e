"""Texts of the import path (issue 16): refusal reasons, warnings, confirmations."""

TEXT = {
    # reading the file
    "err.file_too_large": ("文件过大（{size} MB，上限 {limit} MB）",
                           "file too large ({size} MB; the limit is {limit} MB)"),
    "err.unpacked_too_large": ("压缩内容解压后过大（{size} MB，上限 {limit} MB）",
                               "the contents unpack too large ({size} MB; the limit is {limit} MB)"),
    "err.too_many_rows": ("Excel 行数超过上限 {limit}（含空白格式行）；更大的文件请用 CSV",
                          "more than {limit} Excel rows (empty formatted rows included); "
                          "use CSV for larger files"),
    "err.too_many_columns": ("列数超过上限 {limit}", "more than {limit} columns"),
    "err.field_count": ("第 {line} 行有 {saw} 个字段，表头只有 {expected} 个（多出的逗号？）",
                        "line {line} has {saw} fields, the header {expected} (a stray comma?)"),
    "err.too_many_features": ("要素数 {n} 超过上限 {limit}", "{n} features; the limit is {limit}"),
    "err.xls_format": ("不支持旧版 .xls，请另存为 .xlsx 或 CSV",
                       "old .xls files are not supported: save as .xlsx or CSV"),
    "err.encoding": ("文件编码既不是 UTF-8 也不是 GBK", "the encoding is neither UTF-8 nor GBK"),
    "err.mixed_encoding": ("UTF-8 文件的第 {line} 行是另一种编码（如 GBK），会产生乱码",
                           "line {line} of this UTF-8 file is in another encoding (e.g. GBK); "
                           "it would be stored garbled"),
    # columns
    "err.duplicate_column": ("同一列出现两次（{first} / {second}）",
                             "the same column is given twice ({first} / {second})"),
    "err.unknown_column": ("未知列 {name}（未在数据约定中声明）",
                           "unknown column {name} (not declared in the contract)"),
    "err.unknown_column_hint": ("未知列 {name}；是否应为 {hint}？",
                                "unknown column {name}; did you mean {hint}?"),
    # form of a cell
    "err.too_long": ("内容过长（上限 {limit} 个字符）", "too long (at most {limit} characters)"),
    "err.key_chars": ("编号含空白、控制字符、零宽字符、引号或反斜杠",
                      "identifier contains whitespace, control or zero-width characters, "
                      "quotes or backslashes"),
    "err.control_chars": ("含换行、控制字符或零宽字符", "contains line breaks, control or "
                                                      "zero-width characters"),
    "err.nonascii_digit": ("含全角或其他非 ASCII 数字（如 ５、²），请用半角数字",
                           "contains full-width or other non-ASCII digits (e.g. ５, ²): use 0-9"),
    "err.id_number_elsewhere": ("疑似身份证号出现在身份证号列以外（不得保存）",
                                "looks like an ID number outside the id_number column "
                                "(must not be stored)"),
    # values
    "err.before_data_period": ("日期早于数据期起点 {start}", "date is before the data period "
                                                        "(starts {start})"),
    "err.age_implausible": ("按出生日期年龄超过 {max_age} 岁", "the birth date gives an age "
                                                            "above {max_age}"),
    "err.cost_ceiling": ("费用超过上限 {hi} 元", "cost above the ceiling of {hi} yuan"),
    "err.icd10_unknown": ("不在 ICD-10 编码表中（WHO 2019 版类目/亚目）",
                          "not in the ICD-10 code list (WHO 2019 categories and subcategories)"),
    "err.duplicate_case": ("与第 {other} 行仅大小写不同，视为重复",
                           "differs from row {other} only in upper/lower case: a duplicate"),
    "err.duplicate_case_held": ("与已有的 {other} 仅大小写不同，视为同一记录",
                                "differs from the held {other} only in upper/lower case: the "
                                "same record"),
    "err.county_area": ("区划是县（市）本身，没有乡镇，地图无法显示",
                        "the area is the county itself, with no township: the map cannot "
                        "show it"),
    "err.own_parent": ("上级区划是它自己", "the area is its own parent"),
    "err.parent_required": ("{level} 需要上级区划（{want}）", "a {level} needs a parent ({want})"),
    "err.parent_level": ("{level} 的上级应为 {want}，实际是 {got}",
                         "the parent of a {level} must be a {want}, not a {got}"),
    "err.level_change": ("已有区划不能改变层级（{old} → {new}），否则其数据会从地图上消失",
                         "an existing area cannot change level ({old} → {new}): its data "
                         "would vanish from the map"),
    "err.name_taken": ("名称与区划 {other} 相同（乡镇和县名必须唯一）",
                       "the name is that of area {other} (township and county names are "
                       "unique)"),
    "err.geometry_type": ("边界应为面（Polygon/MultiPolygon）", "a boundary must be a polygon "
                                                                "(Polygon/MultiPolygon)"),
    "err.outside_county": ("边界不在县域范围内", "the boundary lies outside the county"),
    "err.latlon_swapped": ("边界的经纬度颠倒（纬度在前）", "the boundary has latitude and "
                                                        "longitude swapped"),
    "err.population_zero": ("区域人口合计为 0", "the area's population totals 0"),
    "err.split_incomplete": ("分性别/年龄的人口不完整：应有 {expected} 格，实有 {got} 格",
                             "incomplete sex × age split: {got} of {expected} cells"),
    "err.in_county_region": ("县域内机构的地区应为玉环（或留空）",
                             "an in-county institution must have region 玉环 (or none)"),
    # changes that need confirming
    "err.confirm_institution": ("修改已有机构（{change}）影响 {n} 条就诊记录；确认后才能导入",
                                "changes an institution ({change}) that {n} records depend on; "
                                "import only with confirmation"),
    "err.confirm_area_parent": ("修改区划上级（{change}）影响 {n} 条记录；确认后才能导入",
                                "changes an area's parent ({change}) that {n} records depend "
                                "on; import only with confirmation"),
    "err.confirm_population": ("人口变化超过 {factor} 倍（{change}）；确认后才能导入",
                               "population changes by more than a factor of {factor} "
                               "({change}); import only with confirmation"),
    # warnings (the import succeeds)
    "err.cost_high": ("费用高于 {setting} 合理阈值 {limit} 元（已导入，请核实）",
                      "cost above the {setting} plausibility threshold of {limit} yuan "
                      "(imported; please check)"),
    "err.ignored_column": ("已忽略未知列", "unknown column ignored"),
    "data.ignore_unknown": ("忽略未知列（不导入）", "Ignore unknown columns (not imported)"),
    "data.warnings": ("已导入，有 {n} 条提醒（已记录）：", "Imported with {n} warning(s) "
                                                        "(recorded):"),
    "data.confirm_intro": ("此文件会修改已有数据所依赖的参考数据（见下表）。确认后将导入并记入审计日志。",
                           "This file changes reference data that existing records depend on "
                           "(below). Confirm to import; the changes are audited."),
    "data.confirm": ("确认修改并导入", "Confirm the changes and import"),
}
