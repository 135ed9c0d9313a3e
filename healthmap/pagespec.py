"""The pages of the app, declared once: file, title, icon, who may open them, sidebar group.

``app.py`` builds the navigation from :data:`PAGES`, :func:`can_open` answers the guards,
and the tests' role × page matrix iterates over it. Adding a page is one entry here and
one file in ``pages/``. No streamlit here.

Examples
--------
>>> can_open(None, "map"), can_open(None, "data"), can_open("data_manager", "data")
(True, False, True)
>>> [p.key for p in pages_for("leader")][:1]
['map']
"""

from __future__ import annotations

from dataclasses import dataclass

from healthmap.access import ALL, PUBLIC, ROLES


@dataclass(frozen=True)
class PageSpec:
    key: str
    file: str  # path relative to the project root
    title_key: str  # i18n key
    icon: str  # material icon, e.g. ":material/map:"
    roles: tuple[str, ...]  # who may open it; "public" = anyone, no login
    group: str  # sidebar group key (GROUPS)
    url_path: str = ""  # default: the key
    landing_for: tuple[str, ...] = ()  # roles that land here after login

    @property
    def path(self) -> str:
        return self.url_path or self.key

    @property
    def public(self) -> bool:
        return PUBLIC in self.roles


# Sidebar groups in order: key → i18n key
GROUPS: dict[str, str] = {
    "analysis": "nav.group.analysis",
    "specialty": "nav.group.specialty",
    "screening": "nav.group.screening",
    "points": "nav.group.points",
    "admin": "nav.group.admin",
    "account": "nav.group.account",
}

PAGES: tuple[PageSpec, ...] = (
    PageSpec("map", "pages/health_map.py", "nav.map", ":material/map:", ALL, "analysis",
             landing_for=ROLES),
    PageSpec("data", "pages/data_management.py", "nav.data", ":material/database:",
             ("admin", "data_manager"), "admin", landing_for=("data_manager",)),
    PageSpec("admin", "pages/admin.py", "nav.admin", ":material/admin_panel_settings:",
             ("admin",), "admin", landing_for=("admin",)),
    PageSpec("login", "pages/login.py", "nav.login", ":material/account_circle:", ALL,
             "account"),
    PageSpec("points", "pages/points_staff.py", "points.nav.staff", ":material/loyalty:",
             ("points", "family_doctor", "admin"), "points", landing_for=("points",)),
    PageSpec("points_planning", "pages/points_planning.py", "points.nav.planning",
             ":material/query_stats:", ("planner", "leader", "points", "admin"), "points"),
    PageSpec("points_lookup", "pages/points_lookup.py", "points.nav.lookup",
             ":material/person_search:", ALL, "points"),
    PageSpec("ranking", "pages/ranking.py", "ranking.nav", ":material/leaderboard:",
             ("planner", "leader", "expert", "admin"), "specialty", landing_for=("planner",)),
    PageSpec("screening", "pages/screening.py", "screening.nav", ":material/health_and_safety:",
             ("screening", "family_doctor", "expert", "admin"), "screening",
             landing_for=("screening", "family_doctor", "expert")),
    PageSpec("screening_report", "pages/screening_report.py", "screening.nav.report",
             ":material/monitoring:", ("screening", "family_doctor", "expert", "leader",
                                       "planner", "admin"), "screening"),
    PageSpec("board", "pages/board.py", "board.nav", ":material/dashboard:",
             ("leader", "planner", "admin", "data_manager"), "analysis",
             landing_for=("leader",)),
)
BY_KEY: dict[str, PageSpec] = {p.key: p for p in PAGES}
DEFAULT = "map"


def can_open(role: str | None, page: str) -> bool:
    """Whether ``role`` (``None`` = the public, not logged in) may open ``page``."""
    spec = BY_KEY.get(page)
    if spec is None:
        return False
    return spec.public or (role or PUBLIC) in spec.roles


def pages_for(role: str | None) -> list[PageSpec]:
    """The pages ``role`` may open, in sidebar order."""
    order = list(GROUPS)
    return sorted((p for p in PAGES if can_open(role, p.key)),
                  key=lambda p: order.index(p.group))


def landing_page(role: str | None) -> str:
    """The page a role lands on after login: the last spec that names the role as its
    landing role (job pages listed later win over the map), else the default."""
    keys = [p.key for p in PAGES if role in p.landing_for]
    return keys[-1] if keys else DEFAULT
