"""DynamoDB's per-key limits, as a model that sits in front of an emulator that has none.

The embedded AWS applies one request at a time, never throttles a key and never cancels a transaction for a
conflict. This model adds what a real table does, request by request, on DynamoDB's JSON protocol:

- **Per-key throughput.** Each partition key value (of the table or of a global secondary index) gets a token
  bucket of 1,000 write units/s and 3,000 read units/s ("throttling-key-range-limit-exceeded-mitigation").
  A request whose key's bucket cannot cover its estimate is throttled with
  ProvisionedThroughputExceededException and a `TableWriteKeyRangeThroughputExceeded` (or Read) reason; a
  request that passes is charged what it really cost once its item size is known, so a key can run into
  debt that later requests wait out.
- **Units as billed** (localaws/dynamodb_units.py): the whole item as written, which the model learns by
  asking the emulator for ALL_NEW (UpdateItem) or ALL_OLD (DeleteItem) when the client asked for nothing,
  and stripping it from the answer. Transactions pay double and return no images: an item a transaction
  updates is sized from its last known size plus the values written (read back once, unbilled, when the
  model has not seen it).
- **Conflicts** ("transaction-apis", conflict handling): a transaction that touches an item which another
  in-flight transaction or write is changing (for at most IN_FLIGHT_SECONDS, see InFlight) is cancelled
  with TransactionCanceledException, reason TransactionConflict; a single-item write to an item an
  in-flight transaction holds is rejected with TransactionConflictException; a TransactGetItems that reads
  an item being written is cancelled.
- **Counts** of what it throttled and cancelled, and of units per key, for the benchmarks.

The model is transport-free: `handle(operation, request, forward)` takes the parsed request and a function
that sends a request upstream, so the HTTP proxy (localaws/limits_proxy.py) and the unit tests share it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from localaws.dynamodb_units import item_size, read_units, value_size, write_units

WRITE_UNITS_PER_KEY = 1000.0
READ_UNITS_PER_KEY = 3000.0
# How long an item counts as being written by a request in flight: a DynamoDB transaction's latency, about
# tens of milliseconds (an assumption: AWS publishes no figure).
IN_FLIGHT_SECONDS = 0.03
PREFIX = "com.amazonaws.dynamodb.v20120810#"
THROTTLED_MESSAGE = ("The level of configured provisioned throughput for the table was exceeded. Consider increasing "
                     "your provisioning level with the UpdateTable API.")
THROTTLED_IN_TRANSACTION = ("Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
                            "scaling your table or index so please try again shortly.")
CONFLICT_MESSAGE = "Transaction is ongoing for the item"

# An upstream answer: status, headers, JSON body (already parsed; None when it was not JSON).
Answer = tuple[int, dict[str, str], Any]
Forward = Callable[[str, dict[str, Any]], Answer]


@dataclass(frozen=True)
class Schema:
    table: str
    arn: str
    hash_key: str
    range_key: str | None
    indexes: dict[str, str]  # index name: its partition key attribute


@dataclass
class Bucket:
    """Tokens refilled at `rate` per second up to `rate` (one second of burst); a charge may leave it negative."""

    rate: float
    tokens: float
    at: float

    def refill(self, now: float) -> float:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens


class InFlight:
    """The writes in flight on each item, by when they arrived. An item counts as being written for at most
    `hold` seconds from then: about a transaction's latency in DynamoDB. The emulator behind is much slower
    than DynamoDB, and holding an item for the whole time a request queues there would cancel far more
    transactions than AWS does at the same request rate."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self._started: dict[str, list[float]] = {}

    def busy(self, item: str, now: float) -> bool:
        return any(now - started < self.hold for started in self._started.get(item, ()))

    def enter(self, item: str, now: float) -> float:
        self._started.setdefault(item, []).append(now)
        return now

    def leave(self, item: str, started: float) -> None:
        held = self._started.get(item, [])
        if started in held:
            held.remove(started)
        if not held:
            self._started.pop(item, None)


@dataclass
class KeyStats:
    write_units: float = 0.0
    read_units: float = 0.0
    throttled: int = 0


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    write_units: float = 0.0
    read_units: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)  # by operation
    cancelled: Counter[str] = field(default_factory=Counter)  # by reason code
    rejected_writes: int = 0  # single-item writes refused with TransactionConflictException
    model_errors: Counter[str] = field(default_factory=Counter)  # requests forwarded without the model
    keys: dict[str, KeyStats] = field(default_factory=dict)


@dataclass
class Cancel(Exception):
    """The answer the model gives instead of forwarding."""

    status: int
    body: dict[str, Any]


def error(kind: str, message: str, **extra: Any) -> Cancel:
    return Cancel(400, {"__type": PREFIX + kind, "message": message, **extra})


def transaction_cancelled(codes: list[str]) -> Cancel:
    reasons: list[dict[str, str]] = []
    for code in codes:
        reason = {"Code": code}
        if code == "TransactionConflict":
            reason["Message"] = CONFLICT_MESSAGE
        elif code == "ThrottlingError":
            reason["Message"] = THROTTLED_IN_TRANSACTION
        reasons.append(reason)
    message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{', '.join(codes)}]"
    return Cancel(400, {"__type": PREFIX + "TransactionCanceledException", "Message": message,
                        "CancellationReasons": reasons})


def scalar(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


class DynamoLimits:
    def __init__(self, write_units_per_key: float = WRITE_UNITS_PER_KEY, read_units_per_key: float = READ_UNITS_PER_KEY,
                 clock: Callable[[], float] = time.monotonic, in_flight_seconds: float = IN_FLIGHT_SECONDS) -> None:
        self.write_rate = write_units_per_key
        self.read_rate = read_units_per_key
        self.clock = clock
        self._lock = threading.Lock()
        self._schemas: dict[str, Schema] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._writing = InFlight(in_flight_seconds)  # single-item writes
        self._transacting = InFlight(in_flight_seconds)
        self._sizes: dict[str, int] = {}  # item: its last known size
        self.stats = Stats()

    # --- what it counted ---------------------------------------------------------------------------------

    def snapshot(self, top: int = 20) -> dict[str, Any]:
        with self._lock:
            s = self.stats
            keys = [(k, v) for k, v in s.keys.items()]
        by_writes = sorted(keys, key=lambda kv: kv[1].write_units, reverse=True)[:top]
        by_reads = sorted(keys, key=lambda kv: kv[1].read_units, reverse=True)[:top]

        def row(key: str, v: KeyStats) -> dict[str, Any]:
            return {"key": key, "write_units": v.write_units, "read_units": v.read_units, "throttled": v.throttled}

        return {
            "since": s.started, "seconds": time.time() - s.started,
            "limits": {"write_units_per_key_per_second": self.write_rate,
                       "read_units_per_key_per_second": self.read_rate},
            "write_units": s.write_units, "read_units": s.read_units,
            "requests": dict(s.requests), "throttled": dict(s.throttled), "throttled_total": sum(s.throttled.values()),
            "cancelled": dict(s.cancelled), "cancelled_total": sum(s.cancelled.values()),
            "rejected_writes": s.rejected_writes, "keys": len(keys), "model_errors": dict(s.model_errors),
            "busiest_write_keys": [row(k, v) for k, v in by_writes],
            "busiest_read_keys": [row(k, v) for k, v in by_reads],
        }

    def reset(self) -> None:
        with self._lock:
            self.stats = Stats()
            self._buckets.clear()

    # --- the way in --------------------------------------------------------------------------------------

    def handle(self, operation: str, request: dict[str, Any], forward: Forward) -> Answer:
        """Answer one DynamoDB request: forwarded (and billed), or refused as DynamoDB would refuse it."""
        with self._lock:
            self.stats.requests[operation] += 1
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return forward(operation, request)
        answered: list[Answer] = []  # the upstream's answer to this very request, once forwarded

        def forwarding(op: str, sent: dict[str, Any]) -> Answer:
            answer = forward(op, sent)
            if op == operation:
                answered.append(answer)
            return answer

        try:
            answer: Answer = handler(request, forwarding)
            return answer
        except Cancel as refused:
            return refused.status, {}, refused.body
        except (KeyError, TypeError, ValueError, StopIteration) as failure:
            # A request shape the model does not read: counted and logged, and the request goes on unmodelled,
            # so that a gap in the model shows in the stats rather than as a failure of the platform.
            with self._lock:
                self.stats.model_errors[f"{operation}: {failure!r}"[:200]] += 1
            logging.getLogger(__name__).exception("limits model: %s not modelled", operation)
            if not answered:
                return forward(operation, request)
            # Never sent twice: a write the emulator already applied is answered as it answered it, less the
            # image the model asked for.
            status, headers, body = answered[-1]
            if request.get("ReturnValues", "NONE") == "NONE" and isinstance(body, dict):
                body.pop("Attributes", None)
            return status, headers, body

    # --- schemas and keys --------------------------------------------------------------------------------

    def schema(self, table: str, forward: Forward) -> Schema:
        name = table.rsplit("table/", 1)[-1]
        known = self._schemas.get(name)
        if known is not None:
            return known
        status, _, body = forward("DescribeTable", {"TableName": name})
        if status != 200:
            raise Cancel(status, body if isinstance(body, dict) else {"message": "DescribeTable failed"})
        described = body["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in described["KeySchema"]}
        indexes = {index["IndexName"]: next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
                   for index in described.get("GlobalSecondaryIndexes", [])}
        found = Schema(name, described.get("TableArn", name), keys["HASH"], keys.get("RANGE"), indexes)
        self._schemas[name] = found
        return found

    @staticmethod
    def partition(schema: Schema, key: dict[str, Any], index: str | None = None) -> str:
        if index:
            return f"{schema.table}/{index}:{scalar(key[schema.indexes[index]])}"
        return f"{schema.table}:{scalar(key[schema.hash_key])}"

    @staticmethod
    def item_id(schema: Schema, key: dict[str, Any]) -> str:
        rest = f"|{scalar(key[schema.range_key])}" if schema.range_key and schema.range_key in key else ""
        return f"{schema.table}:{scalar(key[schema.hash_key])}{rest}"

    @staticmethod
    def key_of(schema: Schema, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in (schema.hash_key, schema.range_key) if k and k in item}

    # --- buckets and bills -------------------------------------------------------------------------------

    def _bucket(self, partition: str, kind: str) -> Bucket:
        bucket = self._buckets.get((partition, kind))
        if bucket is None:
            rate = self.write_rate if kind == "write" else self.read_rate
            bucket = self._buckets[(partition, kind)] = Bucket(rate, rate, self.clock())
        return bucket

    def _covers(self, partition: str, kind: str, estimate: float) -> bool:
        """Whether the key's bucket can take `estimate` units now (called with the lock held)."""
        return self._bucket(partition, kind).refill(self.clock()) >= min(estimate, self._bucket(partition, kind).rate)

    def _throttle(self, partition: str, kind: str, operation: str, schema: Schema, index: str | None = None) -> Cancel:
        self.stats.throttled[operation] += 1
        self.stats.keys.setdefault(partition, KeyStats()).throttled += 1
        reason = f"{'Index' if index else 'Table'}{kind.title()}KeyRangeThroughputExceeded"
        resource = f"{schema.arn}/index/{index}" if index else schema.arn
        return error("ProvisionedThroughputExceededException", THROTTLED_MESSAGE,
                     ThrottlingReasons=[{"reason": reason, "resource": resource}])

    def _admit(self, partition: str, kind: str, estimate: float, operation: str, schema: Schema,
               index: str | None = None) -> None:
        with self._lock:
            if not self._covers(partition, kind, estimate):
                raise self._throttle(partition, kind, operation, schema, index)

    def _charge(self, partition: str, kind: str, units: float, reserved: bool = False) -> None:
        """Take `units` from the key's bucket (unless `reserved` took them already) and count them."""
        with self._lock:
            if not reserved:
                self._bucket(partition, kind).refill(self.clock())
                self._bucket(partition, kind).tokens -= units
            stats = self.stats.keys.setdefault(partition, KeyStats())
            if kind == "write":
                stats.write_units += units
                self.stats.write_units += units
            else:
                stats.read_units += units
                self.stats.read_units += units

    def _remember(self, item_id: str, size: int | None) -> None:
        with self._lock:
            if size is None:
                self._sizes.pop(item_id, None)
            else:
                self._sizes[item_id] = size

    def _known_size(self, item_id: str) -> int:
        with self._lock:
            return self._sizes.get(item_id, 0)

    # --- conflicts ---------------------------------------------------------------------------------------

    @contextmanager
    def _writing_one(self, item_id: str) -> Iterator[None]:
        with self._lock:
            if self._transacting.busy(item_id, self.clock()):
                self.stats.rejected_writes += 1
                raise error("TransactionConflictException", CONFLICT_MESSAGE)
            started = self._writing.enter(item_id, self.clock())
        try:
            yield
        finally:
            with self._lock:
                self._writing.leave(item_id, started)

    # --- single-item operations --------------------------------------------------------------------------

    def _write(self, request: dict[str, Any], forward: Forward, operation: str, key: dict[str, Any],
               estimate: float, returned: str) -> Answer:
        """Put, Update or Delete: conflict check, key admission, forwarded with the image that sizes the bill."""
        schema = self.schema(request["TableName"], forward)
        partition, item_id = self.partition(schema, key), self.item_id(schema, key)
        asked = request.get("ReturnValues", "NONE")
        sent = {**request, "ReturnValues": returned} if asked == "NONE" else request
        with self._writing_one(item_id):
            self._admit(partition, "write", estimate, operation, schema)
            status, headers, body = forward(operation, sent)
        image = body.get("Attributes") if status == 200 and isinstance(body, dict) else None
        if operation == "PutItem":
            size = item_size(request["Item"])
        elif image is not None and sent.get("ReturnValues") in ("ALL_NEW", "ALL_OLD"):
            size = item_size(image)
        else:  # UPDATED_* images, or a failed condition: the last size this model saw, at least the key
            size = max(self._known_size(item_id), item_size(key) + (item_size(image) if image else 0))
        self._charge(partition, "write", write_units(size))
        if status == 200:
            self._remember(item_id, None if operation == "DeleteItem" else size)
        if asked == "NONE" and isinstance(body, dict):
            body.pop("Attributes", None)
        return status, headers, body

    def _op_PutItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        schema = self.schema(request["TableName"], forward)
        item = request["Item"]
        return self._write(request, forward, "PutItem", self.key_of(schema, item), write_units(item_size(item)),
                           "NONE")

    def _op_UpdateItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        return self._write(request, forward, "UpdateItem", request["Key"], 1.0, "ALL_NEW")

    def _op_DeleteItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        return self._write(request, forward, "DeleteItem", request["Key"], 1.0, "ALL_OLD")

    def _op_GetItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        schema = self.schema(request["TableName"], forward)
        partition = self.partition(schema, request["Key"])
        consistent = bool(request.get("ConsistentRead"))
        self._admit(partition, "read", read_units(0, consistent), "GetItem", schema)
        status, headers, body = forward("GetItem", request)
        if status == 200:
            item = body.get("Item") if isinstance(body, dict) else None
            size = max(item_size(item) if item else 0, self._known_size(self.item_id(schema, request["Key"])))
            self._charge(partition, "read", read_units(size, consistent))
        return status, headers, body

    def _op_Query(self, request: dict[str, Any], forward: Forward) -> Answer:
        schema = self.schema(request["TableName"], forward)
        index = request.get("IndexName")
        value = query_partition_value(request, schema.indexes.get(index) if index else schema.hash_key)
        consistent = bool(request.get("ConsistentRead"))
        partition = None
        if value is not None:  # a key condition this model cannot read is billed to the table, not to a key
            partition = f"{schema.table}/{index}:{scalar(value)}" if index else f"{schema.table}:{scalar(value)}"
            self._admit(partition, "read", read_units(0, consistent), "Query", schema, index)
        status, headers, body = forward("Query", request)
        if status == 200 and partition is not None:
            size = sum(item_size(i) for i in body.get("Items", []))
            self._charge(partition, "read", read_units(size, consistent))
        return status, headers, body

    # --- batches -----------------------------------------------------------------------------------------

    def _op_BatchWriteItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        kept: dict[str, list[dict[str, Any]]] = {}
        unprocessed: dict[str, list[dict[str, Any]]] = {}
        bills: list[tuple[str, str, int]] = []
        schema = None
        for table, entries in request["RequestItems"].items():
            schema = self.schema(table, forward)
            for entry in entries:
                put = entry.get("PutRequest")
                key = self.key_of(schema, put["Item"]) if put else entry["DeleteRequest"]["Key"]
                item_id = self.item_id(schema, key)
                size = item_size(put["Item"]) if put else max(self._known_size(item_id), item_size(key))
                partition = self.partition(schema, key)
                with self._lock:  # reserved now, so that the batch's later entries see what its first took
                    covered = self._covers(partition, "write", write_units(size))
                    if covered:
                        self._bucket(partition, "write").tokens -= write_units(size)
                    else:
                        self.stats.keys.setdefault(partition, KeyStats()).throttled += 1
                if covered:
                    kept.setdefault(table, []).append(entry)
                    bills.append((partition, item_id, size if put else 0))
                else:
                    unprocessed.setdefault(table, []).append(entry)
        if not kept and schema is not None:
            with self._lock:
                raise self._throttle(next(iter(unprocessed)), "write", "BatchWriteItem", schema)
        if unprocessed:
            with self._lock:
                self.stats.throttled["BatchWriteItem"] += 1
        status, headers, body = forward("BatchWriteItem", {**request, "RequestItems": kept})
        if status == 200:
            for partition, item_id, size in bills:
                self._charge(partition, "write", write_units(size), reserved=True)
                self._remember(item_id, size or None)
            for table, entries in unprocessed.items():
                body.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(entries)
        return status, headers, body

    def _op_BatchGetItem(self, request: dict[str, Any], forward: Forward) -> Answer:
        kept: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        schemas: dict[str, Schema] = {}
        for table, spec in request["RequestItems"].items():
            schema = schemas[table] = self.schema(table, forward)
            consistent = bool(spec.get("ConsistentRead"))
            for key in spec["Keys"]:
                partition = self.partition(schema, key)
                with self._lock:
                    covered = self._covers(partition, "read", read_units(0, consistent))
                target = kept if covered else unprocessed
                target.setdefault(table, {**spec, "Keys": []})["Keys"].append(key)
        if not kept:
            table = next(iter(unprocessed))
            with self._lock:
                raise self._throttle(self.partition(schemas[table], unprocessed[table]["Keys"][0]), "read",
                                     "BatchGetItem", schemas[table])
        status, headers, body = forward("BatchGetItem", {**request, "RequestItems": kept})
        if status == 200:
            for table, items in body.get("Responses", {}).items():
                consistent = bool(kept[table].get("ConsistentRead"))
                asked = [self.partition(schemas[table], key) for key in kept[table]["Keys"]]
                for item in items:
                    units = read_units(item_size(item), consistent)
                    key = self.key_of(schemas[table], item)
                    if schemas[table].hash_key in key:
                        self._charge(self.partition(schemas[table], key), "read", units)
                    else:  # projected without its key: shared out over the keys asked for
                        for partition in asked:
                            self._charge(partition, "read", units / len(asked))
            for table, spec in unprocessed.items():
                body.setdefault("UnprocessedKeys", {})[table] = spec
        return status, headers, body

    # --- transactions ------------------------------------------------------------------------------------

    def _op_TransactWriteItems(self, request: dict[str, Any], forward: Forward) -> Answer:
        actions: list[tuple[str, Schema, dict[str, Any], dict[str, Any]]] = []
        for entry in request["TransactItems"]:
            kind, spec = next(iter(entry.items()))
            schema = self.schema(spec["TableName"], forward)
            key = self.key_of(schema, spec["Item"]) if kind == "Put" else spec["Key"]
            actions.append((kind, schema, key, spec))
        ids = [self.item_id(schema, key) for _, schema, key, _ in actions]
        with self._lock:
            now = self.clock()
            codes = []
            for (kind, schema, key, spec), item_id in zip(actions, ids, strict=True):
                if self._writing.busy(item_id, now) or self._transacting.busy(item_id, now):
                    codes.append("TransactionConflict")
                elif not self._covers(self.partition(schema, key), "write",
                                      write_units(item_size(spec["Item"]) if kind == "Put" else 0, True)):
                    codes.append("ThrottlingError")
                    self.stats.keys.setdefault(self.partition(schema, key), KeyStats()).throttled += 1
                else:
                    codes.append("None")
            refused = [c for c in codes if c != "None"]
            if refused:
                for code in refused:
                    self.stats.cancelled[code] += 1
                if "ThrottlingError" in refused:
                    self.stats.throttled["TransactWriteItems"] += 1
                raise transaction_cancelled(codes)
            started = [self._transacting.enter(item_id, now) for item_id in ids]
        try:
            status, headers, body = forward("TransactWriteItems", request)
        finally:
            with self._lock:
                for item_id, at in zip(ids, started, strict=True):
                    self._transacting.leave(item_id, at)
        if status != 200:
            return status, headers, body
        # A transaction returns no images: an updated item the model has not seen yet is read back (one request
        # for the lot, not billed); one it knows is sized as it was plus the values written, and kept at its
        # known size, so that estimates do not pile up.
        unknown = [(schema, key) for (kind, schema, key, _), item_id in zip(actions, ids, strict=True)
                   if kind == "Update" and not self._known_size(item_id)]
        sizes = self._read_back(unknown, forward)
        for (kind, schema, key, spec), item_id in zip(actions, ids, strict=True):
            if kind == "Put":
                size = item_size(spec["Item"])
            elif kind == "Update" and item_id not in sizes:
                size = self._known_size(item_id) + sum(value_size(v) for v in
                                                       spec.get("ExpressionAttributeValues", {}).values())
            else:
                size = sizes.get(item_id, self._known_size(item_id))
            self._charge(self.partition(schema, key), "write", write_units(size, transactional=True))
            if kind == "Delete":
                self._remember(item_id, None)
            elif kind == "Put" or item_id in sizes:
                self._remember(item_id, size)
        return status, headers, body

    def _read_back(self, keys: list[tuple[Schema, dict[str, Any]]], forward: Forward) -> dict[str, int]:
        """The sizes of items a transaction updated, read from the emulator (not billed: AWS knows them)."""
        sizes: dict[str, int] = {}
        for start in range(0, len(keys), 100):
            chunk = keys[start:start + 100]
            wanted: dict[str, Any] = {}
            for schema, key in chunk:
                wanted.setdefault(schema.table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while wanted:
                status, _, body = forward("BatchGetItem", {"RequestItems": wanted})
                if status != 200:
                    break
                for table, items in body.get("Responses", {}).items():
                    schema = self._schemas[table]
                    for item in items:
                        sizes[self.item_id(schema, self.key_of(schema, item))] = item_size(item)
                wanted = body.get("UnprocessedKeys") or {}
        return sizes

    def _op_TransactGetItems(self, request: dict[str, Any], forward: Forward) -> Answer:
        gets = []
        for entry in request["TransactItems"]:
            spec = entry["Get"]
            schema = self.schema(spec["TableName"], forward)
            gets.append((schema, spec["Key"]))
        with self._lock:
            now = self.clock()
            codes = ["TransactionConflict" if self._writing.busy(self.item_id(s, k), now)
                     or self._transacting.busy(self.item_id(s, k), now) else "None" for s, k in gets]
            if "TransactionConflict" in codes:
                self.stats.cancelled["TransactionConflict"] += codes.count("TransactionConflict")
                raise transaction_cancelled(codes)
        status, headers, body = forward("TransactGetItems", request)
        if status == 200:
            for (schema, key), response in zip(gets, body.get("Responses", []), strict=False):
                item = response.get("Item") if isinstance(response, dict) else None
                size = item_size(item) if item else 0
                self._charge(self.partition(schema, key), "read", read_units(size, True, transactional=True))
        return status, headers, body


KEY_EQUALS = re.compile(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)")


def query_partition_value(request: dict[str, Any], attribute: str | None) -> dict[str, Any] | None:
    """The typed value a Query's key condition gives the partition key `attribute`, if it can be read."""
    if attribute is None:
        return None
    if "KeyConditions" in request:
        condition = request["KeyConditions"].get(attribute)
        return condition["AttributeValueList"][0] if condition else None
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    for name, placeholder in KEY_EQUALS.findall(request.get("KeyConditionExpression", "")):
        if names.get(name, name) == attribute and placeholder in values:
            return dict(values[placeholder])
    return None


def units_per_task(snapshot: dict[str, Any], tasks: int) -> dict[str, float]:
    """Write units per task, in total and on the busiest key, from a stats snapshot taken over one job."""
    busiest = snapshot["busiest_write_keys"][0]["write_units"] if snapshot["busiest_write_keys"] else 0.0
    return {"write_units_per_task": snapshot["write_units"] / tasks if tasks else math.nan,
            "busiest_key_write_units_per_task": busiest / tasks if tasks else math.nan}


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
