"""`python -m workers`: build the AWS adapters from the environment and run until stopped.

boto3 reads AWS_ENDPOINT_URL from the environment, so the same command runs against an emulator.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.s3_manifests import S3ManifestStore
from tasklane.aws.sqs_consumer import SqsConsumer
from tasklane.aws.sqs_queue import task_queue
from tasklane.aws.stepfunctions import StepFunctionsResumer
from tasklane.deliveries import DeliveryHandler
from tasklane.flow import release
from tasklane.models import Runtime
from tasklane.ports import TaskQueue
from tasklane.task_packages import task_registry
from workers.health import HealthServer
from workers.heartbeat import Heartbeat
from workers.metrics import Metrics
from workers.settings import SettingsError, WorkerSettings, load_settings
from workers.signals import install_stop_handlers
from workers.worker import ExitCode, Worker

log = logging.getLogger("workers")


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tasklane worker: invalid configuration: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    _configure_logging(settings.log_level)
    worker, metrics = build_worker(settings)
    health = None
    if settings.worker_health_port:
        try:
            health = HealthServer(settings.worker_health_host, settings.worker_health_port, worker, metrics).start()
        except OSError as exc:
            log.error("cannot serve health on %s:%s: %s", settings.worker_health_host, settings.worker_health_port, exc)
            return ExitCode.CONFIG
    install_stop_handlers(worker.request_stop)
    try:
        return worker.run()
    except Exception:
        log.exception("the worker loop crashed")
        return ExitCode.CRASHED
    finally:
        if health is not None:
            health.stop()


def build_worker(settings: WorkerSettings) -> tuple[Worker, Metrics]:
    store = DynamoJobStore(settings.table_name)
    consumer = SqsConsumer(settings.long_queue_url)
    heartbeat = Heartbeat(
        consumer, visibility_seconds=settings.worker_visibility_seconds, interval_seconds=settings.heartbeat_seconds
    )
    long_queue = task_queue(settings.long_queue_url)
    queues: dict[Runtime, TaskQueue] = {Runtime.EKS: long_queue}
    if settings.short_queue_url:
        queues[Runtime.LAMBDA] = task_queue(settings.short_queue_url)
    manifests = S3ManifestStore(settings.manifest_bucket) if settings.manifest_bucket else None
    runner = DeliveryHandler(
        store=store,
        resumer=StepFunctionsResumer(),
        retries=heartbeat.guard(long_queue),
        registry=task_registry(),
        load_payload=manifests.get_payload if manifests else None,
        release=partial(release, store=store, queues=queues) if settings.short_queue_url else None,
        send_later=long_queue.send_later,
    )
    metrics = Metrics()
    worker = Worker(
        consumer=consumer,
        runner=runner,
        progress=store,
        heartbeat=heartbeat,
        metrics=metrics,
        options=settings.options(),
    )
    return worker, metrics


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service="tasklane-worker"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def _exit(code: int) -> None:
    if code in (ExitCode.DRAINED, ExitCode.CONFIG):
        sys.exit(code)
    # Task threads may still be running (they cannot be killed); a normal exit would join them.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
