import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HEALTHMAP_SECRET_KEY", "test-secret-key")
ROOT = Path(__file__).resolve().parent.parent
# a server database's episode store lives under $XDG_DATA_HOME (healthmap.store): the test
# databases' stores go to a folder of this session, removed at its end
_SHARE = tempfile.mkdtemp(prefix="healthmap-test-share-")
os.environ["XDG_DATA_HOME"] = _SHARE


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SHARE, ignore_errors=True)
BACKENDS = ("sqlite", "postgresql")


# ---------------------------------------------------------------- database back ends
# Tests that use `engine`, `demo_db`, `demo_copy` or `demo_clone` run once per back end
# (ids [sqlite] and [postgresql]); `--backends sqlite` (or postgresql) runs one only, and
# `@pytest.mark.sqlite_only` (or a module's `pytestmark`) keeps a test on SQLite. The
# PostgreSQL server is started by the suite itself (tests/pgserver.py); without PostgreSQL
# binaries those tests skip with the reason.
def pytest_addoption(parser):
    parser.addoption("--backends", default=",".join(BACKENDS),
                     help="comma-separated database back ends to run the database tests "
                          "on (default: sqlite,postgresql)")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: run this test on the SQLite back end "
                                       "only (browser tests and SQLite specifics)")


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    chosen = [b.strip() for b in metafunc.config.getoption("--backends").split(",")]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"--backends: unknown back end(s) {sorted(unknown)}")
    if metafunc.definition.get_closest_marker("sqlite_only"):
        chosen = [b for b in chosen if b == "sqlite"]
    metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL server for the session (skips when none can be started)."""
    from tests import pgserver

    reason = pgserver.missing_reason()
    if reason:
        pytest.skip(reason)
    server = pgserver.start()
    yield server
    pgserver.stop(server)


@pytest.fixture(scope="session")
def pg_empty(pg_server):
    """PostgreSQL only: an initialised template database (cloned for each `engine`)."""
    from healthmap.bootstrap import init_database
    from healthmap.db import make_engine

    server = pg_server
    url = server.create(name="hm_empty")
    e = make_engine(url)
    init_database(e)
    e.dispose()
    return server


@pytest.fixture()
def engine(backend, tmp_path, request):
    """An initialised, empty throw-away database with the built-in areas."""
    from healthmap.bootstrap import init_database
    from healthmap.db import make_engine

    if backend == "postgresql":
        server = request.getfixturevalue("pg_empty")
        e = make_engine(server.create(template="hm_empty"))
        yield e
        e.dispose()
        server.drop(e.url.database)
        return
    e = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    init_database(e)
    yield e
    e.dispose()


def _build_demo(url: str) -> str:
    from healthmap import auth
    from healthmap.db import make_engine
    from healthmap.demo import load_demo

    e = make_engine(url)
    load_demo(e, n_residents=2000)
    auth.ensure_demo_accounts(e)
    e.dispose()
    return url


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory):
    """The full demo database on SQLite, built once per session (about 25 s); never
    written to (tests get copies)."""
    return _build_demo(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")


@pytest.fixture(scope="session")
def demo_postgresql(pg_server):
    """The same on PostgreSQL (1-2 min): a template nobody connects to afterwards."""
    return _build_demo(pg_server.create(name="hm_demo_source"))


@pytest.fixture(scope="session")
def demo_clone(backend, request):
    """``demo_clone(folder)``: the URL of a new private copy of the demo database (a file
    in ``folder`` on SQLite, a database cloned from the template on PostgreSQL)."""
    from sqlalchemy.engine import make_url

    from healthmap.store import store_dir

    source = request.getfixturevalue(f"demo_{backend}")
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def clone(folder):
        if server is not None:
            url = server.create(template=make_url(source).database)
        else:
            dst = Path(folder) / "copy.db"
            shutil.copy(source.removeprefix("sqlite:///"), dst)
            url = f"sqlite:///{dst}"
        if store_dir(source).is_dir():  # the episode store goes with its database
            shutil.copytree(store_dir(source), store_dir(url))
        return url

    return clone


@pytest.fixture(scope="session")
def demo_db(demo_clone, tmp_path_factory):
    """The demo database, shared by the tests that only read it."""
    return demo_clone(tmp_path_factory.mktemp("demo_read"))


@pytest.fixture()
def demo_copy(demo_clone, tmp_path, request):
    """A private copy of the demo database for tests that write."""
    url = demo_clone(tmp_path)
    if not url.startswith("postgresql"):
        yield url
        return
    from sqlalchemy.engine import make_url

    server = request.getfixturevalue("pg_server")
    yield url
    server.drop(make_url(url).database)
