"""Demo safety (issue 8): a demo database refuses real residents, population and episodes
on every import path, names the command that starts a clean database (Chinese and English),
and writes none of the rows. (Episodes from the CLI and demo logins:
tests/test_sessions_auth.py.)"""

import pandas as pd
import pytest
from sqlalchemy import func, select

from healthmap.db import is_demo, make_engine
from healthmap.ingest import import_file
from healthmap.ingest.load import import_frame
from healthmap.models import Resident
from points_helpers import resident_rows

pytestmark = pytest.mark.sqlite_only  # the refusal is checked before any back-end work


def residents(engine):
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(Resident))


def test_real_residents_population_and_episodes_are_refused_with_the_clean_start(demo_copy):
    e = make_engine(demo_copy)
    assert is_demo(e)
    before = residents(e)
    assert before > 0  # the synthetic residents
    res = import_frame(e, "residents", resident_rows(3), "real.csv")
    assert not res.ok and res.problems["code"].tolist() == ["demo_database"]
    reason = res.problems["reason"].iloc[0]
    assert "python -m healthmap init --db" in reason and "演示数据库" in reason
    en = import_frame(e, "residents", resident_rows(3), "real.csv", lang="en")
    assert "This is a demo database" in en.problems["reason"].iloc[0]
    assert residents(e) == before  # nothing written
    pop = pd.DataFrame({"area_code": ["331083001"], "year": ["2024"], "sex": ["M"],
                        "age_group": ["60-64"], "population": ["100"]})
    assert import_frame(e, "population", pop, "pop.csv").problems["code"].tolist() == [
        "demo_database"]
    episodes = ("record_id,person_id,area_code,icd10,date,setting,institution_code,"
                "total_cost\nR1,P1,331083001,C18,2024-01-01,inpatient,YH001,100\n")
    out = import_file(e, "episodes", episodes.encode(), "ep.csv")  # the streamed path
    assert not out.ok and out.problems["code"].tolist() == ["demo_database"]
    assert "python -m healthmap init --db" in out.problems["reason"].iloc[0]
    e.dispose()
