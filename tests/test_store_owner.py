"""The episode store's DuckDB database belongs to the engine that reads it
(healthmap.store.query.reader): no module-level cache; one database per engine, reused
while nothing changed, rebuilt after a write, gone with its engine. Hand-made rows."""

import gc
import importlib
import weakref

import pytest

from healthmap import store
from healthmap.db import make_engine
from healthmap.ingest import import_file

# the module (healthmap.store's attribute `query` is its query function)
store_query = importlib.import_module("healthmap.store.query")

pytestmark = pytest.mark.sqlite_only

HEAD = "record_id,person_id,area_code,icd10,date,setting,institution_code,total_cost,sex,age\n"
INST = "code,name,level,in_county,area_code,region\nH1,玉环市人民医院,tertiary,true,,玉环\n"


def episodes(*ids):
    return (HEAD + "".join(f"{i},P{i},331083001,C16.9,2024-03-01,inpatient,H1,10,M,66\n"
                           for i in ids)).encode()


def count(engine):
    return int(store.query(engine, "SELECT count(*) AS n FROM episodes")["n"].iloc[0])


def test_no_module_level_cache():
    mutable = {name: type(v).__name__ for name, v in vars(store_query).items()
               if not name.startswith("__")
               and (isinstance(v, (dict, set)) or type(v).__name__ == "lock")}
    assert mutable == {}


def test_each_engine_owns_one_database_reused_until_a_write(engine):
    assert import_file(engine, "institutions", INST.encode(), "i.csv").ok
    other = make_engine(str(engine.url))  # a second engine on the same database
    assert store_query.reader(engine) is store_query.reader(engine)
    assert store_query.reader(other) is not store_query.reader(engine)
    assert count(engine) == 0 and count(other) == 0
    mine, theirs = store_query.reader(engine).base, store_query.reader(other).base
    assert mine is not None and theirs is not None and mine is not theirs
    assert count(engine) == 0 and store_query.reader(engine).base is mine  # reused
    assert import_file(engine, "episodes", episodes("E1", "E2"), "e.csv").ok
    # both engines see the new generation: each rebuilt its own database
    assert count(engine) == 2 and store_query.reader(engine).base is not mine
    assert count(other) == 2 and store_query.reader(other).base is not theirs
    # the database goes with its engine
    gone = weakref.ref(store_query.reader(other))
    other.dispose()
    del other, theirs
    gc.collect()
    assert gone() is None
