"""The inbox store on real databases: SQLite (a file, WAL) always, PostgreSQL when one is reachable.

Concurrent feedback writers lose nothing, an Idempotency-Key stores one row however often and
however concurrently it is retried, and a writer killed inside its transaction leaves no row
behind (and no lock). PostgreSQL runs in a schema of its own per test session, dropped after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from serving.store import IdempotencyConflict, Store

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _result(tweet_id: str, rank: str = "P2", respond_by: str = "2026-11-23T10:00:00Z", tags=("complaint",)) -> dict:
    return {
        "id": tweet_id, "model_version": "test-1",
        "intent": {"label": tags[0] if tags else "other", "tags": list(tags), "scores": {}},
        "sentiment": {"label": "negative", "score": -0.5, "scores": {}},
        "urgency": {"level": 2, "label": "high", "score": 0.6},
        "dm": {"suggest": rank == "P1", "score": 0.5, "reasons": []},
        "pii": [],
        "priority": {"rank": rank, "score": 50, "respond_by": respond_by, "reasons": [], "reason_codes": [],
                     "badge": {"text": rank, "color": "#000000"}},
        "redacted_text": "masked",
    }


def _postgres_schema_url() -> tuple[str, str]:
    try:
        import psycopg
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg (pip install 'psycopg[binary]')")
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"triage_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(plain, connect_timeout=3, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as error:
        pytest.skip(f"no PostgreSQL reachable at {PG_URL.split('@')[-1]} ({type(error).__name__}): PostgreSQL store tests skipped")
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}", schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
        return
    url, schema = _postgres_schema_url()
    yield url
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url):
    opened = Store(store_url).open()
    opened.add_items([({"id": f"t{i}", "text": f"tweet {i}"}, _result(f"t{i}")) for i in range(5)])
    yield opened
    opened.close()


def test_migrations_run_once_and_reopen_cleanly(store_url):
    first = Store(store_url).open()
    first.add_items([({"id": "a", "text": "hello"}, _result("a"))])
    first.close()
    again = Store(store_url).open()  # upgrade head on a migrated database: nothing to do
    assert again.count_items() == 1
    with again.transaction(write=False) as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    again.close()


def test_stores_of_one_process_migrate_at_the_same_time(tmp_path):
    # Two apps in one process (as the API tests build) open their stores together: alembic's
    # process-wide proxies once ran one store's operations on the other's connection (a crash).
    stores = [Store(f"sqlite:///{tmp_path / f'inbox-{i}.sqlite3'}") for i in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def open_store(store: Store) -> None:
        barrier.wait()
        try:
            store.open()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_store, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for store in stores:
        with store.transaction(write=False) as connection:
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
        store.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'inbox.sqlite3'}").open()
    with store.transaction(write=False) as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()


def test_queue_order_filters_and_removal(store):
    store.add_items([
        ({"id": "late", "text": "x"}, _result("late", "P1", "2026-11-23T09:30:00Z")),
        ({"id": "early", "text": "x"}, _result("early", "P1", "2026-11-23T09:00:00Z", tags=("question",))),
        ({"id": "praise", "text": "x"}, _result("praise", "P4", "2026-11-23T08:00:00Z", tags=())),
    ])
    items, total = store.list_items()
    assert total == 8
    assert [item["tweet_id"] for item in items[:2]] == ["early", "late"]  # P1 first, then respond-by
    assert items[-1]["tweet_id"] == "praise"
    assert [item["tweet_id"] for item in store.list_items(ranks=["P1"], intent="question")[0]] == ["early"]
    assert [item["tweet_id"] for item in store.list_items(intent="other")[0]] == ["praise"]
    assert [item["tweet_id"] for item in store.list_items(dm=True)[0]] == ["early", "late"]
    store.record_feedback(tweet_id="late", field="dm", value=False, agent="a", client="c", idempotency_key=None,
                          request_hash="h")
    assert store.set_status("late", "handled", "ana")["handled_by"] == "ana"
    assert "late" not in [item["tweet_id"] for item in store.list_items()[0]]
    assert store.delete_item("late") and not store.delete_item("late")
    assert store.count_feedback() == 0  # forgetting a tweet forgets its corrections


def test_concurrent_feedback_writers_lose_nothing(store_url, store):
    threads, per_thread = 8, 25
    # Two stores = two engines and pools: like two worker processes on one database.
    stores = [store, Store(store_url).open()]
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for i in range(per_thread):
                stores[number % 2].record_feedback(
                    tweet_id=f"t{(number + i) % 5}", field="sentiment", value="neutral", agent=f"agent{number}",
                    client="c", idempotency_key=f"{number}-{i}", request_hash="h",
                )
        except BaseException as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stores[1].close()
    assert not errors, errors
    assert store.count_feedback() == threads * per_thread


def test_an_idempotency_key_stores_one_row_even_when_retried_concurrently(store):
    results = []

    def retry() -> None:
        results.append(store.record_feedback(tweet_id="t1", field="urgency", value=3, agent="ana", client="c",
                                             idempotency_key="same-key", request_hash="hash-1"))

    workers = [threading.Thread(target=retry) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert store.count_feedback() == 1
    assert len({row.id for row, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 7
    with pytest.raises(IdempotencyConflict):  # the same key for another request
        store.record_feedback(tweet_id="t1", field="urgency", value=1, agent="ana", client="c",
                              idempotency_key="same-key", request_hash="hash-2")
    # Keys are scoped per client: another client's key does not collide.
    row, replayed = store.record_feedback(tweet_id="t1", field="urgency", value=3, agent="ana", client="other",
                                          idempotency_key="same-key", request_hash="hash-1")
    assert not replayed and store.count_feedback() == 2


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from serving.store import Store, insert_feedback
    from serving.store.tables import inbox_items
    from sqlalchemy import update
    store = Store(sys.argv[1]).open()
    with store.transaction(write=True) as connection:
        insert_feedback(connection, tweet_id="t1", field="dm", value=True, agent="ghost", client="c",
                        idempotency_key="killed", request_hash="h")
        connection.execute(update(inbox_items).where(inbox_items.c.tweet_id == "t1").values(status="handled"))
        print("written, not committed", flush=True)
        time.sleep(60)
""")


def test_a_killed_writer_leaves_no_half_written_row(store_url, store):
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, store_url], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        assert process.stdout.readline().strip() == "written, not committed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert store.count_feedback() == 0
    assert store.get_item("t1")["status"] == "open"  # neither statement of the transaction survived
    # The lock died with the writer: the next write goes through at once.
    row, _ = store.record_feedback(tweet_id="t1", field="dm", value=True, agent="ana", client="c",
                                   idempotency_key="killed", request_hash="h")
    assert row is not None and store.count_feedback() == 1


def test_export_is_care_labels_with_the_latest_correction_of_each_field(store):
    for field, value in (("intent", ["question"]), ("sentiment", "positive"), ("intent", ["praise", "question"])):
        store.record_feedback(tweet_id="t2", field=field, value=value, agent="ana", client="c",
                              idempotency_key=None, request_hash="h")
    (record,) = list(store.export_labels())
    assert record == {"id": "t2", "text": "tweet 2", "source": "feedback", "complaint": 0, "question": 1,
                      "praise": 1, "intent": "question", "sentiment": "positive", "urgency": 2, "dm": 0,
                      "corrected": ["intent", "sentiment"]}
    json.dumps(record)


def test_the_migrations_build_exactly_the_tables_the_code_declares(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from serving.store import metadata

    store = Store(store_url).open()
    with store.transaction(write=False) as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    store.close()
    assert differences == [], "tables.py and the migrations disagree: write a migration"


# --- re-ranking as customers wait --------------------------------------------------------------


def _waiting_complaint(tweet_id: str, written, policy) -> tuple[dict, dict, str]:
    """A stored (record, result, priority inputs) triple as the inbox route writes it."""
    from model.priority import PrioritySignals, prioritise
    from model.priority_inputs import inputs_to_json
    from model.records import Author, Turn

    signals = PrioritySignals(
        intent_label="complaint", intent_tags=("complaint",), sentiment_label="negative", sentiment_score=-0.5,
        urgency_level=1, urgency_score=0.3, dm_suggest=False, dm_reasons=(), created_at=written,
        context=(Turn(author="customer", text="first"),), author=Author(followers=120, verified=False),
    )
    result = _result(tweet_id)
    result["priority"] = prioritise(signals, policy, written, "en")
    return {"id": tweet_id, "text": "my parcel is late"}, result, inputs_to_json(signals, "en")


def test_open_items_climb_as_their_customers_wait(store_url):
    from datetime import datetime, timedelta, timezone

    from model.priority import load_policy

    policy = load_policy()
    written = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    store = Store(store_url).open()
    triples = [_waiting_complaint(name, written, policy) for name in ("waiting", "handled")]
    store.add_items([(record, result) for record, result, _ in triples],
                    priority_inputs=[inputs for _, _, inputs in triples])
    store.add_items([({"id": "legacy", "text": "stored before priority inputs"}, _result("legacy", "P4"))])
    store.set_status("handled", "handled")
    on_arrival = store.get_item("waiting")["result"]["priority"]
    assert store.rerank_open(policy, written) == 0  # nothing has changed yet

    assert store.rerank_open(policy, written + timedelta(hours=6)) == 1
    waited = store.get_item("waiting")["result"]["priority"]
    assert waited["rank"] < on_arrival["rank"]  # "P2" < "P3": more urgent
    assert waited["reason_codes"][0] == "waited" and "waited" not in on_arrival["reason_codes"]
    items, _ = store.list_items(ranks=(waited["rank"],))
    assert [item["tweet_id"] for item in items] == ["waiting"]  # the SQL columns moved too
    assert store.get_item("handled")["result"]["priority"] == on_arrival  # handled: left as it was
    assert store.get_item("legacy")["result"]["priority"]["rank"] == "P4"  # no inputs: left as it was
    store.close()


def test_rerank_if_due_runs_at_most_once_per_interval(tmp_path):
    from model.priority import load_policy

    store = Store(f"sqlite:///{tmp_path / 'inbox.sqlite3'}").open()
    policy = load_policy()
    assert store.rerank_if_due(policy) == 0
    assert store.rerank_if_due(policy) is None  # too soon
    assert store.rerank_if_due(policy, interval_s=0) == 0
    store.close()


def test_a_first_schema_inbox_is_upgraded_and_keeps_its_items(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from serving.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO inbox_items (tweet_id, text, received_at, model_version, result, rank, priority_score,"
            " respond_by, intent_label, intent_tags, dm_suggest, status)"
            " VALUES ('old', 'x', '2026-11-23T08:00:00.000000Z', 'test-1', ?, 'P3', 40,"
            " '2026-11-23T12:00:00Z', 'complaint', ',complaint,', 0, 'open')",
            (json.dumps(_result("old", "P3")),),
        )
    engine.dispose()
    store = Store(url).open()
    assert store.get_item("old")["result"]["priority"]["rank"] == "P3"
    from model.priority import load_policy

    assert store.rerank_open(load_policy()) == 0
    store.close()


def test_a_busy_database_postpones_reranking_without_failing(tmp_path, monkeypatch):
    from model.priority import load_policy
    from serving.store import StoreUnavailable

    store = Store(f"sqlite:///{tmp_path / 'inbox.sqlite3'}").open()

    def busy(*args, **kwargs):
        raise StoreUnavailable("the inbox store is busy; retry")

    monkeypatch.setattr(store, "rerank_open", busy)
    assert store.rerank_if_due(load_policy()) is None
    assert store.list_items() == ([], 0)  # the queue is still read
    store.close()
