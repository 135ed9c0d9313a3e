"""Who sees which page, where each role lands after login, and who may change data, as
tables written out by hand from the issue (issue 8) and the job issues, so a wrong role in
a registry entry (healthmap/pagespec.py, healthmap/access.py) fails here rather than only
moving the code and its test together."""

import pytest

from healthmap import access, pagespec
from healthmap.i18n import t

EVERYONE = {"map", "login", "points_lookup"}  # the public map, the login, the points lookup
# role -> the pages it may open besides EVERYONE's
STAFF_PAGES = {
    None: set(),
    "leader": {"board", "ranking", "screening_report", "points_planning"},
    "planner": {"board", "ranking", "screening_report", "points_planning"},
    "screening": {"screening", "screening_report"},
    "family_doctor": {"screening", "screening_report", "points"},
    "expert": {"screening", "screening_report", "ranking"},
    "points": {"points", "points_planning"},
    "data_manager": {"data", "board"},
    "admin": {"data", "admin", "board", "ranking", "screening", "screening_report", "points",
              "points_planning"},
}
# role -> its first page after login (its job's page; the public: the map)
LANDING = {None: "map", "leader": "board", "planner": "ranking", "screening": "screening",
           "family_doctor": "screening", "expert": "screening", "points": "points",
           "data_manager": "data", "admin": "admin"}
# actions that change data -> who may
CHANGES = {
    "import": {"admin", "data_manager"},
    "refresh": {"admin", "data_manager"},
    "users.manage": {"admin"},
    "points.redeem": {"admin", "points"},
    "screening.review": {"admin", "expert"},
    "catalogue.adopt": {"admin", "leader", "planner"},
    "board.enter": {"admin", "data_manager"},
}


def test_the_tables_cover_every_role():
    assert set(STAFF_PAGES) == set(LANDING) == {None, *access.ROLES}


@pytest.mark.parametrize("role", list(STAFF_PAGES))
def test_pages_and_landing_per_role(role):
    assert {p.key for p in pagespec.pages_for(role)} == EVERYONE | STAFF_PAGES[role]
    for spec in pagespec.PAGES:
        assert pagespec.can_open(role, spec.key) == (spec.key in EVERYONE | STAFF_PAGES[role])
    assert pagespec.landing_page(role) == LANDING[role]


@pytest.mark.parametrize("action", sorted(CHANGES))
def test_who_may_change_data(action):
    may = {role for role in (None, *access.ROLES) if access.can(access.Actor("x", role), action)}
    assert may == CHANGES[action]


def test_sidebar_groups_by_job_in_order():
    assert [t(pagespec.GROUPS[g]) for g in pagespec.GROUPS] == [
        "分析", "专科", "筛查", "健康积分", "管理", "账号"]
    assert [t(pagespec.GROUPS[g], "en") for g in pagespec.GROUPS][:5] == [
        "Analysis", "Specialties", "Screening", "Health points", "Administration"]
