"""Texts of issue 9 (statistical honesty): SIR comparison, report flags, notes on empty
selections, sex-specific denominators and re-weighted age groups."""

TEXT = {
    "m.incidence_sir": ("标化发病比（SIR，间接法）", "Standardised incidence ratio (SIR, indirect)"),
    "explain.incidence_sir": (
        "观察病例数 ÷ 期望病例数。期望数按全市各年龄组发病率乘以本乡镇各年龄组人口计算，"
        "因此老龄化乡镇不会仅因年龄结构被标为偏高。SIR = 1 与全市持平；"
        "95% 可信区间为精确泊松区间（Garwood）；漏斗图控制限见 Spiegelhalter (2005)。"
        "比较乡镇发病水平时请首选此指标。",
        "Observed cases ÷ expected cases. Expected = the county's age-specific rates × the "
        "township's population by age, so an older township is not flagged for its age "
        "alone. SIR 1 = the county level; 95 % interval exact Poisson (Garwood); funnel "
        "limits after Spiegelhalter (2005). The measure of choice for comparing townships."),
    "unit.ratio": ("比值（全市=1）", "ratio (county = 1)"),
    "map.empty_selection": (
        "所选条件下没有就诊记录，因此没有可计算的数值。请放宽年份、病种、就诊类型或其他筛选条件。",
        "No episodes match this selection, so there is nothing to compute. Widen the year, "
        "disease group, setting or other filters."),
    "map.sex_denominator_F": ("女性专属病种：只计女性病例，分母为女性人口。",
                              "Sex-specific group: women's cases per 100,000 women."),
    "map.sex_denominator_M": ("男性专属病种：只计男性病例，分母为男性人口。",
                              "Sex-specific group: men's cases per 100,000 men."),
    "map.empty_age_groups": (
        "部分区域某些年龄组没有人口数据：其标化率只按有人口的年龄组重新加权计算，请核对人口数据。",
        "Some areas have no population in some age groups: their standardised rate is "
        "re-weighted over the age groups with population; check the population data."),
    "map.unstable_outline": ("虚线框：病例数<20，数值不稳定", "Dashed outline: fewer than 20 cases, unstable"),
}
