"""Texts of the health-map page and its measures (issue 8 registry, issue 15 fixes)."""

TEXT = {
    "unit.per100k": ("/10万", "per 100,000"),
    "unit.pct": ("%", "%"),
    "unit.yuan": ("元", "yuan"),
    "map.legend_no_data": ("无数据", "No data"),
    "map.legend_suppressed": ("已抑制", "Suppressed"),
    "map.hidden_cell": ("已抑制", "Suppressed"),
    "col.self_directed": ("自行外出就医", "Self-directed"),
    "map.explain_one": ("单个区域的数字", "One area's figures"),
}
