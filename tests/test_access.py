"""Who may do what, as a matrix over roles × actions and roles × pages (issue 8), and the
checks inside the functions that change data."""

import pytest

from healthmap import access, auth, pagespec
from healthmap.access import Actor, PermissionDenied

STRONG = "tide-lantern-47-orchid"


@pytest.mark.parametrize("role", [None, *access.ROLES])
@pytest.mark.parametrize("action", sorted(access.PERMISSIONS))
def test_permission_matrix(role, action):
    actor = Actor("x", role)
    assert access.can(actor, action) == ((role or access.PUBLIC) in access.PERMISSIONS[action])


def test_public_may_change_nothing_and_unknown_actions_are_refused():
    public = Actor("anonymous", None)
    assert not any(access.can(public, a) for a in access.PERMISSIONS)
    assert not access.can(Actor("root", "admin"), "no.such.action")


def test_township_scope_stops_scoped_actions_at_the_township():
    nurse = Actor("zhao", "screening", area_code="331083003")
    scoped = sorted(a for a in access.SCOPED if access.can(nurse, a))
    assert scoped, "screening staff have at least one township-scoped action"
    for action in scoped:
        assert access.can(nurse, action, {"area_code": "331083003"})
        assert not access.can(nurse, action, {"area_code": "331083101"})
        assert access.can(Actor("li", "screening"), action, {"area_code": "331083101"})


@pytest.mark.parametrize("role", [None, *access.ROLES])
def test_page_matrix_from_the_one_registry(role):
    for spec in pagespec.PAGES:
        assert pagespec.can_open(role, spec.key) == (
            spec.public or (role or access.PUBLIC) in spec.roles)
    assert pagespec.landing_page(role) in pagespec.BY_KEY
    if role:
        assert pagespec.can_open(role, pagespec.landing_page(role))


def test_every_page_file_exists_and_keys_are_unique():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert len({p.key for p in pagespec.PAGES}) == len(pagespec.PAGES)
    assert len({p.path for p in pagespec.PAGES}) == len(pagespec.PAGES)
    for spec in pagespec.PAGES:
        assert (root / spec.file).exists(), spec.file
        assert spec.group in pagespec.GROUPS


@pytest.mark.parametrize("role", [r for r in access.ROLES if r != "admin"])
def test_user_administration_checks_the_actor_inside(engine, role):
    with pytest.raises(PermissionDenied):
        auth.create_user(engine, "newbie", STRONG, "leader", actor=Actor("x", role))
    auth.create_user(engine, "newbie", STRONG, "leader", actor=Actor("boss", "admin"))
    with pytest.raises(PermissionDenied):
        auth.set_active(engine, "newbie", False, actor=Actor("x", role))
    with pytest.raises(PermissionDenied):
        auth.reset_password(engine, "newbie", "another-lantern-58-tulip",
                            actor=Actor("x", role))
