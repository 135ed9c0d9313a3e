"""The public self-lookup: ID validation and masking, one answer for an unknown ID and a
wrong name, throttling by ID hash and by client with an injectable clock (no sleeps),
nothing typed ever stored."""

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from healthmap import ids
from healthmap.models import LoginThrottle, Resident
from healthmap.points.lookup import LookupAnswer, lookup
from points_helpers import add_residents

T0 = dt.datetime(2024, 6, 1, 9, 0, 0)


@pytest.fixture()
def people(engine):
    return engine, add_residents(engine).set_index("resident_id")


def other_valid_id():
    return ids.make_id("339900", dt.date(1975, 3, 4), 777)


def test_id_numbers_are_validated_before_anything_else(people):
    engine, df = people
    good = df.loc["R1", "id_number"]
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    for typed in ("", "12345", good[:17], bad_check, good[:6] + "20991301" + good[14:]):
        assert lookup(engine, typed, name="张三", client="c", now=T0).status == "invalid_id"
    assert lookup(engine, good, name=" ", client="c", now=T0).status == "missing"
    assert lookup(engine, good, phone_tail="12", client="c", now=T0).status == "missing"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_throttle")).scalar() == 0


def test_stored_id_is_only_a_hash_and_a_masked_form(people):
    engine, df = people
    number = df.loc["R1", "id_number"]
    with Session(engine) as s:
        r = s.get(Resident, "R1")
    assert r.id_hash != number and len(r.id_hash) == 64
    assert number not in r.id_masked and number[6:14] not in r.id_masked  # no birth date
    assert r.id_masked[:4] == number[:4] and r.id_masked[-1] == number[-1]
    assert ids.mask_id(number).count("*") >= 10


def test_right_name_or_phone_tail_succeeds(people):
    engine, df = people
    number = df.loc["R2", "id_number"]
    assert lookup(engine, number, name="李四", client="c", now=T0) == LookupAnswer(
        "ok", resident_id="R2")
    assert lookup(engine, number.lower(), name=" 李 四 ", client="c", now=T0).status == "ok"
    assert lookup(engine, number, phone_tail=df.loc["R2", "phone"][-4:], client="c",
                  now=T0).resident_id == "R2"


def _throttle_rows(engine):
    with Session(engine) as s:
        return sorted((r.kind, r.failures, r.not_before) for r in s.scalars(select(LoginThrottle)))


def test_unknown_id_and_wrong_name_give_the_same_answer_and_the_same_trace(people, tmp_path):
    engine, df = people
    known = df.loc["R3", "id_number"]
    unknown = other_valid_id()
    answers = {
        "wrong name": lookup(engine, known, name="王九", client="a", now=T0),
        "unknown id": lookup(engine, unknown, name="王五", client="b", now=T0),
        "wrong phone": lookup(engine, known, phone_tail="0000", client="c", now=T0),
        "unknown id, phone": lookup(engine, unknown, phone_tail="0000", client="d", now=T0),
    }
    assert set(answers.values()) == {LookupAnswer("no_match")}
    rows = _throttle_rows(engine)
    # one failure per ID hash and per client, whichever the cause
    assert [r for r in rows if r[0] == "lookup_client"] == [("lookup_client", 1, T0)] * 4
    assert [r for r in rows if r[0] == "lookup_id"] == [("lookup_id", 2, T0)] * 2
    # each failure audited the same way, naming only the client's key hash
    from healthmap import throttle
    from healthmap.crypto import database_secret

    secret = database_secret(engine)
    with engine.connect() as conn:
        audited = conn.execute(text("SELECT actor, action, target, detail FROM audit_log "
                                    "WHERE actor = 'public' ORDER BY id")).all()
    assert audited == [("public", "points.lookup_failed",
                        "lookup_client:" + throttle.key_hash(secret, "lookup_client", c)[:12],
                        "no match") for c in "abcd"]


def test_throttled_after_five_failures_per_id_with_growing_delay_never_locked(people):
    engine, df = people
    number = df.loc["R4", "id_number"]
    for i in range(5):  # five different clients, one ID number
        assert lookup(engine, number, name="错名", client=f"c{i}", now=T0).status == "no_match"
    # the sixth attempt, even with the right name and from a new client, must wait 30 s
    answer = lookup(engine, number, name="赵六", client="fresh", now=T0 + dt.timedelta(seconds=5))
    assert answer.status == "throttled" and answer.wait_seconds == pytest.approx(25)
    later = T0 + dt.timedelta(seconds=31)
    assert lookup(engine, number, name="错名", client="c9", now=later).status == "no_match"
    answer = lookup(engine, number, name="赵六", client="fresh", now=later)
    assert answer.status == "throttled" and answer.wait_seconds == pytest.approx(60)  # doubled
    # not a lock-out: after the wait the right name works, and clears the ID's count
    after = later + dt.timedelta(seconds=61)
    assert lookup(engine, number, name="赵六", client="fresh", now=after).status == "ok"
    assert lookup(engine, number, name="错名", client="x", now=after).status == "no_match"


def test_throttled_after_five_failures_per_client_across_ids(people):
    engine, df = people
    for i, rid in enumerate(["R1", "R2", "R3", "R5", "R6"]):
        lookup(engine, df.loc[rid, "id_number"], name="错名", client="session:s1", now=T0)
    answer = lookup(engine, df.loc["R4", "id_number"], name="赵六", client="session:s1",
                    now=T0 + dt.timedelta(seconds=1))
    assert answer.status == "throttled"  # a new ID number does not reset the client
    # another client is not affected (a "reload" is a new session only without a proxy)
    assert lookup(engine, df.loc["R4", "id_number"], name="赵六", client="session:s2",
                  now=T0 + dt.timedelta(seconds=1)).status == "ok"
    # failures are forgotten after forget_after_hours (24)
    next_day = T0 + dt.timedelta(hours=25)
    assert lookup(engine, df.loc["R4", "id_number"], name="赵六", client="session:s1",
                  now=next_day).status == "ok"
    lookup(engine, df.loc["R1", "id_number"], name="错名", client="session:s1", now=next_day)
    with Session(engine) as s:
        rows = [r.failures for r in s.scalars(select(LoginThrottle).where(
            LoginThrottle.kind == "lookup_client"))]
    assert 1 in rows  # the old count was forgotten before this failure


def test_typed_id_and_name_are_never_stored(people):
    engine, df = people
    number = df.loc["R5", "id_number"]
    lookup(engine, number, name="钱七", client="c", now=T0)
    lookup(engine, number, name="某某某", client="c", now=T0)
    with engine.connect() as conn:
        for table in ("audit_log", "login_throttle"):
            dump = " ".join(str(v) for row in conn.execute(text(f"SELECT * FROM {table}"))
                            for v in row)
            assert number not in dump and "钱七" not in dump and "某某某" not in dump
            assert number[:17] not in dump


def test_parallel_attempts_cannot_slip_past_the_count(people):
    """Ten wrong-name attempts on one ID number at the same moment from ten clients: each
    reads the count inside its own locked transaction, so exactly the five free failures
    are answered and the other five must wait."""
    import threading

    engine, df = people
    number = df.loc["R6", "id_number"]
    barrier, answers = threading.Barrier(10), []

    def attempt(i):
        barrier.wait(timeout=60)
        answers.append(lookup(engine, number, name="错名", client=f"p{i}", now=T0).status)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(answers) == ["no_match"] * 5 + ["throttled"] * 5
    with Session(engine) as s:
        assert s.scalar(select(LoginThrottle.failures).where(
            LoginThrottle.kind == "lookup_id")) == 5
