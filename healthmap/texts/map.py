"""Texts of the health-map page and its measures (issue 8 registry, issue 15 fixes)."""

TEXT = {
    "unit.per100k": ("/10万", "per 100,000"),
    "unit.pct": ("%", "%"),
    "unit.yuan": ("元", "yuan"),
    "map.legend_no_data": ("无数据", "No data"),
    "map.no_values": ("所选条件下没有任何乡镇有数值", "No township has a value for this selection"),
    "map.legend_suppressed": ("已抑制", "Suppressed"),
    "map.hidden_cell": ("已抑制", "Suppressed"),
    "col.self_directed": ("自行外出就医", "Self-directed"),
    "map.explain_one": ("单个区域的数字", "One area's figures"),
    "map.public_tables": ("公众视图：选择一张发布表（年份 × 乡镇 × 病种，可按性别或年龄段），"
                          "各表联合抑制，无法通过相减推算被隐藏的单元格。",
                          "Public view: choose one published table (year × township × disease "
                          "group, by sex or age band); the tables are suppressed together so no "
                          "hidden cell can be worked out by subtraction."),
    "map.public_only_tables": ("构成分析、患者流向和空间聚集仅对登录的工作人员显示；公众视图只提供上面的发布表。",
                               "Breakdowns, patient flows and clusters are shown to logged-in "
                               "staff; the public view offers the published tables above."),
    "map.on_demand": ("下面各部分点开后才计算和绘制，收起后筛选条件变化不再重画它们。",
                      "The sections below are computed and drawn when opened; closed, a filter "
                      "change does not redraw them."),
    "map.year": ("年份", "Year"),
    "map.group": ("病种", "Disease group"),
    "map.margin": ("人群", "Population"),
    "margin.all": ("全部", "All"),
    "margin.sex:M": ("男", "Men"), "margin.sex:F": ("女", "Women"),
    "margin.age:0-14": ("0-14 岁", "Age 0-14"), "margin.age:15-44": ("15-44 岁", "Age 15-44"),
    "margin.age:45-64": ("45-64 岁", "Age 45-64"), "margin.age:65+": ("65 岁及以上", "Age 65+"),
}
