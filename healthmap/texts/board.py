"""Texts of the leaders' board, the aggregate indicators and the 两病 report (issue 10)."""

TEXT = {
    "board.status.met": ("达标", "Met"),
    "board.status.at_risk": ("预警", "At risk"),
    "board.status.missed": ("未达标", "Missed"),
    "board.status.no_data": ("无数据", "No data"),
    "board.target_subgroup": (
        "政策目标只适用于全市及其本身口径（全部病种、性别、年龄、险种，住院，全年）；当前筛选下不作达标判断。",
        "The policy target applies to the whole county and its own definition only (all "
        "diseases, sexes, ages and insurance types, inpatient, whole years); no status is "
        "judged for the current selection."),
}
TEXT.update({
    "board.nav": ("指标看板", "Indicator board"),
    "board.title": ("改革指标看板", "Reform indicator board"),
    "board.year": ("年份", "Year"),
    "board.period": ("统计期：{year} 年 1–{months} 月；与上年同期比较，各年走势均取相同月份。",
                     "Period: {year}, months 1–{months}; compared with the same months of the year before; every year of the trends covers the same months."),
    "board.policy_start": ("政策起点 {year}", "Policy start {year}"),
    "board.no_data": ("尚无就诊汇总数据。", "No episode summaries loaded yet."),
    "board.tiles": ("核心指标", "Headline indicators"),
    "board.target": ("目标", "Target"),
    "board.no_target": ("无政策目标", "no policy target"),
    "board.rule": ("判定规则", "Status rule"),
    "unit.episodes": ("人次", "episodes"),
    "unit.cases": ("例", "cases"),
    "unit.persons": ("人", "persons"),
    "board.tile.episodes": ("居民就诊人次", "Residents' episodes"),
    "board.tile.in_county_rate": ("县域就诊率（住院）", "In-county treatment rate (inpatient)"),
    "board.tile.outward_referral": ("外转率（住院）", "Outward referral rate (inpatient)"),
    "board.tile.cost_inpatient": ("次均住院费用", "Inpatient cost per case"),
    "board.tile.cost_outpatient": ("次均门诊费用", "Outpatient cost per case"),
    "board.tile.fund_expenditure": ("医保基金支出", "Insurance fund expenditure"),
    "board.tile.fund_growth": ("居民医保基金增速", "Resident fund growth"),
    "board.tile.fund_outflow": ("医保基金县外流出", "Fund outflow to out-of-county care"),
    "board.tile.screening_cancers": ("筛查癌种就诊患者（按癌种计）", "Screening-cancer patients (per cancer)"),
    "board.tile.managed": ("高血压/糖尿病规范管理人数", "Hypertension/diabetes patients managed"),
    "board.note.complement": ("县域就诊率的补数；目标见县域就诊率。", "Complement of the in-county rate; its target applies there."),
    "board.note.no_screening_groups": ("没有筛查癌种的病种组。", "No disease group is a screening cancer."),
    "board.note.no_register": ("尚未导入慢病管理登记（导入类型 chronic_register）。", "No chronic-disease management register imported yet (import kind chronic_register)."),
    "board.fund_table": ("各险种基金支出（同期比较）", "Fund paid by insurance type (same months year on year)"),
    "board.col.insurance_type": ("险种", "Insurance type"),
    "board.col.previous": ("上年同期（元）", "Same months last year (yuan)"),
    "board.col.current": ("本期（元）", "This period (yuan)"),
    "board.col.growth_pct": ("增速（%）", "Growth (%)"),
    "board.outflow": ("基金外流与潜在节约（前 10 位病种组 × 就诊类型）", "Fund outflow and potential saving (top 10 disease groups × setting)"),
    "board.outflow_total": ("全部病种组合计（不只前 10 位）：基金外流 {outflow} 元，潜在节约 {saving} 元。",
                            "All disease groups (not only the top 10): fund outflow {outflow} yuan, potential saving {saving} yuan."),
    "board.col.group": ("病种组", "Disease group"),
    "board.col.setting": ("就诊类型", "Setting"),
    "board.col.episodes_out": ("县外人次", "Out-of-county episodes"),
    "board.col.fund_outflow": ("基金外流（元）", "Fund outflow (yuan)"),
    "board.col.mean_out": ("县外均次费用（元）", "Mean cost outside (yuan)"),
    "board.col.mean_in": ("县内均次费用（元）", "Mean cost inside (yuan)"),
    "board.col.difference": ("差额（元）", "Difference (yuan)"),
    "board.col.saving": ("潜在节约（元）", "Potential saving (yuan)"),
    "board.assume.case_mix": ("潜在节约 = 县外人次 ×（县外均次费用 − 县内均次费用），按病种组和就诊类型分别计算后求和；假设同一病种组内县内外病情构成相同。",
                              "Potential saving = out-of-county episodes × (mean cost outside − mean cost inside), per disease group and setting, then summed; assumes the same case mix inside and outside the county within a group."),
    "board.assume.no_in_county": ("县内无该组就诊的，没有县内均次费用，不计节约。", "A group without in-county episodes has no in-county mean and adds no saving."),
    "board.assume.negative_zero": ("县外比县内便宜的组，差额记为 0（不抵减其他组）。", "Where care outside costs less, the difference counts as zero (it does not offset other groups)."),
    "board.assume.cost_not_fund": ("节约按总费用计，不是医保基金支出；基金外流 = 县外就诊的医保支付。", "Savings are in total cost, not fund expenditure; fund outflow = fund paid for out-of-county episodes."),
    "board.townships": ("乡镇比较（与全市值比较，漏斗图）", "Townships against the county value (funnel plot)"),
    "board.townships_note": ("按漏斗图 95% 控制限判断各乡镇是否显著高于或低于全市值，而不是按原始排名。", "Townships are judged against the county value by the 95 % funnel limits, not by raw rank."),
    "board.col.area": ("乡镇", "Township"),
    "board.col.value": ("县域就诊率（%）", "In-county rate (%)"),
    "board.col.denominator": ("住院人次", "Inpatient episodes"),
    "board.col.vs_county": ("与全市比较", "vs county"),
    "board.vs.above": ("显著高于全市", "significantly above"),
    "board.vs.below": ("显著低于全市", "significantly below"),
    "board.vs.within": ("与全市无显著差异", "not different"),
    "board.vs.no_data": ("无数据", "no data"),
    "board.map.in_county_rate": ("县域就诊率（住院，%）", "In-county rate (inpatient, %)"),
    "board.map.cost_per_case": ("次均住院费用（元）", "Inpatient cost per case (yuan)"),
    "board.map.fund_outflow": ("基金外流（住院，元）", "Fund outflow (inpatient, yuan)"),
    "board.map.incidence": ("筛查癌种发病率（/10万）", "Screening cancers, incidence (per 100,000)"),
    "board.maps.open": ("关键指标地图（点开查看）", "Key indicators by township (open to see)"),
    "board.trends.open": ("历年走势图（点开查看，上方指标卡的迷你走势放大）",
                          "Trends over the years (open to see the tiles' sparklines enlarged)"),
    "board.on_demand": ("以下两部分点开后才绘制，收起时切换年份不再重画，页面更快。",
                        "The two sections below are drawn only while open; closed, a year change does not redraw them, so the page settles faster."),
})
TEXT.update({
    "board.col.indicator": ("指标", "Indicator"),
    "board.col.unit": ("单位", "Unit"),
    "board.col.definition": ("定义", "Definition"),
    "board.col.source": ("来源", "Source"),
    "board.col.column_zh": ("中文列名", "Chinese column name"),
    "board.col.type": ("类型", "Type"),
    "board.col.actual": ("本期", "Actual"),
    "board.col.last_year": ("上年同期", "Same months last year"),
    "board.col.status": ("状态", "Status"),
    "board.col.series": ("历年（相同月份）", "Years (same months)"),
    "board.col.note": ("说明", "Note"),
})
TEXT.update({
    "board.err.missing_column": ("缺少列", "missing column"),
    "board.err.unknown_column": ("未声明的列", "undeclared column"),
    "board.err.empty": ("文件没有数据行", "the file has no rows"),
    "board.err.unknown_indicator": ("未声明的指标编码", "indicator not declared"),
    "board.err.period": ("年份应为 2000 至今年的四位年份", "period must be a year from 2000 to this year"),
    "board.err.number": ("数值不是数字", "value is not a number"),
    "board.err.integer": ("该指标应为整数", "this indicator takes whole numbers"),
    "board.err.range": ("数值超出该指标的允许范围", "value outside the indicator's range"),
    "board.err.duplicate": ("同一指标和年份重复", "indicator and period repeated"),
    "board.agg": ("非就诊数据指标（填报）", "Indicators entered by hand (not from episodes)"),
    "board.agg.none": ("尚未填报。", "Nothing entered yet."),
    "board.agg.ref_missing": ("{name}（{year} 年未填报）", "{name} (not entered for {year})"),
    "board.agg.entry": ("填报非就诊数据指标", "Enter aggregate indicators"),
    "board.agg.form": ("逐项填报", "One value"),
    "board.agg.upload": ("上传 CSV/Excel（列：indicator, period, value）", "Upload CSV/Excel (columns: indicator, period, value)"),
    "board.agg.template": ("下载填报模板", "Download the template"),
    "board.agg.indicator": ("指标", "Indicator"),
    "board.agg.period": ("年份", "Year"),
    "board.agg.value": ("数值", "Value"),
    "board.agg.save": ("保存", "Save"),
    "board.agg.saved": ("已保存 {n} 个数值。", "Saved {n} values."),
    "board.agg.refused": ("文件被拒绝，未保存任何数值。问题如下：", "File refused; nothing was saved. Problems:"),
    "board.agg.definitions": ("指标定义", "Definitions"),
    "board.col.row": ("行", "Row"),
    "board.col.column": ("列", "Column"),
    "board.col.problem": ("问题", "Problem"),
})
TEXT.update({
    "err.bad_code_board": ("取值不在允许范围（见模板说明）", "value not one of the accepted codes (see the template)"),
    "err.duplicate_board": ("与前面的行重复", "repeats an earlier row"),
    "err.money_order_board": ("应满足 基金支付 ≤ 政策范围内费用 ≤ 药品费用", "must satisfy fund paid ≤ policy-scope cost ≤ drug cost"),
})
TEXT.update({
    "board.subsidies": ("财政补助测算（2024 年新政）", "Subsidy estimates (the 2024 measures)"),
    "board.sub.item": ("项目", "Item"),
    "board.sub.rule": ("补助标准", "Rule"),
    "board.sub.count": ("数量", "Count"),
    "board.sub.amount_yuan": ("金额（元）", "Amount (yuan)"),
    "board.sub.basis": ("数据来源", "Basis"),
    "board.sub.note": ("说明", "Note"),
    "board.sub.total": ("可计算部分合计：{total} 元（无法计算的项目不计入）。", "Total of the lines that can be computed: {total} yuan (lines that cannot be computed are left out)."),
    "board.report": ("“两病”门诊用药保障月报", "Monthly hypertension/diabetes (两病) outpatient-drug report"),
    "board.month": ("月份", "Month"),
    "board.report.download": ("下载月报（Excel）", "Download the report (Excel)"),
    "board.report.note": ("版式同“两病”门诊用药保障情况表：每个保障类别一行，高血压、糖尿病并列；自政策起点累计，右侧并列本月数；空白单元格在备注和表下注明原因。",
                          "Layout of the 两病 outpatient-drug table: one row per scheme, hypertension and diabetes side by side; cumulative since the policy start with this month beside; blank cells are explained in the remarks and notes."),
    "board.import": ("导入两病用药结算 / 慢病管理登记", "Import 两病 drug settlements / the management register"),
    "board.import.kind": ("导入类型", "Import kind"),
    "board.kind.drug_settlements": ("两病门诊用药结算", "Outpatient drug settlements (hypertension/diabetes)"),
    "board.kind.chronic_register": ("慢病管理登记", "Chronic-disease management register"),
    "board.import.file": ("选择文件（CSV 或 Excel）", "Choose a file (CSV or Excel)"),
    "board.import.go": ("校验并导入", "Validate and import"),
})
TEXT.update({
    "board.sheet.outflow": ("基金外流与潜在节约", "Outflow and saving"),
    "board.sheet.fund": ("各险种基金支出", "Fund by insurance type"),
    "board.sheet.townships": ("乡镇比较", "Townships"),
    "board.briefing": ("会议简报（一键生成）", "Meeting briefing (one click)"),
    "board.briefing.make": ("生成简报", "Make the briefing"),
    "board.briefing.xlsx": ("下载简报（Excel）", "Download the briefing (Excel)"),
    "board.briefing.pdf": ("下载简报（PDF）", "Download the briefing (PDF)"),
    "board.briefing.note": ("简报包含核心指标、关键指标地图和基金外流表；PDF 内嵌中文字体（Debian 软件包 fonts-noto-cjk）。",
                            "The briefing holds the headline tiles, the key maps and the outflow table; the PDF embeds a Chinese font (Debian package fonts-noto-cjk)."),
})
TEXT.update({  # what each headline tile counts (shown as the tile's help and in the briefing)
    "board.def.episodes": (
        "本县居民（按居住乡镇）在统计期内的全部就诊人次：住院和门诊，县内和县外合计。变化 = 本期 − 上年同期。",
        "All episodes of the county's residents (by township of residence) in the period: "
        "inpatient and outpatient, in and out of the county. Change = this period − the "
        "same months last year."),
    "board.def.in_county_rate": (
        "县内医疗机构住院人次 ÷ 居民全部住院人次 × 100%。95% 置信区间（Wilson）触及 90% 时判为预警。变化以百分点计。",
        "Inpatient stays at institutions in the county ÷ all the residents' inpatient stays "
        "× 100. At risk when its 95 % (Wilson) interval reaches 90 %. Change in percentage "
        "points."),
    "board.def.outward_referral": (
        "县外医疗机构住院人次 ÷ 居民全部住院人次 × 100% = 100 − 县域就诊率；含正式转诊和自行外出就医。变化以百分点计。",
        "Inpatient stays at institutions outside the county ÷ all the residents' inpatient "
        "stays × 100 = 100 − the in-county rate; formal referrals and self-directed care "
        "alike. Change in percentage points."),
    "board.def.cost_inpatient": (
        "住院总费用 ÷ 住院人次（县内和县外合计），元。",
        "Total inpatient cost ÷ inpatient stays (in and out of the county), yuan."),
    "board.def.cost_outpatient": (
        "门诊总费用 ÷ 门诊人次（县内和县外合计），元。",
        "Total outpatient cost ÷ outpatient visits (in and out of the county), yuan."),
    "board.def.fund_expenditure": (
        "统计期内全部就诊的医保基金支付合计（所有险种），元。各险种见下方基金支出表。",
        "Insurance fund paid for all episodes in the period (every insurance type), yuan. "
        "By insurance type: the fund table below."),
    "board.def.fund_growth": (
        "城乡居民医保基金支付：（本期 ÷ 上年同期 − 1）× 100%，与上年相同月份比较；目标 ≤ 10%（玉政发〔2024〕24号）。变化以百分点计。",
        "Resident insurance fund paid: (this period ÷ the same months last year − 1) × 100; "
        "target ≤ 10 % (Yu Zheng Fa [2024] No. 24). Change in percentage points."),
    "board.def.fund_outflow": (
        "居民在县外医疗机构就诊的医保基金支付合计（住院和门诊），元。",
        "Insurance fund paid for the residents' episodes at institutions outside the county "
        "(inpatient and outpatient), yuan."),
    "board.def.screening_cancers": (
        "筛查癌种（{groups}）就诊患者：每人每癌种每年计 1 次，按当年首次就诊月份计入；不做既往回溯，故不等于新发病例。",
        "Patients treated for the screening cancers ({groups}): each person "
        "once per cancer and year, in the month of their first episode that year; no "
        "look-back, so not the same as new cases."),
    "board.def.managed": (
        "慢病管理登记中，至统计期末月底已纳入规范化管理的高血压/糖尿病患者人数（每人计 1 次）。",
        "Persons with hypertension or diabetes under standardised management in the "
        "register by the end of the period's last month (each person once)."),
})
