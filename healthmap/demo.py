"""Deterministic synthetic demo data for Yuhuan (``python -m healthmap demo``).

Honest about being synthetic: persons first, then their care (:mod:`healthmap.demo_care`);
every figure it relies on is in ``data/demo_care_parameters.csv``,
``data/demo_age_structure.csv``, ``data/demo_townships.csv`` and
``data/demo_cost_index.csv`` with its basis (mostly "illustrative"; ``data/README.md``).
Township totals are the registered populations in ``data/yuhuan_areas.csv``. Inpatient
stays are at full volume; outpatient visits are a sample (the README says so).
Built-in stories so the map has something to show: the two island townships (海山乡,
鸡山乡) are older and send more patients out of the county, 干江镇 has a gastric/oesophageal
cancer excess, respiratory admissions peak in winter with the December 2022 - January 2023
surge. Demo ID numbers use the unassigned region prefix 339900, so they can never be a
real person's number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from healthmap import board_demo, db, i18n, ids
from healthmap.bootstrap import init_database
from healthmap.demo_care import build_demo
from healthmap.ingest.load import import_frame
from healthmap.points.demo import load_points_demo
from healthmap.screening import demo as screening_demo
from healthmap.reference import load_reference_areas

SEED = 20240930
DEMO_TODAY = dt.date(2025, 6, 30)

Progress = Callable[[float, str], None]

INSTITUTIONS = pd.DataFrame([
    # code, name, level, in_county, area_code, region
    ("YH001", "玉环市人民医院", "tertiary", True, "331083001", "玉环"),
    ("YH002", "玉环市第二人民医院", "secondary", True, "331083101", "玉环"),
    ("YH003", "玉环市中医院", "secondary", True, "331083001", "玉环"),
    ("YH004", "玉环市妇幼保健院", "secondary", True, "331083001", "玉环"),
    ("YH101", "玉城街道社区卫生服务中心", "primary", True, "331083001", "玉环"),
    ("YH102", "坎门街道社区卫生服务中心", "primary", True, "331083002", "玉环"),
    ("YH103", "大麦屿街道社区卫生服务中心", "primary", True, "331083003", "玉环"),
    ("YH104", "楚门镇卫生院", "primary", True, "331083101", "玉环"),
    ("YH105", "清港镇卫生院", "primary", True, "331083102", "玉环"),
    ("YH106", "沙门镇卫生院", "primary", True, "331083103", "玉环"),
    ("YH107", "干江镇卫生院", "primary", True, "331083104", "玉环"),
    ("YH108", "芦浦镇卫生院", "primary", True, "331083105", "玉环"),
    ("YH109", "龙溪镇卫生院", "primary", True, "331083106", "玉环"),
    ("YH110", "海山乡卫生院", "primary", True, "331083201", "玉环"),
    ("YH111", "鸡山乡卫生院", "primary", True, "331083202", "玉环"),
    ("TZ001", "台州医院", "tertiary", False, "", "台州"),
    ("TZ002", "台州市中心医院", "tertiary", False, "", "台州"),
    ("HZ001", "浙江大学医学院附属第一医院", "tertiary", False, "", "杭州"),
    ("HZ002", "浙江省肿瘤医院", "tertiary", False, "", "杭州"),
    ("SH001", "复旦大学附属中山医院", "tertiary", False, "", "上海"),
    ("SH002", "上海交通大学医学院附属瑞金医院", "tertiary", False, "", "上海"),
    ("WZ001", "温州医科大学附属第一医院", "tertiary", False, "", "其他"),
], columns=["code", "name", "level", "in_county", "area_code", "region"])

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力鹏斌宇浩凯健俊帆帅旭宁欣怡佳雪琳晨阳海波")


def build_residents(areas: pd.DataFrame, rng: np.random.Generator, n: int = 20000,
                    ) -> pd.DataFrame:
    """Synthetic residents aged 35-79 with risk factors for the screening lists."""
    weights = areas["registered_population"].to_numpy(dtype=float)
    area = rng.choice(areas["code"].to_numpy(), n, p=weights / weights.sum())
    age = rng.integers(35, 80, n)
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    born = [DEMO_TODAY.replace(year=DEMO_TODAY.year - int(a)) - dt.timedelta(days=int(d))
            for a, d in zip(age, rng.integers(1, 360, n))]
    seq = rng.integers(0, 500, n) * 2 + np.where(sex == "M", 1, 0)
    id_numbers, used = [], set()
    for b, s in zip(born, seq):
        s = int(s)
        while (b, s % 1000) in used:  # keep synthetic ID numbers unique
            s += 2
        used.add((b, s % 1000))
        id_numbers.append(ids.make_id("339900", b, s))
    names = [rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN, rng.integers(1, 3)))
             for _ in range(n)]
    smoker = (rng.random(n) < np.where(sex == "M", 0.52, 0.03))
    pack_years = np.where(smoker, np.round(rng.gamma(2.2, 12, n), 1), 0.0)
    quit = np.where(smoker & (rng.random(n) < 0.25), rng.integers(1, 25, n), 0)
    height = np.where(sex == "M", rng.normal(168, 6, n), rng.normal(157, 5.5, n))
    bmi = rng.normal(23.8, 3.2, n)
    weight = bmi * (height / 100) ** 2
    waist = np.where(sex == "M", 60 + 1.15 * bmi, 55 + 1.15 * bmi) + rng.normal(0, 5, n)
    sbp = 105 + 0.55 * age + rng.normal(0, 15, n)

    def flag(p):
        return np.where(rng.random(n) < p, "true", "false")

    def maybe(values, p_missing=0.3):
        return np.where(rng.random(n) < p_missing, "", values)

    df = pd.DataFrame({
        "resident_id": [f"R{i:06d}" for i in range(1, n + 1)],
        "id_number": id_numbers, "name": names, "sex": sex,
        "birth_date": [b.isoformat() for b in born], "area_code": area,
        "phone": [f"199{v:08d}" for v in rng.integers(0, 10 ** 8, n)],
        "doctor_team": [f"{c[-3:]}-{t}组" for c, t in zip(area, rng.integers(1, 4, n))],
        "smoking_pack_years": np.where(smoker, pack_years.astype(str), "0"),
        "quit_years": quit.astype(str),
        "passive_smoking_years": maybe(rng.integers(0, 40, n).astype(str), 0.5),
        "occupational_exposure": flag(0.06), "copd": flag(0.05),
        "family_history_colorectal": flag(0.05), "family_history_lung": flag(0.06),
        "family_history_gastric": flag(0.06), "family_history_diabetes": flag(0.15),
        "h_pylori": maybe(flag(0.45)), "atrophic_gastritis": maybe(flag(0.08)),
        "gastric_precancerous": maybe(flag(0.03)), "fobt_positive": maybe(flag(0.04), 0.6),
        "height_cm": np.round(height, 1).astype(str), "weight_kg": np.round(weight, 1).astype(str),
        "waist_cm": np.round(waist, 1).astype(str), "sbp": np.round(sbp).astype(int).astype(str),
        "pg_ratio": maybe(np.round(rng.lognormal(1.7, 0.4, n), 2).astype(str), 0.7),
        "g17": maybe(np.round(rng.lognormal(1.2, 0.8, n), 2).astype(str), 0.7),
        "hp_antibody": maybe(flag(0.45), 0.7),
    })
    return df


def load_demo(engine: Engine, progress: Progress | None = None, n_residents: int = 20000,
              lang: str = "zh") -> dict[str, int]:
    """Initialise the database and load the demo data through the normal import path;
    ``progress(fraction, message)`` gets each step named in ``lang``."""
    real_progress = progress or (lambda f, m: None)

    def progress(fraction: float, step: str) -> None:
        real_progress(fraction, i18n.t(f"demo.step.{step}", lang))

    rng = np.random.default_rng(SEED)
    init_database(engine, kind="demo")
    areas = load_reference_areas()
    towns = areas[areas["level"] == "township"].reset_index(drop=True)
    progress(0.02, "institutions")
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    _ok(import_frame(engine, "institutions", inst, "demo:institutions", demo=True,
                     today=DEMO_TODAY, lang=lang))
    progress(0.05, "population")
    pop, episodes = build_demo(towns, np.random.default_rng([SEED, 1]))
    _ok(import_frame(engine, "population", pop.astype(str), "demo:population", demo=True,
                     today=DEMO_TODAY, lang=lang))
    progress(0.1, "episodes")

    def ep_progress(f, m):  # the import's own steps, already in words
        real_progress(0.1 + 0.8 * f, m)

    _ok(import_frame(engine, "episodes", episodes, "demo:episodes", demo=True,
                     today=DEMO_TODAY, lang=lang, progress=ep_progress))
    progress(0.92, "residents")
    residents = screening_demo.add_questionnaire(build_residents(towns, rng, n_residents))
    _ok(import_frame(engine, "residents", residents, "demo:residents", demo=True,
                     today=DEMO_TODAY, lang=lang))
    # health points first: the screening demo's completed screenings then add their own
    # awards (points.award_for_screening), within the same caps
    load_points_demo(engine, DEMO_TODAY)  # health points for some demo residents
    screening_demo.load(engine)  # screening assessments and events for some demo residents
    board_demo.load(engine, DEMO_TODAY)  # 两病 management register and drug settlements
    with Session(engine) as s, s.begin():
        db.set_meta(s, "demo_data", "1")
        db.set_meta(s, "demo_seed", str(SEED))
    progress(1.0, "done")
    return {"population_rows": len(pop), "episodes": len(episodes),
            "residents": len(residents), "institutions": len(inst)}


def _ok(result) -> None:
    if not result.ok:  # a bug in the generator, not user input
        raise RuntimeError(f"demo {result.kind} failed validation:\n"
                           f"{result.problems.head(20).to_string()}")
