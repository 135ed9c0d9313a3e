import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HEALTHMAP_SECRET_KEY", "test-secret-key")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def engine(tmp_path):
    """An initialised, empty throw-away database with the built-in areas."""
    from healthmap.bootstrap import init_database
    from healthmap.db import make_engine

    e = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    init_database(e)
    yield e
    e.dispose()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """The full demo database, built once per test session (about 25 s)."""
    from healthmap import auth
    from healthmap.db import make_engine
    from healthmap.demo import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    url = f"sqlite:///{path}"
    e = make_engine(url)
    load_demo(e, n_residents=2000)
    auth.ensure_demo_accounts(e)
    e.dispose()
    return url


@pytest.fixture()
def demo_copy(demo_db, tmp_path):
    """A private copy of the demo database for tests that write."""
    src = Path(demo_db.removeprefix("sqlite:///"))
    dst = tmp_path / "copy.db"
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"
