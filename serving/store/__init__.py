"""The inbox store: scored tweets waiting for an agent, and agents' corrections (feedback).

SQLite by default (`<TRIAGE_STATE_DIR>/inbox.sqlite3`, default `var/`), PostgreSQL when
`TRIAGE_DATABASE_URL` names one. `Store.open` upgrades the schema to the latest Alembic migration
(`migrations/`) before anything else touches it, so a new version of the service migrates its
database at start-up.

SQLite, several writers (threads of one worker, or several workers): the journal is WAL (readers
never block the writer), every connection waits up to `busy_timeout` for the lock, and every
write transaction starts with `BEGIN IMMEDIATE`, which takes the write lock at once. A deferred
transaction that reads and then writes would fail with "database is locked" whatever the busy
timeout (RELIABILITY.md, checklist row 32). Every write is one transaction: a writer killed half
way leaves nothing behind.

Nothing here logs tweet text, handles or values of corrections.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from model.feedback import care_label_record, latest_corrections
from model.priority import PriorityPolicy, prioritise
from model.priority_inputs import inputs_from_json
from serving.store.tables import feedback, inbox_items, metadata

logger = logging.getLogger("serving.store")

SQLITE_FILE = "inbox.sqlite3"
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")
STATUSES = ("open", "handled")
RANKS = ("P1", "P2", "P3", "P4")
RERANK_INTERVAL_S = 15.0
"""At most this often a process re-ranks the open items (when the queue is read)."""

__all__ = ["Store", "StoreError", "StoreUnavailable", "IdempotencyConflict", "FeedbackRow", "database_url_for", "utc_stamp", "metadata"]


class StoreError(Exception):
    """Base of the store's errors; messages are one line and never quote stored text."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or stays locked: the request may be retried."""


class IdempotencyConflict(StoreError):
    """An Idempotency-Key already used by this client for a different request."""


def utc_stamp(moment: datetime | None = None) -> str:
    """`2026-11-23T10:42:00.123456Z`: sorts as text, the same on every database."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def database_url_for(state_dir: str | Path, database_url: str | None = None) -> str:
    """`database_url` when given, else the SQLite file in `state_dir`."""
    if database_url:
        return database_url
    return f"sqlite:///{Path(state_dir).resolve() / SQLITE_FILE}"


def redact_url(url: str) -> str:
    """The URL without its password, for messages and manifests."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"


@dataclass(frozen=True)
class FeedbackRow:
    id: int
    tweet_id: str
    field: str
    value: Any
    agent: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=24,
        pool_timeout=BUSY_TIMEOUT_MS / 1000,
    )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record) -> None:
        # Hand transaction control to SQLAlchemy's `begin` event below (pysqlite would otherwise
        # issue its own deferred BEGIN right before the first write).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_store_engine(url: str) -> Engine:
    """An engine for the store's database, configured for concurrent writers."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=24)


_MIGRATING = threading.Lock()
"""Alembic runs a migration through process-wide proxies (`alembic.context`, `alembic.op`): two
stores migrating at once in one process (two apps, as the tests build) would run each other's
operations on each other's connections, and SQLite then crashes the interpreter."""


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the latest migration (idempotent; safe with several workers, and with
    several stores in one process)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATING, engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting together: one migrates, the others wait, then find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(7201126)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The inbox and feedback tables behind one engine. Thread-safe; every method is one transaction."""

    def __init__(self, url: str):
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._rerank_lock = threading.Lock()
        self._reranked_at = -math.inf

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def open(self) -> Store:
        """Connect and migrate to head (once); `StoreUnavailable` when the database cannot be used."""
        with self._lock:
            if self._engine is not None:
                return self
            engine = create_store_engine(self.url)
            try:
                migrate(engine)
            except SQLAlchemyError as error:
                engine.dispose()
                raise StoreUnavailable(f"cannot open the inbox store ({type(error).__name__})") from None
            self._engine = engine
        return self

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.open()
        assert self._engine is not None
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, write: bool = True, timeout_s: float | None = None) -> Iterator[Connection]:
        """One transaction: `BEGIN IMMEDIATE` on SQLite for writes; commit on success, else roll back.

        `timeout_s` (the request's remaining time budget) caps SQLite's wait for the write lock,
        so that a request answered 504 never commits afterwards. Database errors become
        `StoreUnavailable` (the route answers 503 + Retry-After): nothing was committed.
        """
        engine = self.engine.execution_options(sqlite_begin="IMMEDIATE") if write else self.engine
        serialise = write and engine.dialect.name == "sqlite"
        if serialise:
            # Writers of this process take turns here rather than in SQLite's busy handler, which
            # sleeps 1, 2, 5 ... 100 ms between retries: only other processes still contend there.
            if not self._write_lock.acquire(timeout=-1 if timeout_s is None else max(0.0, timeout_s * 0.8)):
                raise StoreUnavailable("the inbox store is busy; retry")
        try:
            with engine.connect() as connection:
                capped = timeout_s is not None and connection.dialect.name == "sqlite"
                if capped:
                    if timeout_s <= 0.05:
                        raise StoreUnavailable("no time left in the request's budget to wait for the store")
                    wait_ms = int(min(BUSY_TIMEOUT_MS, timeout_s * 800))  # 80%: leave time to answer
                    connection.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={wait_ms}")
                try:
                    with connection.begin():
                        yield connection
                finally:
                    if capped:
                        connection.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except (IntegrityError, StoreError):
            raise
        except SQLAlchemyError as error:
            # Still locked after busy_timeout, or the database went away: nothing was committed.
            raise StoreUnavailable(f"the inbox store is busy or unreachable ({type(error).__name__})") from None
        finally:
            if serialise:
                self._write_lock.release()

    # -- inbox -------------------------------------------------------------------------------
    def add_items(self, scored: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
                  received_at: datetime | None = None, timeout_s: float | None = None,
                  priority_inputs: Sequence[str | None] | None = None) -> tuple[list[str], list[str]]:
        """Store (record, result) pairs; returns (added ids, ids already in the inbox, left as they were).

        `priority_inputs` (`model.priority_inputs.inputs_to_json`, one per pair) lets `rerank_open`
        rank the open items again as their customers wait; items stored without keep their rank.
        """
        stamp = utc_stamp(received_at)
        inputs = list(priority_inputs) if priority_inputs is not None else [None] * len(scored)
        if len(inputs) != len(scored):
            raise ValueError("one priority input per scored tweet")
        ids = [str(record["id"]) for record, _ in scored]
        for attempt in range(2):
            try:
                with self._writing(timeout_s) as connection:
                    existing = set(connection.scalars(
                        select(inbox_items.c.tweet_id).where(inbox_items.c.tweet_id.in_(ids))))
                    rows, added, seen = [], [], set(existing)
                    for (record, result), item_inputs in zip(scored, inputs):
                        tweet_id = str(record["id"])
                        if tweet_id in seen:
                            continue
                        seen.add(tweet_id)
                        added.append(tweet_id)
                        rows.append(_item_row(record, result, stamp, item_inputs))
                    if rows:
                        connection.execute(insert(inbox_items), rows)
                break
            except IntegrityError:
                # PostgreSQL: a concurrent push stored one of these ids first; the retry skips it.
                if attempt:
                    raise StoreUnavailable("the tweets could not be stored; retry") from None
        duplicates = [tweet_id for tweet_id in dict.fromkeys(ids) if tweet_id not in added]
        return added, duplicates

    def list_items(self, *, status: str | None = "open", ranks: Sequence[str] = (), intent: str | None = None,
                   dm: bool | None = None, sort: str = "priority", limit: int = 100, offset: int = 0
                   ) -> tuple[list[dict[str, Any]], int]:
        """A page of the queue and the number of items matching the filters."""
        conditions = []
        if status:
            conditions.append(inbox_items.c.status == status)
        if ranks:
            conditions.append(inbox_items.c.rank.in_(list(ranks)))
        if intent:
            if intent == "other":
                conditions.append(inbox_items.c.intent_label == "other")
            else:
                conditions.append(inbox_items.c.intent_tags.like(f"%,{intent},%"))
        if dm is not None:
            conditions.append(inbox_items.c.dm_suggest == dm)
        if sort == "priority":
            order = [inbox_items.c.rank, inbox_items.c.respond_by, inbox_items.c.priority_score.desc(), inbox_items.c.id]
        elif sort == "respond_by":
            order = [inbox_items.c.respond_by, inbox_items.c.rank, inbox_items.c.id]
        else:  # newest
            order = [inbox_items.c.received_at.desc(), inbox_items.c.id.desc()]
        with self.transaction(write=False) as connection:
            total = connection.scalar(select(func.count()).select_from(inbox_items).where(*conditions))
            rows = connection.execute(
                select(inbox_items).where(*conditions).order_by(*order).limit(limit).offset(offset)
            ).mappings().all()
            corrections = self._corrections(connection, [row["tweet_id"] for row in rows])
        return [_item_out(row, corrections.get(row["tweet_id"], {})) for row in rows], int(total or 0)

    def get_item(self, tweet_id: str, *, full: bool = False) -> dict[str, Any] | None:
        """One item; `full` adds the text as received and the explanation."""
        with self.transaction(write=False) as connection:
            row = connection.execute(select(inbox_items).where(inbox_items.c.tweet_id == tweet_id)).mappings().first()
            if row is None:
                return None
            corrections = self._corrections(connection, [tweet_id]).get(tweet_id, {})
        return _item_out(row, corrections, full=full)

    def set_status(self, tweet_id: str, status: str, agent: str | None = None,
                   timeout_s: float | None = None) -> dict[str, Any] | None:
        """Mark an item handled (or open again); None when there is no such item."""
        handled = status == "handled"
        with self._writing(timeout_s) as connection:
            changed = connection.execute(
                update(inbox_items)
                .where(inbox_items.c.tweet_id == tweet_id)
                .values(status=status, handled_at=utc_stamp() if handled else None,
                        handled_by=agent if handled else None)
            ).rowcount
        return self.get_item(tweet_id) if changed else None

    def rerank_open(self, policy: PriorityPolicy, now: datetime | None = None) -> int:
        """Rank every open item again under `policy` at `now` (default: the current time): a
        customer who has waited past part of the respond-by target moves up. Returns how many
        items changed. Items stored without priority inputs (before they existed) are left alone."""
        now = now or datetime.now(timezone.utc)
        with self.transaction(write=False) as connection:
            rows = connection.execute(
                select(inbox_items.c.tweet_id, inbox_items.c.result, inbox_items.c.priority_inputs)
                .where(inbox_items.c.status == "open", inbox_items.c.priority_inputs.is_not(None))
            ).all()
        changes = []
        for tweet_id, stored, inputs in rows:
            try:
                signals, locale = inputs_from_json(inputs)
            except (ValueError, KeyError, TypeError):
                continue  # written by a later version of this service: left as it is
            priority = prioritise(signals, policy, now, locale)
            result = json.loads(stored)
            if result.get("priority") == priority:
                continue
            result["priority"] = priority
            changes.append({
                "key": tweet_id, "new_rank": priority["rank"], "new_score": int(priority["score"]),
                "new_respond_by": priority["respond_by"], "new_result": json.dumps(result, ensure_ascii=False),
            })
        if changes:
            with self._writing() as connection:
                # Still open: an agent may have handled the item meanwhile, and then it stays as it was.
                connection.execute(
                    update(inbox_items)
                    .where(inbox_items.c.tweet_id == bindparam("key"), inbox_items.c.status == "open")
                    .values(rank=bindparam("new_rank"), priority_score=bindparam("new_score"),
                            respond_by=bindparam("new_respond_by"), result=bindparam("new_result")),
                    changes,
                )
        return len(changes)

    def rerank_if_due(self, policy: PriorityPolicy, interval_s: float = RERANK_INTERVAL_S) -> int | None:
        """`rerank_open` now unless this process did it less than `interval_s` ago (or is doing it);
        None when skipped. Ranks move in whole minutes of waiting, so a few seconds late is fine,
        and a busy database only postpones it: the queue is still read."""
        if not self._rerank_lock.acquire(blocking=False):
            return None
        try:
            if time.monotonic() - self._reranked_at < interval_s:
                return None
            self._reranked_at = time.monotonic()
            try:
                return self.rerank_open(policy)
            except StoreUnavailable as error:
                logger.warning("inbox re-ranking postponed: %s", error)
                return None
        finally:
            self._rerank_lock.release()

    def delete_item(self, tweet_id: str, timeout_s: float | None = None) -> bool:
        """Forget a tweet: its text, its answer and its corrections, in one transaction."""
        with self._writing(timeout_s) as connection:
            connection.execute(delete(feedback).where(feedback.c.tweet_id == tweet_id))
            return bool(connection.execute(delete(inbox_items).where(inbox_items.c.tweet_id == tweet_id)).rowcount)

    def count_items(self, status: str | None = None) -> int:
        with self.transaction(write=False) as connection:
            query = select(func.count()).select_from(inbox_items)
            if status:
                query = query.where(inbox_items.c.status == status)
            return int(connection.scalar(query) or 0)

    # -- feedback ----------------------------------------------------------------------------
    def record_feedback(self, *, tweet_id: str, field: str, value: Any, agent: str, client: str,
                        idempotency_key: str | None, request_hash: str,
                        timeout_s: float | None = None) -> tuple[FeedbackRow | None, bool]:
        """Store one correction. Returns (row, replayed): `replayed` when this client already sent
        this Idempotency-Key with the same request (the stored row comes back, nothing is added);
        (None, False) when the tweet is not in the inbox. `IdempotencyConflict` when the key was
        used for another request."""
        for attempt in range(2):
            try:
                with self._writing(timeout_s) as connection:
                    if idempotency_key is not None:
                        previous = _feedback_by_key(connection, client, idempotency_key)
                        if previous is not None:
                            return _replay(previous, request_hash), True
                    if connection.scalar(select(inbox_items.c.id).where(inbox_items.c.tweet_id == tweet_id)) is None:
                        return None, False
                    row_id = insert_feedback(connection, tweet_id=tweet_id, field=field, value=value, agent=agent,
                                             client=client, idempotency_key=idempotency_key,
                                             request_hash=request_hash)
                    stored = connection.execute(select(feedback).where(feedback.c.id == row_id)).mappings().one()
                    return _feedback_row(stored), False
            except IntegrityError:
                # PostgreSQL: a concurrent request with the same key committed first; read its row.
                # (The tweet may also have been deleted meanwhile: then the retry answers None.)
                if attempt:
                    raise StoreUnavailable("the feedback could not be stored; retry") from None
        raise AssertionError("unreachable")

    def count_feedback(self) -> int:
        with self.transaction(write=False) as connection:
            return int(connection.scalar(select(func.count()).select_from(feedback)) or 0)

    def export_labels(self, chunk: int = 500) -> Iterator[dict[str, Any]]:
        """Care-label records (LABELLING.md) of every corrected tweet, oldest correction first,
        read in chunks so that a large export never sits in memory."""
        yield from iter_care_labels(self.engine, chunk=chunk)

    # -- internals ---------------------------------------------------------------------------
    def _writing(self, timeout_s: float | None = None):
        return self.transaction(write=True, timeout_s=timeout_s)

    @staticmethod
    def _corrections(connection: Connection, tweet_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not tweet_ids:
            return {}
        rows = connection.execute(
            select(feedback.c.tweet_id, feedback.c.field, feedback.c.value)
            .where(feedback.c.tweet_id.in_(list(tweet_ids)))
            .order_by(feedback.c.id)
        ).all()
        grouped: dict[str, list[tuple[str, Any]]] = {}
        for tweet_id, field, value in rows:
            grouped.setdefault(tweet_id, []).append((field, json.loads(value)))
        return {tweet_id: latest_corrections(pairs) for tweet_id, pairs in grouped.items()}


def insert_feedback(connection: Connection, *, tweet_id: str, field: str, value: Any, agent: str, client: str,
                    idempotency_key: str | None, request_hash: str) -> int:
    """INSERT one feedback row inside the caller's transaction; returns its id."""
    result = connection.execute(
        insert(feedback).values(
            tweet_id=tweet_id, field=field, value=json.dumps(value), agent=agent, client=client,
            idempotency_key=idempotency_key, request_hash=request_hash, created_at=utc_stamp(),
        )
    )
    return int(result.inserted_primary_key[0])


def iter_care_labels(engine: Engine, chunk: int = 500) -> Iterator[dict[str, Any]]:
    """Care-label records of the corrected tweets in the database behind `engine`."""
    after = ""
    while True:
        with engine.connect() as connection:
            ids = connection.scalars(
                select(feedback.c.tweet_id).where(feedback.c.tweet_id > after)
                .group_by(feedback.c.tweet_id).order_by(feedback.c.tweet_id).limit(chunk)
            ).all()
            if not ids:
                return
            items = {row["tweet_id"]: row for row in connection.execute(
                select(inbox_items.c.tweet_id, inbox_items.c.text, inbox_items.c.result)
                .where(inbox_items.c.tweet_id.in_(ids))).mappings()}
            corrections = Store._corrections(connection, ids)
        for tweet_id in ids:
            item = items.get(tweet_id)
            if item is not None:
                yield care_label_record(tweet_id, item["text"], json.loads(item["result"]), corrections[tweet_id])
        after = ids[-1]


def _feedback_by_key(connection: Connection, client: str, key: str):
    return connection.execute(
        select(feedback).where(feedback.c.client == client, feedback.c.idempotency_key == key)
    ).mappings().first()


def _replay(previous: Mapping[str, Any], request_hash: str) -> FeedbackRow:
    if previous["request_hash"] != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was already used for a different request")
    return _feedback_row(previous)


def _feedback_row(row: Mapping[str, Any]) -> FeedbackRow:
    return FeedbackRow(id=row["id"], tweet_id=row["tweet_id"], field=row["field"], value=json.loads(row["value"]),
                       agent=row["agent"], created_at=row["created_at"])


def _item_row(record: Mapping[str, Any], result: Mapping[str, Any], received_at: str,
              priority_inputs: str | None = None) -> dict[str, Any]:
    priority = result["priority"]
    created = record.get("created_at")
    return {
        "tweet_id": str(record["id"]),
        "text": record["text"],
        "lang": record.get("lang"),
        "created_at": created if isinstance(created, str) else None,
        "received_at": received_at,
        "model_version": result["model_version"],
        "result": json.dumps(result, ensure_ascii=False),
        "rank": priority["rank"],
        "priority_score": int(priority["score"]),
        "respond_by": priority["respond_by"],
        "intent_label": result["intent"]["label"],
        "intent_tags": "," + ",".join(result["intent"]["tags"]) + ",",
        "dm_suggest": bool(result["dm"]["suggest"]),
        "status": "open",
        "handled_at": None,
        "handled_by": None,
        "priority_inputs": priority_inputs,
    }


def _item_out(row: Mapping[str, Any], corrections: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """The API's view of an item: the redacted text always, the text as received only when `full`."""
    result = json.loads(row["result"])
    explanation = result.pop("explanation", None)
    redacted = result.pop("redacted_text", None)
    out = {
        "tweet_id": row["tweet_id"],
        "status": row["status"],
        "received_at": row["received_at"],
        "created_at": row["created_at"],
        "handled_at": row["handled_at"],
        "handled_by": row["handled_by"],
        "redacted_text": redacted if redacted is not None else row["text"],
        "result": result,
        "corrections": corrections,
    }
    if full:
        out["text"] = row["text"]
        out["explanation"] = explanation or {}
    return out
