"""Texts of the leaders' board, the aggregate indicators and the 两病 report (issue 10)."""

TEXT = {
    "board.status.met": ("达标", "Met"),
    "board.status.at_risk": ("预警", "At risk"),
    "board.status.missed": ("未达标", "Missed"),
    "board.status.no_data": ("无数据", "No data"),
    "board.target_subgroup": (
        "政策目标只适用于全县及其本身口径（全部病种、性别、年龄、险种，住院，全年）；当前筛选下不作达标判断。",
        "The policy target applies to the whole county and its own definition only (all "
        "diseases, sexes, ages and insurance types, inpatient, whole years); no status is "
        "judged for the current selection."),
}
