"""Who may do what: roles, actors with an optional township scope, and one permission table.

Every function that changes data (imports, user administration, ledgers, reviews,
catalogue decisions) takes an :class:`Actor` and calls :func:`require` itself, so a page,
the CLI and a notebook are held to the same rule; the pages' guards only decide what is
shown. Permissions are a declarative registry (:data:`PERMISSIONS`): adding an action is
one entry.

Examples
--------
>>> leader = Actor("li", "leader")
>>> can(leader, "import"), can(Actor("wang", "data_manager"), "import")
(False, True)
>>> nurse = Actor("zhao", "screening", area_code="331083003")
>>> can(nurse, "view_personal", {"area_code": "331083003"})
True
>>> can(nurse, "view_personal", {"area_code": "331083004"})
False
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any, Mapping

PUBLIC = "public"
# Role keys and their labels (Chinese, English). The order is the admin form's order:
# least privileged first, so a new account never starts as administrator by accident.
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "leader": ("领导", "Leader"),
    "planner": ("规划人员", "Planner"),
    "screening": ("筛查人员", "Screening staff"),
    "family_doctor": ("家庭医生", "Family doctor"),
    "expert": ("评审专家", "Expert reviewer"),
    "points": ("积分管理员", "Points staff"),
    "data_manager": ("数据管理员", "Data manager"),
    "admin": ("系统管理员", "Administrator"),
}
ROLES: tuple[str, ...] = tuple(ROLE_LABELS)
STAFF = ROLES
ALL = (PUBLIC, *ROLES)


def role_label(role: str | None, lang: str = "zh") -> str:
    """The role's name in ``lang``; ``None`` is the public.

    >>> role_label("leader"), role_label("leader", "en"), role_label(None)
    ('领导', 'Leader', '公众')
    """
    pair = ROLE_LABELS.get(role or PUBLIC, ("公众", "Public"))
    return pair[1] if lang == "en" else pair[0]


# action → roles that may do it. ``scoped`` actions also check the actor's township.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "import": ("admin", "data_manager"),
    "refresh": ("admin", "data_manager"),
    "users.manage": ("admin",),
    "audit.view": ("admin",),
    "export.staff": STAFF,
    "view_personal": ("admin", "screening", "family_doctor", "expert", "points"),
    # full phone numbers (healthmap.crypto.phone_for): only the roles that call residents
    "contact_resident": ("screening", "family_doctor"),
    # sending a file to the server at all (web.py refuses uploads from anyone else)
    "upload": ("admin", "data_manager", "screening", "points"),
    # health points (healthmap/points): recording an activity (the activity's own
    # `recorded_by` narrows it further), redemptions, reversals, bulk import, aggregates
    "points.award": ("admin", "points", "family_doctor", "screening"),
    "points.redeem": ("admin", "points"),
    "points.reverse": ("admin", "points"),
    "points.import": ("admin", "points"),
    "points.report": ("admin", "points", "planner", "leader"),
    # screening (healthmap/screening): run a rule set, expert review, invitations, records
    # of screenings / results / fee reductions, bulk result import, aggregate views
    "screening.assess": ("admin", "screening", "family_doctor"),
    "screening.review": ("admin", "expert"),
    "screening.invite": ("admin", "screening", "family_doctor"),
    "screening.record": ("admin", "screening"),
    "screening.import": ("admin", "screening", "data_manager"),
    "screening.report": ("admin", "screening", "family_doctor", "expert", "leader", "planner"),
    # key-specialty catalogue (healthmap/catalogue.py): planners draft; the expert panel
    # decides (a planner may record its decision); the commission adopts
    "catalogue.draft": ("admin", "planner"),
    "catalogue.decide": ("admin", "expert", "planner"),
    "catalogue.adopt": ("admin", "leader", "planner"),
    # leaders' board (healthmap/aggregates.py, healthmap/twodisease.py): entering aggregate
    # indicators; the monthly 两病 report and the briefing (aggregate figures)
    "board.enter": ("admin", "data_manager"),
    "board.report": ("admin", "leader", "planner", "data_manager"),
}
# actions whose resource must lie in the actor's township (when the actor has one)
SCOPED: set[str] = {"view_personal", "contact_resident",
                     "points.award", "points.redeem", "points.reverse",
                     "screening.assess", "screening.review", "screening.invite",
                     "screening.record"}


class PermissionDenied(PermissionError):
    """The actor's role (or township scope) does not allow the action."""


@dataclass(frozen=True)
class Actor:
    """Someone who acts: a staff user (``role``), the public (``role=None``) or a system
    process. ``area_code`` limits a scoped user to one township; ``team`` to one
    family-doctor team."""

    username: str
    role: str | None
    area_code: str | None = None
    team: str | None = None

    @property
    def is_public(self) -> bool:
        return self.role is None

    @classmethod
    def from_user(cls, user: Mapping[str, Any] | None) -> "Actor":
        """The actor for a logged-in user dict (``None`` = the public)."""
        if not user:
            return cls("anonymous", None)
        return cls(user["username"], user["role"], user.get("area_code"), user.get("team"))

    @classmethod
    def cli(cls, name: str | None = None) -> "Actor":
        """The command-line actor: ``--actor`` or the operating-system user, acting with
        administrator rights (whoever can run the CLI can open the database file)."""
        try:
            os_user = getpass.getuser()
        except Exception:  # pragma: no cover - no user name in the environment
            os_user = "unknown"
        return cls(f"cli:{name or os_user}", "admin")


def _area_of(resource: Any) -> str | None:
    if resource is None:
        return None
    if isinstance(resource, str):
        return resource
    if isinstance(resource, Mapping):
        return resource.get("area_code")
    return getattr(resource, "area_code", None)


def can(actor: Actor, action: str, resource: Any = None) -> bool:
    """Whether ``actor`` may do ``action`` (on ``resource``: an area code, or a mapping or
    object with ``area_code``). Unknown actions are refused."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        return False
    if (actor.role or PUBLIC) not in allowed:
        return False
    if action in SCOPED and actor.area_code and resource is not None:
        return _area_of(resource) == actor.area_code
    return True


def require(actor: Actor, action: str, resource: Any = None) -> None:
    """Raise :class:`PermissionDenied` unless :func:`can` allows it."""
    if not can(actor, action, resource):
        raise PermissionDenied(f"{actor.username} ({actor.role or PUBLIC}) may not {action}")


def scope(actor: Actor) -> str | None:
    """The township a scoped actor's lists and exports stop at (``None`` = all)."""
    return actor.area_code
