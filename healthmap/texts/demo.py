"""Texts of the demo load's progress steps (the app's first start and ``python -m healthmap
demo``)."""

TEXT = {
    "demo.step.institutions": ("正在载入医疗机构", "Loading institutions"),
    "demo.step.population": ("正在生成并载入人口数据", "Generating and loading the population"),
    "demo.step.episodes": ("正在载入就诊记录", "Loading episodes"),
    "demo.step.residents": ("正在载入居民、健康积分、筛查和两病管理数据",
                            "Loading residents, health points, screening and 两病 management"),
    "demo.step.done": ("演示数据已载入", "Demo data loaded"),
}
