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
    "app.demo_banner": ("演示数据：本系统当前载入的是按固定随机种子生成的合成数据，不代表真实情况。住院为接近真实的全量，门诊就诊为抽样（患者人数量级真实，每人约一次就诊，门诊就诊人次远低于实际）。演示账号仅在演示数据库中有效；真实数据请用 init 新建数据库后导入。",
                        "Demo data: the database holds synthetic data generated from a fixed seed; it describes no real person or place. Inpatient stays are at about full volume; outpatient visits are a sample (patient numbers are realistic, about one visit each, so outpatient visit counts are far below real ones). Demo accounts work only in a demo database; for real data set up a new database with init and import into it."),
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
    "err.old_date": ("日期早于 {start}", "date is before {start}"),
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
    "map.missing_population": ("部分区域缺少所选年份（或所选性别、年龄组）的人口数，无法计算率，显示为无数据；请在数据管理页导入人口数。", "Some areas have no population for the selected years (or sex / age groups), so no rate can be computed (shown as no data); import population on the data page."),
    "map.referral_split": ("县外就诊 {n} 人次，其中经正式转诊 {formal} 人次（{formal_pct:.1f}%），自行外出就医 {self} 人次。转诊标记来自病案首页“是否转诊”，未填写按自行外出计。", "{n} episodes out of county: {formal} with a formal referral ({formal_pct:.1f}%), {self} self-directed. The referral flag comes from the record's referral field; blank counts as self-directed."),
    "funnel.limits": ("{level}% 控制限", "{level}% limits"),
    "funnel.county": ("全市水平", "County level"),
    "funnel.x": ("分母（对数刻度）", "Denominator (log scale)"),
    "map.tiles": ("显示底图（需能访问瓦片服务）", "Show basemap (needs the tile server)"),
    "common.choose": ("请选择", "Choose"),
    "common.all_search": ("全部病种（可输入编码或名称搜索）", "All diseases (type a code or name to search)"),
    "col.ci_low": ("95%CI 下限", "95% CI low"), "col.ci_high": ("95%CI 上限", "95% CI high"),
    "common.yes": ("是", "Yes"), "common.no": ("否", "No"),
}


def t(key: str, lang: str = "zh", **params) -> str:
    """Text for ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``params``."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text

TEXT.update({
    "col.areas": ("区域数", "Areas"), "col.institutions": ("机构数", "Institutions"),
    "col.residents": ("居民数", "Residents"), "col.population_rows": ("人口数据行", "Population rows"),
    "col.year": ("年份", "Year"), "col.first_month": ("起始月", "First month"),
    "col.last_month": ("截止月", "Last month"), "col.population": ("人口数", "Population"),
    "col.rows": ("行数", "Rows"), "col.id": ("编号", "ID"), "col.kind": ("数据类型", "File type"),
    "col.filename": ("文件名", "File"), "col.started_at": ("开始时间", "Started"),
    "col.status": ("状态", "Status"), "col.rows_total": ("总行数", "Rows"),
    "col.inserted": ("新增", "Inserted"), "col.updated": ("更新", "Updated"),
    "col.unchanged": ("未变", "Unchanged"), "col.errors": ("错误数", "Errors"),
    "col.user": ("操作人", "User"), "col.at": ("时间", "Time"), "col.actor": ("用户", "User"),
    "col.role": ("角色", "Role"), "col.action": ("操作", "Action"), "col.target": ("对象", "Target"),
    "col.detail": ("详情", "Detail"), "col.username": ("用户名", "Username"),
    "col.active": ("启用", "Active"), "col.demo": ("演示账号", "Demo"),
    "col.locked_until": ("锁定至", "Locked until"), "col.failed_logins": ("失败次数", "Failed logins"),
    "progress.validate": ("正在校验 {n} 行…", "Validating {n} rows…"),
    "progress.write": ("正在写入 {done} / {total} 行", "Writing {done} / {total} rows"),
    "progress.merge": ("正在合并到正式表（重复记录不会重复写入）", "Merging into the tables (repeated records are not written twice)"),
    "progress.summary": ("正在刷新汇总表：{year}", "Refreshing summary tables: {year}"),
    "progress.store": ("正在写入病例列存储（按年份的 Parquet 文件）", "Writing the episode store (Parquet files per year)"),
    "progress.done": ("导入完成", "Import finished"),
    "auth.no_role": ("您的角色（{role}）无权打开此页面。", "Your role ({role}) may not open this page."),
    "map.suppressed_secondary": ("已隐藏（防推算）", "Hidden (protects a small cell)"),
    "map.public_suppression": ("公众视图：1-4 例的单元格，以及可由合计推算出它们的单元格，均已隐藏（显示为空）。", "Public view: cells of 1-4 cases, and the cells from which they could be worked out from a total, are hidden (shown blank)."),
    "admin.action": ("操作类型", "Action"), "admin.since": ("起始日期", "From"),
    "admin.until": ("截止日期", "To"),
    "auth.need_login": ("此页面需要登录并具有相应角色。", "This page needs a login with the right role."),
    "auth.go_login": ("前往登录", "Go to login"),
    "auth.login": ("登录", "Log in"), "auth.logout": ("退出登录", "Log out"),
    "auth.username": ("用户名", "Username"), "auth.password": ("密码", "Password"),
    "auth.invalid": ("用户名或密码错误。", "Wrong username or password."),
    "auth.timed_out": ("长时间未操作，已自动退出，请重新登录。", "You were logged out after inactivity; please log in again."),
    "auth.logged_in_as": ("当前用户：{user}（{role}）", "Logged in as {user} ({role})"),
    "auth.public": ("公众访问（仅显示汇总数据，1-4 例的单元格已抑制）", "Public access (aggregates only; cells of 1-4 cases suppressed)"),
    "auth.sso": ("使用单位统一身份认证登录", "Log in with single sign-on"),
    "auth.sso_unmapped": ("该统一身份账号尚未关联本系统角色，请联系管理员。", "This single sign-on identity has no role here yet; ask an administrator."),
    "auth.demo_accounts": ("演示账号（仅限演示数据库）：{users}，密码 {pw}",
                           "Demo accounts (demo database only): {users}, password {pw}"),
    "nav.login": ("登录", "Log in"), "nav.admin": ("用户与审计", "Users and audit"),
    "nav.account": ("账号", "Account"),
    "admin.title": ("用户与审计", "Users and audit"),
    "admin.users": ("用户", "Users"), "admin.add": ("新增用户", "Add user"),
    "admin.role": ("角色", "Role"), "admin.save": ("保存", "Save"),
    "admin.disable": ("停用", "Disable"), "admin.enable": ("启用", "Enable"),
    "admin.reset": ("重置密码", "Reset password"), "admin.done": ("已完成。", "Done."),
    "admin.audit": ("审计日志", "Audit log"), "admin.search": ("搜索（用户、操作、对象）", "Search (user, action, target)"),
    "admin.export": ("导出审计日志 CSV", "Export audit log CSV"),
    "common.download_csv": ("下载 CSV", "Download CSV"), "common.download_xlsx": ("下载 Excel", "Download Excel"),
})

TEXT.update({
    "map.title": ("健康地图", "Health map"),
    "map.measure": ("指标", "Measure"),
    "m.incidence": ("发病率（粗率，/10万）", "Incidence, crude (per 100,000)"),
    "m.incidence_asr": ("发病率（标化率，/10万）", "Incidence, age-standardised (per 100,000)"),
    "m.incidence_eb": ("发病率（经验贝叶斯平滑，/10万）", "Incidence, empirical-Bayes smoothed (per 100,000)"),
    "m.episode_rate": ("就诊率（人次/10万）", "Episode rate (per 100,000)"),
    "m.outward_referral": ("外转率（按人次，%）", "Outward referral rate, per episode (%)"),
    "m.in_county_rate": ("县域就诊率（%）", "In-county treatment rate (%)"),
    "m.cost_per_case": ("均次费用（元）", "Cost per case (yuan)"),
    "m.fund_per_case": ("次均医保支付（元）", "Fund paid per case (yuan)"),
    "m.oop_share": ("个人负担比例（%）", "Out-of-pocket share (%)"),
    "m.fund_outflow": ("医保基金外流（元）", "Insurance fund outflow (yuan)"),
    "map.years": ("年份", "Years"), "map.months": ("月份范围", "Month range"),
    "map.groups": ("病种（可多选，可按编码或名称搜索）", "Disease groups (several; search by code or name)"),
    "map.icd": ("ICD-10 编码（逗号分隔，如 C18,C19）", "ICD-10 codes (comma-separated, e.g. C18,C19)"),
    "map.sex": ("性别", "Sex"), "map.age": ("年龄组", "Age groups"),
    "map.insurance": ("险种", "Insurance type"), "map.setting": ("就诊类型", "Setting"),
    "map.standard": ("标准人口", "Standard population"),
    "map.scheme": ("分级方法", "Legend classes"),
    "scheme.quantiles": ("分位数", "Quantiles"), "scheme.equal_interval": ("等间距", "Equal interval"),
    "scheme.natural_breaks": ("自然断点", "Natural breaks"), "scheme.fixed": ("固定分级", "Fixed legend"),
    "map.fixed_bins": ("固定分级上限（逗号分隔）", "Fixed class upper bounds (comma-separated)"),
    "map.counts": ("显示例数（而非率）", "Show counts instead of rates"),
    "map.level": ("区域层级", "Area level"), "level.township": ("乡镇/街道", "Township"),
    "level.village": ("村/社区", "Village"),
    "map.drill": ("下钻到乡镇（显示其村/社区）", "Drill into a township (show its villages)"),
    "map.county_value": ("全市", "County"),
    "map.target": ("政策目标", "Policy target"),
    "map.schematic": ("注：乡镇边界为示意图（按驻地点对市界作 Voronoi 划分），并非官方边界；导入真实边界后自动替换。",
                      "Note: township boundaries are schematic (a Voronoi split of the county outline around the township seats), not official; imported real boundaries replace them."),
    "map.table": ("各区域指标", "Areas"),
    "map.funnel": ("漏斗图：与全市水平的差异是否超出随机波动", "Funnel plot: which areas differ from the county beyond chance"),
    "map.funnel_help": ("虚线为 95% 控制限，点线为 99.8% 控制限；落在控制限外的区域（红色）与全市差异显著，控制限随分母增大而收窄。",
                        "Dashed: 95 % limits; dotted: 99.8 %. Areas outside (red) differ significantly from the county; limits narrow as the denominator grows."),
    "map.unstable": ("不稳定（<20例）", "Unstable (<20 cases)"),
    "map.suppressed": ("已抑制（1-4例）", "Suppressed (1-4 cases)"),
    "map.outlier": ("与全市比较", "Versus county"),
    "out.above": ("显著偏高", "Significantly higher"), "out.below": ("显著偏低", "Significantly lower"),
    "out.within": ("无显著差异", "Within limits"), "out.no_data": ("无数据", "No data"),
    "map.panels": ("构成分析", "Breakdowns"),
    "map.top_groups": ("主要病种（就诊人次）", "Leading disease groups (episodes)"),
    "map.age_sex": ("年龄性别分布（就诊人次）", "Age and sex (episodes)"),
    "map.insurance_panel": ("险种构成", "Insurance type"),
    "map.trend": ("月度趋势（可见季节性）", "Monthly trend (seasonality)"),
    "map.flow": ("患者流向", "Patient flow"),
    "map.flow_area": ("选择区域", "Area"),
    "map.flow_saving": ("外转 {n:,.0f} 人次；县外次均费用 {out:,.0f} 元，县内 {inn:,.0f} 元；若在县内就诊，估计可节约 {s:,.0f} 元（按病种、就诊类型分别计算，县外不更贵的病种记为0；假设：同一病种县内外病例构成相同、县内具备同等诊疗能力）；县外医保支付（基金外流）{f:,.0f} 元。",
                        "{n:,.0f} episodes outside the county; mean cost outside {out:,.0f} yuan vs {inn:,.0f} inside; potential saving if treated in the county ≈ {s:,.0f} yuan (per disease group and setting, groups not dearer outside count zero; assumes the same case mix within a group and equal capability in the county); fund paid outside (outflow) {f:,.0f} yuan."),
    "map.explain": ("解释这个数字", "Explain this number"),
    "map.explain_area": ("区域", "Area"),
    "map.cluster": ("空间聚集（局部 Moran's I）", "Spatial clusters (local Moran's I)"),
    "map.cluster_few": ("当前只有 {n} 个区域：局部 Moran's I 需要足够多的相邻区域（建议至少 30 个，如导入村/社区边界后）才有意义，因此不显示。",
                        "Only {n} areas: local Moran's I needs enough neighbouring areas (30 or more, e.g. after importing village boundaries) to mean anything, so it is not shown."),
    "map.export": ("导出", "Export"),
    "map.no_data": ("所选条件下没有数据。", "No data for this selection."),
    "map.no_age_population": ("人口数据没有年龄分组，无法计算标化率，已显示粗率。", "The population has no age groups: standardised rates are not possible; crude rates shown."),
    "map.unknown_age_excluded": ("年龄不详的病例未纳入标化率（计入粗率）。", "Cases of unknown age are left out of standardised rates (they count in crude rates)."),
    "col.area": ("区域", "Area"), "col.value": ("数值", "Value"), "col.ci": ("95% 置信区间", "95% CI"),
    "col.numerator": ("分子", "Numerator"), "col.denominator": ("分母", "Denominator"),
    "col.reliability": ("可靠性", "Reliability"),
    "col.formal": ("正式转诊", "Formal referrals"), "col.self": ("自行外出就医", "Self-directed"),
    "col.episodes": ("就诊人次", "Episodes"), "col.share": ("占比 %", "Share %"),
    "col.cost_per_case": ("次均费用", "Cost per case"), "col.destination": ("就诊去向", "Destination"),
    "col.group": ("病种", "Disease group"), "col.new_cases": ("新发病例", "New cases"),
    "ok": ("可靠", "Reliable"),
})

# Plain-language explanation of each measure: numerator, denominator, method, CI, policy.
EXPLAIN: dict[str, tuple[str, str]] = {
    "incidence": ("分子：所选时期内有符合条件就诊（年份、月份、就诊类型、病种或编码）的人数，每人只计一次，归属其首次符合条件就诊时的住址、性别和年龄组。选回溯期 N 年时只计新发病例（在时期内首次就诊前 N 年内任何就诊类型都没有该病就诊），否则为就诊患者（不是发病率）；数据不足回溯期的年份也标为就诊患者。分母：该区域户籍人口（多年为人年之和，按月份范围折算）。粗率 = 分子/分母×10万。置信区间：精确泊松法（Garwood），即 Fay-Feuer gamma 法的单组情形。服务于：玉政发〔2024〕24号（十一）按发病率排名遴选重点专科。",
                  "Numerator: persons with a qualifying episode in the period (years, months, setting, disease groups or codes), each once, in the area, sex and age group of their first one. With a look-back of N years only new cases count (no episode with these codes in any setting in the N years before their first one in the period); without, the figure is diagnosed cases (not incidence), as it is for years the data cannot look back from. Denominator: registered population (person-years over several years, scaled for month ranges). Crude rate = numerator / denominator × 100,000. CI: exact Poisson (Garwood), the one-group case of the Fay-Feuer gamma method. Serves clause (十一) of Yuhuan's 2024 measures: ranking diseases by incidence for the key specialty catalogue."),
    "incidence_asr": ("直接法年龄标化率 = Σ 标准人口权重 × 年龄别发病率 × 10万（18个5岁年龄组）。置信区间：Fay & Feuer (1997) gamma 法。年龄不详病例不计入。服务于：消除各乡镇年龄结构差异（海岛乡老龄化程度高）后的公平比较。",
                      "Directly standardised rate = Σ standard weight × age-specific rate × 100,000 over 18 five-year groups. CI: Fay & Feuer (1997) gamma method. Cases of unknown age are left out. Purpose: fair comparison after removing differences in age structure (the island townships are older)."),
    "incidence_eb": ("经验贝叶斯平滑（Marshall 1991 全局矩估计）：把每个区域的粗率向全市水平收缩，人口越少收缩越多，避免小乡（如鸡山乡约7500人）因随机波动在地图上显得突出。这是估计值，不给置信区间。",
                     "Empirical-Bayes smoothing (Marshall 1991, global moment estimator): each area's crude rate is pulled towards the county rate, more so for small areas, so a small township (鸡山乡, ~7,500 people) does not dominate the map by noise. An estimate, shown without a CI."),
    "episode_rate": ("分子：就诊人次（不是发病）。分母：人口。反映就医量，不能称为发病率。",
                     "Numerator: episodes (visits or stays), not new cases. Denominator: population. Shows volume of care; never call it incidence."),
    "outward_referral": ("按人次计的外转率 = 该区域居民在县外医疗机构的就诊人次 / 全部就诊人次 × 100%（默认住院）。同一患者的多次就诊按独立观察计，置信区间偏窄；按患者计的外转率见另一指标。置信区间：Wilson 法。有转诊标志时拆分为正式转诊与自行外出就医。其补数为县域就诊率，国家县域医共体政策要求 ≥90%。",
                         "Outward referral per episode = episodes of the area's residents at institutions outside the county / all their episodes × 100 % (inpatient by default). A patient's episodes count as independent, so the interval is too narrow; the per-patient rate is a measure of its own. CI: Wilson score. Split into formal referrals and self-directed care where flagged. Its complement is the in-county treatment rate; national policy wants ≥ 90 %."),
    "in_county_rate": ("县域就诊率 = 县内就诊人次 / 全部就诊人次 × 100%，国家县域医共体政策目标 ≥90%。置信区间：Wilson 法。",
                       "In-county treatment rate = episodes inside the county / all episodes × 100 %; national target ≥ 90 %. CI: Wilson score."),
    "cost_per_case": ("均次费用 = 总费用 / 就诊人次（住院与门诊分开）。置信区间：基于均值的 t 区间（由费用和与平方和计算）。服务于：玉政发〔2024〕24号（十一）按均次费用排名。",
                      "Cost per case = total cost / episodes (inpatient and outpatient separately). CI: t interval for the mean (from sums and sums of squares). Serves clause (十一): ranking by cost per case."),
    "fund_per_case": ("次均医保支付 = 医保基金支付额 / 有支付记录的就诊人次。", "Fund paid per case = fund-paid amount / episodes with a fund-paid value."),
    "oop_share": ("个人负担比例 = 1 − 医保支付 / 总费用。", "Out-of-pocket share = 1 − fund paid / total cost."),
    "fund_outflow": ("医保基金外流 = 县外就诊的医保基金支付额（元）。", "Fund outflow = insurance fund paid for episodes outside the county (yuan)."),
}


def _merge_job_texts() -> None:
    """Add the texts of ``healthmap/texts/*.py`` (one file per job); a key may not repeat."""
    from healthmap.texts import collect

    extra = collect()
    clash = sorted(set(extra) & set(TEXT))
    if clash:
        raise ValueError(f"text keys defined twice: {clash[:5]}")
    TEXT.update(extra)


_merge_job_texts()


def explain(measure: str, lang: str = "zh") -> str:
    """What a measure means: :data:`EXPLAIN`, or the text ``explain.<measure>`` that a
    measure added later brings in its own ``healthmap/texts`` module."""
    pair = EXPLAIN.get(measure) or TEXT.get(f"explain.{measure}", ("", ""))
    return pair[1] if lang == "en" else pair[0]
