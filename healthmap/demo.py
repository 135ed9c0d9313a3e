"""Deterministic synthetic demo data for Yuhuan (``python -m healthmap demo``).

Honest about being synthetic: every figure it relies on is in ``data/demo_parameters.csv``
and ``data/demo_age_structure.csv`` with its basis (mostly "illustrative"). Township totals
are the registered populations in ``data/yuhuan_areas.csv``. Built-in stories so the map
has something to show: the two island townships (海山乡, 鸡山乡) send more patients out of the
county, 干江镇 has a gastric/oesophageal cancer excess, respiratory admissions peak in
winter. Demo ID numbers use the unassigned region prefix 339900, so they can never be a
real person's number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from healthmap import db, ids
from healthmap.bootstrap import init_database
from healthmap.codes import AGE_GROUPS
from healthmap.config import DATA_DIR
from healthmap.ingest.load import import_frame
from healthmap.points.demo import load_points_demo
from healthmap.reference import load_reference_areas

SEED = 20240930
YEARS = (2021, 2022, 2023, 2024)
ISLANDS = {"海山乡", "鸡山乡"}
HOTSPOT = {"干江镇": {"C_STOMACH": 2.2, "C_OESOPHAGUS": 2.0}}
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

_COST_FACTOR = {"YH001": 1.0, "YH002": 0.8, "YH003": 0.75, "YH004": 0.8, "TZ001": 1.3,
                "TZ002": 1.25, "HZ001": 1.8, "HZ002": 1.75, "SH001": 2.2, "SH002": 2.2,
                "WZ001": 1.4}
_AGE_MID = np.array([2.5 + 5 * i for i in range(17)] + [88.0])


def _age_shape(pattern: str) -> np.ndarray:
    a = _AGE_MID
    shapes = {
        "old": np.exp(0.075 * (a - 60)),
        "very_old": np.exp(0.11 * (a - 70)),
        "mid_old": np.exp(0.05 * (a - 55)) * (a > 25),
        "adult_old": np.exp(0.03 * (a - 50)) * (a > 12),
        "adult": ((a > 15) & (a < 75)) * 1.0 + 0.15,
        "mid": np.exp(-((a - 50) / 13) ** 2) * (a > 20),
        "u_shape": np.exp(-a / 6) * 3 + np.exp(0.07 * (a - 70)),
        "child": np.exp(-a / 8) * 4 + 0.2,
        "infant": (a < 5) * 1.0,
        "repro": np.exp(-((a - 29) / 6) ** 2),
        "repro_mid": np.exp(-((a - 40) / 12) ** 2),
    }
    return shapes[pattern]


def build_population(areas: pd.DataFrame) -> pd.DataFrame:
    """Population by township × year × sex × age group (integers, 2024 totals exact)."""
    ages = pd.read_csv(DATA_DIR / "demo_age_structure.csv", dtype={"age_group": str})
    rows = []
    for area in areas.itertuples():
        shares = ages["old_island_share_percent" if area.name in ISLANDS else "share_percent"]
        for year in YEARS:
            total = area.registered_population * (1 + 0.003 * (2024 - year))
            counts = _round_to_total(shares.to_numpy() / shares.sum() * total, round(total))
            for g, n, male in zip(ages["age_group"], counts, ages["male_share_percent"]):
                m = int(round(n * male / 100))
                rows.append((area.code, year, "M", g, m))
                rows.append((area.code, year, "F", g, int(n - m)))
    return pd.DataFrame(rows, columns=["area_code", "year", "sex", "age_group", "population"])


def _round_to_total(x: np.ndarray, total: int) -> np.ndarray:
    base = np.floor(x).astype(int)
    short = total - base.sum()
    base[np.argsort(-(x - base))[:short]] += 1
    return base


def build_episodes(areas: pd.DataFrame, pop: pd.DataFrame, rng: np.random.Generator,
                   ) -> pd.DataFrame:
    params = pd.read_csv(DATA_DIR / "demo_parameters.csv")
    pop = pop.copy()
    pop["age_idx"] = pop["age_group"].map({g: i for i, g in enumerate(AGE_GROUPS)})
    county_pop = pop[pop["year"] == 2024].groupby("age_idx")["population"].sum().to_numpy()
    area_names = dict(zip(areas["code"], areas["name"]))
    frames = []
    for p in params.itertuples():
        shape = _age_shape(p.age_pattern)
        # scale so the county's crude rate matches persons_per_100k
        scale = p.persons_per_100k / 1e5 / (shape @ county_pop / county_pop.sum())
        male_w, female_w = _sex_weights(p.male_ratio)
        lam = pop["population"].to_numpy() * scale * shape[pop["age_idx"].to_numpy()]
        lam *= np.where(pop["sex"] == "M", male_w, female_w)
        hot = pop["area_code"].map(lambda c: HOTSPOT.get(area_names[c], {}).get(p.group_code, 1.0))
        lam *= hot.to_numpy() * rng.lognormal(0, 0.08, len(pop))
        n_persons = rng.poisson(lam)
        idx = np.repeat(np.arange(len(pop)), n_persons)
        if len(idx) == 0:
            continue
        cell = pop.iloc[idx].reset_index(drop=True)
        n_ep = 1 + rng.poisson(p.episodes_per_person - 1, len(cell))
        person_slot = rng.integers(0, np.maximum(cell["population"].to_numpy(), 1))
        person = (cell["area_code"].str.slice(-3) + cell["sex"] + cell["age_idx"].astype(str)
                  .str.zfill(2) + "-" + pd.Series(person_slot).astype(str).str.zfill(5))
        rep = np.repeat(np.arange(len(cell)), n_ep)
        ep = cell.iloc[rep].reset_index(drop=True)
        ep["person_id"] = "P" + person.iloc[rep].reset_index(drop=True)
        ep["group_code"] = p.group_code
        ep["setting"] = p.setting
        codes_ = p.icd_codes.split(";")
        ep["icd10"] = rng.choice(codes_, len(ep), p=_first_heavy(len(codes_)))
        ep["month"] = _months(rng, len(ep), p.season_amp)
        ep["age"] = ep["age_idx"] * 5 + rng.integers(0, 5, len(ep))
        ep.loc[ep["age_idx"] == 17, "age"] = 85 + rng.integers(0, 12, (ep["age_idx"] == 17).sum())
        _institutions(ep, p, area_names, rng)
        _costs(ep, p, rng)
        frames.append(ep)
    ep = pd.concat(frames, ignore_index=True)
    day = rng.integers(1, 29, len(ep))
    ep["date"] = pd.to_datetime(dict(year=ep["year"], month=ep["month"], day=day))
    ep = ep.sort_values(["date", "person_id"], kind="stable").reset_index(drop=True)
    ep["record_id"] = "E" + pd.Series(np.arange(1, len(ep) + 1)).astype(str).str.zfill(8)
    # a few records with unknown sex or age, as in real extracts
    unknown = rng.random(len(ep)) < 0.004
    ep["sex_out"] = ep["sex"].where(~unknown, "")
    ep["age_out"] = ep["age"].astype(str).where(rng.random(len(ep)) >= 0.004, "")
    return pd.DataFrame({
        "record_id": ep["record_id"], "person_id": ep["person_id"],
        "area_code": ep["area_code"], "icd10": ep["icd10"],
        "date": ep["date"].dt.strftime("%Y-%m-%d"), "setting": ep["setting"],
        "institution_code": ep["institution_code"],
        "total_cost": ep["total_cost"].map("{:.2f}".format),
        "sex": ep["sex_out"], "age": ep["age_out"], "birth_date": "",
        "fund_paid": ep["fund_paid"].map("{:.2f}".format),
        "insurance_type": ep["insurance_type"],
        "referral": ep["referral"].map({True: "true", False: "false"}),
    })


def _sex_weights(ratio: float) -> tuple[float, float]:
    if ratio == 0:  # women only
        return 0.0, 2.0
    if ratio < 0:  # men only
        return 2.0, 0.0
    return 2 * ratio / (1 + ratio), 2 / (1 + ratio)


def _first_heavy(n: int) -> np.ndarray:
    w = 1 / np.arange(1, n + 1)
    return w / w.sum()


def _months(rng, n: int, amp: float) -> np.ndarray:
    w = 1 + amp * np.cos(2 * np.pi * np.arange(12) / 12)
    return rng.choice(np.arange(1, 13), n, p=w / w.sum())


def _institutions(ep: pd.DataFrame, p, area_names: dict, rng) -> None:
    share = np.full(len(ep), p.in_county_share)
    island = ep["area_code"].map(area_names).isin(ISLANDS).to_numpy()
    out_odds = (1 - share) / share * np.where(island, 2.6, 1.0)
    out_odds *= np.where(ep["age"] >= 75, 0.6, 1.0)
    out_odds *= np.exp(-0.05 * (ep["year"] - 2021).to_numpy())  # slow improvement
    in_county = rng.random(len(ep)) < 1 / (1 + out_odds)
    cancer = p.group_code.startswith("C_")
    out_choice = rng.choice(["TZ001", "TZ002", "HZ001", "HZ002", "SH001", "SH002", "WZ001"],
                            len(ep), p=([0.2, 0.12, 0.18, 0.18, 0.14, 0.1, 0.08] if cancer
                                        else [0.34, 0.26, 0.12, 0.04, 0.08, 0.04, 0.12]))
    town_code = ep["area_code"].map(_TOWN_CENTRE)
    if p.setting == "outpatient":
        in_choice = np.where(rng.random(len(ep)) < 0.65, town_code,
                             rng.choice(["YH001", "YH002", "YH003"], len(ep), p=[0.5, 0.3, 0.2]))
    elif p.group_code in ("PREGNANCY", "PERINATAL", "GYN", "NEO_FIBROID"):
        in_choice = rng.choice(["YH004", "YH001", "YH002"], len(ep), p=[0.55, 0.3, 0.15])
    else:
        in_choice = rng.choice(["YH001", "YH002", "YH003", "TOWN"], len(ep),
                               p=[0.55, 0.22, 0.11, 0.12] if not cancer else [0.8, 0.15, 0.05, 0])
        in_choice = np.where(in_choice == "TOWN", town_code, in_choice)
    ep["institution_code"] = np.where(in_county, in_choice, out_choice)
    ep["in_county"] = in_county
    ep["referral"] = np.where(in_county, False, rng.random(len(ep)) < 0.55)


_TOWN_CENTRE = {"331083001": "YH101", "331083002": "YH102", "331083003": "YH103",
                "331083101": "YH104", "331083102": "YH105", "331083103": "YH106",
                "331083104": "YH107", "331083105": "YH108", "331083106": "YH109",
                "331083201": "YH110", "331083202": "YH111"}


def _costs(ep: pd.DataFrame, p, rng) -> None:
    factor = ep["institution_code"].map(_COST_FACTOR).fillna(0.45).to_numpy()
    inflation = 1.03 ** (ep["year"].to_numpy() - 2021)
    sigma = 0.45 if p.setting == "inpatient" else 0.6
    cost = p.cost_median * factor * inflation * rng.lognormal(0, sigma, len(ep))
    ep["total_cost"] = np.round(cost, 2)
    working = (ep["age"] >= 20) & (ep["age"] < 60)
    u = rng.random(len(ep))
    ep["insurance_type"] = np.where(u < 0.03, "self_pay", np.where(
        working & (u < 0.55) | (~working & (u < 0.15)), "employee", "resident"))
    base = np.where(ep["insurance_type"] == "employee", 0.74,
                    np.where(ep["insurance_type"] == "resident", 0.6, 0.0))
    base = base - np.where(ep["in_county"], 0.0, np.where(ep["referral"], 0.08, 0.2))
    share = np.clip(base + rng.normal(0, 0.04, len(ep)), 0, 0.95)
    share = np.where(ep["insurance_type"] == "self_pay", 0.0, share)
    ep["fund_paid"] = np.round(ep["total_cost"] * share, 2)


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
              ) -> dict[str, int]:
    """Initialise the database and load the demo data through the normal import path."""
    progress = progress or (lambda f, m: None)
    rng = np.random.default_rng(SEED)
    init_database(engine, kind="demo")
    areas = load_reference_areas()
    towns = areas[areas["level"] == "township"].reset_index(drop=True)
    progress(0.02, "institutions")
    inst = INSTITUTIONS.astype(str).replace({"True": "true", "False": "false"})
    _ok(import_frame(engine, "institutions", inst, "demo:institutions", demo=True,
                     today=DEMO_TODAY))
    progress(0.05, "population")
    pop = build_population(towns)
    _ok(import_frame(engine, "population", pop.astype(str), "demo:population", demo=True,
                     today=DEMO_TODAY))
    progress(0.1, "episodes")
    episodes = build_episodes(towns, pop, rng)

    def ep_progress(f, m):
        progress(0.1 + 0.8 * f, m)

    _ok(import_frame(engine, "episodes", episodes, "demo:episodes", demo=True,
                     today=DEMO_TODAY, progress=ep_progress))
    progress(0.92, "residents")
    residents = build_residents(towns, rng, n_residents)
    _ok(import_frame(engine, "residents", residents, "demo:residents", demo=True,
                     today=DEMO_TODAY))
    load_points_demo(engine, DEMO_TODAY)  # health points for some demo residents
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
