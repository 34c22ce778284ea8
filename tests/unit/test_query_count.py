"""Counting statements (engine/query_count.py) and the failure message of the assert fixtures, on SQLite.

The counting is SQLAlchemy's ``before_cursor_execute``, the same for every dialect; the PostgreSQL
side (the harness's engines, the isolation's own statements left out) is in
tests/integration/test_queries.py.
"""

import pytest
from sqlalchemy import create_engine, text

from async_test_harness.engine import query_count


@pytest.fixture
def engine():
    made = create_engine("sqlite://")
    query_count.watch(made)
    query_count.watch(made)  # once per engine: a second call adds no second listener
    yield made
    made.dispose()


def test_statements_count_and_transaction_control_does_not(engine):
    before = query_count.counted()
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (x int)"))
        with conn.begin_nested():  # SAVEPOINT ... RELEASE SAVEPOINT: not counted
            conn.execute(text("INSERT INTO t VALUES (1)"))
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO t VALUES (2)"))
        nested.rollback()  # ROLLBACK TO SAVEPOINT: not counted
        conn.exec_driver_sql("SELECT 1")
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": 3}, {"x": 4}])  # one executemany
        conn.commit()
    assert query_count.counted() - before == 5


def test_since_test_start(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        query_count.test_started()
        assert query_count.since_test_start() == 0
        conn.execute(text("SELECT 2"))
        assert query_count.since_test_start() == 1


def test_a_capture_keeps_text_only_while_open_and_for_its_target(engine):
    other = create_engine("sqlite://")  # not watched: listened to for the capture only
    with engine.connect() as conn, other.connect() as other_conn:
        conn.execute(text("SELECT 'before'"))
        with query_count.Capture() as everything, query_count.Capture(query_count.sync_target(other)) as theirs:
            conn.execute(text("SELECT :secret"), {"secret": "hunter2"})
            with conn.begin_nested():
                conn.execute(text("SELECT 2"))
            other_conn.execute(text("SELECT 'other'"))
            with other_conn.begin_nested():
                other_conn.execute(text("SELECT 'other again'"))
        conn.execute(text("SELECT 'after'"))
        other_conn.execute(text("SELECT 'after'"))
    assert everything.statements == ["SELECT ?", "SELECT 2"]  # parameters are never kept
    assert list(theirs) == ["SELECT 'other'", "SELECT 'other again'"] and len(theirs) == 2
    assert not query_count._captures
    assert not query_count.is_watched(other)


def test_a_capture_of_one_connection_leaves_the_others_out(engine):
    with engine.connect() as one, engine.connect() as two:
        with query_count.Capture(query_count.sync_target(one)) as captured:
            one.execute(text("SELECT 1"))
            two.execute(text("SELECT 2"))
    assert captured.statements == ["SELECT 1"]


def test_sync_target_reads_sessions_and_async_objects(engine):
    from sqlalchemy.orm import Session

    with engine.connect() as conn:
        assert query_count.sync_target(Session(bind=conn)) is conn
        assert query_count.sync_target(conn) is conn
    assert query_count.sync_target(Session(bind=engine)) is engine
    assert query_count.sync_target(engine) is engine
    assert query_count.sync_target(None) is None


@pytest.mark.parametrize("expected, executed, exact, info, message", [
    (2, ["SELECT 1", "SELECT 2"], True, None, None),
    (3, ["SELECT 1", "SELECT 2"], False, None, None),
    (1, ["SELECT 1", "SELECT\n   2"], False, None,
     "Expected at most 1 query, 2 were executed:\n1. SELECT 1\n2. SELECT 2"),
    (3, ["SELECT 1"], True, "listing users",
     "Expected 3 queries, 1 was executed (listing users):\n1. SELECT 1"),
    (1, [], True, None, "Expected 1 query, 0 were executed."),
])
def test_the_message_lists_the_statements(expected, executed, exact, info, message):
    assert query_count.expectation_failed(expected, executed, exact, info) == message


def test_the_message_numbers_align_and_long_statements_are_cut():
    message = query_count.expectation_failed(0, ["SELECT " + "x" * 1000] + ["SELECT 1"] * 10, exact=False)
    lines = message.splitlines()
    assert lines[0] == "Expected at most 0 queries, 11 were executed:"
    assert lines[1].startswith(" 1. SELECT xxx") and lines[1].endswith("…") and len(lines[1]) == 4 + 300
    assert lines[-1] == "11. SELECT 1"
