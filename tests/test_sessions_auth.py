"""Logins that cannot be abused, sessions that survive a reload, demo safety, the key
fingerprint (issues 8 and 18)."""

import datetime as dt

import pytest
from sqlalchemy import text

from healthmap import auth, db, sessions, throttle
from healthmap.bootstrap import check_key, init_database
from healthmap.cli import main
from healthmap.config import SecretKeyError
from healthmap.db import make_engine

T0 = dt.datetime(2026, 12, 1, 9, 0, 0)
STRONG = "tide-lantern-47-orchid"


class Clock:
    """A simulated clock: records the waits the login asked for and advances by them."""

    def __init__(self, now=T0):
        self.waits, self.now = [], now

    def __call__(self, seconds):
        self.waits.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def actions(engine):
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "select actor, action, detail, role from audit_log"))]


def test_failures_slow_down_but_never_lock_out(engine):
    auth.create_user(engine, "alice", STRONG, "leader", actor="test")
    clock = Clock()
    for _ in range(8):  # eight wrong guesses in a row, each as soon as allowed
        assert auth.authenticate(engine, "alice", "wrong-guess", "10.0.0.9", now=clock.now,
                                 sleep=clock)[1] == "invalid"
    # no wait for the first 4 attempts, then 1, 2, 4, 8 s (doubling)
    assert clock.waits == [1, 2, 4, 8]
    # the right password still works after the wait: nobody is locked out
    user, why = auth.authenticate(engine, "alice", STRONG, "10.0.0.9", now=clock.now,
                                  sleep=clock)
    assert why == "ok" and user["role"] == "leader" and clock.waits[-1] == 16
    # the account's failures are cleared; another client is slowed only by the account
    assert auth.authenticate(engine, "alice", STRONG, "10.0.0.7", now=clock.now,
                             sleep=clock)[1] == "ok" and len(clock.waits) == 5


def test_delay_schedule_by_hand():
    assert [throttle.delay(n, cap=30) for n in range(0, 11)] == \
        [0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30]


def test_same_answer_for_unknown_wrong_disabled_and_demo_outside_demo(engine):
    auth.create_user(engine, "bob", STRONG, "planner", actor="test")
    auth.set_active(engine, "bob", False, actor="test")
    answers = {auth.authenticate(engine, "bob", STRONG, sleep=Clock())[1],  # disabled
               auth.authenticate(engine, "bob", "wrong-password", sleep=Clock())[1],
               auth.authenticate(engine, "nobody", STRONG, sleep=Clock())[1]}
    assert answers == {"invalid"}
    logged = actions(engine)
    # a mistyped user name (maybe a password) is never stored, only a keyed-hash tag
    assert not any(a == "nobody" or (d or "").find("nobody") >= 0 for a, _, d, _ in logged)
    assert any(a.startswith("unknown:") for a, act, _, _ in logged if act == "login_failed")
    # the role of account changes is recorded
    # account changes record the actor's role, the target's role in the detail
    assert ("test", "user_disable", "role=planner", "admin") in logged


@pytest.mark.parametrize("pw,ok", [
    ("Aaaaaaaaa1", False), ("Qwerty12345", False), (auth.DEMO_PASSWORD, False),
    ("Yuhuan2024!", False), ("password123", False), ("short", False),
    (STRONG, True), ("correct horse battery staple", True),
])
def test_password_policy_nist(pw, ok):
    assert (auth.password_problem(pw, "carol") is None) is ok


def test_password_with_user_name_refused():
    assert auth.password_problem("carol-wang-carol-wang", "carol-wang") is not None


def test_session_ticket_cookie_lifecycle(engine):
    auth.create_user(engine, "dora", STRONG, "screening", actor="test", area_code="331083003")
    ticket = sessions.issue_ticket(engine, "dora", now=T0)
    token = sessions.redeem_ticket(engine, ticket, now=T0 + dt.timedelta(seconds=5))
    assert token and sessions.redeem_ticket(engine, ticket, now=T0) is None  # one use only
    user, why = sessions.validate(engine, token, now=T0 + dt.timedelta(minutes=20))
    assert why == "ok" and user["area_code"] == "331083003"
    # used 20 minutes in: idle clock restarts, so 45 minutes is still fine
    assert sessions.validate(engine, token, now=T0 + dt.timedelta(minutes=45))[1] == "ok"
    # absolute expiry after 12 hours even when active
    late = T0 + sessions.ABSOLUTE + dt.timedelta(seconds=10)
    assert sessions.validate(engine, token, now=late)[1] == "expired"
    assert sessions.validate(engine, token, now=T0)[1] == "ended"


def test_idle_timeout_logout_disable_and_reset_end_sessions(engine):
    auth.create_user(engine, "eve", STRONG, "leader", actor="test")

    def new_token():
        return sessions.redeem_ticket(engine, sessions.issue_ticket(engine, "eve"))

    tok = new_token()
    assert sessions.validate(engine, tok, now=dt.datetime.now() + dt.timedelta(minutes=31)
                             )[1] == "idle"
    tab_a = new_token()
    sessions.end_session(engine, tab_a)  # logout in one tab ...
    assert sessions.validate(engine, tab_a)[1] == "ended"  # ... ends it for every tab
    tok = new_token()
    auth.reset_password(engine, "eve", "another-lantern-58-tulip", actor="test")
    assert sessions.validate(engine, tok)[0] is None
    tok = new_token()
    auth.set_active(engine, "eve", False, actor="test")
    assert sessions.validate(engine, tok)[0] is None
    assert sessions.redeem_ticket(engine, sessions.issue_ticket(engine, "eve")) is None
    assert sessions.validate(engine, "made-up-token")[1] == "unknown"


def test_only_hashes_of_tokens_are_stored(engine):
    auth.create_user(engine, "finn", STRONG, "leader", actor="test")
    ticket = sessions.issue_ticket(engine, "finn")
    token = sessions.redeem_ticket(engine, ticket)
    with engine.connect() as c:
        dump = " ".join(str(v) for row in c.execute(text(
            "select * from user_sessions union all select ticket_hash, username, created_at, "
            "expires_at, used_at, null, null, null from login_tickets")) for v in row)
    assert token not in dump and ticket not in dump


def test_real_database_never_gets_demo_data_or_accounts(tmp_path):
    from healthmap.demo import load_demo

    e = make_engine(f"sqlite:///{tmp_path / 'county.db'}")
    init_database(e)
    assert db.database_kind(e) == "real" and not db.is_demo(e)
    with pytest.raises(db.DemoDatabaseError):
        load_demo(e, n_residents=10)
    with pytest.raises(auth.AuthError):
        auth.ensure_demo_accounts(e)
    with pytest.raises(auth.AuthError):  # demo names are reserved
        auth.create_user(e, "demo_admin", STRONG, "admin", actor="t")
    from healthmap import store

    assert store.live_manifest(e) is None  # no episodes: the demo load wrote none


def test_demo_database_refuses_real_records_and_demo_login_only_there(demo_copy, tmp_path):
    e = make_engine(demo_copy)
    assert db.is_demo(e)
    f = tmp_path / "ep.csv"
    f.write_text("record_id,person_id,area_code,icd10,date,setting,institution_code,"
                 "total_cost\nR1,P1,331083001,C18,2024-01-01,inpatient,YH001,100\n",
                 encoding="utf-8")
    assert main(["--db", demo_copy, "import", "episodes", str(f)]) == 2
    user, why = auth.authenticate(e, "demo_leader", auth.DEMO_PASSWORD, sleep=Clock())
    assert why == "ok"
    # the same account in a database that is not a demo one does not log in
    with e.begin() as c:
        c.execute(text("update app_meta set value = 'real' where key = 'database_kind'"))
    assert auth.authenticate(e, "demo_leader", auth.DEMO_PASSWORD, sleep=Clock())[1] == \
        "invalid"


def test_key_fingerprint_mismatch_is_refused(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    e = make_engine(url)
    init_database(e)
    fp = check_key(e)
    monkeypatch.setenv("HEALTHMAP_SECRET_KEY", "another-key")
    with pytest.raises(SecretKeyError, match="not the one this database"):
        check_key(e)
    assert main(["--db", url, "users", "list"]) == 1
    monkeypatch.setenv("HEALTHMAP_SECRET_KEY", "test-secret-key")
    assert check_key(e) == fp


def test_key_file_lives_outside_the_project_one_per_database(tmp_path, monkeypatch):
    from healthmap import config

    monkeypatch.delenv("HEALTHMAP_SECRET_KEY", raising=False)
    monkeypatch.delenv("HEALTHMAP_SECRET_FILE", raising=False)
    monkeypatch.setenv("HEALTHMAP_KEY_DIR", str(tmp_path / "keys"))
    a, b = (f"sqlite:///{tmp_path / n}" for n in ("a.db", "b.db"))
    ka, kb = config.secret_key(True, a), config.secret_key(True, b)
    assert ka != kb
    path = config.secret_path(a)
    assert config.PROJECT_ROOT not in path.parents and path.parent != tmp_path
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    config.forget_key(a)  # a benchmark's throw-away database takes its key file with it
    assert not path.exists() and config.secret_path(b).exists()
    own = tmp_path / "own.key"
    own.write_text("k")
    monkeypatch.setenv("HEALTHMAP_SECRET_FILE", str(own))
    config.forget_key(b)  # never a key file the operator named
    assert own.exists() and config.secret_key(url=b) == b"k"


def test_scoped_user_and_cli_actor_audited(engine, tmp_path):
    url = str(engine.url)
    assert main(["--db", url, "users", "add", "gina", "--role", "screening", "--password",
                 STRONG, "--area", "331083101", "--actor", "wang"]) == 0
    assert main(["--db", url, "users", "add", "hu", "--role", "screening", "--password",
                 STRONG, "--area", "999"]) == 2
    users = {u["username"]: u for u in auth.list_users(engine)}
    assert users["gina"]["area_code"] == "331083101"
    assert ("cli:wang", "user_add", "role=screening area=331083101", "admin") in \
        actions(engine)
