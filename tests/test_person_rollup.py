"""The per-person roll-up (healthmap/person_rollup.py) answers person counts exactly as the
live query on the episodes does: hand-made episodes with answers worked out by hand, on
both paths; the demo data over many random selections; a store from before the roll-up
gets it at upgrade; an in-county change reaches it; the Spark load rebuilds it."""

import json
import random

import duckdb
import pandas as pd
import pytest

from healthmap import person_rollup, persons
from healthmap.db import make_engine
from healthmap.queries import Filters, Selection

GROUPS = {"C16": "C_STOMACH", "C18": "C_COLORECTAL", "C19": "C_COLORECTAL",
          "I10": "HYPERTENSION", "J18": "PNEUMONIA"}
IN_COUNTY = {"IN": True, "OUT": False}
COLS = ["record_id", "person_id", "area_code", "icd3", "date", "setting", "insurance_type",
        "sex", "age_group", "institution_code", "referral"]


def connection(rows, rollup: bool):
    """The store's views from ``rows`` (tuples of :data:`COLS`, the last ones optional),
    with the roll-up built per year (``rollup``) or without it (the live path)."""
    default = ("inpatient", "employee", "F", "60-64", "IN", None)
    ep = pd.DataFrame([r + default[len(r) - 5:] for r in rows], columns=COLS)
    ep["date"] = pd.to_datetime(ep["date"]).dt.date
    ep["year"] = [d.year for d in ep["date"]]
    ep["month"] = [d.month for d in ep["date"]]
    con = duckdb.connect()
    con.register("episodes", ep)
    con.register("icd3_groups", pd.DataFrame(list(GROUPS.items()),
                                             columns=["icd3", "group_code"]))
    con.register("institutions", pd.DataFrame({"code": list(IN_COUNTY),
                                               "in_county": list(IN_COUNTY.values())}))
    if rollup:
        attach_rollup(con, ep, GROUPS, IN_COUNTY)
    return con


def attach_rollup(con, ep, groups, in_county):
    """Register the roll-up of episodes ``ep`` (with ``year``), built year by year, and the
    store's ``store_years``, as :func:`healthmap.store.connect` does."""
    parts = []
    for year, part in ep.groupby("year"):
        t = person_rollup.build(part.drop(columns=["year"]), groups, in_county)
        parts.append(t.to_pandas().assign(year=year))
    frame = pd.concat(parts)[[c for c, _t in person_rollup.COLUMNS]]
    con.register("rollup_persons", frame)
    con.register("store_years", pd.DataFrame({"year": sorted(ep["year"].unique()),
                                              "persons": True}))


@pytest.fixture(params=["rollup", "live"])
def path(request):
    return request.param


def count(con, codes, lookback=0, by=(), path="rollup", **kw):
    sel = Selection(Filters(**kw), codes)
    unit = [k for k in persons.UNIT_KEYS if k in by]
    # the path asked for is the one that answers
    assert (person_rollup.code_set(con, sel, unit) is not None) == (path == "rollup")
    out = persons.cases(con, sel, by=by, lookback=lookback)
    if not by:
        return int(out["persons"].iloc[0]) if len(out) else 0
    return dict(zip(map(tuple, out[list(by)].values.tolist()), out["persons"]))


# look-back boundaries, hypertension (I10), look-back window [s - N years, s)
BOUNDARIES = [
    ("a1", "P1", "A", "I10", "2023-03-10"), ("a2", "P1", "A", "I10", "2024-03-10"),  # exactly 1 y
    ("b1", "P2", "A", "I10", "2023-03-09"), ("b2", "P2", "A", "I10", "2024-03-10"),  # 1 y + 1 d
    ("c1", "P3", "A", "I10", "2023-02-28"), ("c2", "P3", "A", "I10", "2024-02-29"),  # leap day
    ("d1", "P4", "A", "I10", "2024-06-01"), ("d2", "P4", "A", "I10", "2024-06-01"),  # same day
    ("e1", "P5", "A", "I10", "2022-06-01"), ("e2", "P5", "A", "I10", "2024-01-05"),  # 2 y back
    ("f1", "P6", "A", "J18", "2023-12-01"), ("f2", "P6", "A", "I10", "2024-01-05"),  # other group
]


def test_lookback_boundaries(path):
    con = connection(BOUNDARIES, path == "rollup")
    kw = dict(path=path, years=(2024,), setting=None)
    # diagnosed: P1-P6 with I10 in 2024
    assert count(con, ("I10",), 0, **kw) == 6
    # 1 year: P1 (2023-03-10 is exactly one year before: inside) and P3 (29 Feb 2024 minus
    # one year is 28 Feb 2023: inside) are not new; P2 (one day outside), P4, P5 (2022),
    # P6 (pneumonia is another code set) are
    assert count(con, ("I10",), 1, **kw) == 4
    # 2 years: only P4 and P6
    assert count(con, ("I10",), 2, **kw) == 2
    # all categories: P6's pneumonia in December 2023 makes him not new either
    assert count(con, None, 1, **kw) == 3
    # by group (all categories, each group its own code set): I10 as above, J18 none
    assert count(con, None, 1, by=("group_code",), **kw) == {("HYPERTENSION",): 4}
    # by year over 2023-2024, each year a period of its own
    by_year = count(con, ("I10",), 1, by=("year",), path=path, years=(2023, 2024), setting=None)
    # 2023: P1, P2, P3 (nothing in 2022 within a year); 2024: P2, P4, P5, P6 (as above)
    assert by_year == {(2023,): 3, (2024,): 4}


SECOND_YEAR = [  # first inpatient stay in the second year of the period
    ("g1", "P7", "A", "C16", "2023-05-01", "outpatient"),
    ("g2", "P7", "B", "C16", "2024-02-01", "inpatient"),
    ("h0", "P8", "A", "C16", "2022-12-01", "outpatient"),  # seen within a year before
    ("h1", "P8", "A", "C16", "2023-05-01", "outpatient"),
    ("h2", "P8", "B", "C16", "2024-02-01", "inpatient"),
]


def test_first_inpatient_stay_in_the_second_year(path):
    con = connection(SECOND_YEAR, path == "rollup")
    kw = dict(path=path, years=(2023, 2024), setting="inpatient")
    # diagnosed inpatient cases, area of the first inpatient stay (B)
    assert count(con, ("C16",), 0, by=("area_code",), **kw) == {("B",): 2}
    # index date: the first visit in any setting (2023-05-01); P8 was seen 2022-12-01
    assert count(con, ("C16",), 1, by=("area_code",), **kw) == {("B",): 1}
    assert count(con, None, 1, **kw) == 1
    # outpatients of the period: both, in area A
    assert count(con, ("C16",), 0, by=("area_code",), path=path, years=(2023, 2024),
                 setting="outpatient") == {("A",): 2}


FILTERS = [  # settings, insurance, sex and age band of the first qualifying episode
    ("i1", "P9", "A", "C18", "2024-01-10", "outpatient", "resident", "M", "60-64"),
    ("i2", "P9", "B", "C19", "2024-03-10", "inpatient", "employee", "M", "65-69", "OUT", True),
    ("i3", "P9", "C", "C18", "2024-05-10", "inpatient", "resident", "M", "65-69"),
    ("j1", "P10", "A", "C18", "2024-02-01", "inpatient", "resident", "F", "55-59", "OUT"),
    ("k1", "P11", "C", "J18", "2024-04-01", "inpatient", "self_pay", "F", "70-74"),
]


def test_setting_insurance_sex_and_age_filters(path):
    con = connection(FILTERS, path == "rollup")
    crc = ("C18", "C19")
    kw = dict(path=path, years=(2024,))
    # inpatient colorectal: P9 first on 03-10 (area B, 65-69), P10 (A)
    assert count(con, crc, 0, by=("area_code",), **kw) == {("A",): 1, ("B",): 1}
    # resident inpatient stays: P9's first is i3 (area C), P10 (A)
    assert count(con, crc, 0, by=("area_code",), insurance=("resident",), **kw) == {
        ("A",): 1, ("C",): 1}
    # age band of the first qualifying episode: P9 is 65-69 as an inpatient, 60-64 as an
    # outpatient
    assert count(con, crc, 0, age_groups=("65-69",), **kw) == 1
    assert count(con, crc, 0, age_groups=("60-64",), path=path, years=(2024,),
                 setting="outpatient") == 1
    assert count(con, crc, 0, sex="F", **kw) == 1
    # all categories with an insurance filter: the group rows (P9 i3, P10, not P11)
    assert count(con, None, 0, insurance=("resident",), **kw) == 2
    # person-level referral, inpatient, all categories: P9 (outside, formally referred),
    # P10 (outside, not referred), P11 (in the county)
    sel = Selection(Filters(years=(2024,)), None)
    got = persons.referrals(con, sel, ())
    assert got.values.tolist() == [[False, 2, 1], [True, 1, 0]]
    got = persons.referrals(con, Selection(Filters(years=(2024,), sex="M"), crc),
                            ("area_code",))
    assert got.values.tolist() == [["B", False, 1, 1]]


def test_what_the_rollup_cannot_answer_goes_to_the_episodes():
    con = connection(FILTERS, True)
    plan = person_rollup.code_set
    assert plan(con, Selection(Filters(years=(2024,)), None), []) == ("all", ())
    assert plan(con, Selection(Filters(years=(2024,)), ("C18", "C19")), []) == (
        "groups", ("C_COLORECTAL",))
    assert plan(con, Selection(Filters(years=(2024,), insurance=("resident",)), None),
                []) == ("groups", ())
    assert plan(con, Selection(Filters(years=(2024,)), ("C18",)), []) is None  # part
    assert plan(con, Selection(Filters(years=(2024,)), ("C18", "C19", "X99")), []) is None
    assert plan(con, Selection(Filters(years=(2024,), month_from=1, month_to=6), None),
                []) is None


def _random_selection(rng, groups, years):
    ys = tuple(sorted(rng.sample(years, rng.choice([1, 1, 2, 3]))))
    icd3 = None
    if rng.random() < 0.5:
        icd3 = tuple(sorted(c for _g, codes in rng.sample(groups, rng.choice([1, 2]))
                            for c in codes))
    f = Filters(years=() if rng.random() < 0.1 else ys,
                setting=rng.choice([None, "inpatient", "outpatient"]),
                insurance=rng.choice([(), (), ("resident",), ("employee", "self_pay")]),
                sex=rng.choice([None, None, "M", "F"]),
                age_groups=rng.choice([(), (), ("60-64", "65-69")]))
    by = tuple(rng.sample(persons.KEYS, rng.choice([0, 1, 2])))
    return Selection(f, icd3), by, rng.choice([0, 1, 2, 3])


def demo_store(url):
    """The demo store's connection, its disease groups with their categories, and its
    years (what :func:`_random_selection` draws from)."""
    from healthmap import store

    con = store.connect(make_engine(url))
    groups = con.execute("SELECT group_code, list(icd3 ORDER BY icd3) FROM icd3_groups "
                         "GROUP BY 1 ORDER BY 1").fetchall()
    years = [y for (y,) in con.execute("SELECT year FROM store_years ORDER BY 1").fetchall()]
    return con, groups, years


def test_rollup_equals_the_live_query_on_the_demo_data(demo_db):
    con, groups, years = demo_store(demo_db)
    rng = random.Random(14)
    nonzero = 0
    for _ in range(40):
        sel, by, lookback = _random_selection(rng, groups, years)
        unit = [k for k in persons.UNIT_KEYS if k in by]
        assert person_rollup.code_set(con, sel, unit) is not None
        got = persons.cases(con, sel, by, lookback)
        want = persons._live_cases(con, sel, list(by), unit, lookback)
        pd.testing.assert_frame_equal(got, want.astype({"persons": int}), check_dtype=False)
        got = persons.referrals(con, sel, by)
        want = persons._live_referrals(con, sel, list(by), unit)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        nonzero += bool(len(got))
    assert nonzero > 20  # the selections are not all empty
    con.close()


def test_a_store_from_before_the_rollup_gets_it_at_upgrade(demo_copy):
    from healthmap import db, store
    from healthmap.store.layout import MANIFEST

    engine = make_engine(demo_copy)
    root = store.engine_store_dir(engine)
    manifest = json.loads((root / MANIFEST).read_text())
    for entry in manifest["years"].values():  # as a store written before the roll-up
        entry["rollups"].pop("persons")
    (root / MANIFEST).write_text(json.dumps(manifest))
    sel = Selection(Filters(years=(2024,)), None)
    con = store.connect(engine)
    assert con.execute("SELECT count(*) FILTER (WHERE persons) FROM store_years"
                       ).fetchone()[0] == 0
    assert person_rollup.code_set(con, sel, []) is None  # answered from the episodes
    before = persons.cases(con, sel, ("area_code",), 1)
    con.close()
    db.upgrade(engine)
    assert all(v["rollups"]["persons"] for v in store.live_manifest(engine).years.values())
    con = store.connect(engine)
    assert person_rollup.code_set(con, sel, []) == ("all", ())
    pd.testing.assert_frame_equal(persons.cases(con, sel, ("area_code",), 1), before)
    con.close()
    assert person_rollup.ensure(engine) == []  # nothing left to add


INST = ("code,name,level,in_county,area_code,region\n"
        "H1,玉环市人民医院,tertiary,true,331083001,玉环\n"
        "H2,坎门卫生院,primary,true,331083002,玉环\n"
        "T1,台州医院,tertiary,false,,台州\n")
HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age\n"
HELD = ["A1,P1,331083001,C16.9,2024-03-01,inpatient,H1,20000,M,66",
        "A2,P2,331083002,C18.9,2024-06-01,outpatient,T1,800,F,59",
        "A3,P3,331083101,I10,2024-01-10,outpatient,H1,150,F,70",
        "A4,P3,331083002,I10,2024-09-01,outpatient,T1,160,F,70",
        "A5,P4,331083002,I15.0,2024-05-05,outpatient,H2,120,M,61",
        "A6,P5,331083001,J18.9,2024-03-03,inpatient,H1,4000,M,45"]


def test_an_in_county_change_reaches_the_person_rollup(engine):
    import datetime as dt

    from healthmap import store
    from healthmap.ingest import import_file

    today = dt.date(2025, 6, 30)
    assert import_file(engine, "institutions", INST.encode(), "inst.csv", today=today).ok
    assert import_file(engine, "episodes", (HEAD + "\n".join(HELD) + "\n").encode(),
                       "ep.csv", today=today).ok
    sel = Selection(Filters(years=(2024,), setting=None), None)

    def patients():
        con = store.connect(engine)
        try:
            assert person_rollup.code_set(con, sel, []) == ("all", ())
            return persons.referrals(con, sel, ())[["in_county", "episodes"]].values.tolist()
        finally:
            con.close()

    # treated outside at least once: P2 (T1), P3 (A4 at T1); in the county: P1, P4, P5
    assert patients() == [[False, 2], [True, 3]]
    flipped = INST.replace("H2,坎门卫生院,primary,true", "H2,坎门卫生院,primary,false")
    res = import_file(engine, "institutions", flipped.encode(), "inst.csv", today=today,
                      confirm_changes=True)
    assert res.ok and res.years_refreshed == [2024]
    assert patients() == [[False, 3], [True, 2]]  # P4's H2 is now outside


def test_a_year_built_in_parts_has_the_same_rows(monkeypatch):
    """A large year is built in parts of persons (person_rollup.build_on, one file each):
    the rows are those of the whole year built at once, and each part holds every row of
    its persons."""
    rng = random.Random(5)
    rows = [(f"r{i}", f"p{rng.randrange(40)}", rng.choice(["A", "B"]),
             rng.choice(list(GROUPS) + ["Z99"]), f"2024-{rng.randrange(1, 13):02d}-"
             f"{rng.randrange(1, 29):02d}", rng.choice(["inpatient", "outpatient"]),
             rng.choice(["employee", "resident"]), rng.choice("FM"), "60-64",
             rng.choice(["IN", "OUT"]), rng.choice([None, True, False])) for i in range(300)]
    ep = pd.DataFrame(rows, columns=COLS)
    whole = person_rollup.build(ep, GROUPS, IN_COUNTY).to_pandas()
    monkeypatch.setattr(person_rollup, "PART_EPISODES", 37)  # 300 episodes: 9 parts
    con = duckdb.connect()
    con.register("ep", ep)
    con.register("grp", pd.DataFrame(list(GROUPS.items()), columns=["icd3", "group_code"]))
    con.register("inst", pd.DataFrame({"code": list(IN_COUNTY),
                                       "in_county": list(IN_COUNTY.values())}))
    parts = [t.to_pandas() for t in person_rollup.build_on(con, "ep", "grp", "inst")]
    assert len(parts) == 9
    people = [set(p["person_id"]) for p in parts]
    assert sum(map(len, people)) == len(set().union(*people))  # a person in one part
    key = ["group_code", "setting", "insurance_type", "person_id"]
    together = pd.concat(parts).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(together, whole.sort_values(key, ignore_index=True))


def test_first_episode_of_a_day_by_record_id_in_every_part():
    """Two episodes of a person on one day: the first is the least record id as text
    ("r10" before "r9"), in the slice, the whole group and the all-categories rows, and
    the same when the year is built in parts on two connections at once (rows by hand)."""
    ep = pd.DataFrame([
        ("r9", "p", "A9", "C18", "2024-05-02", "inpatient", "employee", "F", "60-64",
         "IN", None),
        ("r10", "p", "A10", "C18", "2024-05-02", "inpatient", "employee", "F", "65-69",
         "OUT", True),
        ("r2", "p", "A2", "C18", "2024-07-01", "outpatient", "resident", "F", "65-69",
         "IN", None),
        ("q1", "q", "B", "I10", "2024-01-01", "outpatient", "employee", "M", "20-24",
         "IN", None)], columns=COLS)
    con = duckdb.connect(config={"threads": 2})
    con.register("ep", ep)
    con.register("grp", pd.DataFrame(list(GROUPS.items()), columns=["icd3", "group_code"]))
    con.register("inst", pd.DataFrame({"code": list(IN_COUNTY),
                                       "in_county": list(IN_COUNTY.values())}))
    for parts in (1, 3):
        rows = pd.concat([t.to_pandas() for t in person_rollup.build_on(
            con, "ep", "grp", "inst", parts=parts)])
        p = rows[rows.person_id == "p"].set_index(["group_code", "setting",
                                                   "insurance_type"])
        assert p.loc[("C_COLORECTAL", "inpatient", "employee"), "record_id"] == "r10"
        assert p.loc[("C_COLORECTAL", "outpatient", "resident"), "record_id"] == "r2"
        for key in [("C_COLORECTAL", "*", "*"), ("*", "*", "*"), ("*", "inpatient", "*")]:
            row = p.loc[key]
            assert (row["record_id"], row["area_code"], row["age_group"]) == (
                "r10", "A10", "65-69")
            assert (str(row["first_any"]), bool(row["outside"]), bool(row["formal"])) == (
                "2024-05-02", True, True)
        assert str(p.loc[("C_COLORECTAL", "*", "*"), "last_any"]) == "2024-07-01"
        assert str(p.loc[("*", "outpatient", "*"), "first_any"]) == "2024-05-02"  # any setting
        assert p.loc[("*", "outpatient", "*"), "record_id"] == "r2"
        assert len(rows) == 6 + 4  # p: 2 slices, 1 group, 3 all-categories; q: 1+1+2
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE "
                       "'_person_episodes_%'").fetchone()[0] == 0  # dropped
