"""Persons first, then their care: the synthetic demo's people and episodes (issue 9).

A fixed register of residents (stable birth date, sex, township; township-specific age
pyramids from ``data/demo_townships.csv``) is drawn once; population tables are counted
from it, so they age with their people. Care is then generated per disease group and
setting (``data/demo_care_parameters.csv``) in three kinds:

* ``acute``: persons drawn each year from the register by age, sex and township; about one
  in eight is someone who had the same condition the year before;
* ``chronic``: a pool of patients that persists from year to year (most stay in care, new
  patients join); a group's inpatient stays come mostly from its outpatient pool;
* ``cancer``: incident patients with a course of several stays (surgery, then chemotherapy
  ``Z51.1`` or radiotherapy ``Z51.0`` admissions 3-5 weeks apart, some follow-up stays a
  year later), mostly at the hospital where treatment began.

Dates fall on every day of the year with a weekend dip (deeper for outpatient visits);
seasons differ between years, with the respiratory surge of December 2022 - January 2023.
Ages come from the birth date at the episode date. Costs follow a year index from
``data/demo_cost_index.csv``. Deterministic for a given generator state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthmap.codes import AGE_GROUPS
from healthmap.config import DATA_DIR

YEARS = (2021, 2022, 2023, 2024)
FIRST_COURSE_YEAR = 2020  # cancer courses that began before the data still show in 2021
ISLANDS = {"海山乡", "鸡山乡"}
HOTSPOT = {"干江镇": {"C_STOMACH": 2.2, "C_OESOPHAGUS": 2.0}}
N_AGE = len(AGE_GROUPS)
MID_YEAR = {y: np.datetime64(f"{y}-07-01") for y in (*YEARS, FIRST_COURSE_YEAR)}
WEEKDAY_WEIGHT = {"outpatient": np.array([1.1, 1.05, 1.0, 1.0, 1.05, 0.45, 0.35]),
                  "inpatient": np.array([1.1, 1.05, 1.0, 1.0, 1.0, 0.75, 0.7])}
KEEP_IN_CARE = {"outpatient": 0.85, "inpatient": 0.3}  # chronic pool: share still seen next year
ACUTE_REPEAT = 0.12  # share of an acute group's persons who had it the year before
FROM_OUTPATIENT_POOL = 0.85  # chronic admissions drawn from the group's outpatient patients
FOLLOW_UP = ((0.5, 240, 600), (0.25, 600, 980))  # share of cancer patients, days after start
SAME_HOSPITAL = 0.85  # a cancer patient's later stays at the hospital of the first stay
TREATMENT_CODES = (("Z51.1", 0.6, 0.35), ("Z51.0", 0.1, 0.3))  # code, share of later stays,
# cost relative to the cancer's median stay (chemotherapy / radiotherapy sessions)
_AGE_MID = np.array([2.5 + 5 * i for i in range(N_AGE - 1)] + [88.0])


def age_shape(pattern: str) -> np.ndarray:
    """Relative risk by age group for an age pattern named in demo_care_parameters.csv."""
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


def sex_weights(ratio: float) -> tuple[float, float]:
    """(male, female) risk multipliers averaging 1: ratio = male:female, 0 women only,
    negative men only.

    >>> sex_weights(3.0), sex_weights(0), sex_weights(-1)
    ((1.5, 0.5), (0.0, 2.0), (2.0, 0.0))
    """
    if ratio == 0:
        return 0.0, 2.0
    if ratio < 0:
        return 2.0, 0.0
    return 2 * ratio / (1 + ratio), 2 / (1 + ratio)


def round_to_total(x: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``x`` that sum exactly to ``total`` (largest remainders).

    >>> round_to_total(np.array([1.5, 1.5, 1.0]), 4).tolist()
    [2, 1, 1]
    """
    base = np.floor(x).astype(int)
    base[np.argsort(-(x - base))[:total - base.sum()]] += 1
    return base


class Register:
    """The demo's residents: township index, sex (0 men, 1 women), birth date."""

    def __init__(self, towns: pd.DataFrame, rng: np.random.Generator):
        ages = pd.read_csv(DATA_DIR / "demo_age_structure.csv", dtype={"age_group": str})
        mix = pd.read_csv(DATA_DIR / "demo_townships.csv").set_index("name")["old_mix"]
        base = ages["share_percent"].to_numpy() / ages["share_percent"].sum()
        old = ages["old_island_share_percent"].to_numpy()
        old = old / old.sum()
        male = ages["male_share_percent"].to_numpy() / 100
        area, sex, age = [], [], []
        for i, town in enumerate(towns.itertuples()):
            share = np.clip(base + mix[town.name] * (old - base), base * 0.3, None)
            share = share * rng.lognormal(0, 0.06, N_AGE)  # no two pyramids identical
            counts = round_to_total(share / share.sum() * town.registered_population,
                                    int(town.registered_population))
            for g, n in enumerate(counts):
                lo = 5 * g
                exact = (85 + np.minimum(rng.exponential(5.5, n), 20) if g == N_AGE - 1
                         else lo + 5 * rng.random(n))
                area.append(np.full(n, i, dtype=np.int16))
                sex.append((rng.random(n) >= male[g]).astype(np.int8))
                age.append(exact)
        self.towns = towns.reset_index(drop=True)
        self.area = np.concatenate(area)
        self.sex = np.concatenate(sex)
        days = np.round(np.concatenate(age) * 365.25).astype("int64")
        self.birth = MID_YEAR[YEARS[-1]] - days.astype("timedelta64[D]")
        self._cells: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.area)

    def age_group(self, year: int) -> np.ndarray:
        """Age-group index at mid-year (-1 for persons not yet born)."""
        days = (MID_YEAR[year] - self.birth).astype("int64")
        g = np.minimum(days // 1826, N_AGE - 1)  # 5 years = 1826 days
        return np.where(days >= 0, g, -1)

    def cells(self, year: int):
        """(order, start, size) of persons sorted by township × sex × age-group cell."""
        if year not in self._cells:
            g = self.age_group(year)
            key = np.where(g >= 0, (self.area * 2 + self.sex) * N_AGE + g, -1)
            order = np.argsort(key, kind="stable")
            n_cells = len(self.towns) * 2 * N_AGE
            size = np.bincount(key[key >= 0], minlength=n_cells)
            start = np.searchsorted(key[order], np.arange(n_cells))
            self._cells[year] = (order, start, size)
        return self._cells[year]

    def population(self) -> pd.DataFrame:
        """Population by township × year × sex × age group, counted from the register."""
        rows = []
        for year in YEARS:
            _, _, size = self.cells(year)
            idx = np.arange(len(size))
            rows.append(pd.DataFrame({
                "area_code": self.towns["code"].to_numpy()[idx // (2 * N_AGE)],
                "year": year, "sex": np.where((idx // N_AGE) % 2 == 0, "M", "F"),
                "age_group": np.array(AGE_GROUPS)[idx % N_AGE], "population": size}))
        return pd.concat(rows, ignore_index=True)

    def draw(self, year: int, lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Persons drawn from each cell with Poisson(``lam``) expected numbers (cell order as
        :meth:`cells`); a cell's persons are drawn with replacement."""
        order, start, size = self.cells(year)
        n = rng.poisson(np.where(size > 0, lam, 0))
        cell = np.repeat(np.arange(len(n)), n)
        return order[start[cell] + (rng.random(len(cell)) * size[cell]).astype(int)]


def _cell_lambda(reg: Register, year: int, p, rate_scale: float, rng) -> np.ndarray:
    """Expected persons per cell for one parameter row and year."""
    _, _, size = reg.cells(year)
    idx = np.arange(len(size))
    g, s, a = idx % N_AGE, (idx // N_AGE) % 2, idx // (2 * N_AGE)
    shape = age_shape(p.age_pattern)
    county = np.bincount(g, weights=size, minlength=N_AGE)
    scale = p.persons_per_100k / 1e5 / (shape @ county / county.sum())
    male_w, female_w = sex_weights(p.male_ratio)
    names = reg.towns["name"].to_numpy()
    hot = np.array([HOTSPOT.get(names[i], {}).get(p.group_code, 1.0) for i in range(len(names))])
    lam = size * scale * shape[g] * np.where(s == 0, male_w, female_w) * hot[a]
    return lam * rate_scale * rng.lognormal(0, 0.06, len(lam))


def _day_weights(year: int, setting: str, p, rng) -> tuple[np.ndarray, float]:
    """Weight of each day of ``year`` (sums to 1) and the year's volume factor (surges)."""
    days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    amp = p.season_amp * rng.lognormal(0, 0.3)
    peak = p.peak_month + rng.normal(0, 0.6)  # the peak moves a little from year to year
    w = 1 + amp * np.cos(2 * np.pi * (month - peak) / 12)
    surge = np.ones(len(days))
    if year == 2022:
        surge[month == 12] = p.surge_2022
    elif year == 2023:
        surge[month == 1] = 1 + (p.surge_2022 - 1) * 0.7
    weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    w = w * WEEKDAY_WEIGHT[setting][weekday]
    volume = float((w * surge).sum() / w.sum())  # a surge adds cases, it does not move them
    w = w * surge
    return w / w.sum(), volume


def _dates(year: int, n: int, weights: np.ndarray, rng) -> np.ndarray:
    day = rng.choice(len(weights), n, p=weights)
    return np.datetime64(f"{year}-01-01") + day.astype("timedelta64[D]")


def _acute(reg, p, rng, prev: np.ndarray | None, year: int):
    w, volume = _day_weights(year, p.setting, p, rng)
    persons = reg.draw(year, _cell_lambda(reg, year, p, volume, rng), rng)
    if prev is not None and len(prev) and len(persons):
        repeat = rng.random(len(persons)) < ACUTE_REPEAT
        persons[repeat] = rng.choice(prev, repeat.sum())
    n_ep = 1 + rng.poisson(max(p.episodes_per_person - 1, 0), len(persons))
    person = np.repeat(persons, n_ep)
    return person, _dates(year, len(person), w, rng), persons


def _chronic(reg, p, rng, pool: np.ndarray | None, outpatient_pool: np.ndarray | None,
             year: int):
    w, volume = _day_weights(year, p.setting, p, rng)
    lam = _cell_lambda(reg, year, p, volume, rng)
    if outpatient_pool is not None and len(outpatient_pool):
        n = rng.poisson(lam.sum())
        from_pool = rng.random(n) < FROM_OUTPATIENT_POOL
        persons = np.concatenate([rng.choice(outpatient_pool, from_pool.sum()),
                                  reg.draw(year, lam * (1 - FROM_OUTPATIENT_POOL), rng)])
    elif pool is None:
        persons = reg.draw(year, lam, rng)
    else:
        keep = pool[rng.random(len(pool)) < KEEP_IN_CARE[p.setting]]
        persons = np.concatenate([keep, reg.draw(year, lam * (1 - KEEP_IN_CARE[p.setting]),
                                                 rng)])
    persons = np.unique(persons)
    n_ep = 1 + rng.poisson(max(p.episodes_per_person - 1, 0), len(persons))
    person = np.repeat(persons, n_ep)
    return person, _dates(year, len(person), w, rng), persons


def _cancer(reg, p, rng, year: int):
    """Courses starting in ``year``: person, date, course number, stay number."""
    w, _ = _day_weights(year, p.setting, p, rng)
    persons = np.unique(reg.draw(year, _cell_lambda(reg, year, p, 1.0, rng), rng))
    start = _dates(year, len(persons), w, rng)
    n_more = rng.poisson(max(p.episodes_per_person - 1, 0) * 0.8, len(persons))
    stay = np.concatenate([np.arange(k + 1) for k in n_more])
    person = np.repeat(persons, n_more + 1)
    gaps = rng.integers(21, 36, len(stay)) * (stay > 0)
    first = np.repeat(np.cumsum(n_more + 1) - (n_more + 1), n_more + 1)
    offset = np.zeros(len(stay), dtype="int64")
    csum = np.cumsum(gaps)
    offset = csum - csum[first]
    date = np.repeat(start, n_more + 1) + offset.astype("timedelta64[D]")
    for share, lo, hi in FOLLOW_UP:  # follow-up or recurrence stays in later years
        follow = rng.random(len(persons)) < share
        f_date = start[follow] + rng.integers(lo, hi, follow.sum()).astype("timedelta64[D]")
        person = np.concatenate([person, persons[follow]])
        date = np.concatenate([date, f_date])
        stay = np.concatenate([stay, np.full(follow.sum(), 1)])
    return person, date, stay


def build_care(reg: Register, params: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """All episodes: ``person`` (register index), ``date``, ``row`` (parameter row),
    ``icd10``, ``group_code``, ``setting``, ``kind``; chemotherapy / radiotherapy stays of a
    cancer course keep the cancer's row and carry their Z51 code."""
    order = params.assign(_o=params["setting"].eq("inpatient")).sort_values(
        ["_o"], kind="stable").index  # outpatient pools first
    cols: dict[str, list] = {"person": [], "date": [], "row": [], "code": []}
    pools: dict[str, dict[int, np.ndarray]] = {}
    first_day, last_day = np.datetime64(f"{YEARS[0]}-01-01"), np.datetime64(f"{YEARS[-1]}-12-31")
    all_codes = [c for c, _, _ in TREATMENT_CODES]  # code index 0, 1: Z51.1, Z51.0
    for r in order:
        p = params.loc[r]
        codes = p.icd_codes.split(";")
        base = len(all_codes)
        all_codes.extend(codes)
        code_p = 1 / np.arange(1, len(codes) + 1)
        pool = prev = None
        out_pools = pools.get(p.group_code) if p.setting == "inpatient" else None
        for year in ((FIRST_COURSE_YEAR, *YEARS) if p.kind == "cancer" else YEARS):
            if p.kind == "cancer":
                person, date, stay = _cancer(reg, p, rng, year)
            elif p.kind == "chronic":
                person, date, pool = _chronic(reg, p, rng, pool, None if out_pools is None
                                              else out_pools.get(year), year)
                if p.setting == "outpatient":
                    pools.setdefault(p.group_code, {})[year] = pool
            else:
                person, date, prev = _acute(reg, p, rng, prev, year)
            code = base + rng.choice(len(codes), len(person), p=code_p / code_p.sum())
            if p.kind == "cancer":  # one site code per patient; later stays often Z51
                code = pd.Series(code).groupby(person).transform("first").to_numpy()
                u = rng.random(len(person))
                code = np.where((stay > 0) & (u < TREATMENT_CODES[0][1]), 0, np.where(
                    (stay > 0) & (u > 1 - TREATMENT_CODES[1][1]), 1, code))
            keep = (date >= first_day) & (date <= last_day)
            cols["person"].append(person[keep])
            cols["date"].append(date[keep])
            cols["row"].append(np.full(keep.sum(), r))
            cols["code"].append(code[keep])
    out = {k: np.concatenate(v) for k, v in cols.items()}
    row = out["row"]
    return pd.DataFrame({
        "person": out["person"], "date": pd.to_datetime(out["date"]), "row": row,
        "icd10": np.array(all_codes, dtype=object)[out["code"]],
        "group_code": params["group_code"].to_numpy(dtype=object)[row],
        "setting": params["setting"].to_numpy(dtype=object)[row],
        "kind": params["kind"].to_numpy(dtype=object)[row]})


def cost_index() -> dict[int, float]:
    """Year → cost level relative to the first year (``data/demo_cost_index.csv``)."""
    t = pd.read_csv(DATA_DIR / "demo_cost_index.csv")
    return dict(zip(t["year"], t["index"]))


def episode_ages(reg: Register, ep: pd.DataFrame) -> np.ndarray:
    """Completed years at the episode date, from the register's birth dates."""
    days = (ep["date"].to_numpy().astype("datetime64[D]") - reg.birth[ep["person"].to_numpy()])
    return (days.astype("int64") / 365.2425).astype(int)


TOWN_CENTRE = {"331083001": "YH101", "331083002": "YH102", "331083003": "YH103",
               "331083101": "YH104", "331083102": "YH105", "331083103": "YH106",
               "331083104": "YH107", "331083105": "YH108", "331083106": "YH109",
               "331083201": "YH110", "331083202": "YH111"}
COST_FACTOR = {"YH001": 1.0, "YH002": 0.8, "YH003": 0.75, "YH004": 0.8, "TZ001": 1.3,
               "TZ002": 1.25, "HZ001": 1.8, "HZ002": 1.75, "SH001": 2.2, "SH002": 2.2,
               "WZ001": 1.4}  # township health centres: 0.45
OUTSIDE = ["TZ001", "TZ002", "HZ001", "HZ002", "SH001", "SH002", "WZ001"]
OUTSIDE_P = {True: [0.2, 0.12, 0.18, 0.18, 0.14, 0.1, 0.08],  # cancer
             False: [0.34, 0.26, 0.12, 0.04, 0.08, 0.04, 0.12]}
WOMEN_AND_CHILDREN = {"PREGNANCY", "PERINATAL", "GYN", "NEO_FIBROID"}


def _institutions(ep: pd.DataFrame, params: pd.DataFrame, rng) -> None:
    """Institution, in-county flag and formal referral per episode (in place)."""
    row = ep["row"].to_numpy()
    share = params["in_county_share"].to_numpy()[row]
    island = ep["town"].isin(ISLANDS).to_numpy()
    out_odds = (1 - share) / share * np.where(island, 2.6, 1.0)
    out_odds *= np.where(ep["age"].to_numpy() >= 75, 0.6, 1.0)
    out_odds *= np.exp(-0.05 * (ep["year"].to_numpy() - YEARS[0]))  # slow improvement
    in_county = rng.random(len(ep)) < 1 / (1 + out_odds)
    cancer = ep["kind"].eq("cancer").to_numpy()
    out = np.where(cancer, rng.choice(OUTSIDE, len(ep), p=OUTSIDE_P[True]),
                   rng.choice(OUTSIDE, len(ep), p=OUTSIDE_P[False]))
    town = ep["area_code"].map(TOWN_CENTRE).to_numpy()
    u = rng.random(len(ep))
    general = np.select([u < 0.55, u < 0.77, u < 0.88], ["YH001", "YH002", "YH003"], "TOWN")
    general = np.where(cancer, np.select([u < 0.8, u < 0.95], ["YH001", "YH002"], "YH003"),
                       general)
    maternal = np.select([u < 0.55, u < 0.85], ["YH004", "YH001"], "YH002")
    outpatient = np.where(u < 0.65, town, np.select([u < 0.83, u < 0.94], ["YH001", "YH002"],
                                                    "YH003"))
    inside = np.where(ep["setting"].eq("outpatient"), outpatient,
                      np.where(ep["group_code"].isin(WOMEN_AND_CHILDREN), maternal, general))
    inside = np.where(inside == "TOWN", town, inside)
    ep["institution_code"] = np.where(in_county, inside, out)
    ep["in_county"] = in_county
    ep["referral"] = np.where(in_county, False, rng.random(len(ep)) < 0.55)
    # a cancer patient's later stays: mostly the hospital where the course began
    c = ep[ep["kind"].eq("cancer")].sort_values(["person", "date"], kind="stable")
    key = c["person"].to_numpy() * len(params) + c["row"].to_numpy()
    stick = rng.random(len(c)) < SAME_HOSPITAL
    for col in ("institution_code", "in_county", "referral"):
        first = c.groupby(key)[col].transform("first")
        ep.loc[c.index, col] = np.where(stick, first.to_numpy(), c[col].to_numpy())
    ep["in_county"] = ep["in_county"].astype(bool)
    ep["referral"] = ep["referral"].astype(bool)


def _costs(ep: pd.DataFrame, params: pd.DataFrame, rng) -> None:
    """Total cost, insurance type and fund-paid amount per episode (in place)."""
    median = params["cost_median"].to_numpy()[ep["row"].to_numpy()]
    factor = ep["institution_code"].map(COST_FACTOR).fillna(0.45).to_numpy()
    index = ep["year"].map(cost_index()).to_numpy()
    treat = np.select([ep["icd10"].eq(c) for c, _, _ in TREATMENT_CODES],
                      [rel for _, _, rel in TREATMENT_CODES], 1.0)
    group_year = pd.Series(rng.lognormal(0, 0.03, len(params) * len(YEARS)))
    gy = group_year.to_numpy()[ep["row"].to_numpy() * len(YEARS)
                               + ep["year"].to_numpy() - YEARS[0]]
    sigma = np.where(ep["setting"].eq("inpatient"), 0.45, 0.6)
    cost = (median * factor * index * gy * treat
            * rng.lognormal(0, sigma, len(ep)))
    ep["total_cost"] = np.round(np.maximum(cost, 5.0), 2)
    age = ep["age"].to_numpy()
    working = (age >= 20) & (age < 60)
    u = rng.random(len(ep))
    ep["insurance_type"] = np.where(u < 0.03, "self_pay", np.where(
        working & (u < 0.55) | (~working & (u < 0.15)), "employee", "resident"))
    base = np.where(ep["insurance_type"] == "employee", 0.74,
                    np.where(ep["insurance_type"] == "resident", 0.6, 0.0))
    base = base - np.where(ep["in_county"], 0.0, np.where(ep["referral"], 0.08, 0.2))
    share = np.clip(base + rng.normal(0, 0.04, len(ep)), 0, 0.95)
    share = np.where(ep["insurance_type"] == "self_pay", 0.0, share)
    ep["fund_paid"] = np.round(ep["total_cost"] * share, 2)


def build_demo(towns: pd.DataFrame, rng: np.random.Generator,
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(population, episodes) for the demo, both as the import contract expects."""
    reg = Register(towns, rng)
    params = pd.read_csv(DATA_DIR / "demo_care_parameters.csv")
    ep = build_care(reg, params, rng)
    ep["year"] = ep["date"].dt.year
    ep["area_code"] = reg.towns["code"].to_numpy()[reg.area[ep["person"].to_numpy()]]
    ep["town"] = reg.towns["name"].to_numpy()[reg.area[ep["person"].to_numpy()]]
    ep["sex"] = np.where(reg.sex[ep["person"].to_numpy()] == 0, "M", "F")
    ep["age"] = episode_ages(reg, ep)
    _institutions(ep, params, rng)
    _costs(ep, params, rng)
    ep = ep.sort_values(["date", "person"], kind="stable").reset_index(drop=True)
    unknown_sex = rng.random(len(ep)) < 0.004  # as in real extracts
    unknown_age = rng.random(len(ep)) < 0.004
    episodes = pd.DataFrame({
        "record_id": "E" + pd.Series(np.arange(1, len(ep) + 1)).astype(str).str.zfill(8),
        "person_id": "P" + pd.Series(ep["person"]).astype(str).str.zfill(6),
        "area_code": ep["area_code"], "icd10": ep["icd10"],
        "date": ep["date"].dt.strftime("%Y-%m-%d"), "setting": ep["setting"],
        "institution_code": ep["institution_code"],
        "total_cost": ep["total_cost"].map("{:.2f}".format),
        "sex": ep["sex"].where(~unknown_sex, ""),
        "age": ep["age"].astype(str).where(~unknown_age, ""), "birth_date": "",
        "fund_paid": ep["fund_paid"].map("{:.2f}".format),
        "insurance_type": ep["insurance_type"],
        "referral": ep["referral"].map({True: "true", False: "false"}),
    })
    return reg.population(), episodes
