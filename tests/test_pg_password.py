"""Every page works on a PostgreSQL server that requires a password.

A deployment's URL carries the password (``postgresql+psycopg://user:pw@host/db``), and
``str(engine.url)`` hides it (``***``): a page that keyed its data on that text and made its
engine from it could not log in. The session's server trusts every connection, so this test
adds a role that must give its password (SCRAM, first line of ``pg_hba.conf``) and opens every
page as the administrator (who may open them all) on the demo data through that role."""

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from healthmap import pagespec
from healthmap.store.layout import store_dir

APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "app.py")
ROLE, PASSWORD = "hm_pw_role", "s3cret-pw"


@pytest.fixture()
def password_url(backend, request, monkeypatch):
    if backend != "postgresql":
        pytest.skip("a password is a server database's")
    demo_copy = request.getfixturevalue("demo_copy")
    server = request.getfixturevalue("pg_server")
    hba = server.folder / "data" / "pg_hba.conf"
    rule = f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if rule not in text:
        hba.write_text(rule + text)
    server.admin(f"DROP ROLE IF EXISTS {ROLE}")
    server.admin(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    server.admin("SELECT pg_reload_conf()")
    u = make_url(demo_copy)
    # the store is the demo copy's (its folder is named after the URL's user)
    monkeypatch.setenv("HEALTHMAP_STORE_DIR", str(store_dir(demo_copy)))
    url = u.set(username=ROLE, password=PASSWORD).render_as_string(hide_password=False)
    yield url
    server.admin(f"ALTER ROLE {ROLE} PASSWORD NULL")


def test_the_role_cannot_log_in_without_its_password(password_url):
    import sqlalchemy as sa

    masked = make_url(password_url).set(password="***")
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        sa.create_engine(masked).connect()


@pytest.mark.parametrize("page", [p.file for p in pagespec.PAGES])
def test_every_page_opens_with_a_password_in_the_url(password_url, monkeypatch, page):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", password_url)
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["user"] = {"username": "demo_admin", "role": "admin", "demo": True}
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
