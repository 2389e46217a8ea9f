"""Locally, plays the live publisher's DynamoDB stream event source mapping, as AWS runs it.

The embedded AWS runs stream mappings inline in the single loop that also hands SQS batches to the task
runner, one invocation per pass, whatever the batching window: with the publisher mapped to the busy job
table, every pass waited ~50 ms for it and the runner's throughput fell about threefold. So `make up`
disables that mapping (the deployed template is unchanged) and starts this process, which does what Lambda
does for it in AWS: polls the stream's shards 4 times a second, keeps the records that match the mapping's
own filter criteria, and invokes the publisher with each batch (at most the mapping's batch size), retrying
a failing batch as often as the mapping says before moving on. The invocations go through the Lambda API,
off the emulator's polling loop.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import boto3
import typer

log = logging.getLogger("tasklane.live_pump")
# AWS: "Lambda polls shards in your DynamoDB stream for records at a base rate of 4 times per second".
POLL_SECONDS = 0.25

cli = typer.Typer(add_completion=False, help=__doc__)


def matches(record: Any, pattern: Any) -> bool:
    """EventBridge-style content filtering, as far as the mapping's filters use it: nested objects, and lists of
    allowed literal values at the leaves."""
    if not isinstance(pattern, dict) or not isinstance(record, dict):
        return False
    for key, wanted in pattern.items():
        value = record.get(key)
        if isinstance(wanted, dict):
            if not matches(value, wanted):
                return False
        elif isinstance(wanted, list):
            if any(isinstance(w, dict) for w in wanted):
                raise NotImplementedError(f"filter operator in {wanted!r}: only literal values are played locally")
            if value not in wanted:
                return False
        else:
            raise ValueError(f"a filter pattern's leaves are lists, not {wanted!r}")
    return True


@dataclass
class Mapping:
    uuid: str
    function: str
    stream_arn: str
    batch_size: int
    retries: int
    patterns: list[dict[str, Any]] = field(default_factory=list)

    def wanted(self, record: dict[str, Any]) -> bool:
        return not self.patterns or any(matches(record, p) for p in self.patterns)


def find_mapping(lambda_client: Any, function: str) -> Mapping:
    (esm,) = lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    filters = (esm.get("FilterCriteria") or {}).get("Filters") or []
    return Mapping(
        uuid=esm["UUID"], function=function, stream_arn=esm["EventSourceArn"],
        batch_size=int(esm.get("BatchSize", 100)), retries=int(esm.get("MaximumRetryAttempts", 2)),
        patterns=[json.loads(f["Pattern"]) for f in filters],
    )


def disable_mapping(lambda_client: Any, function: str) -> Mapping:
    """Turn the emulator's own mapping off (idempotent); this process plays it instead."""
    mapping = find_mapping(lambda_client, function)
    lambda_client.update_event_source_mapping(UUID=mapping.uuid, Enabled=False)
    return mapping


class Pump:
    def __init__(self, mapping: Mapping, streams: Any, lambda_client: Any) -> None:
        self.mapping = mapping
        self.streams = streams
        self.lambda_client = lambda_client
        self.iterators: dict[str, str] = {}
        self.stopped = False

    def start(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.mapping.stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                StreamArn=self.mapping.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def poll_once(self) -> int:
        """One poll of every shard; returns how many records were handed to the function."""
        handed = 0
        for shard_id, iterator in list(self.iterators.items()):
            response = self.streams.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
            self.iterators[shard_id] = response["NextShardIterator"]
            batch = [
                {**r, "eventSourceARN": self.mapping.stream_arn}
                for r in response.get("Records", [])
                if self.mapping.wanted(r)
            ]
            if batch:
                self.invoke(batch)
                handed += len(batch)
        return handed

    def invoke(self, batch: list[dict[str, Any]]) -> None:
        payload = json.dumps({"Records": batch}, default=str)
        for attempt in range(self.mapping.retries + 1):
            response = self.lambda_client.invoke(FunctionName=self.mapping.function, Payload=payload)
            body = response["Payload"].read()
            if "FunctionError" not in response:
                return
            log.warning("publisher failed (attempt %d): %s", attempt + 1, body[:500])
        log.error("batch of %d records skipped after %d attempts", len(batch), self.mapping.retries + 1)

    def run(self) -> None:
        self.start()
        while not self.stopped:
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # a pump that dies stops every live update: log, and go on from the latest records
                log.exception("poll failed; starting again from the latest records")
                time.sleep(1)
                self.start()
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


@cli.command()
def run(
    function: Annotated[str, typer.Option(help="the publisher function's name")],
    endpoint_url: Annotated[str, typer.Option(envvar="AWS_ENDPOINT_URL")] = "http://localhost:4566",
    region: Annotated[str, typer.Option(envvar="AWS_DEFAULT_REGION")] = "us-east-1",
) -> None:
    """Disable the emulator's mapping of the publisher and play it from here until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    lambda_client = boto3.client("lambda", endpoint_url=endpoint_url, region_name=region)
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint_url, region_name=region)
    pump = Pump(disable_mapping(lambda_client, function), streams, lambda_client)

    def stop(*_: Any) -> None:
        pump.stopped = True

    signal.signal(signal.SIGTERM, stop)
    log.info("playing the stream mapping of %s from %s", function, pump.mapping.stream_arn)
    pump.run()


if __name__ == "__main__":
    cli()
