"""Texts of issue 9 items 1 and 7: what a person count is (new or diagnosed cases, the
look-back) and person-level outward referral."""

TEXT = {
    "m.outward_referral_persons": ("外转率（按患者，%）", "Outward referral rate, per patient (%)"),
    "explain.outward_referral_persons": (
        "按患者计的外转率 = 所选时期内至少有一次在县外医疗机构就诊的患者 / 全部患者 × 100%"
        "（患者 = 有符合条件就诊的人，每人只计一次，归属其首次就诊时的住址、性别、年龄组）。"
        "同一患者的多次住院彼此相关，按人次计的外转率把它们当作独立观察；"
        "按患者计则每人一次，Wilson 置信区间因此成立。两者并列查看：按人次反映外流的服务量，"
        "按患者反映有多少居民曾外出就医。",
        "Outward referral per patient = patients with at least one episode at an "
        "institution outside the county in the period / all patients × 100 % (a patient = "
        "a person with a qualifying episode, counted once, with the area, sex and age group "
        "of their first one). A patient's several stays are not independent; the "
        "per-episode rate treats them as if they were, the per-patient rate counts each "
        "person once, so its Wilson interval holds. Read both: per episode = the volume of "
        "care that leaves, per patient = how many residents went outside."),
    "basis.new": ("新发（回溯{n}年）", "new cases, {n}-year look-back"),
    "basis.diagnosed": ("就诊患者", "diagnosed cases"),
    "basis.patients": ("按患者", "per patient"),
    "basis.episodes": ("按人次", "per episode"),
    "basis.new_long": (
        "分子为新发病例：所选时期内有符合条件就诊（年份、月份、就诊类型、病种或编码）的人，"
        "且其在时期内首次就诊前 {n} 年内（任何就诊类型）没有该病种或编码的就诊；每人只计一次。",
        "The numerator counts new cases: persons with a qualifying episode (years, months, "
        "setting, disease groups or codes) and no episode with these codes, in any setting, "
        "in the {n} year(s) before their first one in the period; each person once."),
    "basis.diagnosed_none": (
        "分子为就诊患者（不是发病率）：所选时期内有符合条件就诊的人数，每人只计一次。"
        "未回溯既往就诊，慢性病患者每年都会重复计入。选择回溯期可得到新发病例。",
        "The numerator counts diagnosed cases (not incidence): persons with a qualifying "
        "episode in the period, each once. Earlier care is not looked back on, so chronic "
        "patients are counted again every year. Choose a look-back for new cases."),
    "basis.diagnosed_short": (
        "分子为就诊患者（不是发病率）：{years} 年之前的数据不足 {n} 年回溯期，"
        "无法排除此前已确诊的患者。",
        "The numerator counts diagnosed cases (not incidence): the data do not reach "
        "{n} year(s) back from {years}, so persons diagnosed earlier cannot be told apart."),
    "basis.patients_long": (
        "按患者计：每位患者只计一次；分子为至少一次在县外就诊的患者。",
        "Per patient: each patient counts once; the numerator is the patients treated "
        "outside the county at least once."),
    "basis.episodes_long": (
        "按就诊人次计：每次住院或门诊各计一次（同一患者的多次就诊视为独立）。",
        "Per episode: every stay or visit counts once (a patient's episodes treated as "
        "independent)."),
    "ranking.cases_diagnosed": (
        "所选时期包含数据首年，无法回溯一年排除既往患者：“新发病例”列实为就诊患者，不是发病数。",
        "The period includes the first data year, which cannot be looked back from: the "
        "new-case column counts diagnosed cases there, not incidence."),
    "map.lookback": ("新发判定回溯期", "Look-back for new cases"),
    "lookback.0": ("不回溯（就诊患者）", "none (diagnosed cases)"),
    "lookback.n": ("{n} 年（新发）", "{n} year(s) (new cases)"),
}
